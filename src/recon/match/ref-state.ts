import { PAID } from './rules.js';

/**
 * The provider side of an order judged per 订单流水号 (docs/contract.md section 6), for the orders
 * that need it: two or more order rows (a retry, a 退汇 row, another day's row), bills under a
 * ref other than the order row's, or a live answer newer than the files. Every other order has
 * one row and one ref, and its state is that row (match-state.ts); these few are read again
 * here, every day of them, by id.
 *
 * Per ref: its latest order row that is not a 退汇 (the newest live answer, when there is one,
 * speaks for its ref, or for the ref of the order's latest row when it names none); the ref is
 * returned once a 退汇 came back for it (an order row, a 经纪公司退汇 bill row or a live 9/x).
 * A ref is paid when its status is paid or pending claim and it is not returned.
 *
 * Per order: paid when any ref is (pending claim when that is the best any reached); returned
 * when a ref came back and none is paid; deleted when every ref is, failed when every ref failed
 * or was deleted; otherwise unresolved. Its amount is the paid refs' sum (the latest ref's
 * amount when none is paid). Each paid ref's 服务费, as its order row gave it, is judged against
 * the rate on the order's day (a ref known only from a live answer has no fee to judge). The bills are judged per ref: each ref that is not returned and has payouts
 * must have payouts adding up to its 金额 and fee rows to its 服务费; a payout under a ref that
 * neither an order row nor a live answer gives is money moved without a record.
 */

/** Each broker's contract rates, each with the day its successor takes over (null: still valid). */
export const RATES_SQL = `select broker_id, rate, valid_from, lead(valid_from) over (partition by broker_id order by valid_from) as valid_until
       from recon.broker_fee_rates`;

/**
 * The bill rows that count (docs/contract.md section 6: only rows whose 流水状态 is 成功; a red
 * packet's 成功(待领取) is money out as well). A 失败 or 状态未知 row moved nothing.
 */
export const COUNTED_BILL_STATUSES = `('succeeded', 'pending_claim')`;

export const REFS_TABLE_SQL = `create temp table recon_refs (
     order_id text primary key, in_order_file boolean not null, live boolean not null, home_date date,
     provider_status text, paid_refs integer not null, provider_ref text, status_text text,
     provider_amount numeric(16,2), fee numeric(16,2), fee_bad boolean not null, expected_fee numeric, rate numeric,
     broker_id text, finished_at timestamptz,
     payout_rows bigint not null, bill_amount numeric(18,2), bill_fee numeric(18,2), bill_date date,
     first_payout_ref text, bill_returned boolean not null, bill_bad boolean not null,
     payouts jsonb, bill_details jsonb
   ) on commit drop`;

/**
 * `<ids> i` joined to the rows of the run view `source` (as `alias`) of each id, looked up one
 * id at a time through each day's index (`offset 0` keeps the lateral subquery from being
 * pulled up into a join: through the union of the run's views the planner, which cannot know
 * how few the ids are, then hashed them against every day's rows of the dealer, 2.4 s a
 * statement at 100k orders after 15 days). `where`: more conditions on the rows.
 */
export function rowsById(ids: string, source: string, alias: string, where = ''): string {
  return `${ids} i cross join lateral (
              select * from ${source} ${alias} where ${alias}.order_id = i.order_id${where === '' ? '' : ` and ${where}`} offset 0) ${alias}`;
}

/**
 * The day retention dropped that an order keeps as its day (docs/design.md, Discrepancy kinds),
 * or null: the first pruned day on or after its ledger day and before its first order file left
 * (or with none left). Looked for only where a pruned day is that late, so not for the orders
 * of a dealer that has pruned nothing nor for one whose first file left is its ledger day's.
 */
export function prunedDaySql(ledgerDate: string, fileDate: string): string {
  return `case when ${ledgerDate} <= (select max(business_date) from recon_pruned_days)
                     and (${fileDate} is null or ${fileDate} > ${ledgerDate})
                then (select min(d.business_date) from recon_pruned_days d
                       where d.business_date >= ${ledgerDate} and (${fileDate} is null or d.business_date < ${fileDate}))
           end`;
}

