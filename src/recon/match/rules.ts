/**
 * One rule per discrepancy kind (CONTRACT.md section 4), each an INSERT into recon_findings
 * over the temp tables of match-state.ts. A finding belongs to the order's day: the first
 * order file that has it, else the ledger's creation day, else the first bill file.
 * Money in `details` is always text (`::text`): a JSON number would be read as a float.
 */

const PAID = `('paid', 'paid_pending_claim')`;

/**
 * When each kind applies to an order, over recon_match's columns and recon_params (`p`).
 * The same conditions decide which orders recon_match keeps at all (CANDIDATE_FILTER), so a
 * rule can never miss an order the filter dropped.
 */
export const CONDITIONS: Readonly<Record<string, string>> = {
  missing_in_ledger: `at_provider and not in_ledger`,
  missing_at_provider: `in_ledger and not at_provider and ledger_status in ('submitted', 'paid', 'refunded')`,
  amount_mismatch: `at_provider and in_ledger and refs <= 1 and provider_amount <> ledger_amount`,
  status_mismatch: `at_provider and in_ledger
       and (   (provider_status in ${PAID} and ledger_status in ('failed', 'cancelled', 'refunded'))
            or (provider_status in ('failed', 'deleted') and ledger_status = 'paid')
            or (provider_status in ('paid', 'paid_pending_claim', 'failed', 'deleted') and ledger_status = 'submitted'))`,
  refund_unrecorded: `provider_status = 'returned' and in_ledger and ledger_status <> 'refunded'`,
  duplicate_provider_order: `refs >= 2`,
  fee_mismatch: `at_provider and latest_status in ${PAID} and rate is not null and fee is distinct from expected_fee`,
  bill_without_order: `not at_provider and payout_rows > 0`,
  // The usual order (one 订单流水号 on the order and on its bills) compares sums per order;
  // with two or more on either side, the rule compares each order row with its own bills.
  bill_amount_mismatch: `at_provider and payout_rows > 0
       and (not bills_single_ref
            or (bills_single_ref and latest_status <> 'returned' and (bill_amount <> provider_amount or bill_fee <> coalesce(fee, 0))))`,
  order_without_bill: `at_provider and latest_status in ${PAID} and payout_rows = 0`,
  stale_pending_claim: `provider_status = 'paid_pending_claim' and finished_at < p.as_of - interval '48 hours'`,
  unresolved_provider_status: `at_provider and provider_status = 'unresolved'`,
};

/**
 * An order paid once, on both sides, for the same amount, with its bills: no condition above
 * can hold for it (each fails on one of these terms), so the filter drops it without
 * evaluating them. That is most orders of a day; the conditions are far dearer.
 */
const SETTLED = `at_provider and in_ledger and refs = 1 and provider_status = 'paid' and ledger_status = 'paid'
       and provider_amount = ledger_amount and payout_rows > 0 and bills_single_ref
       and bill_amount = provider_amount and bill_fee = coalesce(fee, 0) and (rate is null or fee = expected_fee)`;

