/**
 * The temp tables every rule reads, built once per run inside its transaction.
 *
 * Scope: the orders whose findings this run decides: every order in day D's order or bill
 * file, every ledger row created on D, every order with a discrepancy still open from
 * any earlier day, and the week's unclaimed red packets. Each order in scope is evaluated against everything ingested so far (all
 * days), so a later file (the next day's order, a bill row a day late, a 退汇 days later)
 * updates the findings of the day the order belongs to.
 */
export const MATCH_STATE_SQL: readonly string[] = [
  `create temp table recon_params on commit drop as
   select $1::text as dealer_id,
          $2::date as day,
          -- Findings that depend on elapsed time are judged at the final regeneration (16:45
          -- on D+1) of the newest order file, so a re-run on the same files decides the same.
          ((greatest($2::date, (select max(business_date) from recon.provider_files
                                 where dealer_id = $1 and kind = 'order')) + 1)::timestamp
            + interval '16 hours 45 minutes') at time zone 'Asia/Shanghai' as as_of`,

  `create temp table recon_scope on commit drop as
   select o.order_id from recon.provider_orders o, recon_params p
    where o.dealer_id = p.dealer_id and o.business_date = p.day
   union
   select b.order_id from recon.provider_bills b, recon_params p
    where b.dealer_id = p.dealer_id and b.business_date = p.day
   union
   select l.order_id from recon.ledger_payouts l, recon_params p
    where l.dealer_id = p.dealer_id
      and l.created_at >= p.day::timestamp at time zone 'Asia/Shanghai'
      and l.created_at < (p.day + 1)::timestamp at time zone 'Asia/Shanghai'
   union
   select d.order_id from recon.discrepancies d, recon_params p
    where d.dealer_id = p.dealer_id and d.status = 'open' and d.order_id is not null
   union
   -- Red packets still unclaimed in their (final) file: no later order file mentions them
   -- again, so they are re-checked for staleness for a week after their day.
   select o.order_id from recon.provider_orders o, recon_params p
    where o.dealer_id = p.dealer_id and o.status = 'paid_pending_claim'
      and o.business_date between p.day - 7 and p.day`,
  'analyze recon_scope',

  // Per order from every order file, in one sorted pass: its day, whether it has two or more
  // payouts (two distinct 订单流水号 that are not 退汇 rows: min <> max), and its latest row
  // (a 退汇 row only when there is nothing else).
  `create temp table recon_order_state on commit drop as
   select distinct on (o.order_id)
          o.order_id, o.provider_ref, o.status, o.status_text, o.amount, o.fee, o.broker_id, o.finished_at,
          min(o.business_date) over w as home_date,
          min(o.provider_ref) filter (where o.status <> 'returned') over w as min_ref,
          max(o.provider_ref) filter (where o.status <> 'returned') over w as max_ref,
          bool_or(o.status = 'returned') over w as returned_row
     from recon.provider_orders o
     join recon_scope s on s.order_id = o.order_id
     join recon_params p on o.dealer_id = p.dealer_id
   window w as (partition by o.order_id)
    order by o.order_id, o.status = 'returned', o.business_date desc, o.line desc`,

  // Per order from every bill file: payouts and their fees summed, the 订单流水号 they carry
  // (min = max when there is one), and any return.
  `create temp table recon_bill_state on commit drop as
   select b.order_id,
          min(b.business_date) as first_date,
          count(*) filter (where b.bill_type = 'payout') as payout_rows,
          sum(b.amount) filter (where b.bill_type = 'payout') as payout_amount,
          coalesce(sum(b.amount) filter (where b.bill_type = 'payout_fee'), 0) as fee_amount,
          min(b.provider_ref) filter (where b.bill_type in ('payout', 'payout_fee')) as min_ref,
          max(b.provider_ref) filter (where b.bill_type in ('payout', 'payout_fee')) as max_ref,
          bool_or(b.bill_type = 'return') as returned,
          min(b.bill_ref) filter (where b.bill_type = 'payout') as first_payout_ref
     from recon.provider_bills b
     join recon_scope s on s.order_id = b.order_id
     join recon_params p on b.dealer_id = p.dealer_id
    group by b.order_id`,

  // Per order: its provider state, bills and ledger row side by side.
  `create temp table recon_match on commit drop as
   select s.order_id,
          o.order_id is not null as at_provider,
          o.home_date,
          case when o.min_ref is null then 0 when o.min_ref = o.max_ref then 1 else 2 end as refs,
          o.provider_ref, o.status as latest_status, o.status_text, o.amount as provider_amount, o.fee,
          o.broker_id, o.finished_at,
          -- A 退汇 order row or a 经纪公司退汇 bill row makes the order returned.
          case when coalesce(o.returned_row, false) or coalesce(b.returned, false) then 'returned'
               else o.status end as provider_status,
          coalesce(b.payout_rows, 0) as payout_rows, b.first_date as bill_date, b.first_payout_ref,
          b.payout_amount as bill_amount, b.fee_amount as bill_fee,
          -- The bills carry exactly the order's one 订单流水号: sums compare per order.
          (b.min_ref = b.max_ref and b.min_ref = o.min_ref and o.min_ref = o.max_ref) as bills_single_ref,
          l.order_id is not null as in_ledger, l.amount as ledger_amount, l.status as ledger_status, l.created_at as ledger_created_at,
          (l.created_at at time zone 'Asia/Shanghai')::date as ledger_date
     from recon_scope s
     cross join recon_params p
     left join recon_order_state o on o.order_id = s.order_id
     left join recon_bill_state b on b.order_id = s.order_id
     left join recon.ledger_payouts l on l.order_id = s.order_id and l.dealer_id = p.dealer_id`,
  'analyze recon_match',

  `create temp table recon_findings (
     business_date date not null, kind text not null, severity text not null, order_id text,
     provider_ref text, ledger_amount numeric(16,2), provider_amount numeric(16,2), details jsonb not null
   ) on commit drop`,
];
