-- recon.provider_days found each dealer's parent table by joining pg_class on its name. The
-- planner, whose estimate for the schema's relations in pg_class is often one row (the catalog
-- is analyzed long after a run creates and drops its tables), joined every relation of the
-- schema against every dealer's table name in a nested loop: 6.6 s for one dealer's days in a
-- database of three thousand dealers (a model test's), run after every run by the prune. Each
-- parent is now looked up by name (to_regclass), so the view's cost grows with the days kept.
create or replace view recon.provider_days as
select t.kind, t.dealer_id, to_date(right(c.relname, 8), 'YYYYMMDD') as business_date, c.relname::text as table_name,
       greatest(c.reltuples, 0)::bigint as estimated_rows
  from recon.provider_row_tables t
  join pg_inherits i on i.inhparent = to_regclass(format('recon.%I', t.table_name))
  join pg_class c on c.oid = i.inhrelid;
