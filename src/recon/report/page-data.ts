import { sql } from 'kysely';
import type { Session } from '../../db/connection.js';
import { periodTotalsSql, type BillFileTotals, type OrderFileTotals } from '../load/file-totals.js';

/**
 * Every query of the finance page, read in one session. Amounts stay numeric text (the
 * connection never turns numeric into a float); counts are whole numbers. Each query reads a
 * dealer's rows of the period through an index: the provider rows through the BRIN index on
 * business_date, the ledger through (dealer_id, created_at), the findings through
 * (dealer_id, business_date) or the open-row index.
 */

export interface PageRequest {
  dealerId: string;
  from: string;
  to: string;
  /** Days in the charts, ending at `to` (more when the period is longer). */
  historyDays: number;
  /** Most open findings listed on the page; the CSV export has all of them. */
  openLimit: number;
}

export type { BillFileTotals, OrderFileTotals } from '../load/file-totals.js';

/**
 * Days of the period whose provider rows retention dropped: the files' totals on the page are
 * those recorded when the files were loaded.
 */
export interface PrunedProviderDays {
  days: string[];
  /** Of those, days with a file loaded before totals were recorded: only its row count is known. */
  unrecorded: string[];
}

export interface LedgerTotals {
  rows: number;
  amount: string;
  paid: number;
  paidAmount: string;
}

export interface SeverityCounts {
  severity: string;
  open: number;
  resolved: number;
  opened: number;
  resolvedByRuns: number;
  acked: number;
  openAmount: string;
}

export interface DayKindCount {
  business_date: string;
  kind: string;
  count: number;
}

export interface DayAmount {
  business_date: string;
  amount: string;
}

export interface DayRuns {
  business_date: string;
  succeeded: number;
  failed: number;
}

export interface LiveAnswer {
  code: string | null;
  status: string | null;
  status_detail: string | null;
  status_message: string | null;
  asked_at: Date;
}

export interface OpenFinding {
  id: number;
  business_date: string;
  age_days: number;
  kind: string;
  severity: string;
  order_id: string | null;
  provider_ref: string | null;
  ledger_amount: string | null;
  provider_amount: string | null;
  details: Record<string, unknown>;
  last_seen_run_id: number;
  ack_by: string | null;
  ack_note: string | null;
  ack_at: Date | null;
  live: LiveAnswer | null;
}

export interface RunInfo {
  id: number;
  business_date: string;
  status: string;
  started_at: Date;
  finished_at: Date | null;
  order_rows: number | null;
  bill_rows: number | null;
  error: string | null;
}

export interface FileInfo {
  business_date: string;
  kind: string;
  sha256: string;
  bytes: number;
  row_count: number;
  generated_at: Date | null;
  ingested_at: Date;
  run_id: number;
}

export interface PageData {
  request: PageRequest;
  historyFrom: string;
  /** "Today" on the database's clock (Asia/Shanghai), for ages. */
  today: string;
  orders: OrderFileTotals;
  bills: BillFileTotals;
  pruned: PrunedProviderDays;
  ledger: LedgerTotals;
  severities: SeverityCounts[];
  /** Open findings of every day up to `to`, and the critical ones' money. */
  backlog: { open: number; unacked: number; criticalOpen: number; criticalAmount: string };
  byKind: DayKindCount[];
  atRisk: DayAmount[];
  runsByDay: DayRuns[];
  /** The dealer's first business day with any run: days before it are not counted as missed. */
  firstRunDay: string | null;
  open: OpenFinding[];
  /** Whether recon.provider_order_checks exists, i.e. live status can be shown at all. */
  liveStatus: boolean;
  lastSuccess: RunInfo | null;
  runs: RunInfo[];
  files: FileInfo[];
}

const ZONE = 'Asia/Shanghai';

/** The day a finding's amount stands for: the provider's when it has one, else the ledger's (as recon.daily_summary). */
const AMOUNT = 'coalesce(provider_amount, ledger_amount)';

