-- The raw-file archive and the runs' audit chain.

-- Where each ingested file is kept, verbatim: its key under YZH_ARCHIVE_DIR,
-- <dealer>/<business date>/<kind>/<sha256>.csv.gz. Null for files ingested before the archive
-- existed. archive_pruned_at is set when `prune` removed the object (YZH_ARCHIVE_RETAIN_DAYS),
-- so that `verify` tells a pruned object from a missing one.
alter table recon.provider_files add column archive_key text;
alter table recon.provider_files add column archive_pruned_at timestamptz;

-- Each succeeded run's link in its dealer's audit chain (null for runs before this migration,
-- and for runs that failed: they wrote nothing):
--   audit_previous_run_id  the dealer's run whose link came before (null for the first);
--   audit_seq              the link's position in the dealer's chain, from 1;
--   audit_findings_digest  sha256 over the run's rows in recon.run_findings;
--   audit_hash             sha256 over the previous run's audit_hash, this run's row (id, dealer,
--                          day, trigger, status, both files' sha256 and row counts, its
--                          position) and
--                          audit_findings_digest. src/recon/run/audit.ts gives the exact bytes.
alter table recon.runs add column audit_previous_run_id bigint references recon.runs (id);
alter table recon.runs add column audit_seq bigint;
alter table recon.runs add column audit_findings_digest text;
alter table recon.runs add column audit_hash text;
-- One successor per link: a second run claiming the same predecessor is a fork.
create unique index runs_audit_previous on recon.runs (audit_previous_run_id);
create unique index runs_audit_seq on recon.runs (dealer_id, audit_seq);

-- The findings each run wrote, as it left them: one row per discrepancy that the run opened,
-- saw again (last_seen_run_id) or resolved. Append-only: later runs change
-- recon.discrepancies, never these rows, so a run's findings digest can be recomputed at any
-- time. Finance's ack_* columns and details are not part of it.
create table recon.run_findings (
  run_id          bigint not null references recon.runs (id),
  discrepancy_id  bigint not null references recon.discrepancies (id),
  action          text not null check (action in ('opened', 'seen', 'resolved')),
  dealer_id       text not null,
  business_date   date not null,
  kind            text not null,
  order_id        text,
  severity        text not null,
  ledger_amount   numeric(16,2),
  provider_amount numeric(16,2),
  status          text not null,
  primary key (run_id, discrepancy_id)
);
create index run_findings_discrepancy on recon.run_findings (discrepancy_id, run_id);

create function recon.run_findings_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'recon.run_findings is append-only (the runs'' audit chain is computed from it)'
    using errcode = 'insufficient_privilege';
end
$$;
create trigger run_findings_append_only before update or delete on recon.run_findings
  for each statement execute function recon.run_findings_append_only();
