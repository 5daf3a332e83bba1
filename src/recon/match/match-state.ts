import { COUNTED_BILL_STATUSES, prunedDaySql, RATES_SQL, REFS_TABLE_SQL, refsInsertSql, rowsById } from './ref-state.js';
import { CANDIDATE_FILTER, PAID } from './rules.js';

/**
 * The temp tables every rule reads, built once per run inside its transaction.
 *
 * Scope: the orders whose findings this run decides: every order in day D's order or bill
 * file, every ledger row created on D, every order with a discrepancy still open from any
 * earlier day, and the week's unclaimed red packets.
 *
 * The provider rows are read through the run's views (load/day-tables.ts): recon_day_orders and
 * recon_day_bills are D's rows (the tables just loaded), recon_orders and recon_bills every
 * day of the dealer as this run will leave them.
 *
 * What a run reads does not grow with the history kept. Day D's rows are aggregated per order
 * and joined with the ledger rows created on D (plus those of D's orders created on other
 * days, looked up by id); only the candidates (orders for which some rule's condition holds
 * on D's rows) are kept in recon_match, with the orders of D's bill file that are not in its
 * order file (\`bill_only\`: a 退汇 laid against an order of any age, a payout of yesterday's
 * order). Other days' rows are then read only for the orders that need them: those of
 * recon_match, the orders with an open finding, and the
 * orders of D seen again within YZH_DUPLICATE_WINDOW_DAYS days (a 商户订单号 paid twice). Those
 * orders' states take in their other days' rows and their candidate rows are built again.
 *
 * An order settled on D's rows alone (paid once on both sides, same amount, with its bills)
 * that is in none of those sets has no other day's row that could change that, except a
 * duplicate outside the window: the day that held the other evidence judged the order when
 * its file was loaded, and its finding, still open, keeps the order in scope since.
 */
const ORDER_AGGREGATES = `count(*) as order_rows,
          min(o.business_date) as home_date,
          min(o.provider_ref) filter (where o.status <> 'returned') as min_ref,
          max(o.provider_ref) filter (where o.status <> 'returned') as max_ref,
          bool_or(o.status = 'returned') as returned_row,
          min(o.provider_ref) as provider_ref, min(o.status) as status, min(o.status_text) as status_text,
          min(o.amount) as amount, min(o.fee) as fee, min(o.broker_id) as broker_id,
          min(coalesce(o.finished_at, o.created_at)) as finished_at`;

/** ORDER_AGGREGATES of an order with one row: the row's own values. */
const SINGLE_ORDER_ROW = `1::bigint as order_rows,
          o.business_date as home_date,
          case when o.status <> 'returned' then o.provider_ref end as min_ref,
          case when o.status <> 'returned' then o.provider_ref end as max_ref,
          o.status = 'returned' as returned_row,
          o.provider_ref, o.status, o.status_text, o.amount, o.fee, o.broker_id, coalesce(o.finished_at, o.created_at) as finished_at`;

const BILL_AGGREGATES = `min(b.business_date) as first_date,
          count(*) filter (where b.bill_type = 'payout') as payout_rows,
          sum(b.amount) filter (where b.bill_type = 'payout') as payout_amount,
          coalesce(sum(b.amount) filter (where b.bill_type = 'payout_fee'), 0) as fee_amount,
          min(b.provider_ref) as min_ref,
          max(b.provider_ref) as max_ref,
          bool_or(b.bill_type = 'return') as returned,
          min(b.bill_ref) filter (where b.bill_type = 'payout') as first_payout_ref`;

/** ORDER_AGGREGATES of two sets of rows of the same orders, combined (after in_day_file). */
const ORDER_COMBINED = `bool_or(in_day_file), sum(order_rows), min(home_date), min(min_ref), max(max_ref),
          bool_or(returned_row), min(provider_ref), min(status), min(status_text), min(amount), min(fee),
          min(broker_id), min(finished_at)`;

/** BILL_AGGREGATES of two sets of rows of the same orders, combined. */
const BILL_COMBINED = `min(first_date), sum(payout_rows), sum(payout_amount), sum(fee_amount), min(min_ref),
          max(max_ref), bool_or(returned), min(first_payout_ref)`;

