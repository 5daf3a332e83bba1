-- A load table (migration 0006) carries its dealer and day as column defaults, beside the
-- CHECK constraint that bounds them: the server's typed COPY then leaves both columns out of
-- every record (about 17 bytes a row that Postgres no longer reads, 51 MB on a day of a
-- million orders). The function is replaced in place, so its grants stay as they are.
create or replace function recon.provider_load_table(p_kind text, p_dealer text, p_day date, p_run bigint) returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_dealer_table text := recon.provider_dealer_table(p_kind, p_dealer);
  v_name text := v_dealer_table || '_' || to_char(p_day, 'YYYYMMDD') || '_load' || p_run;
begin
  execute format('create table recon.%I (like recon.%I including defaults including constraints)', v_name, recon.provider_parent(p_kind));
  execute format('alter table recon.%I add constraint %I check (dealer_id = %L and business_date >= %L and business_date < %L)',
                 v_name, v_name || '_bound', p_dealer, p_day, p_day + 1);
  execute format('alter table recon.%I alter column dealer_id set default %L, alter column business_date set default %L',
                 v_name, p_dealer, p_day);
  execute format('grant select, insert on recon.%I to %I', v_name, session_user);
  return v_name;
end $$;
