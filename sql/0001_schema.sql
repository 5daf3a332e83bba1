-- yzh-recon schema. Append-only: change the schema with a new numbered file, never by editing
-- this one. The migrator creates schema recon and recon.migrations before it runs this file.

-- Inputs ------------------------------------------------------------------------------------

-- The merchant's own record of the payouts it asked for. A merchant whose ledger lives
-- elsewhere replaces this table with a view of the same name and columns.
create table recon.ledger_payouts (
  order_id   text primary key,
  dealer_id  text not null,
  broker_id  text,
  channel    text check (channel in ('bankcard', 'alipay', 'wxpay')),
  amount     numeric(16,2) not null,
  status     text not null check (status in ('submitted', 'paid', 'failed', 'refunded', 'cancelled')),
  created_at timestamptz not null
);
create index ledger_payouts_dealer_created on recon.ledger_payouts (dealer_id, created_at);

-- The contract's service-fee rate per broker, valid from a day on.
create table recon.broker_fee_rates (
  broker_id  text not null,
  rate       numeric(6,5) not null check (rate >= 0),
  valid_from date not null,
  primary key (broker_id, valid_from)
);

-- Outputs -----------------------------------------------------------------------------------

create table recon.runs (
  id                bigserial primary key,
  dealer_id         text not null,
  business_date     date not null,
  trigger           text not null check (trigger in ('schedule', 'manual')),
  status            text not null check (status in ('running', 'succeeded', 'failed')),
  started_at        timestamptz not null default now(),
  finished_at       timestamptz,
  order_file_sha256 text,
  bill_file_sha256  text,
  order_rows        integer,
  bill_rows         integer,
  error             text,
  -- findings by kind and severity, and stage timings, for the summary and the metrics
  summary           jsonb
);
create index runs_dealer_day on recon.runs (dealer_id, business_date, id desc);

create table recon.discrepancies (
  id                bigserial primary key,
  dealer_id         text not null,
  business_date     date not null,
  kind              text not null check (kind in (
    'missing_in_ledger', 'missing_at_provider', 'amount_mismatch', 'status_mismatch',
    'refund_unrecorded', 'duplicate_provider_order', 'fee_mismatch', 'bill_without_order',
    'bill_amount_mismatch', 'order_without_bill', 'stale_pending_claim',
    'unresolved_provider_status', 'systemic_mismatch')),
  severity          text not null check (severity in ('critical', 'warning', 'info')),
  order_id          text,
  provider_ref      text,
  ledger_amount     numeric(16,2),
  provider_amount   numeric(16,2),
  details           jsonb not null default '{}',
  status            text not null default 'open' check (status in ('open', 'resolved')),
  first_seen_run_id bigint not null references recon.runs (id),
  last_seen_run_id  bigint not null references recon.runs (id),
  resolved_run_id   bigint references recon.runs (id),
  resolved_at       timestamptz,
  -- written by finance only; no run ever changes them
  ack_by            text,
  ack_note          text,
  ack_at            timestamptz
);
-- At most one open row per (dealer, day, kind, order); file-level rows have no order.
create unique index discrepancies_one_open
  on recon.discrepancies (dealer_id, business_date, kind, coalesce(order_id, ''))
  where status = 'open';
create index discrepancies_open_orders on recon.discrepancies (dealer_id, order_id) where status = 'open';
create index discrepancies_day on recon.discrepancies (dealer_id, business_date);

-- What the engine keeps of the provider's files ---------------------------------------------

-- Every file ingested, newest last; the rows below are always those of the newest file.
create table recon.provider_files (
  id            bigserial primary key,
  dealer_id     text not null,
  business_date date not null,
  kind          text not null check (kind in ('order', 'bill')),
  sha256        text not null,
  bytes         bigint not null,
  row_count     integer not null,
  generated_at  timestamptz,
  ingested_at   timestamptz not null default now(),
  run_id        bigint not null references recon.runs (id)
);
create index provider_files_day on recon.provider_files (dealer_id, business_date, kind, id desc);

-- 订单文件 rows. No primary key: (dealer_id, business_date, line) is unique by construction,
-- and COPY into a table with fewer indexes is faster on million-row days.
create table recon.provider_orders (
  dealer_id       text not null,
  business_date   date not null,
  line            integer not null,
  order_id        text not null,
  provider_ref    text not null,
  batch_id        text,
  name_masked     text,
  broker_id       text,
  status_text     text not null,
  status          text not null check (status in ('paid', 'paid_pending_claim', 'failed', 'returned', 'deleted', 'unresolved')),
  account_masked  text,
  channel         text,
  amount          numeric(16,2) not null,
  fee             numeric(16,2),
  channel_ref     text,
  credit_bill_no  text,
  fee_bill_no     text,
  balance_bill_no text,
  created_at      timestamptz,
  finished_at     timestamptz
);
create index provider_orders_day on recon.provider_orders (dealer_id, business_date);
create index provider_orders_order on recon.provider_orders (dealer_id, order_id);

-- 流水文件 rows.
create table recon.provider_bills (
  dealer_id     text not null,
  business_date date not null,
  line          integer not null,
  order_id      text not null,
  provider_ref  text not null,
  bill_ref      text not null,
  bill_type     text not null check (bill_type in ('payout', 'payout_fee', 'return', 'return_fee')),
  bill_status   text not null check (bill_status in ('succeeded', 'pending_claim', 'failed', 'unknown')),
  channel       text,
  name_masked   text,
  broker_id     text,
  amount        numeric(16,2) not null,
  channel_ref   text,
  created_at    timestamptz,
  finished_at   timestamptz
);
create index provider_bills_day on recon.provider_bills (dealer_id, business_date);
create index provider_bills_order on recon.provider_bills (dealer_id, order_id);

-- Finance views -----------------------------------------------------------------------------

create view recon.open_discrepancies as
select d.*,
       (current_date - d.business_date) as age_days,
       r.started_at as first_seen_at
from recon.discrepancies d
join recon.runs r on r.id = d.first_seen_run_id
where d.status = 'open';

create view recon.daily_summary as
select dealer_id, business_date, kind, severity, status,
       count(*) as findings,
       coalesce(sum(coalesce(provider_amount, ledger_amount)), 0)::numeric(18,2) as amount
from recon.discrepancies
group by dealer_id, business_date, kind, severity, status;