/**
 * Folds `other` (per-order aggregates of other days' rows) into a state table: the state's
 * rows of the same orders are taken out and put back combined with them.
 */
function mergeInto(state: string, other: string, combined: string): string {
  return `with other as (${other}
   ), taken as (
     delete from ${state} s using other where s.order_id = other.order_id returning s.*
   )
   insert into ${state}
   select order_id, ${combined}
     from (select * from taken union all select * from other) x
    group by order_id`;
}

/** The run's parameters; $1 dealer, $2 day. */
export const PARAMS_SQL: readonly string[] = [
  `create temp table recon_params on commit drop as
   select $1::text as dealer_id,
          $2::date as day,
          $2::date::timestamp at time zone 'Asia/Shanghai' as day_start,
          ($2::date + 1)::timestamp at time zone 'Asia/Shanghai' as day_end,
          -- Findings that depend on elapsed time are judged at the final regeneration (16:45
          -- on D+1) of the newest order file, so a re-run on the same files decides the same.
          ((greatest($2::date, (select max(business_date) from recon.provider_files
                                 where dealer_id = $1 and kind = 'order')) + 1)::timestamp
            + interval '16 hours 45 minutes') at time zone 'Asia/Shanghai' as as_of`,
  'analyze recon_params',
];

/**
 * What needs only day D's order rows: built once they are loaded, before the bill file.
 * Without parallel workers: with them, a 1M-order day ran no faster (32.2 s against 31.2 s,
 * one run each), the partial aggregates and their gather costing what the second core gave.
 * The statements after the load may use them.
 */
export const ORDER_STATE_SQL: readonly string[] = [
  'set local max_parallel_workers_per_gather = 0',
  // Per order from day D's order file: its day, whether it has two or more payouts (two
  // distinct 订单流水号 that are not 退汇 rows: min <> max), and its row (when it has just one;
  // see the update below for the others).
  //
  // Nearly every order has one row in the file: its state is that row, taken as it is; only
  // the orders with two or more rows are aggregated. Counting rows per order is a narrow hash
  // (the id and a count); aggregating every order's dozen columns made a hash table of over
  // 500 MB for a million orders, spilled to disk, in 2.6 s.
  //
  // The server's loader knows those orders from its framing (server-loader.ts: the table then
  // exists, and a few orders with one row may be in it); otherwise they are counted here.
  `create temp table if not exists recon_order_multi on commit drop as
   select order_id from recon_day_orders group by order_id having count(*) > 1`,
  `create temp table recon_order_state on commit drop as
   select o.order_id, true as in_day_file, ${SINGLE_ORDER_ROW}
     from recon_day_orders o
    where o.order_id not in (select order_id from recon_order_multi)
   union all
   select o.order_id, true as in_day_file, ${ORDER_AGGREGATES}
     from recon_day_orders o
    where o.order_id in (select order_id from recon_order_multi)
    group by o.order_id`,
  'set local max_parallel_workers_per_gather to default',
];

/**
 * Per order from day D's bill file: payouts and their fees summed, the 订单流水号 they carry
 * (min = max when there is one), and any return.
 */
