-- A finding that comes back opens a new row that shows the latest acknowledged resolved row of
-- the same finding (src/recon/lifecycle/discrepancies.ts, PREVIOUS). Each new finding looks one
-- up; this index holds only the acknowledged resolved rows, so the look-up stays small however
-- many resolved rows a dealer gathers.
create index discrepancies_acked_resolved
  on recon.discrepancies (dealer_id, kind, (coalesce(order_id, '')))
  where status = 'resolved' and (ack_by is not null or ack_note is not null);