export async function selectPageData(session: Session, request: PageRequest): Promise<PageData> {
  const { dealerId, from, to } = request;
  const q = async <R>(text: string, params: unknown[]): Promise<R[]> => (await session.query<R>(text, params)).rows;

  const [meta] = await q<{ history_from: string; today: string }>(
    `select least($1::date, $2::date - ($3::int - 1))::text as history_from, (now() at time zone '${ZONE}')::date::text as today`,
    [from, to, request.historyDays],
  );
  const historyFrom = meta!.history_from;

  // The files of the period's days whose provider rows retention dropped: their totals as
  // recorded at load (only the row count for a file loaded before totals were recorded).
  const prunedFiles = (kind: 'order' | 'bill') => `(
    select coalesce(f.totals, jsonb_build_object('rows', f.row_count)) as totals, f.totals is null as unrecorded, f.business_date
      from (select distinct on (business_date) * from recon.provider_files
             where dealer_id = $1 and kind = '${kind}' and business_date between $2 and $3 order by business_date, id desc) f
     where not exists (select 1 from recon.provider_days d
                        where d.dealer_id = f.dealer_id and d.kind = f.kind and d.business_date = f.business_date))`;
  const periodRows = (table: string) => `(select * from ${table} where business_date between $2 and $3 and dealer_id = $1) x`;
  const [orders] = await q<OrderFileTotals>(periodTotalsSql('order', periodRows('recon.provider_orders'), prunedFiles('order')), [dealerId, from, to]);
  const [bills] = await q<BillFileTotals>(periodTotalsSql('bill', periodRows('recon.provider_bills'), prunedFiles('bill')), [dealerId, from, to]);
  const [pruned] = await q<PrunedProviderDays>(
    `select coalesce(array_agg(distinct p.business_date::text order by p.business_date::text), '{}') as days,
            coalesce(array_agg(distinct p.business_date::text order by p.business_date::text) filter (where p.unrecorded), '{}') as unrecorded
       from (select * from ${prunedFiles('order')} o union all select * from ${prunedFiles('bill')} b) p`,
    [dealerId, from, to],
  );
  // Counts are bigint and sums numeric: the connection gives them as a number and as text.
  const ledger: LedgerTotals = await session.db
    .selectFrom('recon.ledger_payouts')
    .select((eb) => [
      eb.fn.countAll<number>().as('rows'),
      eb.fn.coalesce(eb.fn.sum<string>('amount'), sql<string>`0`).as('amount'),
      eb.fn.countAll<number>().filterWhere('status', '=', 'paid').as('paid'),
      eb.fn.coalesce(eb.fn.sum<string>('amount').filterWhere('status', '=', 'paid'), sql<string>`0`).as('paidAmount'),
    ])
    .where('dealer_id', '=', dealerId)
    .where('created_at', '>=', sql<Date>`(${from}::date::timestamp at time zone ${sql.lit(ZONE)})`)
    .where('created_at', '<', sql<Date>`((${to}::date + 1)::timestamp at time zone ${sql.lit(ZONE)})`)
    .executeTakeFirstOrThrow();

  // Six counts per severity over a values list of the severities, each its own subquery: kept as SQL.
  const periodRuns = `(select id from recon.runs where dealer_id = $1 and business_date between $2 and $3)`;
  const severities = await q<SeverityCounts>(
    `with s(severity, rank) as (values ('critical', 0), ('warning', 1), ('info', 2))
     select s.severity,
            (select count(*) from recon.discrepancies d where d.dealer_id = $1 and d.business_date between $2 and $3
                and d.severity = s.severity and d.status = 'open')::int as open,
            (select count(*) from recon.discrepancies d where d.dealer_id = $1 and d.business_date between $2 and $3
                and d.severity = s.severity and d.status = 'resolved')::int as resolved,
            (select count(*) from recon.discrepancies d where d.dealer_id = $1 and d.severity = s.severity
                and d.first_seen_run_id in ${periodRuns})::int as opened,
            (select count(*) from recon.discrepancies d where d.dealer_id = $1 and d.severity = s.severity
                and d.resolved_run_id in ${periodRuns})::int as "resolvedByRuns",
            (select count(*) from recon.discrepancies d where d.dealer_id = $1 and d.business_date between $2 and $3
                and d.severity = s.severity and d.status = 'open' and d.ack_by is not null)::int as acked,
            (select coalesce(sum(${AMOUNT}), 0) from recon.discrepancies d where d.dealer_id = $1
                and d.business_date between $2 and $3 and d.severity = s.severity and d.status = 'open')::text as "openAmount"
       from s order by s.rank`,
    [dealerId, from, to],
  );
  const amount = sql<string | null>`${sql.raw(AMOUNT)}`;
  const backlog: PageData['backlog'] = await session.db
    .selectFrom('recon.discrepancies')
    .select((eb) => [
      eb.fn.countAll<number>().as('open'),
      eb.fn.countAll<number>().filterWhere('ack_by', 'is', null).as('unacked'),
      eb.fn.countAll<number>().filterWhere('severity', '=', 'critical').as('criticalOpen'),
      eb.fn.coalesce(eb.fn.sum<string>(amount).filterWhere('severity', '=', 'critical'), sql<string>`0`).as('criticalAmount'),
    ])
    .where('dealer_id', '=', dealerId)
    .where('status', '=', 'open')
    .where('business_date', '<=', to)
    .executeTakeFirstOrThrow();

  const byKind: DayKindCount[] = await session.db
    .selectFrom('recon.discrepancies')
    .select((eb) => ['business_date', 'kind', eb.fn.countAll<number>().as('count')])
    .where('dealer_id', '=', dealerId)
    .where('business_date', '>=', historyFrom)
    .where('business_date', '<=', to)
    .where('status', '=', 'open')
    .groupBy(['business_date', 'kind'])
    .orderBy('business_date').orderBy('kind')
    .execute();
  const atRisk: DayAmount[] = await session.db
    .selectFrom('recon.discrepancies')
    .select((eb) => ['business_date', eb.fn.sum<string>(amount).as('amount')])
    .where('dealer_id', '=', dealerId)
    .where('business_date', '>=', historyFrom)
    .where('business_date', '<=', to)
    .where('status', '=', 'open')
    .where('severity', '=', 'critical')
    .where(amount, 'is not', null)
    .groupBy('business_date')
    .orderBy('business_date')
    .execute();
  const runsByDay: DayRuns[] = await session.db
    .selectFrom('recon.runs')
    .select((eb) => [
      'business_date',
      eb.fn.countAll<number>().filterWhere('status', '=', 'succeeded').as('succeeded'),
      eb.fn.countAll<number>().filterWhere('status', '=', 'failed').as('failed'),
    ])
    .where('dealer_id', '=', dealerId)
    .where('business_date', '>=', historyFrom)
    .where('business_date', '<=', to)
    .groupBy('business_date')
    .orderBy('business_date')
    .execute();

  const first = await session.db
    .selectFrom('recon.runs')
    .select((eb) => eb.fn.min('business_date').as('d'))
    .where('dealer_id', '=', dealerId)
    .executeTakeFirst();

  // The live follow-up's table may not exist (yet): ask the catalog before naming it.
  const [reg] = await q<{ exists: boolean }>(`select to_regclass('recon.provider_order_checks') is not null as exists`, []);
  const liveStatus = reg!.exists;
  // Names recon.provider_order_checks only when the catalog has it: dynamic, kept as SQL.
  const live = liveStatus
    ? `left join lateral (
         select jsonb_build_object('code', c.code::text, 'status', c.status::text, 'status_detail', c.status_detail::text,
                                   'status_message', c.status_message::text, 'asked_at', c.asked_at) as answer
           from recon.provider_order_checks c
          where c.dealer_id = d.dealer_id and c.order_id = d.order_id
          order by c.asked_at desc limit 1) live on true`
    : '';
  const open = await q<Omit<OpenFinding, 'live'> & { live: (Omit<LiveAnswer, 'asked_at'> & { asked_at: string }) | null }>(
    `select d.id, d.business_date::text as business_date, ($3::date - d.business_date)::int as age_days, d.kind, d.severity,
            d.order_id, d.provider_ref, d.ledger_amount::text as ledger_amount, d.provider_amount::text as provider_amount,
            d.details, d.last_seen_run_id, d.ack_by, d.ack_note, d.ack_at,
            ${liveStatus ? 'live.answer' : 'null::jsonb'} as live
       from recon.discrepancies d ${live}
      where d.dealer_id = $1 and d.status = 'open' and d.business_date <= $2
      order by case d.severity when 'critical' then 0 when 'warning' then 1 else 2 end, d.business_date, d.kind, d.order_id, d.id
      limit $4`,
    [dealerId, to, meta!.today, request.openLimit],
  );

  const runColumns = ['id', 'business_date', 'status', 'started_at', 'finished_at', 'order_rows', 'bill_rows', 'error'] as const;
  const lastSuccess: RunInfo | undefined = await session.db
    .selectFrom('recon.runs')
    .select(runColumns)
    .where('dealer_id', '=', dealerId)
    .where('status', '=', 'succeeded')
    .orderBy('finished_at', 'desc').orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  const runs: RunInfo[] = await session.db
    .selectFrom('recon.runs')
    .select(runColumns)
    .where('dealer_id', '=', dealerId)
    .where('business_date', '>=', from)
    .where('business_date', '<=', to)
    .orderBy('id', 'desc')
    .limit(20)
    .execute();
  const files: FileInfo[] = await session.db
    .selectFrom('recon.provider_files')
    .distinctOn(['business_date', 'kind'])
    .select(['business_date', 'kind', 'sha256', 'bytes', 'row_count', 'generated_at', 'ingested_at', 'run_id'])
    .where('dealer_id', '=', dealerId)
    .where('business_date', '>=', from)
    .where('business_date', '<=', to)
    .orderBy('business_date', 'desc').orderBy('kind', 'desc').orderBy('id', 'desc')
    .execute();

  return {
    request, historyFrom, today: meta!.today,
    orders: orders!, bills: bills!, pruned: pruned!, ledger, severities, backlog,
    byKind, atRisk, runsByDay, firstRunDay: first?.d ?? null,
    open: open.map((o) => ({
      ...o,
      details: o.details ?? {},
      live: o.live === null ? null : { ...o.live, asked_at: new Date(o.live.asked_at) },
    })),
    liveStatus, lastSuccess: lastSuccess ?? null, runs, files,
  };
}

/** The dealer a page is for: the configured one, else the only one the database knows. */
export async function soleDealer(session: Session): Promise<string[]> {
  const rows = await session.db.selectFrom('recon.runs').select('dealer_id').groupBy('dealer_id').orderBy('dealer_id').limit(2).execute();
  return rows.map((x) => x.dealer_id);
}

/** The newest business day with a successful run: the page's default day. */
export async function latestReconciledDay(session: Session, dealerId: string): Promise<string | null> {
  const r = await session.db
    .selectFrom('recon.runs')
    .select((eb) => eb.fn.max('business_date').as('d'))
    .where('dealer_id', '=', dealerId)
    .where('status', '=', 'succeeded')
    .executeTakeFirst();
  return r?.d ?? null;
}
