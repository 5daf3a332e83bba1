-- Provider rows partitioned by dealer, then by business day.
--
-- recon.provider_orders and recon.provider_bills are partitioned by list on dealer_id; each
-- dealer's table is partitioned by range on business_date, one partition per day. The day is
-- the unit the provider regenerates, so a run replaces a day by swapping one table for
-- another: it loads the file into a table of its own beside the dealer's table (no index to
-- keep up row by row), builds the indexes and ANALYZEs it, and just before commit drops the
-- day's old partition and attaches the new one. Its CHECK constraint matches the bound, so the
-- ATTACH needs no scan. Retention drops whole days the same way.
--
-- A dealer of its own: a swap takes ACCESS EXCLUSIVE on the dealer's table only, never on a
-- table another dealer's run reads (its queries name their dealer, and the planner prunes the
-- other dealers' tables without locking them).
--
-- The job role creates, swaps and drops these tables only through the SECURITY DEFINER
-- functions below (sql/roles/job-role.sql grants EXECUTE): it owns no table and changes no
-- schema otherwise.

alter table recon.provider_orders rename to provider_orders_0005;
alter index recon.provider_orders_day rename to provider_orders_0005_day;
alter index recon.provider_orders_order rename to provider_orders_0005_order;
alter table recon.provider_bills rename to provider_bills_0005;
alter index recon.provider_bills_day rename to provider_bills_0005_day;
alter index recon.provider_bills_order rename to provider_bills_0005_order;

-- 订单文件 rows. No primary key: (dealer_id, business_date, line) is unique by construction.
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
) partition by list (dealer_id);
-- An order's rows of every day, looked up by id (a 退汇 months after its order, the few
-- orders that need other days). A day's rows are its partition: no index on the day. The
-- dealer and day ride along so that the duplicate window's scan of whole days (every order
-- id of each) is answered from the index alone: the rows are loaded frozen, all-visible.
create index provider_orders_order on recon.provider_orders (order_id) include (dealer_id, business_date);
-- The week's unclaimed red packets, re-checked by each run: a handful of a day's million rows.
create index provider_orders_pending_claim on recon.provider_orders (order_id) where status = 'paid_pending_claim';

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
) partition by list (dealer_id);
create index provider_bills_order on recon.provider_bills (order_id);

-- Each dealer's table of each kind. Its name is derived from the dealer id (which may hold
-- any character) and recorded here, so nothing has to parse it back.
create table recon.provider_row_tables (
  kind       text not null check (kind in ('order', 'bill')),
  dealer_id  text not null,
  table_name text not null unique,
  primary key (kind, dealer_id)
);

create function recon.provider_parent(p_kind text) returns text
language plpgsql immutable as $$
begin
  case p_kind
    when 'order' then return 'provider_orders';
    when 'bill' then return 'provider_bills';
    else raise exception 'unknown provider file kind: %', p_kind;
  end case;
end $$;

-- The dealer's table of the kind, created (empty, partitioned by day) on first use. It is
-- attached, not created as a partition: ATTACH takes SHARE UPDATE EXCLUSIVE on the parent,
-- which no reader waits for. (No CHECK constraint of its own: every partition would need it.)
create function recon.provider_dealer_table(p_kind text, p_dealer text) returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_parent text := recon.provider_parent(p_kind);
  v_name text;
begin
  select t.table_name into v_name from recon.provider_row_tables t where t.kind = p_kind and t.dealer_id = p_dealer;
  if found then return v_name; end if;
  v_name := v_parent || '_' || substr(md5(p_dealer), 1, 12);
  execute format('create table recon.%I (like recon.%I including defaults including constraints) partition by range (business_date)',
                 v_name, v_parent);
  execute format('alter table recon.%I attach partition recon.%I for values in (%L)', v_parent, v_name, p_dealer);
  insert into recon.provider_row_tables (kind, dealer_id, table_name) values (p_kind, p_dealer, v_name);
  return v_name;
end $$;

-- A fresh table for one day's file, beside the dealer's table: no index yet, and a CHECK
-- constraint that is the partition bound, so that attaching it needs no scan. The caller
-- (session_user: the job role) may insert into it and read it.
create function recon.provider_load_table(p_kind text, p_dealer text, p_day date, p_run bigint) returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_dealer_table text := recon.provider_dealer_table(p_kind, p_dealer);
  v_name text := v_dealer_table || '_' || to_char(p_day, 'YYYYMMDD') || '_load' || p_run;
begin
  execute format('create table recon.%I (like recon.%I including defaults including constraints)', v_name, recon.provider_parent(p_kind));
  execute format('alter table recon.%I add constraint %I check (dealer_id = %L and business_date >= %L and business_date < %L)',
                 v_name, v_name || '_bound', p_dealer, p_day, p_day + 1);
  execute format('grant select, insert on recon.%I to %I', v_name, session_user);
  return v_name;
end $$;

-- After the load: the partitioned indexes' counterparts (ATTACH adopts them rather than
-- building its own), and the statistics the run's own queries plan with.
create function recon.provider_load_finish(p_kind text, p_name text) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if to_regclass(format('recon.%I', p_name)) is null or p_name !~ '_load[0-9]+$' then
    raise exception 'not a load table: %', p_name;
  end if;
  if p_kind = 'order' then
    execute format('create index %I on recon.%I (order_id) include (dealer_id, business_date)', p_name || '_order', p_name);
  else
    execute format('create index %I on recon.%I (order_id)', p_name || '_order', p_name);
  end if;
  if p_kind = 'order' then
    execute format('create index %I on recon.%I (order_id) where status = %L', p_name || '_pending', p_name, 'paid_pending_claim');
  end if;
  execute format('analyze recon.%I', p_name);
