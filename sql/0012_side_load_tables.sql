-- On a Postgres server a run loads its two files at once, the bill file on a second
-- connection (src/recon/load/ingest.ts). That connection's load table must be visible to the
-- run's transaction, so it is created and filled in transactions of its own, committed; the
-- run's transaction attaches it (provider_swap_day) as it does its own. A run that fails
-- drops it with this function; one that dies leaves it, and the dealer's next run drops it
-- (under the dealer's run lock no other run of the dealer has a load table in use).
-- Only a load table (…_load<run id>) of the dealer that is not a partition is dropped.
create function recon.provider_drop_load_tables(p_dealer text, p_name text default null)
returns setof text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  r record;
begin
  for r in select c.relname::text as name
             from recon.provider_row_tables t
             join pg_class c on c.relnamespace = 'recon'::regnamespace and c.relkind = 'r'
                            and c.relname::text ~ ('^' || t.table_name || '_[0-9]{8}_load[0-9]+$')
            where t.dealer_id = p_dealer
              and (p_name is null or c.relname::text = p_name)
              and not exists (select 1 from pg_inherits i where i.inhrelid = c.oid)
            order by 1 loop
    execute format('drop table recon.%I', r.name);
    return next r.name;
  end loop;
end $$;

revoke execute on function recon.provider_drop_load_tables(text, text) from public;
