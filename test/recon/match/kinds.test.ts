import { describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/db.js';
import { paidBills, scenarioSuite, type ProviderOrder, type Scenario } from '../../helpers/scenario.js';

const D = '2024-03-10';

describe.each(ENGINES)('discrepancy kinds on %s', (engine) => {
  const { scenario } = scenarioSuite(engine);
  /** A paid order with its bills, and the ledger row that matches it. */
  const clean = (s: Scenario, local: string, amount = '100', fee?: string): ProviderOrder =>
    ({ id: s.id(local), ref: `9${local.replace(/\D/g, '').padStart(17, '0')}`, amount, ...(fee ? { fee } : {}) });

  it('an order that matches on every count produces no row', async () => {
    const s = await scenario();
    const o = clean(s, '1', '100', '7');
    s.writeDay(D, [o], paidBills(o));
    await s.ledger([{ id: o.id, amount: '100.00', status: 'paid' }], D);
    await s.feeRate('0.07', '2024-01-01');
    await s.run(D);
    expect(await s.open()).toEqual([]);
  });

  it('missing_in_ledger: critical when paid (pending claim included), warning otherwise', async () => {
    const s = await scenario();
    const paid = clean(s, '1');
    const pending = { ...clean(s, '2'), status: '成功(待领取)', channel: '微信' };
    const failed = { ...clean(s, '3'), status: '失败' };
    s.writeDay(D, [paid, pending, failed], [...paidBills(paid), ...paidBills(pending)]);
    await s.run(D);
    expect(await s.open()).toEqual([
      ['1', 'missing_in_ledger', 'critical'],
      ['2', 'missing_in_ledger', 'critical'],
      ['3', 'missing_in_ledger', 'warning'],
    ]);
  });

  it('missing_at_provider: critical for paid, warning for submitted/refunded, info at the cut-off, nothing for cancelled or failed', async () => {
    const s = await scenario();
    const o = clean(s, '9');
    s.writeDay(D, [o], paidBills(o));
    await s.ledger([
      { id: o.id, amount: '100', status: 'paid' },
      { id: s.id('1'), amount: '5', status: 'paid', created: `${D} 12:00:00` },
      { id: s.id('2'), amount: '5', status: 'submitted', created: `${D} 12:00:00` },
      { id: s.id('3'), amount: '5', status: 'refunded', created: `${D} 12:00:00` },
      { id: s.id('4'), amount: '5', status: 'submitted', created: `${D} 23:51:00` },
      { id: s.id('5'), amount: '5', status: 'cancelled', created: `${D} 12:00:00` },
      { id: s.id('6'), amount: '5', status: 'failed', created: `${D} 12:00:00` },
    ], D);
    await s.run(D);
    expect(await s.open()).toEqual([
      ['1', 'missing_at_provider', 'critical'],
      ['2', 'missing_at_provider', 'warning'],
      ['3', 'missing_at_provider', 'warning'],
      ['4', 'missing_at_provider', 'info'],
    ]);
    const cutoff = (await s.discrepancies()).find((d) => d.order_id === s.id('4'))!;
    expect(cutoff.details.reason).toBe('cutoff');
    expect(cutoff.ledger_amount).toBe('5.00');
  });

  it('amount_mismatch is critical; 195 against 195.00 is not a mismatch', async () => {
    const s = await scenario();
    const a = clean(s, '1', '195');
    const b = clean(s, '2', '195');
    s.writeDay(D, [a, b], [...paidBills(a), ...paidBills(b)]);
    await s.ledger([{ id: a.id, amount: '195.00', status: 'paid' }, { id: b.id, amount: '159.00', status: 'paid' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([['2', 'amount_mismatch', 'critical']]);
    const [row] = await s.discrepancies();
    expect([row!.ledger_amount, row!.provider_amount, row!.provider_ref]).toEqual(['159.00', '195.00', b.ref]);
  });

  it('status_mismatch: critical or warning by the contract table; both failed is no finding', async () => {
    const s = await scenario();
    const paidFailed = clean(s, '1');
    const failedPaid = { ...clean(s, '2'), status: '失败' };
    const deletedPaid = { ...clean(s, '3'), status: '删除' };
    const paidSubmitted = clean(s, '4');
    const failedSubmitted = { ...clean(s, '5'), status: '失败' };
    const bothFailed = { ...clean(s, '6'), status: '失败' };
    const paidCancelled = clean(s, '7');
    s.writeDay(D, [paidFailed, failedPaid, deletedPaid, paidSubmitted, failedSubmitted, bothFailed, paidCancelled],
      [...paidBills(paidFailed), ...paidBills(paidSubmitted), ...paidBills(paidCancelled)]);
    await s.ledger([
      { id: paidFailed.id, amount: '100', status: 'failed' },
      { id: failedPaid.id, amount: '100', status: 'paid' },
      { id: deletedPaid.id, amount: '100', status: 'paid' },
      { id: paidSubmitted.id, amount: '100', status: 'submitted' },
      { id: failedSubmitted.id, amount: '100', status: 'submitted' },
      { id: bothFailed.id, amount: '100', status: 'failed' },
      { id: paidCancelled.id, amount: '100', status: 'cancelled' },
    ], D);
    await s.run(D);
    expect(await s.open()).toEqual([
      ['1', 'status_mismatch', 'critical'],
      ['2', 'status_mismatch', 'critical'],
      ['3', 'status_mismatch', 'critical'],
      ['4', 'status_mismatch', 'warning'],
      ['5', 'status_mismatch', 'warning'],
      ['7', 'status_mismatch', 'critical'],
    ]);
  });

  it('refund_unrecorded: a 退汇 the ledger did not book is critical; one it booked is no finding', async () => {
    const s = await scenario();
    const a = clean(s, '1');
    const b = clean(s, '2');
    const returnRows = (o: ProviderOrder) => [
      { id: o.id, ref: `${o.ref}7`, billRef: `${o.ref}8`, type: '经纪公司退汇' as const, amount: o.amount },
    ];
    s.writeDay(D, [a, b], [...paidBills(a), ...paidBills(b), ...returnRows(a), ...returnRows(b)]);
    await s.ledger([{ id: a.id, amount: '100', status: 'paid' }, { id: b.id, amount: '100', status: 'refunded' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'refund_unrecorded', 'critical']]);
  });

  it('an order row with status 退汇 makes the order returned too', async () => {
    const s = await scenario();
    const o = { ...clean(s, '1'), status: '退汇' };
    s.writeDay(D, [o], paidBills(o));
    await s.ledger([{ id: o.id, amount: '100', status: 'paid' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'refund_unrecorded', 'critical']]);
  });

  it('duplicate_provider_order: one 商户订单号 with two 订单流水号 is critical', async () => {
    const s = await scenario();
    const first = { id: s.id('1'), ref: '105381796275422500', amount: '1000' };
    const second = { id: s.id('1'), ref: '105381796275422600', amount: '110' };
    s.writeDay(D, [first, second], [...paidBills(first), ...paidBills(second)]);
    await s.ledger([{ id: first.id, amount: '1000', status: 'paid' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'duplicate_provider_order', 'critical']]);
    const [row] = await s.discrepancies();
    expect(row!.provider_ref).toBe('105381796275422500,105381796275422600');
    expect(row!.provider_amount).toBe('1110.00');
    expect((row!.details.payouts as unknown[]).length).toBe(2);
  });

  it('fee_mismatch: a warning against round-half-up(amount × rate); 0.7 against 0.70 is not one', async () => {
    const s = await scenario();
    await s.feeRate('0.07', '2024-01-01');
    const exact = clean(s, '1', '10', '0.7');
    const halfUp = clean(s, '2', '0.5', '0.04');
    const wrong = clean(s, '3', '100', '6.5');
    const missing = clean(s, '4', '100');
    s.writeDay(D, [exact, halfUp, wrong, missing], [exact, halfUp, wrong, missing].flatMap(paidBills));
    await s.ledger([exact, halfUp, wrong, missing].map((o) => ({ id: o.id, amount: o.amount, status: 'paid' as const })), D);
    await s.run(D);
    expect(await s.open()).toEqual([['3', 'fee_mismatch', 'warning'], ['4', 'fee_mismatch', 'warning']]);
    const row = (await s.discrepancies()).find((d) => d.order_id === wrong.id)!;
    expect(row.details).toMatchObject({ fee: '6.50', expected_fee: '7.00', rate: '0.07000' });
  });

  it('fee_mismatch uses the rate valid on the day', async () => {
    const s = await scenario();
    await s.feeRate('0.07', '2024-01-01');
    await s.feeRate('0.06', '2024-03-01');
    await s.feeRate('0.05', '2024-04-01');
    const o = clean(s, '1', '100', '6');
    s.writeDay(D, [o], paidBills(o));
    await s.ledger([{ id: o.id, amount: '100', status: 'paid' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([]);
  });

  it('bill_without_order: a payout bill row no order file has is critical', async () => {
    const s = await scenario();
    const ghost = clean(s, '1', '50');
    s.writeDay(D, [], paidBills(ghost));
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'bill_without_order', 'critical']]);
  });

  it('bill_amount_mismatch: payouts or fees that do not add up are critical', async () => {
    const s = await scenario();
    const payout = clean(s, '1', '100', '7');
    const fee = clean(s, '2', '100', '7');
    const split = clean(s, '3', '100', '7');
    s.writeDay(D, [payout, fee, split], [
      { ...paidBills(payout)[0]!, amount: '90' }, paidBills(payout)[1]!,
      paidBills(fee)[0]!, { ...paidBills(fee)[1]!, amount: '6' },
      // two payout rows that add up are fine
      { ...paidBills(split)[0]!, amount: '60' }, { ...paidBills(split)[0]!, billRef: 'x1', amount: '40' }, paidBills(split)[1]!,
    ]);
    await s.ledger([payout, fee, split].map((o) => ({ id: o.id, amount: '100', status: 'paid' as const })), D);
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'bill_amount_mismatch', 'critical'], ['2', 'bill_amount_mismatch', 'critical']]);
  });

  it('order_without_bill: a paid order with no payout row is a warning', async () => {
    const s = await scenario();
    const o = clean(s, '1');
    s.writeDay(D, [o], []);
    await s.ledger([{ id: o.id, amount: '100', status: 'paid' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'order_without_bill', 'warning']]);
  });

  it('unresolved_provider_status: 挂单, 打款中, -/- and 未知 are warnings', async () => {
    const s = await scenario();
    const orders = ['挂单', '打款中', '-/-', '未知'].map((status, i) => ({ ...clean(s, String(i + 1)), status }));
    s.writeDay(D, orders, []);
    await s.ledger(orders.map((o) => ({ id: o.id, amount: '100', status: 'submitted' as const })), D);
    await s.run(D);
    expect(await s.open()).toEqual(orders.map((_, i) => [String(i + 1), 'unresolved_provider_status', 'warning']));
  });

  it('stale_pending_claim: 成功(待领取) more than 48 hours after 完成时间, judged as of the newest file', async () => {
    const s = await scenario();
    const o = { ...clean(s, '1'), status: '成功(待领取)', channel: '微信' };
    s.writeDay(D, [o], paidBills(o));
    s.writeDay('2024-03-11', [], []);
    await s.ledger([{ id: o.id, amount: '100', status: 'paid' }], D);
    // As of D+1 16:45 (the final regeneration of D's file): 30¾ hours after 10:00:05 on D.
    await s.run(D);
    expect(await s.open()).toEqual([]);
    // As of D+2 16:45, once D+1's file is in: 54¾ hours.
    await s.run('2024-03-11');
    expect(await s.open()).toEqual([['1', 'stale_pending_claim', 'warning']]);
    const [row] = await s.discrepancies();
    expect(row!.business_date).toBe(D);
  });

  it('systemic_mismatch: one file-level row when new criticals exceed 20% of the day, beside the rows themselves', async () => {
    const s = await scenario();
    const orders = Array.from({ length: 10 }, (_, i) => clean(s, String(i + 1)));
    s.writeDay(D, orders, orders.flatMap(paidBills));
    await s.ledger(orders.map((o, i) => ({ id: o.id, amount: i < 3 ? '1' : '100', status: 'paid' as const })), D);
    const run = await s.run(D);
    // What the run reports (its summary and exit code read these): three rows and the file-level one.
    expect(run.lifecycle).toMatchObject({ opened: 4, systemic: true, resolved: 0 });
    const open = await s.open({ systemic: true });
    expect(open.filter(([, kind]) => kind === 'amount_mismatch')).toHaveLength(3);
    expect(open).toContainEqual([null, 'systemic_mismatch', 'critical']);
    const systemic = (await s.discrepancies()).find((d) => d.kind === 'systemic_mismatch')!;
    expect(systemic.details).toMatchObject({ critical_orders: 3, day_orders: 10 });

    // Two of ten (20%) is not more than 20%: a second dealer's day stays quiet.
    const t = await scenario();
    const more = Array.from({ length: 10 }, (_, i) => clean(t, String(i + 1)));
    t.writeDay(D, more, more.flatMap(paidBills));
    await t.ledger(more.map((o, i) => ({ id: o.id, amount: i < 2 ? '1' : '100', status: 'paid' as const })), D);
    const quiet = await t.run(D);
    expect(quiet.lifecycle).toMatchObject({ opened: 2, systemic: false });
    expect((await t.open({ systemic: true })).some(([, kind]) => kind === 'systemic_mismatch')).toBe(false);
  });

  it("systemic_mismatch: the day's orders are those of the order file and the ledger together", async () => {
    // Ten in the file (five failed ones the ledger never booked) and ten in the ledger (five
    // cancelled ones the provider never saw): fifteen orders, more than either side alone.
    const day = async (mismatches: number) => {
      const s = await scenario();
      const matched = Array.from({ length: 5 }, (_, i) => clean(s, String(i + 1)));
      const failed = Array.from({ length: 5 }, (_, i) => ({ ...clean(s, String(i + 11)), status: '失败' }));
      s.writeDay(D, [...matched, ...failed], matched.flatMap(paidBills));
      await s.ledger([
        ...matched.map((o, i) => ({ id: o.id, amount: i < mismatches ? '1' : '100', status: 'paid' as const })),
        ...Array.from({ length: 5 }, (_, i) => ({ id: s.id(String(i + 21)), amount: '5', status: 'cancelled' as const })),
      ], D);
      await s.run(D);
      return s;
    };
    // Three of fifteen is 20%, not more (though it is more than 20% of either side's ten).
    const quiet = await day(3);
    expect((await quiet.open()).filter(([, kind]) => kind === 'amount_mismatch')).toHaveLength(3);
    expect((await quiet.open({ systemic: true })).some(([, kind]) => kind === 'systemic_mismatch')).toBe(false);
    const loud = await day(4);
    const systemic = (await loud.discrepancies()).find((d) => d.kind === 'systemic_mismatch')!;
    expect(systemic.details).toMatchObject({ critical_orders: 4, day_orders: 15 });
  });
});
