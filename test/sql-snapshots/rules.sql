-- Rule: missing_in_ledger

insert into recon_findings
select home_date, 'missing_in_ledger',
       case when provider_status in ('paid', 'paid_pending_claim') then 'critical' else 'warning' end,
       order_id, provider_ref, null, provider_amount,
       jsonb_build_object('provider_status', provider_status, 'status_text', status_text)
  from recon_match cross join recon_params p
 where at_provider and not in_ledger;

-- Rule: missing_at_provider

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
 where in_ledger and not at_provider and ledger_status in ('submitted', 'paid', 'refunded') and not pruned_home;

-- Rule: amount_mismatch

insert into recon_findings
select home_date, 'amount_mismatch', 'critical', order_id, provider_ref, ledger_amount, provider_amount,
       jsonb_build_object('difference', (provider_amount - ledger_amount)::text)
  from recon_match cross join recon_params p
 where at_provider and in_ledger and paid_refs <= 1 and provider_amount <> ledger_amount;

-- Rule: status_mismatch

insert into recon_findings
select home_date, 'status_mismatch',
       case when ledger_status = 'submitted' then 'warning' else 'critical' end,
       order_id, provider_ref, ledger_amount, provider_amount,
       jsonb_build_object('provider_status', provider_status, 'status_text', status_text, 'ledger_status', ledger_status)
  from recon_match cross join recon_params p
 where at_provider and in_ledger
   and (   (provider_status in ('paid', 'paid_pending_claim') and ledger_status in ('failed', 'cancelled', 'refunded', 'submitted'))
        or (provider_status in ('failed', 'deleted') and ledger_status in ('paid', 'submitted') and not pruned_home));

-- Rule: refund_unrecorded

insert into recon_findings
select m.home_date, 'refund_unrecorded', 'critical', m.order_id, m.provider_ref, m.ledger_amount, m.provider_amount,
       jsonb_build_object('ledger_status', m.ledger_status,
         'returns', (select jsonb_agg(jsonb_build_object('bill_ref', b.bill_ref, 'type', b.bill_type, 'amount', b.amount::text, 'business_date', b.business_date)
                                      order by b.business_date, b.line)
                       from recon_bills b
                      where b.dealer_id = p.dealer_id and b.order_id = m.order_id and b.bill_type in ('return', 'return_fee')))
  from recon_match m cross join recon_params p
 where provider_status = 'returned' and in_ledger and ledger_status <> 'refunded';

-- Rule: duplicate_provider_order

insert into recon_findings
select home_date, 'duplicate_provider_order', 'critical', order_id, provider_ref, ledger_amount, provider_amount,
       jsonb_build_object('payouts', payouts)
  from recon_match cross join recon_params p
 where paid_refs >= 2 and not pruned_home;

-- Rule: fee_mismatch

insert into recon_findings
select home_date, 'fee_mismatch', 'warning', order_id, provider_ref, ledger_amount, provider_amount,
       jsonb_build_object('fee', fee::text, 'expected_fee', expected_fee::text, 'rate', rate::text)
  from recon_match cross join recon_params p
 where at_provider and provider_status in ('paid', 'paid_pending_claim') and fee_bad;

-- Rule: bill_without_order

insert into recon_findings
select home_date, 'bill_without_order', 'critical', order_id, first_payout_ref, ledger_amount, bill_amount,
       jsonb_build_object('payout_rows', payout_rows, 'returned', bill_returned)
  from recon_match cross join recon_params p
 where not at_provider and not pruned_home and (payout_rows > 0 or (bill_returned and not in_ledger));

-- Rule: bill_amount_mismatch

insert into recon_findings
select home_date, 'bill_amount_mismatch', 'critical', order_id, provider_ref, ledger_amount, provider_amount,
       jsonb_build_object('payouts', coalesce(bill_details, jsonb_build_array(jsonb_build_object(
         'provider_ref', provider_ref, 'amount', provider_amount::text, 'fee', fee::text,
         'bill_amount', bill_amount::text, 'bill_fee', bill_fee::text))))
  from recon_match cross join recon_params p
 where at_provider and bill_bad and not pruned_home;

-- Rule: order_without_bill

insert into recon_findings
select home_date, 'order_without_bill', 'warning', order_id, provider_ref, ledger_amount, provider_amount,
       jsonb_build_object('provider_status', provider_status)
  from recon_match cross join recon_params p
 where at_provider and provider_status in ('paid', 'paid_pending_claim') and payout_rows = 0 and not pruned_home;

-- Rule: stale_pending_claim

insert into recon_findings
select home_date, 'stale_pending_claim', 'warning', order_id, provider_ref, ledger_amount, provider_amount,
       jsonb_build_object('finished_at', finished_at, 'as_of', p.as_of)
  from recon_match cross join recon_params p
 where provider_status = 'paid_pending_claim' and finished_at < p.as_of - interval '48 hours';

-- Rule: unresolved_provider_status

insert into recon_findings
select home_date, 'unresolved_provider_status', 'warning', order_id, provider_ref, ledger_amount, provider_amount,
       jsonb_build_object('status_text', status_text, 'ledger_status', ledger_status)
  from recon_match cross join recon_params p
 where at_provider and provider_status = 'unresolved';

-- Each finding of an order asked about carries the newest live answer

update recon_findings f
  set details = f.details || jsonb_build_object('live', jsonb_strip_nulls(jsonb_build_object(
        'code', v.code, 'state', v.state, 'status', v.status, 'status_detail', v.status_detail,
        'status_message', v.status_message, 'amount', v.amount::text, 'finished_at', v.finished_at,
        'newer_than_files', v.newest)))
 from recon_live v
where v.order_id = f.order_id;
