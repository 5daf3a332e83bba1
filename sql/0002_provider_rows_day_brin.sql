-- A day's provider rows are found by a BRIN index on business_date rather than a B-tree on
-- (dealer_id, business_date). A day's rows are appended together by one COPY, so the block
-- ranges find them all the same; the B-tree took an index entry per row, about 3.5 s of the
-- 16 s Postgres spent taking in a day of 1,000,000 orders and 2,000,000 bill rows. Blocks
-- appended since the last summary are always read, so a run sees the rows it just loaded.
drop index recon.provider_orders_day;
create index provider_orders_day on recon.provider_orders using brin (business_date) with (autosummarize = on);
drop index recon.provider_bills_day;
create index provider_bills_day on recon.provider_bills using brin (business_date) with (autosummarize = on);