export const BILL_STATE_SQL: readonly string[] = [
  // Nearly every order has one 成功 经纪公司打款 row and one 成功 服务费 row: its state is
  // the two rows side by side (a hash join), and only the other orders (recon_bill_multi) are
  // aggregated. An aggregate of every order's rows keeps a state of a few hundred bytes per
  // order (numeric sums, the refs as text): over 600 MB at a million orders, which spills,
  // or is planned as a group-by over the id index that reads the heap at random when the
  // file's rows are not in id order.
  //
  // The server's loader knows those orders from its framing (server-loader.ts); otherwise
  // a narrow count finds them here. (Merge joins are off for the run, MATCH_SETTINGS_SQL: with
  // them the planner joined the two halves in id order through the id index.)
  'set local max_parallel_workers_per_gather = 0',
  `create temp table if not exists recon_bill_multi on commit drop as
   select order_id from recon_day_bills
    group by order_id
   having count(*) filter (where not (bill_status = 'succeeded' and bill_type in ('payout', 'payout_fee'))) > 0
       or count(*) filter (where bill_type = 'payout') > 1 or count(*) filter (where bill_type = 'payout_fee') > 1`,
  `create temp table recon_bill_state on commit drop as
   select coalesce(p.order_id, f.order_id) as order_id, coalesce(p.business_date, f.business_date) as first_date,
          (p.order_id is not null)::int::bigint as payout_rows, p.amount::numeric as payout_amount,
          coalesce(f.amount, 0)::numeric as fee_amount,
          least(p.provider_ref, f.provider_ref) as min_ref, greatest(p.provider_ref, f.provider_ref) as max_ref,
          false as returned, p.bill_ref as first_payout_ref
     from (select * from recon_day_bills b
            where b.bill_type = 'payout' and b.bill_status = 'succeeded'
              and b.order_id not in (select order_id from recon_bill_multi)) p
     full join (select * from recon_day_bills b
                 where b.bill_type = 'payout_fee' and b.bill_status = 'succeeded'
                   and b.order_id not in (select order_id from recon_bill_multi)) f on f.order_id = p.order_id
   union all
   select b.order_id, ${BILL_AGGREGATES}
     from recon_day_bills b
    where b.order_id in (select order_id from recon_bill_multi) and b.bill_status in ${COUNTED_BILL_STATUSES}
    group by b.order_id`,
  'set local max_parallel_workers_per_gather to default',
];

/**
 * An open finding (alias d of recon.discrepancies) kept as it was: marked pruned, and its day's
 * provider rows still dropped (recon_pruned_days). Nothing judges it again until the day is
 * loaded again.
 */
export const KEPT_ON_PRUNED_DAY = `(d.details ? 'provider_rows_pruned' and d.business_date in (select business_date from recon_pruned_days))`;

/** Once both files are in: the bill file's per-order state, the extra orders, the ledger. */
const SCOPE_SQL: readonly string[] = [
  ...BILL_STATE_SQL,

  // The days whose order file was loaded once and whose rows retention has dropped since (the
  // run's own day is being loaded again): nothing there can be judged as absent.
  `create temp table recon_pruned_days on commit drop as
   select distinct f.business_date from recon.provider_files f cross join recon_params p
    where f.dealer_id = p.dealer_id and f.kind = 'order' and f.business_date <> p.day
      and not exists (select 1 from recon.provider_days d
                       where d.dealer_id = p.dealer_id and d.kind = 'order' and d.business_date = f.business_date)`,

  // The orders whose open findings are kept as they were on a day retention dropped: that
  // day was the order's, and stays so (their later evidence is judged on it).
  `create temp table recon_frozen_homes on commit drop as
   select d.order_id, min(d.business_date) as business_date from recon.discrepancies d
    where d.dealer_id = (select dealer_id from recon_params) and d.status = 'open' and d.order_id is not null
      and ${KEPT_ON_PRUNED_DAY}
    group by d.order_id`,

  // Orders in scope beyond day D's files and ledger rows: those with a discrepancy still open
  // (but not those of a day whose provider rows retention has dropped: nothing is left to judge
  // them by, so they stay as they are until the day is loaded again), and red packets still
  // unclaimed in their (final) file, which no later order file mentions again, re-checked for
  // staleness for a week after their day (a partial index finds them).
  `create temp table recon_extra on commit drop as
   select d.order_id from recon.discrepancies d
    where d.dealer_id = (select dealer_id from recon_params) and d.status = 'open' and d.order_id is not null
      and not ${KEPT_ON_PRUNED_DAY}
   union
   select o.order_id from recon_orders o
    where o.status = 'paid_pending_claim'
      and o.business_date between (select day - 7 from recon_params) and (select day - 1 from recon_params)`,
  'analyze recon_extra',

  // The ledger rows the run needs: those created on D (one range of the dealer's index), and
  // those of D's orders and the extra orders created on other days, looked up by id.
  // The day's range is read as a bitmap, so the heap in its physical order: the planner,
  // which cannot see the range's bounds (recon_params), reads a million rows through the index
  // otherwise, at random where the ledger's rows were not written in time order.
  'set local enable_indexscan = off',
  `create temp table recon_ledger on commit drop as
   select l.order_id, l.amount, l.status, l.created_at
     from recon.ledger_payouts l
    where l.dealer_id = (select dealer_id from recon_params)
      and l.created_at >= (select day_start from recon_params) and l.created_at < (select day_end from recon_params)`,
  'set local enable_indexscan to default',
  'analyze recon_ledger',
  // The extra orders' ledger rows created on other days, by id. Those of D's orders are looked
  // up once the candidates are known (CANDIDATES_SQL): an anti-join of the states' two million
  // ids against recon_ledger, to find the few hundred it lacks, cost 1.3-2.2 s at a million.
  ledgerLookup('select order_id from recon_extra', 'created elsewhere'),
  'analyze recon_ledger',
];

