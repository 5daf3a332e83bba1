import { describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/db.js';
import { paidBills, scenarioSuite, type ProviderOrder, type Scenario } from '../../helpers/scenario.js';

/**
 * Findings whose day is not the run's day: file-level rows of earlier days re-checked by later
 * runs, and a finding whose order moves to another day when an earlier file arrives late.
 */
const D = '2024-06-03';
const D1 = '2024-06-04';
const D2 = '2024-06-05';

describe.each(ENGINES)('findings across days on %s', (engine) => {
  const { db, scenario } = scenarioSuite(engine);
  const order = (s: Scenario, local: string, amount = '100'): ProviderOrder =>
    ({ id: s.id(local), ref: `7${local.padStart(17, '0')}`, amount });
  const ack = (s: Scenario, where: string) => db().handle.withSession((x) => x.query(
    `update recon.discrepancies set ack_by = 'wang.fang', ack_note = 'called the broker', ack_at = now()
      where dealer_id = $1 and ${where}`, [s.dealerId]));

  /** Ten ledger rows paid on D; D's file has the first `onD`, D+1's file the rest. */
  const tenPaid = async (s: Scenario, onD: number) => {
    const orders = Array.from({ length: 10 }, (_, i) => order(s, String(i + 1)));
    s.writeDay(D, orders.slice(0, onD), orders.slice(0, onD).flatMap(paidBills));
    s.writeDay(D1, orders.slice(onD), orders.slice(onD).flatMap(paidBills));
    await s.ledger(orders.map((o) => ({ id: o.id, amount: '100', status: 'paid' as const })), D);
    return orders;
  };

  it("a day's systemic_mismatch is resolved by a later run once the day's criticals are gone", async () => {
    const s = await scenario();
    await tenPaid(s, 2);
    // Not asked live: the provider would say the eight exist (they are in D+1's file).
    await s.run(D, { followUp: { concurrency: 1, max: 0 } });
    const open = await s.open({ systemic: true });
    expect(open.filter(([, kind]) => kind === 'missing_at_provider')).toHaveLength(8);
    expect(open).toContainEqual([null, 'systemic_mismatch', 'critical']);

    const next = await s.run(D1);
    expect(await s.open({ systemic: true })).toEqual([]);
    const resolved = await s.discrepancies("status = 'resolved' and kind = 'systemic_mismatch'");
    expect(resolved.map((r) => [r.business_date, r.resolved_run_id])).toEqual([[D, next.runId]]);
  });

  it("a day's systemic_mismatch that still holds stays open through a later run, refreshed", async () => {
    const s = await scenario();
    // Eight of ten never reach a file: D+1's file has none of them.
    const orders = await tenPaid(s, 2);
    s.writeDay(D1, [], []);
    await s.run(D);
    const [before] = await s.discrepancies("kind = 'systemic_mismatch'");
    const next = await s.run(D1);
    const [after] = await s.discrepancies("kind = 'systemic_mismatch'");
    expect(after).toMatchObject({ id: before!.id, business_date: D, status: 'open', last_seen_run_id: next.runId });
    expect(after!.details).toMatchObject({ critical_orders: 8, day_orders: 10 });
    expect((await s.open()).filter(([, kind]) => kind === 'missing_at_provider')).toHaveLength(8);

    // Five of them arrive in D+2's file: three of ten is still above 20%; then the rest.
    s.writeDay(D2, orders.slice(2, 7), orders.slice(2, 7).flatMap(paidBills));
    await s.run(D2);
    const [still] = await s.discrepancies("kind = 'systemic_mismatch'");
    expect(still!.details).toMatchObject({ critical_orders: 3, day_orders: 10 });
    s.writeDay(D2, orders.slice(2), orders.slice(2).flatMap(paidBills));
    await s.run(D2);
    expect(await s.discrepancies("status = 'open' and kind = 'systemic_mismatch'")).toEqual([]);
  });

  it('an acknowledged finding keeps its row, acknowledgement and first_seen when a late earlier file moves its day', async () => {
    const s = await scenario();
    const x1 = order(s, '1', '90');
    const others = Array.from({ length: 9 }, (_, i) => order(s, String(i + 2)));
    // D's files are not there yet (the provider answers 5000): D+1 is run first.
    s.writeDay(D1, [x1, ...others], [x1, ...others].flatMap(paidBills));
    await s.ledger([x1, ...others].map((o) => ({ id: o.id, amount: '100', status: 'paid' as const })), D);
    const first = await s.run(D1);
    const [opened] = await s.discrepancies("kind = 'amount_mismatch'");
    expect(opened).toMatchObject({ business_date: D1, order_id: x1.id, ledger_amount: '100.00', provider_amount: '90.00' });
    await ack(s, `id = ${opened!.id}`);

    // D's file arrives with the same order: its home day is D now.
    s.writeDay(D, [x1], paidBills(x1));
    const backfill = await s.run(D);
    const rows = await s.discrepancies("kind = 'amount_mismatch'");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id: opened!.id, business_date: D, status: 'open', ack_by: 'wang.fang', ack_note: 'called the broker',
      first_seen_run_id: first.runId, last_seen_run_id: backfill.runId, resolved_run_id: null,
    });
    expect(await s.discrepancies("status = 'resolved'")).toEqual([]);

    // Later runs keep it where it is; fixing the ledger resolves that same row.
    await s.run(D1);
    expect((await s.discrepancies("kind = 'amount_mismatch'")).map((r) => [r.id, r.business_date, r.ack_by]))
      .toEqual([[opened!.id, D, 'wang.fang']]);
    await s.ledger([{ id: x1.id, amount: '90', status: 'paid' }], D);
    await s.run(D1);
    const [resolved] = await s.discrepancies("kind = 'amount_mismatch' and status = 'resolved'");
    expect(resolved).toMatchObject({ id: opened!.id, ack_by: 'wang.fang' });
  });

  it('a missing_at_provider moves with its order and keeps its acknowledgement when its severity changes', async () => {
    const s = await scenario();
    // Created at 23:55 on D: a cut-off (info) until D+1's file is in, then critical.
    s.writeDay(D, [], []);
    await s.ledger([{ id: s.id('1'), amount: '100', status: 'paid', created: `${D} 23:55:00` }], D);
    await s.run(D);
    const [info] = await s.discrepancies();
    expect(info).toMatchObject({ kind: 'missing_at_provider', severity: 'info' });
    await ack(s, `id = ${info!.id}`);
    s.writeDay(D1, [], []);
    await s.run(D1);
    const [critical] = await s.discrepancies();
    expect(critical).toMatchObject({ id: info!.id, severity: 'critical', ack_by: 'wang.fang', first_seen_run_id: info!.first_seen_run_id });
  });

  it('a pending claim judged stale after a later file stays stale when an earlier day is re-run', async () => {
    const s = await scenario();
    const o = { ...order(s, '1'), status: '成功(待领取)', channel: '微信' };
    s.writeDay(D, [o], paidBills(o));
    s.writeDay(D1, [], []);
    s.writeDay(D2, [], []);
    await s.ledger([{ id: o.id, amount: '100', status: 'paid' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([]);
    await s.run(D2);
    expect(await s.open()).toEqual([['1', 'stale_pending_claim', 'warning']]);
    // Elapsed time is judged on the newest file (D+2's, final at D+3 16:45), not on the run's day.
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'stale_pending_claim', 'warning']]);
    expect(await s.discrepancies("status = 'resolved'")).toEqual([]);
  });
});
