/**
 * One rule per discrepancy kind (docs/contract.md section 4), each an INSERT into recon_findings
 * over the temp tables of match-state.ts. A finding belongs to the order's day: the first
 * order file that has it, else the ledger's creation day, else the first bill file.
 * Money in `details` is always text (`::text`): a JSON number would be read as a float.
 */

/** The provider statuses that mean paid (a pending claim included), as an SQL list. */
export const PAID = `('paid', 'paid_pending_claim')`;

/**
 * When each kind applies to an order, over recon_match's columns and recon_params (`p`).
 * The same conditions decide which orders recon_match keeps at all (CANDIDATE_FILTER), so a
 * rule can never miss an order the filter dropped.
 */
export const CONDITIONS: Readonly<Record<string, string>> = {
  missing_in_ledger: `at_provider and not in_ledger`,
  missing_at_provider: `in_ledger and not at_provider and ledger_status in ('submitted', 'paid', 'refunded') and not pruned_home`,
  // Beside a duplicate the amount is the paid refs' sum: the duplicate says it all.
  amount_mismatch: `at_provider and in_ledger and paid_refs <= 1 and provider_amount <> ledger_amount`,
  // Failed or deleted means no ref was paid: on an order whose home day was pruned, that asks
  // whether a paid row is absent, which a pruned day cannot answer.
  status_mismatch: `at_provider and in_ledger
       and (   (provider_status in ${PAID} and ledger_status in ('failed', 'cancelled', 'refunded', 'submitted'))
            or (provider_status in ('failed', 'deleted') and ledger_status in ('paid', 'submitted') and not pruned_home))`,
  refund_unrecorded: `provider_status = 'returned' and in_ledger and ledger_status <> 'refunded'`,
  duplicate_provider_order: `paid_refs >= 2 and not pruned_home`,
  // Per paid ref, only where an order file gave the row (an order known from a live answer
  // alone has no fee to judge): match-state.ts's fee_bad.
  fee_mismatch: `at_provider and provider_status in ${PAID} and fee_bad`,
  // A 经纪公司退汇 row counts too when the order is not in the ledger either.
  bill_without_order: `not at_provider and not pruned_home and (payout_rows > 0 or (bill_returned and not in_ledger))`,
  // Per 订单流水号 (match-state.ts: bill_bad): each ref's payouts and fees against its own
  // amount and fee, and no payout under a ref the order does not have.
  bill_amount_mismatch: `at_provider and bill_bad and not pruned_home`,
  order_without_bill: `at_provider and provider_status in ${PAID} and payout_rows = 0 and not pruned_home`,
  stale_pending_claim: `provider_status = 'paid_pending_claim' and finished_at < p.as_of - interval '48 hours'`,
  unresolved_provider_status: `at_provider and provider_status = 'unresolved'`,
};

/**
 * An order paid once, on both sides, for the same amount, with its bills: no condition above
 * can hold for it (each fails on one of these terms), so the filter drops it without
 * evaluating them. That is most orders of a day; the conditions are far dearer.
 */
const SETTLED = `at_provider and in_ledger and paid_refs = 1 and provider_status = 'paid' and ledger_status = 'paid'
       and provider_amount = ledger_amount and payout_rows > 0 and not bill_bad
       and not fee_bad`;

/**
 * The candidates: orders for which some condition holds, and those still to be judged per ref
 * (`needs_refs`, see match-state.ts), kept whatever the conditions say of their provisional row.
 */
export const CANDIDATE_FILTER = `coalesce(needs_refs, false) or (not coalesce((${SETTLED}), false)
       and (${Object.values(CONDITIONS).map((c) => `coalesce((${c}), false)`).join('\n         or ')}))`;