/**
 * Adds the ledger rows of the orders `ids` selects, by id (`limit 1` keeps each a lookup by
 * primary key: without it the planner may join the whole ledger), leaving out those
 * recon_ledger has: `absent` checks recon_ledger itself; `created elsewhere` leaves out the
 * rows created on D, which recon_ledger holds from the start; `new` is for ids known to be
 * absent.
 */
function ledgerLookup(ids: string, skip: 'absent' | 'created elsewhere' | 'new'): string {
  const where = skip === 'absent' ? 'where not exists (select 1 from recon_ledger r where r.order_id = i.order_id)'
    : skip === 'created elsewhere'
      ? 'where not (l.created_at >= (select day_start from recon_params) and l.created_at < (select day_end from recon_params))'
      : '';
  return `insert into recon_ledger
   select l.order_id, l.amount, l.status, l.created_at
     from (${ids}) i
     cross join lateral (
       select l.* from recon.ledger_payouts l
        where l.order_id = i.order_id and l.dealer_id = (select dealer_id from recon_params) limit 1) l
    ${where}`;
}

/**
 * Only when the dealer has files of other days: the orders that need their other days' rows
 * (see the top), those rows merged into the states, and their candidate rows built again.
 * Other days' rows are read by id (ref-state.ts rowsById), whatever the planner guesses of how
 * many ids there are.
 */
const OTHER_DAYS_SQL: readonly string[] = [
  `create temp table recon_other_ids on commit drop as
   select order_id from recon_match
   union select order_id from recon_extra
   union select o.order_id from recon_window_orders o
          where o.order_id in (select order_id from recon_order_state)
   -- An order whose findings are kept on a pruned day is judged whole whenever the run's own
   -- rows name it (D's files or ledger), candidate or not on those rows alone: judged again,
   -- its findings are written as found. (None most days: each subquery runs only for a row.)
   union select fh.order_id from recon_frozen_homes fh
          where exists (select 1 from recon_order_state o where o.order_id = fh.order_id)
             or exists (select 1 from recon_bill_state b where b.order_id = fh.order_id)
             or exists (select 1 from recon_ledger l where l.order_id = fh.order_id)`,
  'analyze recon_other_ids',
  mergeInto('recon_order_state', `
     select o.order_id, false as in_day_file, ${ORDER_AGGREGATES}
       from ${rowsById('recon_other_ids', 'recon_other_orders', 'o')}
      group by o.order_id`, ORDER_COMBINED),
  mergeInto('recon_bill_state', `
     select b.order_id, ${BILL_AGGREGATES}
       from ${rowsById('recon_other_ids', 'recon_other_bills', 'b', `b.bill_status in ${COUNTED_BILL_STATUSES}`)}
      group by b.order_id`, BILL_COMBINED),
  ledgerLookup('select order_id from recon_other_ids', 'absent'),
  'analyze recon_order_state',
  'analyze recon_bill_state',
  ...rebuildMatchRows('recon_other_ids'),
  ...refsPassSql(),
];

/** Whether the dealer has provider rows of days other than the run's (OTHER_DAYS_SQL applies). */
export const HAS_OTHER_DAYS_SQL = `select exists (
  select 1 from recon.provider_days d, recon_params p
   where d.dealer_id = p.dealer_id and d.business_date <> p.day) as other_days`;

