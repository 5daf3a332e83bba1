-- What a run recorded about its files stays as recorded.
--
-- `verify` and `run --from-archive` trust a file's sha256 only where the run that ingested it
-- recorded the same one (recon.runs.order_file_sha256 / bill_file_sha256, which its audit link
-- covers). These triggers keep anyone who is not the schema owner with triggers off (the job
-- role above all) from changing it afterwards:
--
-- recon.provider_files: dealer_id, business_date, kind, sha256, bytes and run_id never change;
--   archive_key is set once (a file recorded before the archive existed learns its key) and
--   never changes after. archive_pruned_at stays writable: `prune` sets it, and `verify` judges
--   every mark against YZH_ARCHIVE_RETAIN_DAYS (a day the retention still keeps must have its
--   object), since a mark written by the job is one the job could forge.
-- recon.runs: order_file_sha256, bill_file_sha256 and the audit columns are set once (when the
--   run succeeds) and never change after.
--
-- sql/roles/job-role.sql also narrows the job's update on recon.provider_files to those two
-- columns, and takes away its delete.

create function recon.provider_files_recorded() returns trigger language plpgsql as $$
begin
  if new.dealer_id is distinct from old.dealer_id or new.business_date is distinct from old.business_date
     or new.kind is distinct from old.kind or new.sha256 is distinct from old.sha256
     or new.bytes is distinct from old.bytes or new.run_id is distinct from old.run_id
     or (old.archive_key is not null and new.archive_key is distinct from old.archive_key) then
    raise exception 'recon.provider_files: the % file % of dealer % (ingested by run %): a recorded sha256, size, day, run or archive key is never changed',
      old.kind, old.business_date, old.dealer_id, old.run_id
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end
$$;
create trigger provider_files_recorded before update on recon.provider_files
  for each row execute function recon.provider_files_recorded();

create function recon.runs_recorded() returns trigger language plpgsql as $$
begin
  if (old.order_file_sha256 is not null and new.order_file_sha256 is distinct from old.order_file_sha256)
     or (old.bill_file_sha256 is not null and new.bill_file_sha256 is distinct from old.bill_file_sha256)
     or (old.audit_previous_run_id is not null and new.audit_previous_run_id is distinct from old.audit_previous_run_id)
     or (old.audit_seq is not null and new.audit_seq is distinct from old.audit_seq)
     or (old.audit_findings_digest is not null and new.audit_findings_digest is distinct from old.audit_findings_digest)
     or (old.audit_hash is not null and new.audit_hash is distinct from old.audit_hash) then
    raise exception 'recon.runs: run % (dealer %, business date %): a recorded file sha256 or audit link is never changed',
      old.id, old.dealer_id, old.business_date
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end
$$;
create trigger runs_recorded before update on recon.runs
  for each row execute function recon.runs_recorded();
