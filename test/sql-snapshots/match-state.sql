-- The planner settings of matching

set local work_mem = '256MB';

set local jit = off;

set local random_page_cost = 1.1;

set local enable_mergejoin = off;

-- The run's parameters ($1 dealer, $2 day)

create temp table recon_params on commit drop as
select $1::text as dealer_id,
       $2::date as day,
       $2::date::timestamp at time zone 'Asia/Shanghai' as day_start,
       ($2::date + 1)::timestamp at time zone 'Asia/Shanghai' as day_end,
       -- Findings that depend on elapsed time are judged at the final regeneration (16:45
       -- on D+1) of the newest order file, so a re-run on the same files decides the same.
       ((greatest($2::date, (select max(business_date) from recon.provider_files
                              where dealer_id = $1 and kind = 'order')) + 1)::timestamp
         + interval '16 hours 45 minutes') at time zone 'Asia/Shanghai' as as_of;

analyze recon_params;

-- Once the order file is in: its per-order state

set local max_parallel_workers_per_gather = 0;

create temp table if not exists recon_order_multi on commit drop as
select order_id from recon_day_orders group by order_id having count(*) > 1;

create temp table recon_order_state on commit drop as
select o.order_id, true as in_day_file, 1::bigint as order_rows,
       o.business_date as home_date,
       case when o.status <> 'returned' then o.provider_ref end as min_ref,
       case when o.status <> 'returned' then o.provider_ref end as max_ref,
       o.status = 'returned' as returned_row,
       o.provider_ref, o.status, o.status_text, o.amount, o.fee, o.broker_id, coalesce(o.finished_at, o.created_at) as finished_at
  from recon_day_orders o
 where o.order_id not in (select order_id from recon_order_multi)
union all
select o.order_id, true as in_day_file, count(*) as order_rows,
       min(o.business_date) as home_date,
       min(o.provider_ref) filter (where o.status <> 'returned') as min_ref,
       max(o.provider_ref) filter (where o.status <> 'returned') as max_ref,
       bool_or(o.status = 'returned') as returned_row,
       min(o.provider_ref) as provider_ref, min(o.status) as status, min(o.status_text) as status_text,
       min(o.amount) as amount, min(o.fee) as fee, min(o.broker_id) as broker_id,
       min(coalesce(o.finished_at, o.created_at)) as finished_at
  from recon_day_orders o
 where o.order_id in (select order_id from recon_order_multi)
 group by o.order_id;

set local max_parallel_workers_per_gather to default;

-- Once both files are in (with other days of the dealer on file)

set local max_parallel_workers_per_gather = 0;

create temp table if not exists recon_bill_multi on commit drop as
select order_id from recon_day_bills
 group by order_id
having count(*) filter (where not (bill_status = 'succeeded' and bill_type in ('payout', 'payout_fee'))) > 0
    or count(*) filter (where bill_type = 'payout') > 1 or count(*) filter (where bill_type = 'payout_fee') > 1;

create temp table recon_bill_state on commit drop as
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
select b.order_id, min(b.business_date) as first_date,
       count(*) filter (where b.bill_type = 'payout') as payout_rows,
       sum(b.amount) filter (where b.bill_type = 'payout') as payout_amount,
       coalesce(sum(b.amount) filter (where b.bill_type = 'payout_fee'), 0) as fee_amount,
       min(b.provider_ref) as min_ref,
       max(b.provider_ref) as max_ref,
       bool_or(b.bill_type = 'return') as returned,
       min(b.bill_ref) filter (where b.bill_type = 'payout') as first_payout_ref
  from recon_day_bills b
 where b.order_id in (select order_id from recon_bill_multi) and b.bill_status in ('succeeded', 'pending_claim')
 group by b.order_id;

set local max_parallel_workers_per_gather to default;

create temp table recon_pruned_days on commit drop as
select distinct f.business_date from recon.provider_files f cross join recon_params p
 where f.dealer_id = p.dealer_id and f.kind = 'order' and f.business_date <> p.day
   and not exists (select 1 from recon.provider_days d
                    where d.dealer_id = p.dealer_id and d.kind = 'order' and d.business_date = f.business_date);

create temp table recon_frozen_homes on commit drop as
select d.order_id, min(d.business_date) as business_date from recon.discrepancies d
 where d.dealer_id = (select dealer_id from recon_params) and d.status = 'open' and d.order_id is not null
   and (d.details ? 'provider_rows_pruned' and d.business_date in (select business_date from recon_pruned_days))
 group by d.order_id;

create temp table recon_extra on commit drop as
select d.order_id from recon.discrepancies d
 where d.dealer_id = (select dealer_id from recon_params) and d.status = 'open' and d.order_id is not null
   and not (d.details ? 'provider_rows_pruned' and d.business_date in (select business_date from recon_pruned_days))
union
select o.order_id from recon_orders o
 where o.status = 'paid_pending_claim'
   and o.business_date between (select day - 7 from recon_params) and (select day - 1 from recon_params);

analyze recon_extra;

set local enable_indexscan = off;

create temp table recon_ledger on commit drop as
select l.order_id, l.amount, l.status, l.created_at
  from recon.ledger_payouts l
 where l.dealer_id = (select dealer_id from recon_params)
   and l.created_at >= (select day_start from recon_params) and l.created_at < (select day_end from recon_params);

set local enable_indexscan to default;

analyze recon_ledger;

insert into recon_ledger
select l.order_id, l.amount, l.status, l.created_at
  from (select order_id from recon_extra) i
  cross join lateral (
    select l.* from recon.ledger_payouts l
     where l.order_id = i.order_id and l.dealer_id = (select dealer_id from recon_params) limit 1) l
 where not (l.created_at >= (select day_start from recon_params) and l.created_at < (select day_end from recon_params));

analyze recon_ledger;

analyze recon_order_state;

analyze recon_bill_state;

create temp table recon_live on commit drop as 
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
          join (select order_id from recon_extra union all select order_id from recon_order_state
          union all select order_id from recon_bill_state union all select order_id from recon_ledger) s
      on s.order_id = k.order_id
         where k.dealer_id = (select dealer_id from recon_params) and k.state is not null
         order by k.order_id, k.id desc) c;

analyze recon_live;

create temp table recon_refs (
  order_id text primary key, in_order_file boolean not null, live boolean not null, home_date date,
  provider_status text, paid_refs integer not null, provider_ref text, status_text text,
  provider_amount numeric(16,2), fee numeric(16,2), fee_bad boolean not null, expected_fee numeric, rate numeric,
  broker_id text, finished_at timestamptz,
  payout_rows bigint not null, bill_amount numeric(18,2), bill_fee numeric(18,2), bill_date date,
  first_payout_ref text, bill_returned boolean not null, bill_bad boolean not null,
  payouts jsonb, bill_details jsonb
) on commit drop;

create temp table recon_ref_ids (order_id text) on commit drop;