/**
 * Each order's newest live answer (recon.provider_order_checks) that says something about it
 * (for the orders in scope),
 * and whether it is newer than every order-file row of the order: asked by the same run that
 * ingested the file holding the row, or a later one. A file ingested after the answer (a later
 * day's file, a regenerated one) is newer evidence, and then the file rows decide again.
 */
export const LIVE_SQL = `create temp table recon_live on commit drop as ${liveSelect(null)}`;

/**
 * recon_live's rows: of every order in the run's scope (`only` null), or of the orders of the
 * temp table `only` names.
 */
function liveSelect(only: string | null): string {
  // Only the orders in the run's scope: the answers of years of follow-ups are not read again
  // by every run. A join, so that Postgres hashes the dealer's answers (the smaller side) and
  // passes the scope's ids by it; as four `in (…)` tests it hashed each million-row set (1.1 s
  // at a million orders, once there were answers).
  const scope = only === null
    ? `join (select order_id from recon_extra union all select order_id from recon_order_state
             union all select order_id from recon_bill_state union all select order_id from recon_ledger) s
         on s.order_id = k.order_id`
    : `join ${only} s on s.order_id = k.order_id`;
  return `
   select c.order_id, c.state, c.code, c.status, c.status_detail, c.status_message, c.provider_ref, c.broker_id,
          c.amount, c.finished_at, c.asked_at,
          not exists (
            select 1 from recon_orders o
             where o.order_id = c.order_id
               and (select f.run_id from recon.provider_files f
                     where f.dealer_id = o.dealer_id and f.business_date = o.business_date and f.kind = 'order'
                     order by f.id desc limit 1) > c.run_id) as newest
     from (select distinct on (k.order_id) k.*
             from recon.provider_order_checks k
             ${scope}
            where k.dealer_id = (select dealer_id from recon_params) and k.state is not null
            order by k.order_id, k.id desc) c`;
}

/**
 * The candidates' select: per order, its provider state, bills and ledger row side by side,
 * only the orders for which some rule's condition holds. `only` names a temp table of order
 * ids to which it is restricted (the orders that took in other days' rows, or the re-judging
 * after a live follow-up), null for all.
 *
 * An order of one row, one 订单流水号 and no live answer newer than the files takes its state
 * from recon_order_state and recon_bill_state as they are. Any other order is judged per ref
 * (ref-state.ts): until recon_refs has its row, it is kept with `needs_refs` (whatever the
 * rules would say of it), and refsPassSql() builds its row and then its candidate row again.
 * A live answer that is the newest evidence is read there exactly as the order's latest file
 * row would be (a 9/213 answer is 退汇, so returned), and an order no file has yet is at the
 * provider once the answer found it. A "no such order" answer (not_found) changes nothing that
 * a file row says; its findings carry the answer (LIVE_DETAILS_SQL).
 *
 * An order's day (docs/contract.md section 3) is its first order file's, else the ledger's creation
 * day, else its first bill file's. An order in the ledger whose first order file left is later
 * than a day retention has dropped since its ledger day (or that no order file left has) may
 * have had that dropped day's file as its first: it keeps the first such day and is judged only
 * by the rules that do not ask whether something is absent (`pruned_home`).
 */