export const CANDIDATE_FILTER = `not coalesce((${SETTLED}), false)
       and (${Object.values(CONDITIONS).map((c) => `coalesce((${c}), false)`).join('\n         or ')})`;

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
    select coalesce(m.home_date, m.bill_date), 'refund_unrecorded', 'critical', m.order_id, m.provider_ref, m.ledger_amount, m.provider_amount,
           jsonb_build_object('ledger_status', m.ledger_status,
             'returns', (select jsonb_agg(jsonb_build_object('bill_ref', b.bill_ref, 'type', b.bill_type, 'amount', b.amount::text, 'business_date', b.business_date)
                                          order by b.business_date, b.line)
                           from recon_bills b
                          where b.dealer_id = p.dealer_id and b.order_id = m.order_id and b.bill_type in ('return', 'return_fee')))
      from recon_match m cross join recon_params p
     where ${CONDITIONS.refund_unrecorded}`,

  duplicate_provider_order: `
    insert into recon_findings
    with payouts as (
      -- The few orders with two or more payouts, their rows read again (one per 订单流水号),
      -- each order looked up by id.
      select m.order_id, o.provider_ref, o.amount, o.status, o.business_date, o.line
        from recon_match m
        cross join lateral (
          select distinct on (o.provider_ref) o.provider_ref, o.amount, o.status, o.business_date, o.line
            from recon_orders o
           where o.order_id = m.order_id and o.status <> 'returned'
           order by o.provider_ref, o.business_date desc, o.line desc
        ) o
       where ${CONDITIONS.duplicate_provider_order}
    )
    select m.home_date, 'duplicate_provider_order', 'critical', m.order_id,
           string_agg(o.provider_ref, ',' order by o.business_date, o.line), m.ledger_amount, sum(o.amount),
           jsonb_build_object('payouts', jsonb_agg(jsonb_build_object(
             'provider_ref', o.provider_ref, 'amount', o.amount::text, 'status', o.status,
             'business_date', o.business_date, 'line', o.line) order by o.business_date, o.line))
      from recon_match m
      join payouts o on o.order_id = m.order_id
     group by m.home_date, m.order_id, m.ledger_amount`,

  fee_mismatch: `
    insert into recon_findings
    select home_date, 'fee_mismatch', 'warning', order_id, provider_ref, ledger_amount, provider_amount,
           jsonb_build_object('fee', fee::text, 'expected_fee', expected_fee::text, 'rate', rate::text)
      from recon_match cross join recon_params p
     where ${CONDITIONS.fee_mismatch}`,

  bill_without_order: `
    insert into recon_findings
    select bill_date, 'bill_without_order', 'critical', order_id, first_payout_ref, ledger_amount, bill_amount,
           jsonb_build_object('payout_rows', payout_rows)
      from recon_match cross join recon_params p
     where ${CONDITIONS.bill_without_order}`,

  bill_amount_mismatch: `
    insert into recon_findings
    select home_date, 'bill_amount_mismatch', 'critical', order_id, provider_ref, ledger_amount, provider_amount,
           jsonb_build_object('payouts', jsonb_build_array(jsonb_build_object(
             'provider_ref', provider_ref, 'amount', provider_amount::text, 'fee', fee::text,
             'bill_amount', bill_amount::text, 'bill_fee', bill_fee::text)))
      from recon_match cross join recon_params p
     where ${CONDITIONS.bill_amount_mismatch} and bills_single_ref
    union all
    -- Two or more 订单流水号 on either side: each order row against the bills of its own.
    select m.home_date, 'bill_amount_mismatch', 'critical', m.order_id, min(o.provider_ref), m.ledger_amount, sum(o.amount),
           jsonb_build_object('payouts', jsonb_agg(jsonb_build_object(
             'provider_ref', o.provider_ref, 'amount', o.amount::text, 'fee', o.fee::text,
             'bill_amount', b.payout_amount::text, 'bill_fee', b.fee_amount::text) order by o.provider_ref))
      from recon_match m
      cross join recon_params p
      join lateral (
        select distinct on (o.provider_ref) o.provider_ref, o.amount, o.fee
          from recon_orders o
         where o.dealer_id = p.dealer_id and o.order_id = m.order_id and o.status <> 'returned'
         order by o.provider_ref, o.business_date desc, o.line desc
      ) o on true
      join lateral (
        select sum(b.amount) filter (where b.bill_type = 'payout') as payout_amount,
               coalesce(sum(b.amount) filter (where b.bill_type = 'payout_fee'), 0) as fee_amount,
               count(*) filter (where b.bill_type = 'payout') as payout_rows
          from recon_bills b
         where b.dealer_id = p.dealer_id and b.order_id = m.order_id and b.provider_ref = o.provider_ref
      ) b on b.payout_rows > 0
     -- (the condition spelled out: the lateral rows have columns of the same names)
     where m.at_provider and m.payout_rows > 0 and not m.bills_single_ref
       and (b.payout_amount <> o.amount or b.fee_amount <> coalesce(o.fee, 0))
     group by m.home_date, m.order_id, m.ledger_amount`,

  order_without_bill: `
    insert into recon_findings
    select home_date, 'order_without_bill', 'warning', order_id, provider_ref, ledger_amount, provider_amount,
           jsonb_build_object('provider_status', latest_status)
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
