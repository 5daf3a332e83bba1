import { KEPT_ON_PRUNED_DAY } from '../match/match-state.js';
import type { RunTx } from '../runs/run-transaction.js';

/** The share of a day's orders with new critical findings above which a run says so once. */
export const SYSTEMIC_SHARE = 0.2;

export interface FindingCount {
  kind: string;
  severity: string;
  count: number;
}

export interface LifecycleResult {
  /** What this run found, by kind and severity (all days it re-checked). */
  findings: FindingCount[];
  opened: number;
  openedBySeverity: Record<string, number>;
  stillOpen: number;
  resolved: number;
  systemic: boolean;
}

/**
 * File-level kinds whose finding is one open row whatever the day: balance_low of a broker and
 * channel (provider_ref '<broker_id>/<channel>') is filed under the first day it was seen low
 * and stays that day's while later runs, of any day, see it again.
 */
export const ANY_DAY_FILE_LEVEL_KINDS: readonly string[] = ['balance_low'];
const ANY_DAY = ANY_DAY_FILE_LEVEL_KINDS.map((k) => `'${k}'`).join(', ');

/**
 * The open row a finding continues. An order's finding is the same finding whatever day it is
 * filed under: when an earlier day's file arrives late, the order's home day moves, and the row
 * (with finance's acknowledgement and its first_seen) moves with it instead of being resolved
 * and opened again. A file-level row (no order) is told apart by its provider_ref (balance_low
 * of two channels: '<broker_id>/<channel>'; sql/0005 has the index), and is the day's, but for
 * ANY_DAY_FILE_LEVEL_KINDS: the oldest open row of the same provider_ref, whatever its day (a
 * later one, as versions before this rule opened one per day, is not continued and resolves).
 */
const SAME_KEY = `d.dealer_id = p.dealer_id and d.status = 'open' and d.kind = f.kind
  and coalesce(d.order_id, '') = coalesce(f.order_id, '')
  and (d.order_id = f.order_id
       or (f.order_id is null and d.order_id is null and coalesce(d.provider_ref, '') = coalesce(f.provider_ref, '')
           and case when d.kind in (${ANY_DAY})
                    then not exists (select 1 from recon.discrepancies e
                                      where e.dealer_id = d.dealer_id and e.status = 'open' and e.kind = d.kind and e.order_id is null
                                        and coalesce(e.provider_ref, '') = coalesce(d.provider_ref, '')
                                        and (e.business_date, e.id) < (d.business_date, d.id))
                    else d.business_date = f.business_date end))`;

/**
 * A finding that comes back (resolved, then found again) is a new row; finance must see that
 * the same finding was acknowledged before. The new row's details get `previous`: the earlier
 * row's id, its acknowledgement (by whom, when, the note) and when it was resolved, from the
 * latest resolved row of the same finding (as SAME_KEY tells findings apart) that has one.
 * Copied once, when the row opens, and carried by every refresh, so that a repeated run leaves
 * details as they were; the job still never writes the ack_* columns. Times are UTC text, so
 * that the session's time zone does not change the value.
 */
const utc = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;
const PREVIOUS = `coalesce((
  select jsonb_build_object('previous', jsonb_build_object('id', r.id, 'ack_by', r.ack_by, 'ack_note', r.ack_note,
           'ack_at', ${utc('r.ack_at')}, 'resolved_at', ${utc('r.resolved_at')}, 'resolved_run_id', r.resolved_run_id))
    from recon.discrepancies r
   where r.dealer_id = p.dealer_id and r.status = 'resolved' and (r.ack_by is not null or r.ack_note is not null)
     and r.kind = f.kind and coalesce(r.order_id, '') = coalesce(f.order_id, '')
     and (f.order_id is not null
          or (r.business_date = f.business_date and coalesce(r.provider_ref, '') = coalesce(f.provider_ref, '')))
   order by r.resolved_at desc, r.id desc
   limit 1), '{}'::jsonb)`;

