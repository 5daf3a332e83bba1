-- Live follow-up of the orders the files cannot settle (query-realtime-order), and balance
-- snapshots (query-accounts) with the balance_low finding.

-- One row per answer of the real-time order query. `state` is the answer in the order files'
-- status vocabulary (paid, paid_pending_claim, failed, returned, deleted, unresolved), or
-- not_found for codes 2011/2018; null when the answer says nothing about the order (another
-- provider code), which the rules then ignore. A call that got no answer at all (timeout,
-- connection refused) leaves no row: the order is asked again by the next run.
create table recon.provider_order_checks (
  id             bigserial primary key,
  run_id         bigint not null references recon.runs (id),
  dealer_id      text not null,
  order_id       text not null,
  channel        text check (channel in ('bankcard', 'alipay', 'wxpay')),
  asked_at       timestamptz not null,
  code           text not null,
  state          text check (state in ('paid', 'paid_pending_claim', 'failed', 'returned', 'deleted', 'unresolved', 'not_found')),
  status         integer,
  status_detail  integer,
  status_message text,
  provider_ref   text,
  broker_id      text,
  amount         numeric(16,2),
  finished_at    timestamptz,
  request_id     text not null
);
-- The newest answer per order, for the matching and the finance view.
create index provider_order_checks_order on recon.provider_order_checks (dealer_id, order_id, id desc);
create index provider_order_checks_run on recon.provider_order_checks (run_id);

-- One row per broker per run: the four balances and which channels are open.
create table recon.balance_snapshots (
  id                 bigserial primary key,
  run_id             bigint not null references recon.runs (id),
  dealer_id          text not null,
  asked_at           timestamptz not null,
  broker_id          text not null,
  bank_card_balance  numeric(16,2) not null,
  alipay_balance     numeric(16,2) not null,
  wxpay_balance      numeric(16,2) not null,
  rebate_fee_balance numeric(16,2) not null,
  is_bank_card       boolean not null,
  is_alipay          boolean not null,
  is_wxpay           boolean not null,
  request_id         text not null,
  unique (run_id, broker_id)
);
create index balance_snapshots_dealer on recon.balance_snapshots (dealer_id, asked_at desc);

-- balance_low: a file-level finding (order_id null), one per broker and channel, told apart
-- by provider_ref = '<broker_id>/<channel>'.
alter table recon.discrepancies drop constraint if exists discrepancies_kind_check;
alter table recon.discrepancies add constraint discrepancies_kind_check check (kind in (
  'missing_in_ledger', 'missing_at_provider', 'amount_mismatch', 'status_mismatch',
  'refund_unrecorded', 'duplicate_provider_order', 'fee_mismatch', 'bill_without_order',
  'bill_amount_mismatch', 'order_without_bill', 'stale_pending_claim',
  'unresolved_provider_status', 'balance_low', 'systemic_mismatch'));

-- At most one open row per (dealer, day, kind, order) as before; rows without an order are
-- now also told apart by provider_ref (two channels low on the same day are two findings).
drop index if exists recon.discrepancies_one_open;
create unique index discrepancies_one_open
  on recon.discrepancies (dealer_id, business_date, kind, order_id)
  where status = 'open' and order_id is not null;
create unique index discrepancies_one_open_file
  on recon.discrepancies (dealer_id, business_date, kind, coalesce(provider_ref, ''))
  where status = 'open' and order_id is null;

-- The finance view gains the latest live answer of each finding's order. Dropped and created
-- again (not `create or replace`), so that it holds whatever columns discrepancies has now.
drop view if exists recon.open_discrepancies;
create view recon.open_discrepancies as
select d.*,
       (current_date - d.business_date) as age_days,
       r.started_at as first_seen_at,
       c.state as live_state,
       c.status as live_status,
       c.status_detail as live_status_detail,
       c.status_message as live_status_message,
       c.code as live_code,
       c.asked_at as live_asked_at
from recon.discrepancies d
join recon.runs r on r.id = d.first_seen_run_id
left join lateral (
  select k.state, k.status, k.status_detail, k.status_message, k.code, k.asked_at
    from recon.provider_order_checks k
   where d.order_id is not null and k.dealer_id = d.dealer_id and k.order_id = d.order_id
   order by k.id desc
   limit 1
) c on true
where d.status = 'open';

-- A view created again loses its grants; give the job role back what sql/roles/job-role.sql
-- gives it, where that role exists (re-run that file after this migration for the new tables).
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'yzh_recon_job') then
    grant select on recon.open_discrepancies to yzh_recon_job;
  end if;
end
$$;
