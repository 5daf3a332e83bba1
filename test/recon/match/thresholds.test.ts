import { describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/db.js';
import { paidBills, scenarioSuite, type ProviderOrder, type Scenario } from '../../helpers/scenario.js';

/** Each threshold of CONTRACT.md section 4 on both sides of its boundary. */
const D = '2024-07-08';
const D1 = '2024-07-09';

describe.each(ENGINES)('thresholds on %s', (engine) => {
  const { scenario } = scenarioSuite(engine);
  const order = (s: Scenario, local: string): ProviderOrder => ({ id: s.id(local), ref: `6${local.padStart(17, '0')}`, amount: '100' });

  it('stale_pending_claim: exactly 48 hours after 完成时间 is not stale, one second more is', async () => {
    const s = await scenario();
    // D+1's file is the newest: judged as of D+2 16:45, 48 hours after D 16:45:00.
    const exactly = { ...order(s, '1'), status: '成功(待领取)', channel: '微信', finished: `${D} 16:45:00` };
    const over = { ...order(s, '2'), status: '成功(待领取)', channel: '微信', finished: `${D} 16:44:59` };
    s.writeDay(D, [exactly, over], [...paidBills(exactly), ...paidBills(over)]);
    s.writeDay(D1, [], []);
    await s.ledger([exactly, over].map((o) => ({ id: o.id, amount: '100', status: 'paid' as const })), D);
    await s.run(D);
    expect(await s.open()).toEqual([]);
    await s.run(D1);
    expect(await s.open()).toEqual([['2', 'stale_pending_claim', 'warning']]);
    const [row] = await s.discrepancies();
    expect(new Date(row!.details.as_of as string).toISOString()).toBe('2024-07-10T08:45:00.000Z');
  });

  it('missing_at_provider cut-off: created at 23:50:00 (the last 10 minutes) is info, at 23:49:59 it is critical', async () => {
    const s = await scenario();
    s.writeDay(D, [], []);
    await s.ledger([
      { id: s.id('1'), amount: '100', status: 'paid', created: `${D} 23:50:00` },
      { id: s.id('2'), amount: '100', status: 'paid', created: `${D} 23:49:59` },
      { id: s.id('3'), amount: '100', status: 'paid', created: `${D} 23:59:59` },
    ], D);
    await s.run(D);
    expect(await s.open()).toEqual([
      ['1', 'missing_at_provider', 'info'],
      ['2', 'missing_at_provider', 'critical'],
      ['3', 'missing_at_provider', 'info'],
    ]);
  });

  it('status_mismatch: a pending claim (成功(待领取)) against a ledger still submitted is a warning', async () => {
    const s = await scenario();
    const pending = { ...order(s, '1'), status: '成功(待领取)', channel: '微信' };
    const paid = order(s, '2');
    s.writeDay(D, [pending, paid], [...paidBills(pending), ...paidBills(paid)]);
    await s.ledger([pending, paid].map((o) => ({ id: o.id, amount: '100', status: 'submitted' as const })), D);
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'status_mismatch', 'warning'], ['2', 'status_mismatch', 'warning']]);
    const [row] = await s.discrepancies();
    expect(row!.details).toMatchObject({ provider_status: 'paid_pending_claim', ledger_status: 'submitted' });
  });
});
