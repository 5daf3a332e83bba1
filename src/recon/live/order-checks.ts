import type { Session } from '../../db/connection.js';
import type { LiveState } from '../../db/schema.js';
import type { Channel } from '../../provider/protocol.js';

/** The queries of the live follow-up, over the matching's temp tables and its own table. */

export interface Candidate {
  orderId: string;
  businessDate: string;
  channel: Channel | null;
}

/** The kinds whose truth the files cannot tell (issue 14): the provider is asked about them. */
export const FOLLOW_UP_KINDS = ['stale_pending_claim', 'unresolved_provider_status', 'missing_at_provider', 'order_without_bill'] as const;

/**
 * The orders to ask about (none answered within the last `reaskAfterHours` hours, unless a
 * file ingested since says something newer), at most `max`, and how many there were in all.
 * Least recently asked first, never asked before all (docs/contract.md section 6, "Follow-up
 * order"): each run's asked orders go behind every other, so a backlog of B orders is asked
 * through within ceil(B / max) runs, however the provider keeps answering the old ones. Among
 * orders asked equally long ago (never, mostly), the oldest findings first (the finding's
 * day, then the run that first saw it; orders without an open finding yet after those of the
 * same day).
 *
 * - the orders of this run's findings of FOLLOW_UP_KINDS, except missing_at_provider at the
 *   cut-off (its order is expected in the next day's file, not missing);
 * - the orders still 成功(待领取) in a final order file (16:45 on the day after its day has
 *   passed) that no 退汇 has settled and whose newest live answer, if any, is not newer
 *   evidence of a claim, a return or another end.
 */
const CANDIDATES_SQL = `
  with c as (
    select f.order_id, f.business_date from recon_findings f
     where f.order_id is not null
       and (f.kind in ('stale_pending_claim', 'unresolved_provider_status', 'order_without_bill')
            or (f.kind = 'missing_at_provider' and f.details->>'reason' is distinct from 'cutoff'))
    union all
    select s.order_id, s.home_date from recon_order_state s
     where s.status = 'paid_pending_claim' and not s.returned_row
       and ((s.home_date + 1)::timestamp + interval '16 hours 45 minutes') at time zone 'Asia/Shanghai' <= now()
       and not exists (select 1 from recon_bill_state b where b.order_id = s.order_id and b.returned)
       and not exists (select 1 from recon_live v where v.order_id = s.order_id and v.newest and v.state <> 'paid_pending_claim')
  ), ranked as (
    select c.order_id, min(c.business_date) as business_date,
           (select min(d.first_seen_run_id) from recon.discrepancies d
             where d.dealer_id = p.dealer_id and d.status = 'open' and d.order_id = c.order_id) as first_seen,
           -- When it was last asked, answered or not (a call that got no answer leaves no row).
           (select k.asked_at from recon.provider_order_checks k
             where k.dealer_id = p.dealer_id and k.order_id = c.order_id
             order by k.id desc limit 1) as last_asked
      from c cross join recon_params p
     -- Not an order answered within the last $2 hours with nothing newer in the files since,
     -- unless a later call for it went unanswered.
     where not exists (select 1 from recon_live v
                        where v.order_id = c.order_id and v.newest and v.asked_at > now() - $2::int * interval '1 hour'
                          and not exists (select 1 from recon.provider_order_checks k
                                           where k.dealer_id = p.dealer_id and k.order_id = v.order_id
                                             and k.asked_at > v.asked_at and k.state is null))
     group by c.order_id, p.dealer_id
  )
  select r.order_id, r.business_date::text as business_date, count(*) over ()::int as total,
         coalesce(
           (select o.channel from recon_orders o
             where o.dealer_id = p.dealer_id and o.order_id = r.order_id
             order by o.business_date desc, o.line desc limit 1),
           (select l.channel from recon.ledger_payouts l where l.dealer_id = p.dealer_id and l.order_id = r.order_id)) as channel
    from ranked r cross join recon_params p
   order by r.last_asked nulls first, r.business_date, r.first_seen nulls last, r.order_id
   limit $1`;

export async function selectCandidates(session: Session, max: number, reaskAfterHours: number): Promise<{ candidates: Candidate[]; total: number }> {
  const r = await session.query<{ order_id: string; business_date: string; total: number; channel: Channel | null }>(CANDIDATES_SQL, [max, reaskAfterHours]);
  return {
    candidates: r.rows.map((row) => ({ orderId: row.order_id, businessDate: row.business_date, channel: row.channel })),
    total: r.rows[0]?.total ?? 0,
  };
}

export interface CheckRow {
  orderId: string;
  channel: Channel;
  askedAt: Date;
  code: string;
  state: LiveState | null;
  status: number | null;
  statusDetail: number | null;
  statusMessage: string | null;
  providerRef: string | null;
  brokerId: string | null;
  /** Yuan text, exact. */
  amount: string | null;
  finishedAt: Date | null;
  requestId: string;
  /** The answer's `order_id` as given. */
  answeredOrderId: string | null;
  /** Why the answer is no evidence, when it could not be read. */
  problem: string | null;
}

export async function insertChecks(session: Session, runId: number, dealerId: string, checks: readonly CheckRow[]): Promise<void> {
  if (checks.length === 0) return;
  await session.db.insertInto('recon.provider_order_checks').values(checks.map((c) => ({
    run_id: runId, dealer_id: dealerId, order_id: c.orderId, channel: c.channel, asked_at: c.askedAt, code: c.code,
    state: c.state, status: c.status, status_detail: c.statusDetail, status_message: c.statusMessage,
    provider_ref: c.providerRef, broker_id: c.brokerId, amount: c.amount, finished_at: c.finishedAt, request_id: c.requestId,
    answered_order_id: c.answeredOrderId, problem: c.problem,
  }))).execute();
}

/** The orders whose answers the rules are to read again, as temp table recon_asked. */
export async function markAsked(session: Session, orderIds: readonly string[]): Promise<void> {
  await session.query('create temp table recon_asked (order_id text primary key) on commit drop');
  await session.query('insert into recon_asked select distinct unnest($1::text[])', [orderIds]);
  await session.query('analyze recon_asked');
}