create temp table recon_match on commit drop as 
with rates as (
  select broker_id, rate, valid_from, lead(valid_from) over (partition by broker_id order by valid_from) as valid_until
    from recon.broker_fee_rates
), joined as (
  select coalesce(o.order_id, b.order_id, l.order_id) as order_id,
         case when r.order_id is not null then r.in_order_file or r.live else o.order_id is not null end as at_provider,
         case when r.order_id is not null then r.home_date else o.home_date end as file_date,
         case when r.order_id is not null then r.paid_refs else case when not (coalesce(o.returned_row, false) or coalesce(b.returned, false))
                                   and o.status in ('paid', 'paid_pending_claim') then 1 else 0 end end as paid_refs,
         case when r.order_id is not null then r.provider_ref else o.provider_ref end as provider_ref,
         case when r.order_id is not null then r.status_text else o.status_text end as status_text,
         case when r.order_id is not null then r.provider_amount else o.amount end as provider_amount,
         case when r.order_id is not null then r.fee else o.fee end as fee,
         case when r.order_id is not null then r.broker_id else o.broker_id end as broker_id,
         case when r.order_id is not null then r.finished_at else o.finished_at end as finished_at,
         -- A 退汇 order row or a 经纪公司退汇 bill row makes the order returned.
         case when r.order_id is not null then r.provider_status else case when coalesce(o.returned_row, false) or coalesce(b.returned, false) then 'returned'
                                         else o.status end end as provider_status,
         case when r.order_id is not null then r.payout_rows else coalesce(b.payout_rows, 0) end as payout_rows,
         case when r.order_id is not null then r.bill_date else b.first_date end as bill_date,
         case when r.order_id is not null then r.first_payout_ref else b.first_payout_ref end as first_payout_ref,
         case when r.order_id is not null then r.bill_amount else b.payout_amount end as bill_amount,
         case when r.order_id is not null then r.bill_fee else b.fee_amount end as bill_fee,
         case when r.order_id is not null then r.bill_returned else coalesce(b.returned, false) end as bill_returned,
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
    from recon_order_state o
    full join recon_bill_state b on b.order_id = o.order_id
    full join recon_ledger l on l.order_id = coalesce(o.order_id, b.order_id)
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
  select j.*, coalesce(fh.business_date, case when j.ledger_date <= (select max(business_date) from recon_pruned_days)
                  and (j.file_date is null or j.file_date > j.ledger_date)
             then (select min(d.business_date) from recon_pruned_days d
                    where d.business_date >= j.ledger_date and (j.file_date is null or d.business_date < j.file_date))
        end) as pruned_date
    from joined j left join recon_frozen_homes fh on fh.order_id = j.order_id offset 0
), homed as (
  -- Never null (`not pruned_home` must hold for every order not in the ledger).
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
 where coalesce(needs_refs, false) or (not coalesce((at_provider and in_ledger and paid_refs = 1 and provider_status = 'paid' and ledger_status = 'paid'
    and provider_amount = ledger_amount and payout_rows > 0 and not bill_bad
    and not fee_bad), false)
    and (coalesce((at_provider and not in_ledger), false)
      or coalesce((in_ledger and not at_provider and ledger_status in ('submitted', 'paid', 'refunded') and not pruned_home), false)
      or coalesce((at_provider and in_ledger and paid_refs <= 1 and provider_amount <> ledger_amount), false)
      or coalesce((at_provider and in_ledger
    and (   (provider_status in ('paid', 'paid_pending_claim') and ledger_status in ('failed', 'cancelled', 'refunded', 'submitted'))
         or (provider_status in ('failed', 'deleted') and ledger_status in ('paid', 'submitted') and not pruned_home))), false)
      or coalesce((provider_status = 'returned' and in_ledger and ledger_status <> 'refunded'), false)
      or coalesce((paid_refs >= 2 and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and fee_bad), false)
      or coalesce((not at_provider and not pruned_home and (payout_rows > 0 or (bill_returned and not in_ledger))), false)
      or coalesce((at_provider and bill_bad and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and payout_rows = 0 and not pruned_home), false)
      or coalesce((provider_status = 'paid_pending_claim' and finished_at < p.as_of - interval '48 hours'), false)
      or coalesce((at_provider and provider_status = 'unresolved'), false))) or m.bill_only or not m.in_ledger;

create temp table recon_ledger_ids on commit drop as select order_id from recon_match where not in_ledger;

insert into recon_ledger
select l.order_id, l.amount, l.status, l.created_at
  from (select order_id from recon_ledger_ids) i
  cross join lateral (
    select l.* from recon.ledger_payouts l
     where l.order_id = i.order_id and l.dealer_id = (select dealer_id from recon_params) limit 1) l;

delete from recon_match where order_id in (select order_id from recon_ledger_ids);

insert into recon_match 
with rates as (
  select broker_id, rate, valid_from, lead(valid_from) over (partition by broker_id order by valid_from) as valid_until
    from recon.broker_fee_rates
), joined as (
  select coalesce(o.order_id, b.order_id, l.order_id) as order_id,
         case when r.order_id is not null then r.in_order_file or r.live else o.order_id is not null end as at_provider,
         case when r.order_id is not null then r.home_date else o.home_date end as file_date,
         case when r.order_id is not null then r.paid_refs else case when not (coalesce(o.returned_row, false) or coalesce(b.returned, false))
                                   and o.status in ('paid', 'paid_pending_claim') then 1 else 0 end end as paid_refs,
         case when r.order_id is not null then r.provider_ref else o.provider_ref end as provider_ref,
         case when r.order_id is not null then r.status_text else o.status_text end as status_text,
         case when r.order_id is not null then r.provider_amount else o.amount end as provider_amount,
         case when r.order_id is not null then r.fee else o.fee end as fee,
         case when r.order_id is not null then r.broker_id else o.broker_id end as broker_id,
         case when r.order_id is not null then r.finished_at else o.finished_at end as finished_at,
         -- A 退汇 order row or a 经纪公司退汇 bill row makes the order returned.
         case when r.order_id is not null then r.provider_status else case when coalesce(o.returned_row, false) or coalesce(b.returned, false) then 'returned'
                                         else o.status end end as provider_status,
         case when r.order_id is not null then r.payout_rows else coalesce(b.payout_rows, 0) end as payout_rows,
         case when r.order_id is not null then r.bill_date else b.first_date end as bill_date,
         case when r.order_id is not null then r.first_payout_ref else b.first_payout_ref end as first_payout_ref,
         case when r.order_id is not null then r.bill_amount else b.payout_amount end as bill_amount,
         case when r.order_id is not null then r.bill_fee else b.fee_amount end as bill_fee,
         case when r.order_id is not null then r.bill_returned else coalesce(b.returned, false) end as bill_returned,
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
    from (select * from recon_order_state where order_id in (select order_id from recon_ledger_ids)) o
    full join (select * from recon_bill_state where order_id in (select order_id from recon_ledger_ids)) b on b.order_id = o.order_id
    full join (select * from recon_ledger where order_id in (select order_id from recon_ledger_ids)) l on l.order_id = coalesce(o.order_id, b.order_id)
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
  select j.*, coalesce(fh.business_date, case when j.ledger_date <= (select max(business_date) from recon_pruned_days)
                  and (j.file_date is null or j.file_date > j.ledger_date)
             then (select min(d.business_date) from recon_pruned_days d
                    where d.business_date >= j.ledger_date and (j.file_date is null or d.business_date < j.file_date))
        end) as pruned_date
    from joined j left join recon_frozen_homes fh on fh.order_id = j.order_id offset 0
), homed as (
  -- Never null (`not pruned_home` must hold for every order not in the ledger).
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
 where coalesce(needs_refs, false) or (not coalesce((at_provider and in_ledger and paid_refs = 1 and provider_status = 'paid' and ledger_status = 'paid'
    and provider_amount = ledger_amount and payout_rows > 0 and not bill_bad
    and not fee_bad), false)
    and (coalesce((at_provider and not in_ledger), false)
      or coalesce((in_ledger and not at_provider and ledger_status in ('submitted', 'paid', 'refunded') and not pruned_home), false)
      or coalesce((at_provider and in_ledger and paid_refs <= 1 and provider_amount <> ledger_amount), false)
      or coalesce((at_provider and in_ledger
    and (   (provider_status in ('paid', 'paid_pending_claim') and ledger_status in ('failed', 'cancelled', 'refunded', 'submitted'))
         or (provider_status in ('failed', 'deleted') and ledger_status in ('paid', 'submitted') and not pruned_home))), false)
      or coalesce((provider_status = 'returned' and in_ledger and ledger_status <> 'refunded'), false)
      or coalesce((paid_refs >= 2 and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and fee_bad), false)
      or coalesce((not at_provider and not pruned_home and (payout_rows > 0 or (bill_returned and not in_ledger))), false)
      or coalesce((at_provider and bill_bad and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and payout_rows = 0 and not pruned_home), false)
      or coalesce((provider_status = 'paid_pending_claim' and finished_at < p.as_of - interval '48 hours'), false)
      or coalesce((at_provider and provider_status = 'unresolved'), false))) or m.bill_only;

delete from recon_ref_ids;

insert into recon_ref_ids select order_id from recon_match where needs_refs;

delete from recon_refs where order_id in (select order_id from recon_ref_ids);

insert into recon_refs
with ids as (select distinct order_id from recon_ref_ids),
o as (
  select o.order_id, o.provider_ref as ref, o.status, o.status_text, o.amount, o.fee, o.broker_id,
         coalesce(o.finished_at, o.created_at) as finished_at, o.business_date, o.line
    from ids i cross join lateral (
           select * from recon_orders o where o.order_id = i.order_id offset 0) o
),
b as (
  select b.order_id, b.provider_ref as ref,
         count(*) filter (where b.bill_type = 'payout') as payout_rows,
         sum(b.amount) filter (where b.bill_type = 'payout') as payout_amount,
         coalesce(sum(b.amount) filter (where b.bill_type = 'payout_fee'), 0) as fee_amount,
         bool_or(b.bill_type = 'return') as returned,
         min(b.business_date) as first_date,
         min(b.bill_ref) filter (where b.bill_type = 'payout') as first_payout_ref
    from ids i cross join lateral (
           select * from recon_bills b where b.order_id = i.order_id and b.bill_status in ('succeeded', 'pending_claim') offset 0) b
   group by b.order_id, b.provider_ref
),
last_row as (
  select distinct on (order_id) order_id, ref from o order by order_id, business_date desc, line desc
),
-- The order's first order file's day (matchSelect's file_date), and the day its rate is
-- taken on: that one, or the pruned day the order keeps (matchSelect's home_date).
homes as (
  select h.order_id, h.home_date,
         coalesce(fh.business_date, case when (l.created_at at time zone 'Asia/Shanghai')::date <= (select max(business_date) from recon_pruned_days)
                  and (h.home_date is null or h.home_date > (l.created_at at time zone 'Asia/Shanghai')::date)
             then (select min(d.business_date) from recon_pruned_days d
                    where d.business_date >= (l.created_at at time zone 'Asia/Shanghai')::date and (h.home_date is null or d.business_date < h.home_date))
        end, h.home_date) as rate_date
    from (select order_id, min(business_date) as home_date from o group by order_id) h
    left join recon_ledger l on l.order_id = h.order_id
    left join recon_frozen_homes fh on fh.order_id = h.order_id
),
rates as (select broker_id, rate, valid_from, lead(valid_from) over (partition by broker_id order by valid_from) as valid_until
    from recon.broker_fee_rates),
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
    from ids i cross join lateral (
           select * from recon_bills t where t.order_id = i.order_id and t.bill_status in ('succeeded', 'pending_claim') and t.bill_type = 'return' offset 0) t
   where not exists (select 1 from r0 where r0.order_id = t.order_id and r0.ref = t.provider_ref)
),
paid0 as (
  select r0.order_id, r0.ref, r0.amount, r0.first_date,
         row_number() over (partition by r0.order_id, r0.amount order by r0.first_date, r0.ref) as n
    from r0 where r0.status in ('paid', 'paid_pending_claim')
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
  select r1.*, (r1.status in ('paid', 'paid_pending_claim') and r1.in_file and r1.rate is not null and r1.fee is distinct from r1.expected_fee) as fee_bad
    from r1
),
per_order as (
  select r.order_id,
         count(*) filter (where r.status in ('paid', 'paid_pending_claim'))::int as paid_refs,
         case when bool_or(r.status = 'paid') then 'paid'
              when bool_or(r.status = 'paid_pending_claim') then 'paid_pending_claim'
              when bool_or(r.status = 'returned') then 'returned'
              when bool_and(r.status = 'deleted') then 'deleted'
              when bool_and(r.status in ('failed', 'deleted')) then 'failed'
              else 'unresolved' end as provider_status,
         string_agg(r.ref, ',' order by r.first_date, r.ref) filter (where r.status in ('paid', 'paid_pending_claim')) as paid_ref_list,
         sum(r.amount) filter (where r.status in ('paid', 'paid_pending_claim')) as paid_amount,
         min(r.finished_at) filter (where r.status = 'paid_pending_claim') as pending_since,
         bool_or(r.live) as live,
         (array_agg(r.ref order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_ref,
         (array_agg(r.status_text order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_text,
         (array_agg(r.amount order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_amount,
         (array_agg(r.fee order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_fee,
         (array_agg(r.expected_fee order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_expected,
         (array_agg(r.rate order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_rate,
         coalesce(bool_or(r.fee_bad), false) as fee_bad,
         (array_agg(r.fee order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_fee,
         (array_agg(r.expected_fee order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_expected,
         (array_agg(r.rate order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_rate,
         (array_agg(r.broker_id order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_broker,
         (array_agg(r.finished_at order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_finished,
         jsonb_agg(jsonb_build_object('provider_ref', r.ref, 'amount', r.amount::text, 'status', r.status,
                                      'first_date', case when r.first_date < 'infinity' then r.first_date end)
                   order by r.first_date, r.ref) filter (where r.status in ('paid', 'paid_pending_claim')) as payouts,
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
  left join homes h on h.order_id = i.order_id;

analyze recon_refs;

delete from recon_match where order_id in (select order_id from recon_ref_ids);

insert into recon_match 
with rates as (
  select broker_id, rate, valid_from, lead(valid_from) over (partition by broker_id order by valid_from) as valid_until
    from recon.broker_fee_rates
), joined as (
  select coalesce(o.order_id, b.order_id, l.order_id) as order_id,
         case when r.order_id is not null then r.in_order_file or r.live else o.order_id is not null end as at_provider,
         case when r.order_id is not null then r.home_date else o.home_date end as file_date,
         case when r.order_id is not null then r.paid_refs else case when not (coalesce(o.returned_row, false) or coalesce(b.returned, false))
                                   and o.status in ('paid', 'paid_pending_claim') then 1 else 0 end end as paid_refs,
         case when r.order_id is not null then r.provider_ref else o.provider_ref end as provider_ref,
         case when r.order_id is not null then r.status_text else o.status_text end as status_text,
         case when r.order_id is not null then r.provider_amount else o.amount end as provider_amount,
         case when r.order_id is not null then r.fee else o.fee end as fee,
         case when r.order_id is not null then r.broker_id else o.broker_id end as broker_id,
         case when r.order_id is not null then r.finished_at else o.finished_at end as finished_at,
         -- A 退汇 order row or a 经纪公司退汇 bill row makes the order returned.
         case when r.order_id is not null then r.provider_status else case when coalesce(o.returned_row, false) or coalesce(b.returned, false) then 'returned'
                                         else o.status end end as provider_status,
         case when r.order_id is not null then r.payout_rows else coalesce(b.payout_rows, 0) end as payout_rows,
         case when r.order_id is not null then r.bill_date else b.first_date end as bill_date,
         case when r.order_id is not null then r.first_payout_ref else b.first_payout_ref end as first_payout_ref,
         case when r.order_id is not null then r.bill_amount else b.payout_amount end as bill_amount,
         case when r.order_id is not null then r.bill_fee else b.fee_amount end as bill_fee,
         case when r.order_id is not null then r.bill_returned else coalesce(b.returned, false) end as bill_returned,
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
    from (select * from recon_order_state where order_id in (select order_id from recon_ref_ids)) o
    full join (select * from recon_bill_state where order_id in (select order_id from recon_ref_ids)) b on b.order_id = o.order_id
    full join (select * from recon_ledger where order_id in (select order_id from recon_ref_ids)) l on l.order_id = coalesce(o.order_id, b.order_id)
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
  select j.*, coalesce(fh.business_date, case when j.ledger_date <= (select max(business_date) from recon_pruned_days)
                  and (j.file_date is null or j.file_date > j.ledger_date)
             then (select min(d.business_date) from recon_pruned_days d
                    where d.business_date >= j.ledger_date and (j.file_date is null or d.business_date < j.file_date))
        end) as pruned_date
    from joined j left join recon_frozen_homes fh on fh.order_id = j.order_id offset 0
), homed as (
  -- Never null (`not pruned_home` must hold for every order not in the ledger).
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
 where coalesce(needs_refs, false) or (not coalesce((at_provider and in_ledger and paid_refs = 1 and provider_status = 'paid' and ledger_status = 'paid'
    and provider_amount = ledger_amount and payout_rows > 0 and not bill_bad
    and not fee_bad), false)
    and (coalesce((at_provider and not in_ledger), false)
      or coalesce((in_ledger and not at_provider and ledger_status in ('submitted', 'paid', 'refunded') and not pruned_home), false)
      or coalesce((at_provider and in_ledger and paid_refs <= 1 and provider_amount <> ledger_amount), false)
      or coalesce((at_provider and in_ledger
    and (   (provider_status in ('paid', 'paid_pending_claim') and ledger_status in ('failed', 'cancelled', 'refunded', 'submitted'))
         or (provider_status in ('failed', 'deleted') and ledger_status in ('paid', 'submitted') and not pruned_home))), false)
      or coalesce((provider_status = 'returned' and in_ledger and ledger_status <> 'refunded'), false)
      or coalesce((paid_refs >= 2 and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and fee_bad), false)
      or coalesce((not at_provider and not pruned_home and (payout_rows > 0 or (bill_returned and not in_ledger))), false)
      or coalesce((at_provider and bill_bad and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and payout_rows = 0 and not pruned_home), false)
      or coalesce((provider_status = 'paid_pending_claim' and finished_at < p.as_of - interval '48 hours'), false)
      or coalesce((at_provider and provider_status = 'unresolved'), false))) or m.bill_only;

analyze recon_match;

create temp table recon_other_ids on commit drop as
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
          or exists (select 1 from recon_ledger l where l.order_id = fh.order_id);

analyze recon_other_ids;

with other as (
  select o.order_id, false as in_day_file, count(*) as order_rows,
       min(o.business_date) as home_date,
       min(o.provider_ref) filter (where o.status <> 'returned') as min_ref,
       max(o.provider_ref) filter (where o.status <> 'returned') as max_ref,
       bool_or(o.status = 'returned') as returned_row,
       min(o.provider_ref) as provider_ref, min(o.status) as status, min(o.status_text) as status_text,
       min(o.amount) as amount, min(o.fee) as fee, min(o.broker_id) as broker_id,
       min(coalesce(o.finished_at, o.created_at)) as finished_at
    from recon_other_ids i cross join lateral (
           select * from recon_other_orders o where o.order_id = i.order_id offset 0) o
   group by o.order_id
), taken as (
  delete from recon_order_state s using other where s.order_id = other.order_id returning s.*
)
insert into recon_order_state
select order_id, bool_or(in_day_file), sum(order_rows), min(home_date), min(min_ref), max(max_ref),
       bool_or(returned_row), min(provider_ref), min(status), min(status_text), min(amount), min(fee),
       min(broker_id), min(finished_at)
  from (select * from taken union all select * from other) x
 group by order_id;

with other as (
  select b.order_id, min(b.business_date) as first_date,
       count(*) filter (where b.bill_type = 'payout') as payout_rows,
       sum(b.amount) filter (where b.bill_type = 'payout') as payout_amount,
       coalesce(sum(b.amount) filter (where b.bill_type = 'payout_fee'), 0) as fee_amount,
       min(b.provider_ref) as min_ref,
       max(b.provider_ref) as max_ref,
       bool_or(b.bill_type = 'return') as returned,
       min(b.bill_ref) filter (where b.bill_type = 'payout') as first_payout_ref
    from recon_other_ids i cross join lateral (
           select * from recon_other_bills b where b.order_id = i.order_id and b.bill_status in ('succeeded', 'pending_claim') offset 0) b
   group by b.order_id
), taken as (
  delete from recon_bill_state s using other where s.order_id = other.order_id returning s.*
)
insert into recon_bill_state
select order_id, min(first_date), sum(payout_rows), sum(payout_amount), sum(fee_amount), min(min_ref),
       max(max_ref), bool_or(returned), min(first_payout_ref)
  from (select * from taken union all select * from other) x
 group by order_id;

insert into recon_ledger
select l.order_id, l.amount, l.status, l.created_at
  from (select order_id from recon_other_ids) i
  cross join lateral (
    select l.* from recon.ledger_payouts l
     where l.order_id = i.order_id and l.dealer_id = (select dealer_id from recon_params) limit 1) l
 where not exists (select 1 from recon_ledger r where r.order_id = i.order_id);

analyze recon_order_state;

analyze recon_bill_state;

delete from recon_match where order_id in (select order_id from recon_other_ids);

insert into recon_match 
with rates as (
  select broker_id, rate, valid_from, lead(valid_from) over (partition by broker_id order by valid_from) as valid_until
    from recon.broker_fee_rates
), joined as (
  select coalesce(o.order_id, b.order_id, l.order_id) as order_id,
         case when r.order_id is not null then r.in_order_file or r.live else o.order_id is not null end as at_provider,
         case when r.order_id is not null then r.home_date else o.home_date end as file_date,
         case when r.order_id is not null then r.paid_refs else case when not (coalesce(o.returned_row, false) or coalesce(b.returned, false))
                                   and o.status in ('paid', 'paid_pending_claim') then 1 else 0 end end as paid_refs,
         case when r.order_id is not null then r.provider_ref else o.provider_ref end as provider_ref,
         case when r.order_id is not null then r.status_text else o.status_text end as status_text,
         case when r.order_id is not null then r.provider_amount else o.amount end as provider_amount,
         case when r.order_id is not null then r.fee else o.fee end as fee,
         case when r.order_id is not null then r.broker_id else o.broker_id end as broker_id,
         case when r.order_id is not null then r.finished_at else o.finished_at end as finished_at,
         -- A 退汇 order row or a 经纪公司退汇 bill row makes the order returned.
         case when r.order_id is not null then r.provider_status else case when coalesce(o.returned_row, false) or coalesce(b.returned, false) then 'returned'
                                         else o.status end end as provider_status,
         case when r.order_id is not null then r.payout_rows else coalesce(b.payout_rows, 0) end as payout_rows,
         case when r.order_id is not null then r.bill_date else b.first_date end as bill_date,
         case when r.order_id is not null then r.first_payout_ref else b.first_payout_ref end as first_payout_ref,
         case when r.order_id is not null then r.bill_amount else b.payout_amount end as bill_amount,
         case when r.order_id is not null then r.bill_fee else b.fee_amount end as bill_fee,
         case when r.order_id is not null then r.bill_returned else coalesce(b.returned, false) end as bill_returned,
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
    from (select * from recon_order_state where order_id in (select order_id from recon_other_ids)) o
    full join (select * from recon_bill_state where order_id in (select order_id from recon_other_ids)) b on b.order_id = o.order_id
    full join (select * from recon_ledger where order_id in (select order_id from recon_other_ids)) l on l.order_id = coalesce(o.order_id, b.order_id)
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
  select j.*, coalesce(fh.business_date, case when j.ledger_date <= (select max(business_date) from recon_pruned_days)
                  and (j.file_date is null or j.file_date > j.ledger_date)
             then (select min(d.business_date) from recon_pruned_days d
                    where d.business_date >= j.ledger_date and (j.file_date is null or d.business_date < j.file_date))
        end) as pruned_date
    from joined j left join recon_frozen_homes fh on fh.order_id = j.order_id offset 0
), homed as (
  -- Never null (`not pruned_home` must hold for every order not in the ledger).
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
 where coalesce(needs_refs, false) or (not coalesce((at_provider and in_ledger and paid_refs = 1 and provider_status = 'paid' and ledger_status = 'paid'
    and provider_amount = ledger_amount and payout_rows > 0 and not bill_bad
    and not fee_bad), false)
    and (coalesce((at_provider and not in_ledger), false)
      or coalesce((in_ledger and not at_provider and ledger_status in ('submitted', 'paid', 'refunded') and not pruned_home), false)
      or coalesce((at_provider and in_ledger and paid_refs <= 1 and provider_amount <> ledger_amount), false)
      or coalesce((at_provider and in_ledger
    and (   (provider_status in ('paid', 'paid_pending_claim') and ledger_status in ('failed', 'cancelled', 'refunded', 'submitted'))
         or (provider_status in ('failed', 'deleted') and ledger_status in ('paid', 'submitted') and not pruned_home))), false)
      or coalesce((provider_status = 'returned' and in_ledger and ledger_status <> 'refunded'), false)
      or coalesce((paid_refs >= 2 and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and fee_bad), false)
      or coalesce((not at_provider and not pruned_home and (payout_rows > 0 or (bill_returned and not in_ledger))), false)
      or coalesce((at_provider and bill_bad and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and payout_rows = 0 and not pruned_home), false)
      or coalesce((provider_status = 'paid_pending_claim' and finished_at < p.as_of - interval '48 hours'), false)
      or coalesce((at_provider and provider_status = 'unresolved'), false))) or m.bill_only;

delete from recon_ref_ids;

insert into recon_ref_ids select order_id from recon_match where needs_refs;

delete from recon_refs where order_id in (select order_id from recon_ref_ids);

insert into recon_refs
with ids as (select distinct order_id from recon_ref_ids),
o as (
  select o.order_id, o.provider_ref as ref, o.status, o.status_text, o.amount, o.fee, o.broker_id,
         coalesce(o.finished_at, o.created_at) as finished_at, o.business_date, o.line
    from ids i cross join lateral (
           select * from recon_orders o where o.order_id = i.order_id offset 0) o
),
b as (
  select b.order_id, b.provider_ref as ref,
         count(*) filter (where b.bill_type = 'payout') as payout_rows,
         sum(b.amount) filter (where b.bill_type = 'payout') as payout_amount,
         coalesce(sum(b.amount) filter (where b.bill_type = 'payout_fee'), 0) as fee_amount,
         bool_or(b.bill_type = 'return') as returned,
         min(b.business_date) as first_date,
         min(b.bill_ref) filter (where b.bill_type = 'payout') as first_payout_ref
    from ids i cross join lateral (
           select * from recon_bills b where b.order_id = i.order_id and b.bill_status in ('succeeded', 'pending_claim') offset 0) b
   group by b.order_id, b.provider_ref
),
last_row as (
  select distinct on (order_id) order_id, ref from o order by order_id, business_date desc, line desc
),
-- The order's first order file's day (matchSelect's file_date), and the day its rate is
-- taken on: that one, or the pruned day the order keeps (matchSelect's home_date).
homes as (
  select h.order_id, h.home_date,
         coalesce(fh.business_date, case when (l.created_at at time zone 'Asia/Shanghai')::date <= (select max(business_date) from recon_pruned_days)
                  and (h.home_date is null or h.home_date > (l.created_at at time zone 'Asia/Shanghai')::date)
             then (select min(d.business_date) from recon_pruned_days d
                    where d.business_date >= (l.created_at at time zone 'Asia/Shanghai')::date and (h.home_date is null or d.business_date < h.home_date))
        end, h.home_date) as rate_date
    from (select order_id, min(business_date) as home_date from o group by order_id) h
    left join recon_ledger l on l.order_id = h.order_id
    left join recon_frozen_homes fh on fh.order_id = h.order_id
),
rates as (select broker_id, rate, valid_from, lead(valid_from) over (partition by broker_id order by valid_from) as valid_until
    from recon.broker_fee_rates),
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
    from ids i cross join lateral (
           select * from recon_bills t where t.order_id = i.order_id and t.bill_status in ('succeeded', 'pending_claim') and t.bill_type = 'return' offset 0) t
   where not exists (select 1 from r0 where r0.order_id = t.order_id and r0.ref = t.provider_ref)
),
paid0 as (
  select r0.order_id, r0.ref, r0.amount, r0.first_date,
         row_number() over (partition by r0.order_id, r0.amount order by r0.first_date, r0.ref) as n
    from r0 where r0.status in ('paid', 'paid_pending_claim')
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
  select r1.*, (r1.status in ('paid', 'paid_pending_claim') and r1.in_file and r1.rate is not null and r1.fee is distinct from r1.expected_fee) as fee_bad
    from r1
),
per_order as (
  select r.order_id,
         count(*) filter (where r.status in ('paid', 'paid_pending_claim'))::int as paid_refs,
         case when bool_or(r.status = 'paid') then 'paid'
              when bool_or(r.status = 'paid_pending_claim') then 'paid_pending_claim'
              when bool_or(r.status = 'returned') then 'returned'
              when bool_and(r.status = 'deleted') then 'deleted'
              when bool_and(r.status in ('failed', 'deleted')) then 'failed'
              else 'unresolved' end as provider_status,
         string_agg(r.ref, ',' order by r.first_date, r.ref) filter (where r.status in ('paid', 'paid_pending_claim')) as paid_ref_list,
         sum(r.amount) filter (where r.status in ('paid', 'paid_pending_claim')) as paid_amount,
         min(r.finished_at) filter (where r.status = 'paid_pending_claim') as pending_since,
         bool_or(r.live) as live,
         (array_agg(r.ref order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_ref,
         (array_agg(r.status_text order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_text,
         (array_agg(r.amount order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_amount,
         (array_agg(r.fee order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_fee,
         (array_agg(r.expected_fee order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_expected,
         (array_agg(r.rate order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_rate,
         coalesce(bool_or(r.fee_bad), false) as fee_bad,
         (array_agg(r.fee order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_fee,
         (array_agg(r.expected_fee order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_expected,
         (array_agg(r.rate order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_rate,
         (array_agg(r.broker_id order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_broker,
         (array_agg(r.finished_at order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_finished,
         jsonb_agg(jsonb_build_object('provider_ref', r.ref, 'amount', r.amount::text, 'status', r.status,
                                      'first_date', case when r.first_date < 'infinity' then r.first_date end)
                   order by r.first_date, r.ref) filter (where r.status in ('paid', 'paid_pending_claim')) as payouts,
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
  left join homes h on h.order_id = i.order_id;

analyze recon_refs;

delete from recon_match where order_id in (select order_id from recon_ref_ids);

insert into recon_match 
with rates as (
  select broker_id, rate, valid_from, lead(valid_from) over (partition by broker_id order by valid_from) as valid_until
    from recon.broker_fee_rates
), joined as (
  select coalesce(o.order_id, b.order_id, l.order_id) as order_id,
         case when r.order_id is not null then r.in_order_file or r.live else o.order_id is not null end as at_provider,
         case when r.order_id is not null then r.home_date else o.home_date end as file_date,
         case when r.order_id is not null then r.paid_refs else case when not (coalesce(o.returned_row, false) or coalesce(b.returned, false))
                                   and o.status in ('paid', 'paid_pending_claim') then 1 else 0 end end as paid_refs,
         case when r.order_id is not null then r.provider_ref else o.provider_ref end as provider_ref,
         case when r.order_id is not null then r.status_text else o.status_text end as status_text,
         case when r.order_id is not null then r.provider_amount else o.amount end as provider_amount,
         case when r.order_id is not null then r.fee else o.fee end as fee,
         case when r.order_id is not null then r.broker_id else o.broker_id end as broker_id,
         case when r.order_id is not null then r.finished_at else o.finished_at end as finished_at,
         -- A 退汇 order row or a 经纪公司退汇 bill row makes the order returned.
         case when r.order_id is not null then r.provider_status else case when coalesce(o.returned_row, false) or coalesce(b.returned, false) then 'returned'
                                         else o.status end end as provider_status,
         case when r.order_id is not null then r.payout_rows else coalesce(b.payout_rows, 0) end as payout_rows,
         case when r.order_id is not null then r.bill_date else b.first_date end as bill_date,
         case when r.order_id is not null then r.first_payout_ref else b.first_payout_ref end as first_payout_ref,
         case when r.order_id is not null then r.bill_amount else b.payout_amount end as bill_amount,
         case when r.order_id is not null then r.bill_fee else b.fee_amount end as bill_fee,
         case when r.order_id is not null then r.bill_returned else coalesce(b.returned, false) end as bill_returned,
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
    from (select * from recon_order_state where order_id in (select order_id from recon_ref_ids)) o
    full join (select * from recon_bill_state where order_id in (select order_id from recon_ref_ids)) b on b.order_id = o.order_id
    full join (select * from recon_ledger where order_id in (select order_id from recon_ref_ids)) l on l.order_id = coalesce(o.order_id, b.order_id)
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
  select j.*, coalesce(fh.business_date, case when j.ledger_date <= (select max(business_date) from recon_pruned_days)
                  and (j.file_date is null or j.file_date > j.ledger_date)
             then (select min(d.business_date) from recon_pruned_days d
                    where d.business_date >= j.ledger_date and (j.file_date is null or d.business_date < j.file_date))
        end) as pruned_date
    from joined j left join recon_frozen_homes fh on fh.order_id = j.order_id offset 0
), homed as (
  -- Never null (`not pruned_home` must hold for every order not in the ledger).
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
 where coalesce(needs_refs, false) or (not coalesce((at_provider and in_ledger and paid_refs = 1 and provider_status = 'paid' and ledger_status = 'paid'
    and provider_amount = ledger_amount and payout_rows > 0 and not bill_bad
    and not fee_bad), false)
    and (coalesce((at_provider and not in_ledger), false)
      or coalesce((in_ledger and not at_provider and ledger_status in ('submitted', 'paid', 'refunded') and not pruned_home), false)
      or coalesce((at_provider and in_ledger and paid_refs <= 1 and provider_amount <> ledger_amount), false)
      or coalesce((at_provider and in_ledger
    and (   (provider_status in ('paid', 'paid_pending_claim') and ledger_status in ('failed', 'cancelled', 'refunded', 'submitted'))
         or (provider_status in ('failed', 'deleted') and ledger_status in ('paid', 'submitted') and not pruned_home))), false)
      or coalesce((provider_status = 'returned' and in_ledger and ledger_status <> 'refunded'), false)
      or coalesce((paid_refs >= 2 and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and fee_bad), false)
      or coalesce((not at_provider and not pruned_home and (payout_rows > 0 or (bill_returned and not in_ledger))), false)
      or coalesce((at_provider and bill_bad and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and payout_rows = 0 and not pruned_home), false)
      or coalesce((provider_status = 'paid_pending_claim' and finished_at < p.as_of - interval '48 hours'), false)
      or coalesce((at_provider and provider_status = 'unresolved'), false))) or m.bill_only;

analyze recon_match;

create temp table recon_findings (
  business_date date not null, kind text not null, severity text not null, order_id text,
  provider_ref text, ledger_amount numeric(16,2), provider_amount numeric(16,2), details jsonb not null
) on commit drop;

-- After a live follow-up: the asked orders judged again

delete from recon_live where order_id in (select order_id from recon_asked);

insert into recon_live 
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
          join recon_asked s on s.order_id = k.order_id
         where k.dealer_id = (select dealer_id from recon_params) and k.state is not null
         order by k.order_id, k.id desc) c;

analyze recon_live;

delete from recon_refs where order_id in (select order_id from recon_asked);

delete from recon_match where order_id in (select order_id from recon_asked);

insert into recon_match 
with rates as (
  select broker_id, rate, valid_from, lead(valid_from) over (partition by broker_id order by valid_from) as valid_until
    from recon.broker_fee_rates
), joined as (
  select coalesce(o.order_id, b.order_id, l.order_id) as order_id,
         case when r.order_id is not null then r.in_order_file or r.live else o.order_id is not null end as at_provider,
         case when r.order_id is not null then r.home_date else o.home_date end as file_date,
         case when r.order_id is not null then r.paid_refs else case when not (coalesce(o.returned_row, false) or coalesce(b.returned, false))
                                   and o.status in ('paid', 'paid_pending_claim') then 1 else 0 end end as paid_refs,
         case when r.order_id is not null then r.provider_ref else o.provider_ref end as provider_ref,
         case when r.order_id is not null then r.status_text else o.status_text end as status_text,
         case when r.order_id is not null then r.provider_amount else o.amount end as provider_amount,
         case when r.order_id is not null then r.fee else o.fee end as fee,
         case when r.order_id is not null then r.broker_id else o.broker_id end as broker_id,
         case when r.order_id is not null then r.finished_at else o.finished_at end as finished_at,
         -- A 退汇 order row or a 经纪公司退汇 bill row makes the order returned.
         case when r.order_id is not null then r.provider_status else case when coalesce(o.returned_row, false) or coalesce(b.returned, false) then 'returned'
                                         else o.status end end as provider_status,
         case when r.order_id is not null then r.payout_rows else coalesce(b.payout_rows, 0) end as payout_rows,
         case when r.order_id is not null then r.bill_date else b.first_date end as bill_date,
         case when r.order_id is not null then r.first_payout_ref else b.first_payout_ref end as first_payout_ref,
         case when r.order_id is not null then r.bill_amount else b.payout_amount end as bill_amount,
         case when r.order_id is not null then r.bill_fee else b.fee_amount end as bill_fee,
         case when r.order_id is not null then r.bill_returned else coalesce(b.returned, false) end as bill_returned,
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
    from (select * from recon_order_state where order_id in (select order_id from recon_asked)) o
    full join (select * from recon_bill_state where order_id in (select order_id from recon_asked)) b on b.order_id = o.order_id
    full join (select * from recon_ledger where order_id in (select order_id from recon_asked)) l on l.order_id = coalesce(o.order_id, b.order_id)
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
  select j.*, coalesce(fh.business_date, case when j.ledger_date <= (select max(business_date) from recon_pruned_days)
                  and (j.file_date is null or j.file_date > j.ledger_date)
             then (select min(d.business_date) from recon_pruned_days d
                    where d.business_date >= j.ledger_date and (j.file_date is null or d.business_date < j.file_date))
        end) as pruned_date
    from joined j left join recon_frozen_homes fh on fh.order_id = j.order_id offset 0
), homed as (
  -- Never null (`not pruned_home` must hold for every order not in the ledger).
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
 where coalesce(needs_refs, false) or (not coalesce((at_provider and in_ledger and paid_refs = 1 and provider_status = 'paid' and ledger_status = 'paid'
    and provider_amount = ledger_amount and payout_rows > 0 and not bill_bad
    and not fee_bad), false)
    and (coalesce((at_provider and not in_ledger), false)
      or coalesce((in_ledger and not at_provider and ledger_status in ('submitted', 'paid', 'refunded') and not pruned_home), false)
      or coalesce((at_provider and in_ledger and paid_refs <= 1 and provider_amount <> ledger_amount), false)
      or coalesce((at_provider and in_ledger
    and (   (provider_status in ('paid', 'paid_pending_claim') and ledger_status in ('failed', 'cancelled', 'refunded', 'submitted'))
         or (provider_status in ('failed', 'deleted') and ledger_status in ('paid', 'submitted') and not pruned_home))), false)
      or coalesce((provider_status = 'returned' and in_ledger and ledger_status <> 'refunded'), false)
      or coalesce((paid_refs >= 2 and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and fee_bad), false)
      or coalesce((not at_provider and not pruned_home and (payout_rows > 0 or (bill_returned and not in_ledger))), false)
      or coalesce((at_provider and bill_bad and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and payout_rows = 0 and not pruned_home), false)
      or coalesce((provider_status = 'paid_pending_claim' and finished_at < p.as_of - interval '48 hours'), false)
      or coalesce((at_provider and provider_status = 'unresolved'), false))) or m.bill_only;

delete from recon_ref_ids;

insert into recon_ref_ids select order_id from recon_match where needs_refs;

delete from recon_refs where order_id in (select order_id from recon_ref_ids);

insert into recon_refs
with ids as (select distinct order_id from recon_ref_ids),
o as (
  select o.order_id, o.provider_ref as ref, o.status, o.status_text, o.amount, o.fee, o.broker_id,
         coalesce(o.finished_at, o.created_at) as finished_at, o.business_date, o.line
    from ids i cross join lateral (
           select * from recon_orders o where o.order_id = i.order_id offset 0) o
),
b as (
  select b.order_id, b.provider_ref as ref,
         count(*) filter (where b.bill_type = 'payout') as payout_rows,
         sum(b.amount) filter (where b.bill_type = 'payout') as payout_amount,
         coalesce(sum(b.amount) filter (where b.bill_type = 'payout_fee'), 0) as fee_amount,
         bool_or(b.bill_type = 'return') as returned,
         min(b.business_date) as first_date,
         min(b.bill_ref) filter (where b.bill_type = 'payout') as first_payout_ref
    from ids i cross join lateral (
           select * from recon_bills b where b.order_id = i.order_id and b.bill_status in ('succeeded', 'pending_claim') offset 0) b
   group by b.order_id, b.provider_ref
),
last_row as (
  select distinct on (order_id) order_id, ref from o order by order_id, business_date desc, line desc
),
-- The order's first order file's day (matchSelect's file_date), and the day its rate is
-- taken on: that one, or the pruned day the order keeps (matchSelect's home_date).
homes as (
  select h.order_id, h.home_date,
         coalesce(fh.business_date, case when (l.created_at at time zone 'Asia/Shanghai')::date <= (select max(business_date) from recon_pruned_days)
                  and (h.home_date is null or h.home_date > (l.created_at at time zone 'Asia/Shanghai')::date)
             then (select min(d.business_date) from recon_pruned_days d
                    where d.business_date >= (l.created_at at time zone 'Asia/Shanghai')::date and (h.home_date is null or d.business_date < h.home_date))
        end, h.home_date) as rate_date
    from (select order_id, min(business_date) as home_date from o group by order_id) h
    left join recon_ledger l on l.order_id = h.order_id
    left join recon_frozen_homes fh on fh.order_id = h.order_id
),
rates as (select broker_id, rate, valid_from, lead(valid_from) over (partition by broker_id order by valid_from) as valid_until
    from recon.broker_fee_rates),
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
    from ids i cross join lateral (
           select * from recon_bills t where t.order_id = i.order_id and t.bill_status in ('succeeded', 'pending_claim') and t.bill_type = 'return' offset 0) t
   where not exists (select 1 from r0 where r0.order_id = t.order_id and r0.ref = t.provider_ref)
),
paid0 as (
  select r0.order_id, r0.ref, r0.amount, r0.first_date,
         row_number() over (partition by r0.order_id, r0.amount order by r0.first_date, r0.ref) as n
    from r0 where r0.status in ('paid', 'paid_pending_claim')
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
  select r1.*, (r1.status in ('paid', 'paid_pending_claim') and r1.in_file and r1.rate is not null and r1.fee is distinct from r1.expected_fee) as fee_bad
    from r1
),
per_order as (
  select r.order_id,
         count(*) filter (where r.status in ('paid', 'paid_pending_claim'))::int as paid_refs,
         case when bool_or(r.status = 'paid') then 'paid'
              when bool_or(r.status = 'paid_pending_claim') then 'paid_pending_claim'
              when bool_or(r.status = 'returned') then 'returned'
              when bool_and(r.status = 'deleted') then 'deleted'
              when bool_and(r.status in ('failed', 'deleted')) then 'failed'
              else 'unresolved' end as provider_status,
         string_agg(r.ref, ',' order by r.first_date, r.ref) filter (where r.status in ('paid', 'paid_pending_claim')) as paid_ref_list,
         sum(r.amount) filter (where r.status in ('paid', 'paid_pending_claim')) as paid_amount,
         min(r.finished_at) filter (where r.status = 'paid_pending_claim') as pending_since,
         bool_or(r.live) as live,
         (array_agg(r.ref order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_ref,
         (array_agg(r.status_text order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_text,
         (array_agg(r.amount order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_amount,
         (array_agg(r.fee order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_fee,
         (array_agg(r.expected_fee order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_expected,
         (array_agg(r.rate order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_rate,
         coalesce(bool_or(r.fee_bad), false) as fee_bad,
         (array_agg(r.fee order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_fee,
         (array_agg(r.expected_fee order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_expected,
         (array_agg(r.rate order by r.first_date, r.ref) filter (where r.fee_bad))[1] as bad_rate,
         (array_agg(r.broker_id order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_broker,
         (array_agg(r.finished_at order by (r.status in ('paid', 'paid_pending_claim')) desc, r.live desc, r.is_last desc, r.first_date, r.ref))[1] as top_finished,
         jsonb_agg(jsonb_build_object('provider_ref', r.ref, 'amount', r.amount::text, 'status', r.status,
                                      'first_date', case when r.first_date < 'infinity' then r.first_date end)
                   order by r.first_date, r.ref) filter (where r.status in ('paid', 'paid_pending_claim')) as payouts,
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
  left join homes h on h.order_id = i.order_id;

analyze recon_refs;

delete from recon_match where order_id in (select order_id from recon_ref_ids);

insert into recon_match 
with rates as (
  select broker_id, rate, valid_from, lead(valid_from) over (partition by broker_id order by valid_from) as valid_until
    from recon.broker_fee_rates
), joined as (
  select coalesce(o.order_id, b.order_id, l.order_id) as order_id,
         case when r.order_id is not null then r.in_order_file or r.live else o.order_id is not null end as at_provider,
         case when r.order_id is not null then r.home_date else o.home_date end as file_date,
         case when r.order_id is not null then r.paid_refs else case when not (coalesce(o.returned_row, false) or coalesce(b.returned, false))
                                   and o.status in ('paid', 'paid_pending_claim') then 1 else 0 end end as paid_refs,
         case when r.order_id is not null then r.provider_ref else o.provider_ref end as provider_ref,
         case when r.order_id is not null then r.status_text else o.status_text end as status_text,
         case when r.order_id is not null then r.provider_amount else o.amount end as provider_amount,
         case when r.order_id is not null then r.fee else o.fee end as fee,
         case when r.order_id is not null then r.broker_id else o.broker_id end as broker_id,
         case when r.order_id is not null then r.finished_at else o.finished_at end as finished_at,
         -- A 退汇 order row or a 经纪公司退汇 bill row makes the order returned.
         case when r.order_id is not null then r.provider_status else case when coalesce(o.returned_row, false) or coalesce(b.returned, false) then 'returned'
                                         else o.status end end as provider_status,
         case when r.order_id is not null then r.payout_rows else coalesce(b.payout_rows, 0) end as payout_rows,
         case when r.order_id is not null then r.bill_date else b.first_date end as bill_date,
         case when r.order_id is not null then r.first_payout_ref else b.first_payout_ref end as first_payout_ref,
         case when r.order_id is not null then r.bill_amount else b.payout_amount end as bill_amount,
         case when r.order_id is not null then r.bill_fee else b.fee_amount end as bill_fee,
         case when r.order_id is not null then r.bill_returned else coalesce(b.returned, false) end as bill_returned,
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
    from (select * from recon_order_state where order_id in (select order_id from recon_ref_ids)) o
    full join (select * from recon_bill_state where order_id in (select order_id from recon_ref_ids)) b on b.order_id = o.order_id
    full join (select * from recon_ledger where order_id in (select order_id from recon_ref_ids)) l on l.order_id = coalesce(o.order_id, b.order_id)
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
  select j.*, coalesce(fh.business_date, case when j.ledger_date <= (select max(business_date) from recon_pruned_days)
                  and (j.file_date is null or j.file_date > j.ledger_date)
             then (select min(d.business_date) from recon_pruned_days d
                    where d.business_date >= j.ledger_date and (j.file_date is null or d.business_date < j.file_date))
        end) as pruned_date
    from joined j left join recon_frozen_homes fh on fh.order_id = j.order_id offset 0
), homed as (
  -- Never null (`not pruned_home` must hold for every order not in the ledger).
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
 where coalesce(needs_refs, false) or (not coalesce((at_provider and in_ledger and paid_refs = 1 and provider_status = 'paid' and ledger_status = 'paid'
    and provider_amount = ledger_amount and payout_rows > 0 and not bill_bad
    and not fee_bad), false)
    and (coalesce((at_provider and not in_ledger), false)
      or coalesce((in_ledger and not at_provider and ledger_status in ('submitted', 'paid', 'refunded') and not pruned_home), false)
      or coalesce((at_provider and in_ledger and paid_refs <= 1 and provider_amount <> ledger_amount), false)
      or coalesce((at_provider and in_ledger
    and (   (provider_status in ('paid', 'paid_pending_claim') and ledger_status in ('failed', 'cancelled', 'refunded', 'submitted'))
         or (provider_status in ('failed', 'deleted') and ledger_status in ('paid', 'submitted') and not pruned_home))), false)
      or coalesce((provider_status = 'returned' and in_ledger and ledger_status <> 'refunded'), false)
      or coalesce((paid_refs >= 2 and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and fee_bad), false)
      or coalesce((not at_provider and not pruned_home and (payout_rows > 0 or (bill_returned and not in_ledger))), false)
      or coalesce((at_provider and bill_bad and not pruned_home), false)
      or coalesce((at_provider and provider_status in ('paid', 'paid_pending_claim') and payout_rows = 0 and not pruned_home), false)
      or coalesce((provider_status = 'paid_pending_claim' and finished_at < p.as_of - interval '48 hours'), false)
      or coalesce((at_provider and provider_status = 'unresolved'), false))) or m.bill_only;

delete from recon_findings;
