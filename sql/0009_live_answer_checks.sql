-- The live follow-up reads the provider's answers as untrusted input (CONTRACT.md section 6,
-- "Live answers"). Each check row keeps the order id the answer was about, as given (an answer
-- about another order is no evidence), and, for an answer that is no evidence because it cannot
-- be read (another order's, another dealer's, a status outside the document's appendices, an
-- answer over 1 MiB, not the provider's JSON), why not. Such rows have state null, as rows of
-- codes that say nothing about the order always had: the rules ignore them.
alter table recon.provider_order_checks
  add column answered_order_id text,
  add column problem text;
