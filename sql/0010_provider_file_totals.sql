-- A file's totals as the finance page shows them (orders, amounts, paid, returned, fees; see
-- src/recon/load/file-totals.ts), recorded when the file is loaded: once retention has dropped
-- the day's provider rows, the page of that day still shows what its files held, not zeros.
-- Amounts are numeric text inside the JSON, never JSON numbers. Files loaded before this
-- migration get theirs from their rows just before retention drops them.
alter table recon.provider_files add column totals jsonb;
