import { describe, expect, it } from 'vitest';
import { pruneProviderDays } from '../../../src/recon/lifecycle/prune/provider-rows-pruner.js';
import { ENGINES } from '../../helpers/db.js';
import { paidBills, scenarioSuite, type ProviderOrder, type Scenario } from '../../helpers/scenario.js';

const D = '2024-05-20';
const after = (days: number) => new Date(Date.parse(`${D}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

describe.each(ENGINES)('a day whose provider rows were pruned, on %s', (engine) => {
  const { db, scenario } = scenarioSuite(engine);
  const order = (s: Scenario, local: string): ProviderOrder => ({ id: s.id(local), ref: `8${local.padStart(17, '0')}`, amount: '100' });
  const query = async <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) =>
    (await db().handle.withSession((x) => x.query<T>(sql, params))).rows;
  const runs = async (s: Scenario) => (await query<{ n: number }>('select count(*)::int as n from recon.runs where dealer_id = $1', [s.dealerId]))[0]!.n;

  /**
   * Day D: five orders paid and in the ledger, a sixth the ledger lacks (missing_in_ledger);
   * a later day; then D's provider rows pruned (more than 3 days before the newest).
   */
  const prunedDay = async (s: Scenario) => {
    const orders = ['1', '2', '3', '4', '5', '6'].map((n) => order(s, n));
    s.writeDay(D, orders, orders.flatMap(paidBills));
    await s.ledger(orders.slice(0, 5).map((o) => ({ id: o.id, amount: '100', status: 'paid' as const })), D);
    const later = order(s, '7');
    s.writeDay(after(5), [later], paidBills(later));
    await s.ledger([{ id: later.id, amount: '100', status: 'paid' }], after(5));
    await s.run(D, { retainDays: 30 });
    await s.run(after(5), { retainDays: 30 });
    const pruned = await db().handle.withSession((x) => pruneProviderDays(x, s.dealerId, 3, false));
    expect(pruned).toMatchObject({ tables: 2, findingsMarked: 1 });
    expect(await s.open({ systemic: true })).toEqual([['6', 'missing_in_ledger', 'critical']]);
  };

  it('run --date D loads the unchanged files again and judges the day by them, not as if they were empty', async () => {
    const s = await scenario();
    await prunedDay(s);
    const again = await s.run(D, { retainDays: 3 });
    expect(again.files.map((f) => [f.kind, f.loaded, f.rows])).toEqual([['order', true, 6], ['bill', true, 6]]);
    // Not five critical missing_at_provider, a systemic_mismatch and order_without_bill warnings.
    expect(await s.open({ systemic: true })).toEqual([['6', 'missing_in_ledger', 'critical']]);
    // No second record of the same files.
    expect(await query('select kind from recon.provider_files where dealer_id = $1 and business_date = $2', [s.dealerId, D])).toHaveLength(2);
  });

  it('a finding marked pruned is judged again when its day is rebuilt: fixed in the ledger since, it resolves', async () => {
    const s = await scenario();
    await prunedDay(s);
    await s.ledger([{ id: s.id('6'), amount: '100', status: 'paid' }], D);
    await s.run(D, { retainDays: 3 });
    expect(await s.open({ systemic: true })).toEqual([]);
    const [resolved] = await s.discrepancies("status = 'resolved'");
    expect(resolved).toMatchObject({ kind: 'missing_in_ledger', order_id: s.id('6') });
  });

  it('follow-up --date D refuses with exit 1, naming the retention, and writes nothing', async () => {
    const s = await scenario();
    await prunedDay(s);
    const before = [await runs(s), await s.discrepancies('true')];
    const refused = s.run(D, { mode: 'follow-up', retainDays: 3 });
    await expect(refused).rejects.toMatchObject({ code: 'RETENTION' });
    await expect(refused).rejects.toThrow(
      `follow-up ${D}: the provider rows of ${D} for dealer ${s.dealerId} were pruned (YZH_RETAIN_DAYS=3); `
      + `run \`yzh-recon run --date ${D}\` to load the day's files again`);
    expect([await runs(s), await s.discrepancies('true')]).toEqual(before);
    // The day kept is asked about as before.
    await expect(s.run(after(5), { mode: 'follow-up', retainDays: 3 })).resolves.toMatchObject({ mode: 'follow-up' });
  });
});
