-- Indexes of the provider rows, cheaper to keep up on million-row days.
--
-- A day's rows are found by a BRIN index on business_date rather than a B-tree on
-- (dealer_id, business_date), which took an entry per row. A day is appended by one COPY, so
-- its block ranges find it all the same; blocks appended since the last summary are always
-- read, so a run sees the rows it just loaded.
--
-- Rows of an order are found by a B-tree on order_id alone. With dealer_id in front, Postgres
-- read a day's rows through it (every entry of the dealer, all days, then filtered by day),
-- which grew with the history kept; order ids rarely repeat across dealers, and the dealer
-- is checked on the rows found.
drop index recon.provider_orders_day;
drop index recon.provider_orders_order;
create index provider_orders_day on recon.provider_orders using brin (business_date) with (autosummarize = on);
create index provider_orders_order on recon.provider_orders (order_id);
drop index recon.provider_bills_day;
drop index recon.provider_bills_order;
create index provider_bills_day on recon.provider_bills using brin (business_date) with (autosummarize = on);
create index provider_bills_order on recon.provider_bills (order_id);

-- A day appends about 1% of a table that keeps three months; autovacuum's default (re-analyze
-- after 10% of the rows change) would leave the planner's statistics days behind, and with
-- them its choice between a scan and an index for the rules' per-order lookups.
alter table recon.provider_orders set (autovacuum_analyze_scale_factor = 0.01);
alter table recon.provider_bills set (autovacuum_analyze_scale_factor = 0.01);