/** The order of a ref within its order: the paid refs first, then the live answer's, then the latest row's. */
const TOP = `order by (r.status in ${PAID}) desc, r.live desc, r.is_last desc, r.first_date, r.ref`;

/**
 * recon_refs' rows of the orders the temp table `ids` names (none of which it has yet), their
 * rows read by id (rowsById).
 */
export function refsInsertSql(ids: string): string {
  return `insert into recon_refs
   with ids as (select distinct order_id from ${ids}),
   o as (
     select o.order_id, o.provider_ref as ref, o.status, o.status_text, o.amount, o.fee, o.broker_id,
            coalesce(o.finished_at, o.created_at) as finished_at, o.business_date, o.line
       from ${rowsById('ids', 'recon_orders', 'o')}
   ),
   b as (
     select b.order_id, b.provider_ref as ref,
            count(*) filter (where b.bill_type = 'payout') as payout_rows,
            sum(b.amount) filter (where b.bill_type = 'payout') as payout_amount,
            coalesce(sum(b.amount) filter (where b.bill_type = 'payout_fee'), 0) as fee_amount,
            bool_or(b.bill_type = 'return') as returned,
            min(b.business_date) as first_date,
            min(b.bill_ref) filter (where b.bill_type = 'payout') as first_payout_ref
       from ${rowsById('ids', 'recon_bills', 'b', `b.bill_status in ${COUNTED_BILL_STATUSES}`)}
      group by b.order_id, b.provider_ref
   ),
   last_row as (
     select distinct on (order_id) order_id, ref from o order by order_id, business_date desc, line desc
   ),
   -- The order's first order file's day (matchSelect's file_date), and the day its rate is
   -- taken on: that one, or the pruned day the order keeps (matchSelect's home_date).
   homes as (
     select h.order_id, h.home_date,
            coalesce(fh.business_date, ${prunedDaySql("(l.created_at at time zone 'Asia/Shanghai')::date", 'h.home_date')}, h.home_date) as rate_date
       from (select order_id, min(business_date) as home_date from o group by order_id) h
       left join recon_ledger l on l.order_id = h.order_id
       left join recon_frozen_homes fh on fh.order_id = h.order_id
   ),
   rates as (${RATES_SQL}),
   v as (
     select v.order_id, coalesce(nullif(v.provider_ref, ''), l.ref, '') as ref, v.state, v.amount, v.finished_at,
            nullif(v.broker_id, '') as broker_id
       from recon_live v left join last_row l on l.order_id = v.order_id
      where v.order_id in (select order_id from ids) and v.newest and v.state <> 'not_found'
   ),
   f as (
     select x.*, a.returned_row, a.first_date
       from (select distinct on (order_id, ref) order_id, ref, status, status_text, amount, fee, broker_id, finished_at
               from o order by order_id, ref, status = 'returned', business_date desc, line desc) x
       join (select order_id, ref, bool_or(status = 'returned') as returned_row, min(business_date) as first_date
               from o group by order_id, ref) a on a.order_id = x.order_id and a.ref = x.ref
   ),
   r0 as (
     select coalesce(f.order_id, v.order_id) as order_id, coalesce(f.ref, v.ref) as ref,
            case when coalesce(f.returned_row, false) or coalesce(bb.returned, false) or v.state = 'returned' then 'returned'
                 else coalesce(v.state, f.status) end as status,
            f.status_text, coalesce(v.amount, f.amount) as amount, f.fee, f.order_id is not null as in_file,
            coalesce(f.broker_id, v.broker_id) as broker_id, coalesce(v.finished_at, f.finished_at) as finished_at,
            v.order_id is not null as live, coalesce(f.ref = l.ref, false) as is_last, coalesce(f.first_date, 'infinity') as first_date,
            coalesce(bb.payout_rows, 0) as payout_rows, bb.payout_amount, coalesce(bb.fee_amount, 0) as fee_amount
       from f
       full join v on v.order_id = f.order_id and v.ref = f.ref
       left join last_row l on l.order_id = coalesce(f.order_id, v.order_id)
       left join b bb on bb.order_id = coalesce(f.order_id, v.order_id) and bb.ref = coalesce(f.ref, v.ref)
   ),
   -- A 经纪公司退汇 row comes with a new 订单流水号 of its own (PROTOCOL-NOTES.md): each such
   -- row brings back one paid ref of its order, the one of its amount where there is one (the
   -- earliest first), else the earliest paid ref left.
   floating as (
     select t.order_id, t.amount, row_number() over (partition by t.order_id, t.amount order by t.business_date, t.line) as n
       from ${rowsById('ids', 'recon_bills', 't', `t.bill_status in ${COUNTED_BILL_STATUSES} and t.bill_type = 'return'`)}
      where not exists (select 1 from r0 where r0.order_id = t.order_id and r0.ref = t.provider_ref)
   ),
   paid0 as (
     select r0.order_id, r0.ref, r0.amount, r0.first_date,
            row_number() over (partition by r0.order_id, r0.amount order by r0.first_date, r0.ref) as n
       from r0 where r0.status in ${PAID}
   ),
   by_amount as (
     select p.order_id, p.ref from paid0 p join floating t on t.order_id = p.order_id and t.amount = p.amount and t.n = p.n
   ),
   unmatched as (
     select t.order_id, count(*) as k from floating t
      where not exists (select 1 from paid0 p where p.order_id = t.order_id and p.amount = t.amount and p.n = t.n)
      group by t.order_id
   ),
   came_back as (
     select order_id, ref from by_amount
     union all
     select p.order_id, p.ref
       from (select p.*, row_number() over (partition by p.order_id order by p.first_date, p.ref) as k
               from paid0 p where not exists (select 1 from by_amount a where a.order_id = p.order_id and a.ref = p.ref)) p
       join unmatched u on u.order_id = p.order_id and p.k <= u.k
   ),
   r1 as (
     select r0.order_id, r0.ref,
            case when exists (select 1 from came_back c where c.order_id = r0.order_id and c.ref = r0.ref) then 'returned'
                 else r0.status end as status,
            r0.status_text, r0.amount, r0.fee, r0.in_file, r0.broker_id, r0.finished_at, r0.live, r0.is_last, r0.first_date,
            r0.payout_rows, r0.payout_amount, r0.fee_amount, rt.rate, round(r0.amount * rt.rate, 2) as expected_fee
       from r0
       left join homes h on h.order_id = r0.order_id
       left join rates rt on rt.broker_id = r0.broker_id and rt.valid_from <= h.rate_date
                         and (rt.valid_until is null or h.rate_date < rt.valid_until)
   ),
   r as (
     -- A paid ref's 服务费 as its order row gave it, against the contract's rate on the order's
     -- day (only where an order file gave the row: a live answer carries no fee).
     select r1.*, (r1.status in ${PAID} and r1.in_file and r1.rate is not null and r1.fee is distinct from r1.expected_fee) as fee_bad
       from r1
   ),
   per_order as (
     select r.order_id,
            count(*) filter (where r.status in ${PAID})::int as paid_refs,
            case when bool_or(r.status = 'paid') then 'paid'
                 when bool_or(r.status = 'paid_pending_claim') then 'paid_pending_claim'
                 when bool_or(r.status = 'returned') then 'returned'
                 when bool_and(r.status = 'deleted') then 'deleted'
                 when bool_and(r.status in ('failed', 'deleted')) then 'failed'
                 else 'unresolved' end as provider_status,
            string_agg(r.ref, ',' order by r.first_date, r.ref) filter (where r.status in ${PAID}) as paid_ref_list,
            sum(r.amount) filter (where r.status in ${PAID}) as paid_amount,
            min(r.finished_at) filter (where r.status = 'paid_pending_claim') as pending_since,
            bool_or(r.live) as live,
            (array_agg(r.ref ${TOP}))[1] as top_ref,
            (array_agg(r.status_text ${TOP}))[1] as top_text,
            (array_agg(r.amount ${TOP}))[1] as top_amount,
            (array_agg(r.fee ${TOP}))[1] as top_fee,
            (array_agg(r.expected_fee ${TOP}))[1] as top_expected,
            (array_agg(r.rate ${TOP}))[1] as top_rate,
            coalesce(bool_or(r.fee_bad), false) as fee_bad,
            (array_agg(r.fee order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_fee,
            (array_agg(r.expected_fee order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_expected,
            (array_agg(r.rate order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_rate,
            (array_agg(r.broker_id ${TOP}))[1] as top_broker,
            (array_agg(r.finished_at ${TOP}))[1] as top_finished,
            jsonb_agg(jsonb_build_object('provider_ref', r.ref, 'amount', r.amount::text, 'status', r.status,
                                         'first_date', case when r.first_date < 'infinity' then r.first_date end)
                      order by r.first_date, r.ref) filter (where r.status in ${PAID}) as payouts,
            jsonb_agg(jsonb_build_object('provider_ref', r.ref, 'amount', r.amount::text, 'fee', r.fee::text,
                                         'bill_amount', r.payout_amount::text, 'bill_fee', r.fee_amount::text)
                      order by r.first_date, r.ref)
              filter (where r.status <> 'returned' and r.payout_rows > 0
                        and (r.payout_amount <> r.amount or r.fee_amount <> coalesce(r.fee, 0))) as bad_refs
       from r group by r.order_id
   ),
   unknown as (
     -- Payouts under a ref that no order row and no live answer of the order gives.
     select bb.order_id,
            jsonb_agg(jsonb_build_object('provider_ref', bb.ref, 'bill_amount', bb.payout_amount::text,
                                         'bill_fee', bb.fee_amount::text, 'in_order_file', false) order by bb.ref) as refs
       from b bb
      where bb.payout_rows > 0 and not exists (select 1 from r where r.order_id = bb.order_id and r.ref = bb.ref)
      group by bb.order_id
   ),
   bills as (
     select order_id, sum(payout_rows) as payout_rows, sum(payout_amount) as bill_amount, sum(fee_amount) as bill_fee,
            min(first_date) as bill_date, min(first_payout_ref) as first_payout_ref, bool_or(returned) as returned
       from b group by order_id
   )
   select i.order_id, h.order_id is not null, coalesce(p.live, false), h.home_date,
          case when p.order_id is not null then p.provider_status when bl.returned then 'returned' end,
          coalesce(p.paid_refs, 0),
          case when p.paid_refs >= 2 then p.paid_ref_list else p.top_ref end,
          p.top_text,
          case when p.paid_refs >= 1 then p.paid_amount else p.top_amount end,
          case when p.fee_bad then p.bad_fee when p.paid_refs <= 1 then p.top_fee end,
          coalesce(p.fee_bad, false),
          case when p.fee_bad then p.bad_expected else p.top_expected end,
          case when p.fee_bad then p.bad_rate else p.top_rate end,
          p.top_broker,
          case when p.provider_status = 'paid_pending_claim' then p.pending_since else p.top_finished end,
          coalesce(bl.payout_rows, 0), bl.bill_amount, bl.bill_fee, bl.bill_date, bl.first_payout_ref,
          coalesce(bl.returned, false),
          p.bad_refs is not null or u.refs is not null,
          p.payouts,
          case when p.bad_refs is not null or u.refs is not null
               then coalesce(p.bad_refs, '[]'::jsonb) || coalesce(u.refs, '[]'::jsonb) end
     from ids i
     left join per_order p on p.order_id = i.order_id
     left join unknown u on u.order_id = i.order_id
     left join bills bl on bl.order_id = i.order_id
     left join homes h on h.order_id = i.order_id`;
}