export function matchSelect(only: string | null, keepUnledgered = false): string {
  const within = (table: string) => (only === null ? table : `(select * from ${table} where order_id in (select order_id from ${only}))`);
  const ref = (column: string, simple: string) => `case when r.order_id is not null then r.${column} else ${simple} end`;
  return `
   with rates as (
     ${RATES_SQL}
   ), joined as (
     select coalesce(o.order_id, b.order_id, l.order_id) as order_id,
            ${ref('in_order_file or r.live', 'o.order_id is not null')} as at_provider,
            ${ref('home_date', 'o.home_date')} as file_date,
            ${ref('paid_refs', `case when not (coalesce(o.returned_row, false) or coalesce(b.returned, false))
                                      and o.status in ${PAID} then 1 else 0 end`)} as paid_refs,
            ${ref('provider_ref', 'o.provider_ref')} as provider_ref,
            ${ref('status_text', 'o.status_text')} as status_text,
            ${ref('provider_amount', 'o.amount')} as provider_amount,
            ${ref('fee', 'o.fee')} as fee,
            ${ref('broker_id', 'o.broker_id')} as broker_id,
            ${ref('finished_at', 'o.finished_at')} as finished_at,
            -- A 退汇 order row or a 经纪公司退汇 bill row makes the order returned.
            ${ref('provider_status', `case when coalesce(o.returned_row, false) or coalesce(b.returned, false) then 'returned'
                                            else o.status end`)} as provider_status,
            ${ref('payout_rows', 'coalesce(b.payout_rows, 0)')} as payout_rows,
            ${ref('bill_date', 'b.first_date')} as bill_date,
            ${ref('first_payout_ref', 'b.first_payout_ref')} as first_payout_ref,
            ${ref('bill_amount', 'b.payout_amount')} as bill_amount,
            ${ref('bill_fee', 'b.fee_amount')} as bill_fee,
            ${ref('bill_returned', 'coalesce(b.returned, false)')} as bill_returned,
            -- One ref on the order and on its bills: sums compare per order.
            case when r.order_id is not null then not r.bill_bad
                 else b.min_ref = b.max_ref and b.min_ref = o.min_ref and o.min_ref = o.max_ref end as bills_single_ref,
            r.bill_bad as refs_bill_bad, r.fee_bad as refs_fee_bad, r.expected_fee as refs_expected_fee, r.rate as refs_rate,
            r.payouts, r.bill_details,
            r.order_id is null and (o.order_rows > 1 or b.min_ref <> b.max_ref
                                    or (o.order_id is not null and b.order_id is not null and b.min_ref is distinct from o.min_ref)
                                    or coalesce(v.newest and v.state <> 'not_found', false)) as needs_refs,
            o.order_id is null and b.order_id is not null as bill_only,
            l.order_id is not null as in_ledger, l.amount as ledger_amount, l.status as ledger_status,
            l.created_at as ledger_created_at, (l.created_at at time zone 'Asia/Shanghai')::date as ledger_date
       from ${within('recon_order_state')} o
       full join ${within('recon_bill_state')} b on b.order_id = o.order_id
       full join ${within('recon_ledger')} l on l.order_id = coalesce(o.order_id, b.order_id)
       left join recon_live v on v.order_id = coalesce(o.order_id, b.order_id, l.order_id)
       left join recon_refs r on r.order_id = coalesce(o.order_id, b.order_id, l.order_id)
      -- In scope: at the provider (D's files, or another day's for an order in scope), created
      -- on D in the ledger, or one of the extra orders.
      where o.order_id is not null or b.order_id is not null
         or (l.created_at >= (select day_start from recon_params) and l.created_at < (select day_end from recon_params))
         or l.order_id in (select order_id from recon_extra)
      -- Each step's columns computed once a row (offset 0, here and below): pulled up into the
      -- next, every use of a column is its whole expression again, and the candidate filter
      -- uses each many times (a second in all at a million orders).
     offset 0
   ), pruned as (
     -- The day the order's first order file may have been, dropped by retention since.
     select j.*, coalesce(fh.business_date, ${prunedDaySql('j.ledger_date', 'j.file_date')}) as pruned_date
       from joined j left join recon_frozen_homes fh on fh.order_id = j.order_id offset 0
   ), homed as (
     -- Never null (\`not pruned_home\` must hold for every order not in the ledger).
     select j.*, j.pruned_date is not null as pruned_home
       from pruned j
   ), priced as (
     -- The contract's rate on the order's day. round() on numeric rounds half away from zero:
     -- half-up for these positive amounts. An order judged per ref has its fee judged there.
     select m.*, coalesce(m.refs_fee_bad, m.rate is not null and m.fee is distinct from m.expected_fee) as fee_bad
       from (select h.*, case when h.refs_fee_bad is null then r.rate else h.refs_rate end as rate,
                    case when h.refs_fee_bad is null then round(h.provider_amount * r.rate, 2) else h.refs_expected_fee end as expected_fee
               from (select h.*, coalesce(h.pruned_date, h.file_date, h.ledger_date, h.bill_date) as home_date,
                            coalesce(h.refs_bill_bad,
                                     h.at_provider and h.payout_rows > 0 and h.provider_status <> 'returned'
                                     and (not coalesce(h.bills_single_ref, false) or h.bill_amount <> h.provider_amount
                                          or h.bill_fee <> coalesce(h.fee, 0))) as bill_bad
                       from homed h offset 0) h
               left join rates r on r.broker_id = h.broker_id and r.valid_from <= h.home_date
                                and (r.valid_until is null or h.home_date < r.valid_until)) m
   )
   select m.* from priced m cross join recon_params p
    where ${CANDIDATE_FILTER} or m.bill_only${keepUnledgered ? ' or not m.in_ledger' : ''}`;
}

