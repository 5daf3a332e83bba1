-- The finance role: reads the findings and what the finance page shows, and acknowledges
-- findings, nothing else. Run once as the schema owner, after `yzh-recon migrate` (again after
-- an upgrade whose migrations add tables, so that the page can read them):
--
--   psql "$OWNER_DATABASE_URL" -f sql/roles/finance-role.sql
--   psql "$OWNER_DATABASE_URL" -c "alter role yzh_recon_finance password '...'"
--
-- Then finance runs `yzh-recon report` and `yzh-recon ack` with
-- DATABASE_URL=postgres://yzh_recon_finance:...@host/db. The job role (job-role.sql) cannot
-- write the ack_* columns; this role can write only those. It never runs migrations.
-- This file is not a migration: the migrator reads only sql/NNNN_*.sql.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'yzh_recon_finance') then
    create role yzh_recon_finance login;
  end if;
  execute format('grant connect on database %I to yzh_recon_finance', current_database());
end
$$;

revoke all on schema recon from yzh_recon_finance;
grant usage on schema recon to yzh_recon_finance;

-- Read everything the report and the page read: findings, runs, files, provider rows, the
-- ledger (table or view) and whatever later migrations add (the live answers among them).
revoke all on all tables in schema recon from yzh_recon_finance;
grant select on all tables in schema recon to yzh_recon_finance;

-- Acknowledge: the three ack columns of recon.discrepancies and nothing else. (`ack` locks the
-- rows it changes with SELECT … FOR UPDATE, which needs UPDATE on at least one column.)
grant update (ack_by, ack_note, ack_at) on recon.discrepancies to yzh_recon_finance;
