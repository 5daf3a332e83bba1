-- On a Postgres server the bill file's table is analyzed and committed by the run's second
-- connection as soon as its rows are in, and indexed afterwards on that connection while the
-- run's transaction matches on it (src/recon/load/ingest.ts); the run waits for the index
-- before it reads the table by id. provider_load_finish still does both, for the other loads.
create function recon.provider_load_analyze(p_name text) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if to_regclass(format('recon.%I', p_name)) is null or p_name !~ '_load[0-9]+$' then
    raise exception 'not a load table: %', p_name;
  end if;
  execute format('analyze recon.%I', p_name);
end $$;

create function recon.provider_load_index(p_kind text, p_name text) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if to_regclass(format('recon.%I', p_name)) is null or p_name !~ '_load[0-9]+$' then
    raise exception 'not a load table: %', p_name;
  end if;
  if p_kind = 'order' then
    execute format('create index %I on recon.%I (order_id) include (dealer_id, business_date)', p_name || '_order', p_name);
    execute format('create index %I on recon.%I (order_id) where status = %L', p_name || '_pending', p_name, 'paid_pending_claim');
  else
    execute format('create index %I on recon.%I (order_id)', p_name || '_order', p_name);
  end if;
end $$;

create or replace function recon.provider_load_finish(p_kind text, p_name text) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform recon.provider_load_index(p_kind, p_name);
  perform recon.provider_load_analyze(p_name);
end $$;

revoke execute on function recon.provider_load_analyze(text) from public;
revoke execute on function recon.provider_load_index(text, text) from public;