export const RULES: Readonly<Record<string, string>> = {
  missing_in_ledger: `
    insert into recon_findings
    select home_date, 'missing_in_ledger',
           case when provider_status in ${PAID} then 'critical' else 'warning' end,
           order_id, provider_ref, null, provider_amount,
           jsonb_build_object('provider_status', provider_status, 'status_text', status_text)
      from recon_match cross join recon_params p
     where ${CONDITIONS.missing_in_ledger}`,

  missing_at_provider: `
    insert into recon_findings
    select m.ledger_date, 'missing_at_provider',
           case when cutoff then 'info' when m.ledger_status = 'paid' then 'critical' else 'warning' end,
           m.order_id, null, m.ledger_amount, null,
           jsonb_build_object('ledger_status', m.ledger_status, 'ledger_created_at', m.ledger_created_at)
             || case when cutoff then jsonb_build_object('reason', 'cutoff') else '{}'::jsonb end
      from recon_match m
      cross join recon_params p
      cross join lateral (
        -- Submitted in the last 10 minutes of its day: the provider may have received it after
        -- midnight, so it belongs to the next day's file, which is not in yet.
        select m.ledger_created_at >= (m.ledger_date + 1)::timestamp at time zone 'Asia/Shanghai' - interval '10 minutes'
               and not exists (select 1 from recon.provider_files f
                                where f.dealer_id = p.dealer_id and f.kind = 'order' and f.business_date = m.ledger_date + 1)
               as cutoff
      ) c
     where ${CONDITIONS.missing_at_provider}`,

  amount_mismatch: `
    insert into recon_findings
    select home_date, 'amount_mismatch', 'critical', order_id, provider_ref, ledger_amount, provider_amount,
           jsonb_build_object('difference', (provider_amount - ledger_amount)::text)
      from recon_match cross join recon_params p
     where ${CONDITIONS.amount_mismatch}`,

  status_mismatch: `
    insert into recon_findings
    select home_date, 'status_mismatch',
           case when ledger_status = 'submitted' then 'warning' else 'critical' end,
           order_id, provider_ref, ledger_amount, provider_amount,
           jsonb_build_object('provider_status', provider_status, 'status_text', status_text, 'ledger_status', ledger_status)
      from recon_match cross join recon_params p
     where ${CONDITIONS.status_mismatch}`,

  refund_unrecorded: `
    insert into recon_findings
    select m.home_date, 'refund_unrecorded', 'critical', m.order_id, m.provider_ref, m.ledger_amount, m.provider_amount,
           jsonb_build_object('ledger_status', m.ledger_status,
             'returns', (select jsonb_agg(jsonb_build_object('bill_ref', b.bill_ref, 'type', b.bill_type, 'amount', b.amount::text, 'business_date', b.business_date)
                                          order by b.business_date, b.line)
                           from recon_bills b
                          where b.dealer_id = p.dealer_id and b.order_id = m.order_id and b.bill_type in ('return', 'return_fee')))
      from recon_match m cross join recon_params p
     where ${CONDITIONS.refund_unrecorded}`,

  duplicate_provider_order: `
    insert into recon_findings
    select home_date, 'duplicate_provider_order', 'critical', order_id, provider_ref, ledger_amount, provider_amount,
           jsonb_build_object('payouts', payouts)
      from recon_match cross join recon_params p
     where ${CONDITIONS.duplicate_provider_order}`,

  fee_mismatch: `
    insert into recon_findings
    select home_date, 'fee_mismatch', 'warning', order_id, provider_ref, ledger_amount, provider_amount,
           jsonb_build_object('fee', fee::text, 'expected_fee', expected_fee::text, 'rate', rate::text)
      from recon_match cross join recon_params p
     where ${CONDITIONS.fee_mismatch}`,

  bill_without_order: `
    insert into recon_findings
    select home_date, 'bill_without_order', 'critical', order_id, first_payout_ref, ledger_amount, bill_amount,
           jsonb_build_object('payout_rows', payout_rows, 'returned', bill_returned)
      from recon_match cross join recon_params p
     where ${CONDITIONS.bill_without_order}`,

  bill_amount_mismatch: `
    insert into recon_findings
    select home_date, 'bill_amount_mismatch', 'critical', order_id, provider_ref, ledger_amount, provider_amount,
           jsonb_build_object('payouts', coalesce(bill_details, jsonb_build_array(jsonb_build_object(
             'provider_ref', provider_ref, 'amount', provider_amount::text, 'fee', fee::text,
             'bill_amount', bill_amount::text, 'bill_fee', bill_fee::text))))
      from recon_match cross join recon_params p
     where ${CONDITIONS.bill_amount_mismatch}`,

  order_without_bill: `
    insert into recon_findings
    select home_date, 'order_without_bill', 'warning', order_id, provider_ref, ledger_amount, provider_amount,
           jsonb_build_object('provider_status', provider_status)
      from recon_match cross join recon_params p
     where ${CONDITIONS.order_without_bill}`,

  stale_pending_claim: `
    insert into recon_findings
    select home_date, 'stale_pending_claim', 'warning', order_id, provider_ref, ledger_amount, provider_amount,
           jsonb_build_object('finished_at', finished_at, 'as_of', p.as_of)
      from recon_match cross join recon_params p
     where ${CONDITIONS.stale_pending_claim}`,

  unresolved_provider_status: `
    insert into recon_findings
    select home_date, 'unresolved_provider_status', 'warning', order_id, provider_ref, ledger_amount, provider_amount,
           jsonb_build_object('status_text', status_text, 'ledger_status', ledger_status)
      from recon_match cross join recon_params p
     where ${CONDITIONS.unresolved_provider_status}`,
};

/**
 * After the rules: each finding of an order the provider was asked about carries the newest
 * live answer (recon_live) in `details.live`, whether or not a later file superseded it
 * (`newer_than_files`). Only what the provider said, not when or under which request id (those
 * are in recon.provider_order_checks and the open_discrepancies view), so that a re-run that
 * gets the same answer leaves the finding as it was.
 */
export const LIVE_DETAILS_SQL = `
  update recon_findings f
     set details = f.details || jsonb_build_object('live', jsonb_strip_nulls(jsonb_build_object(
           'code', v.code, 'state', v.state, 'status', v.status, 'status_detail', v.status_detail,
           'status_message', v.status_message, 'amount', v.amount::text, 'finished_at', v.finished_at,
           'newer_than_files', v.newest)))
    from recon_live v
   where v.order_id = f.order_id`;
