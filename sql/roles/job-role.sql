-- Least privilege for the scheduled job. Run once as the schema owner, after `yzh-recon
-- migrate` (again after an upgrade whose migrations add tables):
--
--   psql "$OWNER_DATABASE_URL" -f sql/roles/job-role.sql
--   psql "$OWNER_DATABASE_URL" -c "alter role yzh_recon_job password '...'"
--
-- Then give the CronJobs DATABASE_URL=postgres://yzh_recon_job:...@host/db, and the migrate
-- Job the owner's URL. The job role writes only what the engine owns in schema recon, reads
-- the ledger (table or view) and the fee rates, and cannot change either, nor any schema.
-- This file is not a migration: the migrator reads only sql/NNNN_*.sql.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'yzh_recon_job') then
    create role yzh_recon_job login;
  end if;
  execute format('grant connect, temporary on database %I to yzh_recon_job', current_database());
end
$$;

revoke all on schema recon from yzh_recon_job;
grant usage on schema recon to yzh_recon_job;

-- Inputs and bookkeeping: read only.
grant select on recon.ledger_payouts, recon.broker_fee_rates, recon.migrations to yzh_recon_job;

-- What the engine writes.
grant select, insert, update, delete
  on recon.runs, recon.provider_orders, recon.provider_bills
  to yzh_recon_job;
-- A file's record: written once; afterwards only its archive key (once, for a file recorded
-- before the archive existed) and the prune mark. Its sha256 is what `verify` and
-- `run --from-archive` check the archive against (sql/0008 refuses other changes from anyone).
revoke update, delete on recon.provider_files from yzh_recon_job;
grant select, insert on recon.provider_files to yzh_recon_job;
grant update (archive_key, archive_pruned_at) on recon.provider_files to yzh_recon_job;
-- Provider rows are loaded into a table per day and swapped in by these functions, which do
-- the DDL as the schema owner (sql/0006); the tables they create are granted to the caller.
grant select on recon.provider_row_tables, recon.provider_days to yzh_recon_job;
grant select, insert, delete on recon.provider_day_payouts to yzh_recon_job;
grant execute on function recon.provider_dealer_table(text, text), recon.provider_load_table(text, text, date, bigint),
  recon.provider_load_finish(text, text), recon.provider_swap_day(text, text, date, text), recon.provider_drop_days(text, date),
  recon.provider_drop_load_tables(text, text), recon.provider_load_analyze(text), recon.provider_load_index(text, text)
  to yzh_recon_job;
-- The live answers and balance snapshots: written once, never changed.
grant select, insert on recon.provider_order_checks, recon.balance_snapshots to yzh_recon_job;
-- Discrepancies: never the ack_* columns, which belong to finance; the database enforces it.
grant select on recon.discrepancies to yzh_recon_job;
grant insert (dealer_id, business_date, kind, severity, order_id, provider_ref, ledger_amount, provider_amount,
              details, first_seen_run_id, last_seen_run_id)
  on recon.discrepancies to yzh_recon_job;
-- business_date: an order's finding moves with the order's home day (a late earlier file).
grant update (business_date, severity, provider_ref, ledger_amount, provider_amount, details, status,
              last_seen_run_id, resolved_run_id, resolved_at)
  on recon.discrepancies to yzh_recon_job;
-- The findings each run wrote, for its audit link: appended, never changed (the table's
-- trigger refuses updates and deletes from anyone).
grant select, insert on recon.run_findings to yzh_recon_job;
grant usage, select on all sequences in schema recon to yzh_recon_job;

-- The finance views.
grant select on recon.open_discrepancies, recon.daily_summary to yzh_recon_job;