/**
 * File-level kinds whose open rows of every day each run judges again (so a run may resolve
 * them whatever their day); other file-level rows are judged only by a run of their own day.
 * A run that does not ask for the balances carries the open balance_low rows forward
 * (carryForwardBalanceFindings), so that only a snapshot resolves them.
 */
export const REJUDGED_FILE_LEVEL_KINDS: readonly string[] = ['systemic_mismatch', ...ANY_DAY_FILE_LEVEL_KINDS];

/** The systemic_mismatch row of a day, from `n` (critical, day_orders) and its day. */
function systemicRow(day: string): string {
  return `select ${day}, 'systemic_mismatch', 'critical', null, null, null, null,
         jsonb_build_object('critical_orders', n.critical, 'day_orders', n.day_orders,
                            'share', round(n.critical::numeric / n.day_orders, 4)::text,
                            'message', 'critical findings for more than ${SYSTEMIC_SHARE * 100}% of the day''s orders: check the files, the parser and the ledger view before acting on single rows')`;
}

/**
 * The systemic check of the run's day. "New" criticals decide the first time; afterwards an
 * open systemic_mismatch holds while the day's criticals stay above the share, so that a
 * re-run on the same files (whose criticals are no longer new) leaves it as it was.
 */
const SYSTEMIC_SQL = `
  insert into recon_findings
  with counts as materialized (
    select
      (select count(distinct f.order_id) from recon_findings f
        where f.severity = 'critical' and f.business_date = p.day and f.order_id is not null
          and not exists (select 1 from recon.discrepancies d where ${SAME_KEY})) as new_critical,
      (select count(distinct f.order_id) from recon_findings f
        where f.severity = 'critical' and f.business_date = p.day and f.order_id is not null) as critical,
      (select count(*) from recon_order_state where in_day_file) as file_orders,
      (select count(*) from recon.ledger_payouts l
        where l.dealer_id = p.dealer_id and l.created_at >= p.day_start and l.created_at < p.day_end) as ledger_orders
      from recon_params p
  ), n as materialized (
    -- The day's orders: in D's order file or created on D in the ledger. That is at least the
    -- larger of the two counts, so their union (a join) is counted only when the criticals
    -- exceed the share of that.
    select c.new_critical, c.critical,
           case when c.critical > ${SYSTEMIC_SHARE} * greatest(c.file_orders, c.ledger_orders)
                then c.file_orders + (select count(*) from recon.ledger_payouts l
                                       where l.dealer_id = p.dealer_id and l.created_at >= p.day_start and l.created_at < p.day_end
                                         and not exists (select 1 from recon_order_state o
                                                          where o.order_id = l.order_id and o.in_day_file))
                else greatest(c.file_orders, c.ledger_orders) end as day_orders
      from counts c cross join recon_params p
  )
  ${systemicRow('p.day')}
    from n cross join recon_params p
   where n.day_orders > 0
     and (n.new_critical > ${SYSTEMIC_SHARE} * n.day_orders
          or (n.critical > ${SYSTEMIC_SHARE} * n.day_orders
              and exists (select 1 from recon.discrepancies d where d.dealer_id = p.dealer_id and d.status = 'open'
                             and d.business_date = p.day and d.kind = 'systemic_mismatch')))`;

/**
 * The open systemic_mismatch rows of other days, judged again: each holds while its day's
 * criticals stay above the share. Every open finding's order is in this run's scope
 * (recon_extra), so recon_findings has all of that day's criticals that still hold. Such
 * days are rare, and each is counted from its own rows.
 */
