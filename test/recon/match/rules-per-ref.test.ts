import { describe, expect, it } from 'vitest';
import { pruneProviderDays } from '../../../src/recon/lifecycle/prune/provider-rows-pruner.js';
import { ENGINES } from '../../helpers/db.js';
import { paidBills, scenarioSuite, type ProviderBill, type ProviderOrder, type Scenario } from '../../helpers/scenario.js';

/**
 * CONTRACT.md section 6: an order's provider evidence is kept per 订单流水号, a retry the
 * provider rejected never hides a payment, a payout under a ref the order file does not give is
 * money moved without a record, and a finding stays on the order's own day whatever the order
 * in which days are run.
 */
const D = '2024-03-10';
const day = (n: number): string => new Date(Date.parse(`${D}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

describe.each(ENGINES)('rules per 订单流水号 on %s', (engine) => {
  const { db, scenario } = scenarioSuite(engine);
  const order = (s: Scenario, local: string, ref: string, extra: Partial<ProviderOrder> = {}): ProviderOrder =>
    ({ id: s.id(local), ref, amount: '100', ...extra });
  const payout = (o: ProviderOrder, ref: string, amount = o.amount): ProviderBill =>
    ({ id: o.id, ref, billRef: `${ref}1`, type: '经纪公司打款', amount });

  it('a second payout under a 订单流水号 the order file does not give is bill_amount_mismatch, naming that ref', async () => {
    const s = await scenario();
    const x = order(s, '1', '700000000000000001');
    s.writeDay(D, [x], [...paidBills(x), payout(x, '700000000000000002')]);
    await s.ledger([{ id: x.id, amount: '100', status: 'paid' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'bill_amount_mismatch', 'critical']]);
    const [row] = await s.discrepancies();
    expect(row!.business_date).toBe(D);
    expect(JSON.stringify(row!.details)).toContain('700000000000000002');
  });

  it('the same when the second payout comes in the next day\'s bill file: filed under the order\'s day', async () => {
    const s = await scenario();
    const x = order(s, '1', '700000000000000001');
    s.writeDay(D, [x], paidBills(x));
    s.writeDay(day(1), [], [payout(x, '700000000000000002')]);
    await s.ledger([{ id: x.id, amount: '100', status: 'paid' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([]);
    await s.run(day(1));
    const rows = await s.discrepancies();
    expect(rows.map((r) => [r.kind, r.business_date])).toEqual([['bill_amount_mismatch', D]]);
  });

  it('a retry the provider rejected, same day: the order is paid, no duplicate, no status_mismatch', async () => {
    const s = await scenario();
    const paid = order(s, '1', '700000000000000001');
    const rejected = order(s, '1', '700000000000000002', { status: '失败' });
    s.writeDay(D, [paid, rejected], paidBills(paid));
    await s.ledger([{ id: paid.id, amount: '100', status: 'paid' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([]);
  });

  it('a retry rejected the next day leaves the payment as it was', async () => {
    const s = await scenario();
    const paid = order(s, '1', '700000000000000001');
    s.writeDay(D, [paid], paidBills(paid));
    s.writeDay(day(1), [order(s, '1', '700000000000000002', { status: '失败' })], []);
    await s.ledger([{ id: paid.id, amount: '100', status: 'paid' }], D);
    await s.run(D);
    await s.run(day(1));
    expect(await s.open()).toEqual([]);
  });

  it('a rejected retry does not switch off order_without_bill and fee_mismatch of the paid ref', async () => {
    const s = await scenario();
    const paid = order(s, '1', '700000000000000001', { fee: '9.00' });
    const rejected = order(s, '1', '700000000000000002', { status: '失败', fee: '7.00' });
    s.writeDay(D, [paid, rejected], []);
    await s.ledger([{ id: paid.id, amount: '100', status: 'paid' }], D);
    await s.feeRate('0.07', '2024-01-01');
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'fee_mismatch', 'warning'], ['1', 'order_without_bill', 'warning']]);
    const fee = (await s.discrepancies()).find((r) => r.kind === 'fee_mismatch')!;
    expect(fee).toMatchObject({ provider_ref: paid.ref, provider_amount: '100.00' });
    expect(fee.details).toMatchObject({ fee: '9.00', expected_fee: '7.00' });
  });

  it('two refs paid: duplicate at the sum of the paid refs only, no amount_mismatch beside it; a return brings it back to one', async () => {
    const s = await scenario();
    const first = order(s, '1', '700000000000000001');
    const second = order(s, '1', '700000000000000002', { amount: '50' });
    const rejected = order(s, '1', '700000000000000003', { status: '失败', amount: '70' });
    s.writeDay(D, [first, second, rejected], [...paidBills(first), ...paidBills(second)]);
    await s.ledger([{ id: first.id, amount: '100', status: 'paid' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'duplicate_provider_order', 'critical']]);
    const [dup] = await s.discrepancies();
    expect(dup).toMatchObject({ provider_amount: '150.00', provider_ref: `${first.ref},${second.ref}` });
    // The second payout comes back two days later.
    s.writeDay(day(2), [], [{ id: second.id, ref: second.ref, billRef: `${second.ref}9`, type: '经纪公司退汇', amount: '50' }]);
    await s.run(day(2));
    expect(await s.open()).toEqual([]);
  });

  it('an order in no order file takes the ledger\'s creation day, whichever day is run first', async () => {
    const s = await scenario();
    const x = order(s, '1', '700000000000000001');
    const y = order(s, '2', '700000000000000002');
    s.writeDay(D, [], []);
    s.writeDay(day(1), [], [payout(x, x.ref)]);
    s.writeDay(day(2), [], [{ id: y.id, ref: y.ref, billRef: `${y.ref}9`, type: '经纪公司退汇', amount: '100' }]);
    await s.ledger([{ id: x.id, amount: '100', status: 'paid' }, { id: y.id, amount: '100', status: 'paid' }], D);
    await s.run(day(2));
    await s.run(day(1));
    const before = (await s.discrepancies()).map((r) => [r.order_id!.slice(s.prefix.length), r.kind, r.business_date]);
    expect(before).toContainEqual(['1', 'bill_without_order', D]);
    expect(before).toContainEqual(['2', 'refund_unrecorded', D]);
    await s.run(D);
    const after = (await s.discrepancies()).map((r) => [r.order_id!.slice(s.prefix.length), r.kind, r.business_date]);
    expect(after).toContainEqual(['1', 'bill_without_order', D]);
    expect(after).toContainEqual(['2', 'refund_unrecorded', D]);
    expect(after.every(([, , date]) => date === D)).toBe(true);
  });

  it('an order known only from a live answer has no fee to judge: order_without_bill alone', async () => {
    const s = await scenario();
    s.writeDay(D, [], []);
    s.writeDay(day(1), [], []);
    await s.ledger([{ id: s.id('1'), amount: '100', status: 'paid' }], D);
    await s.feeRate('0.07', '2024-01-01');
    s.live({ 1: { status: 1, status_detail: 0, status_message: '已打款', status_detail_message: '成功', pay: '100.00', broker_id: s.broker() } });
    await s.run(D);
    const open = await s.open();
    expect(open.map(([, kind]) => kind)).not.toContain('fee_mismatch');
    expect(open).toContainEqual(['1', 'order_without_bill', 'warning']);
  });

  it.each([['no live answer', null], ['a live answer that says returned', 'returned'], ['a live answer that says paid', 'paid']] as const)(
    'a 退汇 after the order\'s day was pruned is judged by its own rule only, on the order\'s day (%s)', async (_, answer) => {
      const s = await scenario();
      const x = order(s, '1', '700000000000000001');
      s.writeDay(D, [x], paidBills(x));
      await s.ledger([{ id: x.id, amount: '100', status: 'paid' }], D);
      await s.run(D);
      s.writeDay(day(150), [], []);
      await s.run(day(150));
      await db().handle.withSession((c) => pruneProviderDays(c, s.dealerId, 120, false));
      s.writeDay(day(151), [], [{ id: x.id, ref: x.ref, billRef: `${x.ref}9`, type: '经纪公司退汇', amount: '100' }]);
      if (answer !== null) s.live({ 1: answer });
      await s.run(day(151));
      const rows = await s.discrepancies();
      expect(rows.map((r) => [r.kind, r.business_date])).toEqual([['refund_unrecorded', D]]);
    });

  it('a finding marked pruned is judged again once --from-archive rebuilds its day', async () => {
    const s = await scenario();
    const x = order(s, '1', '700000000000000001');
    s.writeDay(D, [x], paidBills(x));
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'missing_in_ledger', 'critical']]);
    s.writeDay(day(150), [], []);
    await s.run(day(150));
    await db().handle.withSession((c) => pruneProviderDays(c, s.dealerId, 120, false));
    expect((await s.discrepancies())[0]!.details).toHaveProperty('provider_rows_pruned');
    await s.ledger([{ id: x.id, amount: '100', status: 'paid' }], D);
    await s.run(D, { source: 'archive', retainDays: 3650 });
    expect(await s.open()).toEqual([]);
  });
});