/** recon_match's rows of the orders the temp table `ids` names, built again. */
function rebuildMatchRows(ids: string): string[] {
  return [`delete from recon_match where order_id in (select order_id from ${ids})`, `insert into recon_match ${matchSelect(ids)}`];
}

/** The candidates kept with `needs_refs`: their recon_refs rows, then their candidate rows again. */
function refsPassSql(): string[] {
  return [
  'delete from recon_ref_ids',
  'insert into recon_ref_ids select order_id from recon_match where needs_refs',
  'delete from recon_refs where order_id in (select order_id from recon_ref_ids)',
  refsInsertSql('recon_ref_ids'),
  'analyze recon_refs',
  ...rebuildMatchRows('recon_ref_ids'),
  ];
}

/** The candidates on D's rows (with the live answers), before other days are read. */
const CANDIDATES_SQL: readonly string[] = [
  'analyze recon_order_state',
  'analyze recon_bill_state',

  LIVE_SQL,
  'analyze recon_live',
  REFS_TABLE_SQL,
  'create temp table recon_ref_ids (order_id text) on commit drop',

  // Per order: its provider state, bills and ledger row side by side; only the candidates
  // (orders for which some rule's condition holds) are kept.
  `create temp table recon_match on commit drop as ${matchSelect(null, true)}`,
  // The orders at the provider without a ledger row created on D (kept above whether or not
  // they are candidates): their ledger rows created on other days, by id, and their rows built
  // again with them, now only if they are candidates.
  `create temp table recon_ledger_ids on commit drop as select order_id from recon_match where not in_ledger`,
  ledgerLookup('select order_id from recon_ledger_ids', 'new'),
  ...rebuildMatchRows('recon_ledger_ids'),
];

/** The candidates' refs: the first statements that read the day's rows by id (their indexes). */
const CANDIDATE_REFS_SQL: readonly string[] = [
  ...refsPassSql(),
  'analyze recon_match',
];

const FINDINGS_TABLE_SQL = `create temp table recon_findings (
     business_date date not null, kind text not null, severity text not null, order_id text,
     provider_ref text, ledger_amount numeric(16,2), provider_amount numeric(16,2), details jsonb not null
   ) on commit drop`;

/**
 * After a live follow-up: the answers just recorded become the newest evidence of their
 * orders, whose candidate rows are built again (recon_asked holds their ids). The rules then
 * run again over recon_match, a few hundred rows (see matching.ts).
 */
export const REJUDGE_SQL: readonly string[] = [
  // Only the asked orders have new answers: the other orders' rows stand.
  'delete from recon_live where order_id in (select order_id from recon_asked)',
  `insert into recon_live ${liveSelect('recon_asked')}`,
  'analyze recon_live',
  'delete from recon_refs where order_id in (select order_id from recon_asked)',
  ...rebuildMatchRows('recon_asked'),
  ...refsPassSql(),
  'delete from recon_findings',
];

/**
 * The statements after the order state, in order, in two parts: those that read the day's
 * rows whole, then those that also read rows by id, the day's among them (matching.ts waits
 * for the day's indexes in between). OTHER_DAYS_SQL only when it applies.
 */
export function findingStatementParts(otherDays: boolean): [string[], string[]] {
  return [[...SCOPE_SQL, ...CANDIDATES_SQL],
    [...CANDIDATE_REFS_SQL, ...(otherDays ? [...OTHER_DAYS_SQL, 'analyze recon_match'] : []), FINDINGS_TABLE_SQL]];
}

/** findingStatementParts, one after the other. */
export function findingStatements(otherDays: boolean): string[] {
  return findingStatementParts(otherDays).flat();
}
