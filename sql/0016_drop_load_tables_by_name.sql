-- recon.provider_drop_load_tables matched every table of the schema against the dealer's name
-- pattern: a scan of all of pg_class's rows in the schema, at the start of every run on a
-- server (0.6 s in a database of three thousand dealers, as the long model test's). The
-- dealer's load tables are the names that begin with its tables' names and an underscore: a
-- range of pg_class's name index, then the same pattern.
create or replace function recon.provider_drop_load_tables(p_dealer text, p_name text default null)
returns setof text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  r record;
begin
  for r in select c.relname::text as name
             from recon.provider_row_tables t
             join pg_class c on c.relnamespace = 'recon'::regnamespace and c.relkind = 'r'
                            -- '`' is the character after '_': the range holds every name that begins with t.table_name || '_'.
                            and c.relname >= (t.table_name || '_')::name and c.relname < (t.table_name || '`')::name
                            and c.relname::text ~ ('^' || t.table_name || '_[0-9]{8}_load[0-9]+$')
            where t.dealer_id = p_dealer
              and (p_name is null or c.relname::text = p_name)
              and not exists (select 1 from pg_inherits i where i.inhrelid = c.oid)
            order by 1 loop
    execute format('drop table recon.%I', r.name);
    return next r.name;
  end loop;
end $$;