end $$;

-- The day's partition of the dealer's table, if any.
create function recon.provider_day_table(p_kind text, p_dealer text, p_day date) returns text
language sql stable as $$
  select t.table_name || '_' || to_char(p_day, 'YYYYMMDD')
    from recon.provider_row_tables t
   where t.kind = p_kind and t.dealer_id = p_dealer
     and to_regclass(format('recon.%I', t.table_name || '_' || to_char(p_day, 'YYYYMMDD'))) is not null
$$;

-- The loaded table becomes the day's partition: the old one (if any) is dropped, the new one
-- renamed and attached. Called last in the run's transaction: from here to commit the
-- dealer's table is locked ACCESS EXCLUSIVE.
create function recon.provider_swap_day(p_kind text, p_dealer text, p_day date, p_name text) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_dealer_table text := recon.provider_dealer_table(p_kind, p_dealer);
  v_day_name text := v_dealer_table || '_' || to_char(p_day, 'YYYYMMDD');
begin
  if p_name !~ ('^' || v_day_name || '_load[0-9]+$') or to_regclass(format('recon.%I', p_name)) is null then
    raise exception 'not a load table of % %: %', p_dealer, p_day, p_name;
  end if;
  if to_regclass(format('recon.%I', v_day_name)) is not null then
    execute format('drop table recon.%I', v_day_name);
  end if;
  execute format('alter table recon.%I rename to %I', p_name, v_day_name);
  execute format('alter index recon.%I rename to %I', p_name || '_order', v_day_name || '_order');
  if p_kind = 'order' then
    execute format('alter index recon.%I rename to %I', p_name || '_pending', v_day_name || '_pending');
  end if;
  execute format('alter table recon.%I rename constraint %I to %I', v_day_name, p_name || '_bound', v_day_name || '_bound');
  execute format('alter table recon.%I attach partition recon.%I for values from (%L) to (%L)',
                 v_dealer_table, v_day_name, p_day, p_day + 1);
end $$;

-- Retention: the dealer's partitions of days before p_before, dropped. Returns what it dropped.
create function recon.provider_drop_days(p_dealer text, p_before date)
returns table (kind text, business_date date, table_name text)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  r record;
begin
  for r in select d.kind, d.business_date, d.table_name from recon.provider_days d
            where d.dealer_id = p_dealer and d.business_date < p_before
            order by d.business_date, d.kind loop
    execute format('drop table recon.%I', r.table_name);
    kind := r.kind; business_date := r.business_date; table_name := r.table_name;
    return next;
  end loop;
end $$;

-- Every day partition: its dealer, kind, day and the planner's row estimate.
create view recon.provider_days as
select t.kind, t.dealer_id, to_date(right(c.relname, 8), 'YYYYMMDD') as business_date, c.relname::text as table_name,
       greatest(c.reltuples, 0)::bigint as estimated_rows
  from recon.provider_row_tables t
  join pg_class p on p.relname = t.table_name and p.relnamespace = 'recon'::regnamespace
  join pg_inherits i on i.inhparent = p.oid
  join pg_class c on c.oid = i.inhrelid;

revoke execute on function recon.provider_dealer_table(text, text) from public;
revoke execute on function recon.provider_load_table(text, text, date, bigint) from public;
revoke execute on function recon.provider_load_finish(text, text) from public;
revoke execute on function recon.provider_swap_day(text, text, date, text) from public;
revoke execute on function recon.provider_drop_days(text, date) from public;

-- Rows kept so far move into the new layout, a day at a time, the way a run loads a day.
do $$
declare
  r record;
  v_kind text;
  v_old text;
  v_name text;
begin
  foreach v_kind in array array['order', 'bill'] loop
    v_old := recon.provider_parent(v_kind) || '_0005';
    for r in execute format('select distinct dealer_id, business_date from recon.%I order by 1, 2', v_old) loop
      v_name := recon.provider_load_table(v_kind, r.dealer_id, r.business_date, 0);
      execute format('insert into recon.%I select * from recon.%I where dealer_id = %L and business_date = %L',
                     v_name, v_old, r.dealer_id, r.business_date);
      perform recon.provider_load_finish(v_kind, v_name);
      perform recon.provider_swap_day(v_kind, r.dealer_id, r.business_date, v_name);
    end loop;
  end loop;
end $$;

drop table recon.provider_orders_0005;
drop table recon.provider_bills_0005;

-- Each day's 经纪公司打款 total per broker and channel, written when the day's bill file is
-- loaded: the balance check's 7-day average reads these few rows instead of 7 days of bill
-- rows. Derived figures, a few rows a day: kept when retention drops the day's rows.
create table recon.provider_day_payouts (
  dealer_id     text not null,
  business_date date not null,
  broker_id     text not null,
  channel       text not null,
  amount        numeric(18,2) not null,
  primary key (dealer_id, business_date, broker_id, channel)
);
insert into recon.provider_day_payouts (dealer_id, business_date, broker_id, channel, amount)
select dealer_id, business_date, broker_id, channel, sum(amount)
  from recon.provider_bills
 where bill_type = 'payout' and channel is not null and broker_id is not null
 group by dealer_id, business_date, broker_id, channel;