const OTHER_DAYS_SYSTEMIC_SQL = `
  insert into recon_findings
  with days as (
    select distinct d.business_date as day
      from recon.discrepancies d cross join recon_params p
     where d.dealer_id = p.dealer_id and d.status = 'open' and d.kind = 'systemic_mismatch' and d.business_date <> p.day
       -- Not a day whose provider rows retention dropped: its criticals are kept as they were.
       and not ${KEPT_ON_PRUNED_DAY}
  ), n as materialized (
    select x.day,
      (select count(distinct f.order_id) from recon_findings f
        where f.severity = 'critical' and f.business_date = x.day and f.order_id is not null) as critical,
      (select count(*) from (
         select o.order_id from recon_orders o where o.dealer_id = p.dealer_id and o.business_date = x.day
         union
         select l.order_id from recon.ledger_payouts l
          where l.dealer_id = p.dealer_id
            and l.created_at >= x.day::timestamp at time zone 'Asia/Shanghai'
            and l.created_at < (x.day + 1)::timestamp at time zone 'Asia/Shanghai') u) as day_orders
      from days x cross join recon_params p
  )
  ${systemicRow('n.day')}
    from n
   where n.day_orders > 0 and n.critical > ${SYSTEMIC_SHARE} * n.day_orders`;

/**
 * Writes recon_findings into recon.discrepancies: refreshes the open rows that still hold,
 * opens the new ones, resolves the open ones in scope that no longer hold. Never touches the
 * ack_* columns.
 */
export async function applyFindings(session: RunTx, runId: number): Promise<LifecycleResult> {
  const systemic = await session.query(SYSTEMIC_SQL);
  await session.query(OTHER_DAYS_SYSTEMIC_SQL);
  const refreshed = await session.query(
    `update recon.discrepancies d
        set last_seen_run_id = $1, business_date = case when d.kind in (${ANY_DAY}) then d.business_date else f.business_date end,
            severity = f.severity, provider_ref = f.provider_ref,
            ledger_amount = f.ledger_amount, provider_amount = f.provider_amount,
            details = f.details || case when d.details ? 'previous' then jsonb_build_object('previous', d.details -> 'previous') else '{}'::jsonb end
       from recon_findings f, recon_params p
      where ${SAME_KEY}`,
    [runId],
  );
  const opened = await session.query<{ severity: string; n: number }>(
    `with inserted as (
     insert into recon.discrepancies
       (dealer_id, business_date, kind, severity, order_id, provider_ref, ledger_amount, provider_amount, details,
        first_seen_run_id, last_seen_run_id)
     select p.dealer_id, f.business_date, f.kind, f.severity, f.order_id, f.provider_ref, f.ledger_amount,
            f.provider_amount, f.details || ${PREVIOUS}, $1, $1
       from recon_findings f cross join recon_params p
      where not exists (select 1 from recon.discrepancies d where ${SAME_KEY})
     returning severity)
     select severity, count(*)::int as n from inserted group by severity`,
    [runId],
  );
  const openedBySeverity = Object.fromEntries(opened.rows.map((r) => [r.severity, r.n]));
  const resolved = await session.query(
    `update recon.discrepancies d
        set status = 'resolved', resolved_run_id = $1, resolved_at = now()
       from recon_params p
      where d.dealer_id = p.dealer_id and d.status = 'open' and d.last_seen_run_id <> $1
        -- Every open row's order is in scope (recon_extra takes them all), so each was judged
        -- again; so were the file-level rows of the day, and those of the kinds re-judged for
        -- every day. Not those of a day whose provider rows retention dropped: nothing judged
        -- them (once the day is loaded again, they are judged like any other).
        and (d.order_id is not null or d.business_date = p.day
             or d.kind in (${REJUDGED_FILE_LEVEL_KINDS.map((k) => `'${k}'`).join(', ')}))
        and not ${KEPT_ON_PRUNED_DAY}`,
    [runId],
  );
  const counts = await session.query<FindingCount>(
    `select kind, severity, count(*)::int as count from recon_findings group by kind, severity
      order by case severity when 'critical' then 0 when 'warning' then 1 else 2 end, kind`,
  );
  return {
    findings: counts.rows,
    opened: opened.rows.reduce((sum, r) => sum + r.n, 0),
    openedBySeverity,
    stillOpen: refreshed.rowCount,
    resolved: resolved.rowCount,
    systemic: systemic.rowCount > 0,
  };
}
