-- A run matches each finding it makes with the open row of the same finding
-- (src/recon/lifecycle/discrepancies.ts, SAME_KEY): same dealer, kind and order, or for a
-- file-level finding (no order) the same day or reference. With only the order id to go by
-- (discrepancies_open_orders) and a file-level finding to allow for, the planner scanned the
-- dealer's open rows once per finding: at a few thousand new findings against tens of
-- thousands open, a statement took a minute. This index answers both in one lookup: a file-level
-- finding's key is the empty order id.
create index discrepancies_open_key
  on recon.discrepancies (dealer_id, kind, (coalesce(order_id, '')))
  where status = 'open';
