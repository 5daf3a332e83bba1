import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { ENDPOINTS } from '../../../src/provider/protocol.js';
import { ENGINES } from '../../helpers/db.js';
import { paidBills, scenarioSuite, type ProviderOrder, type Scenario } from '../../helpers/scenario.js';

const D = '2024-03-10';
const D1 = '2024-03-11';

interface CheckRow {
  order_id: string;
  code: string;
  state: string | null;
  status: number | null;
  status_detail: number | null;
  amount: string | null;
  request_id: string;
  run_id: number;
}

describe.each(ENGINES)('live follow-up on %s', (engine) => {
  const { db, scenario } = scenarioSuite(engine);

  /** A WeChat red packet sent on D and still 成功(待领取) in D's (final) file, paid in the ledger. */
  const redPacket = (s: Scenario, local = '1'): Promise<ProviderOrder> => {
    const o: ProviderOrder = { id: s.id(local), ref: `8${local.padStart(17, '0')}`, amount: '100', status: '成功(待领取)', channel: '微信' };
    return Promise.resolve(o);
  };
  const writeRedPackets = async (s: Scenario, orders: ProviderOrder[]) => {
    s.writeDay(D, orders, orders.flatMap(paidBills).map((b) => ({ ...b, status: '成功(待领取)' })));
    // The next day's files (no orders of these), so that D+1's run judges as of D+2 16:45.
    s.writeDay(D1, [], []);
    await s.ledger(orders.map((o) => ({ id: o.id, amount: '100.00', status: 'paid' as const })), D);
  };
  const checks = async (s: Scenario): Promise<CheckRow[]> => (await db().handle.withSession((x) => x.query<CheckRow>(
    `select order_id, code, state, status, status_detail, amount::text as amount, request_id, run_id
       from recon.provider_order_checks where dealer_id = $1 order by id`, [s.dealerId]))).rows;
  const orderQueries = (s: Scenario) => s.sandbox.calls.filter((c) => c.endpoint === ENDPOINTS.queryOrder);

  it('a red packet still pending in the final file, which live says was claimed: no open finding after the run', async () => {
    const s = await scenario();
    const o = await redPacket(s);
    await writeRedPackets(s, [o]);
    s.live({ 1: 'claimed' });
    const first = await s.run(D);
    expect(first.followUp).toMatchObject({ candidates: 1, asked: 1, answered: { paid: 1 }, unanswered: 0 });
    // Two days on, the file alone would make it a stale pending claim; the answer is newer.
    await s.run(D1);
    expect(await s.open()).toEqual([]);
    const rows = await checks(s);
    expect(rows[0]).toMatchObject({ order_id: o.id, code: '0000', state: 'paid', status: 1, status_detail: 0, amount: '100.00' });
    // A claimed packet is settled: later runs do not ask about it again.
    expect(rows).toHaveLength(1);
  });

  it('the same, sent back (9/213): refund_unrecorded, with the answer in its details', async () => {
    const s = await scenario();
    const o = await redPacket(s);
    await writeRedPackets(s, [o]);
    s.live({ 1: 'returned' });
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'refund_unrecorded', 'critical']]);
    const [row] = await s.discrepancies();
    expect(row!.details.live).toMatchObject({ code: '0000', state: 'returned', status: 9, status_detail: 213, newer_than_files: true });
    expect(row!.business_date).toBe(D);
    // Booking the refund settles it, by the same rule.
    await s.ledger([{ id: o.id, amount: '100.00', status: 'refunded' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([]);
  });

  it('still pending after 48 hours: the finding is open with the live evidence, and a later claim resolves it', async () => {
    const s = await scenario();
    const o = await redPacket(s);
    await writeRedPackets(s, [o]);
    s.live({ 1: 'pending' });
    await s.run(D);
    expect(await s.open()).toEqual([]);
    await s.run(D1);
    expect(await s.open()).toEqual([['1', 'stale_pending_claim', 'warning']]);
    const [row] = await s.discrepancies();
    expect(row!.business_date).toBe(D);
    expect(row!.details.live).toMatchObject({ code: '0000', state: 'paid_pending_claim', status: 1, status_detail: 27 });
    const view = await db().handle.withSession((x) => x.query<{ live_status: number; live_status_detail: number; live_asked_at: Date | null }>(
      'select live_status, live_status_detail, live_asked_at from recon.open_discrepancies where dealer_id = $1', [s.dealerId]));
    expect(view.rows[0]).toMatchObject({ live_status: 1, live_status_detail: 27 });
    expect(view.rows[0]!.live_asked_at).toBeInstanceOf(Date);

    // The packet is claimed; the operator asks now instead of waiting for the next run.
    s.live({ 1: 'claimed' });
    const followUp = await s.run(D1, { mode: 'follow-up' });
    expect(followUp.files).toEqual([]);
    expect(followUp.lifecycle.resolved).toBe(1);
    expect(await s.open()).toEqual([]);
    const [resolved] = await s.discrepancies("status = 'resolved'");
    expect(resolved!.resolved_run_id).toBe(followUp.runId);
  });

  it('a ledger-paid order that live says does not exist: missing_at_provider stays critical, with code 2018 in its details', async () => {
    const s = await scenario();
    const o: ProviderOrder = { id: s.id('9'), ref: '900000000000000009', amount: '100' };
    s.writeDay(D, [o], paidBills(o));
    await s.ledger([
      { id: o.id, amount: '100.00', status: 'paid' },
      { id: s.id('1'), amount: '5.00', status: 'paid', created: `${D} 12:00:00` },
      { id: s.id('2'), amount: '6.00', status: 'paid', created: `${D} 12:00:00` },
      // At the cut-off: expected in the next day's file, not asked about.
      { id: s.id('3'), amount: '7.00', status: 'submitted', created: `${D} 23:55:00` },
    ], D);
    s.live({ 2: { status: 1, status_detail: 0, status_message: '已打款', pay: '6.00', finished_time: `${D} 12:00:05` } });
    const result = await s.run(D);
    expect(result.followUp).toMatchObject({ asked: 2, answered: { not_found: 1, paid: 1 } });
    expect(orderQueries(s).map((c) => c.orderId).sort()).toEqual([s.id('1'), s.id('2')]);
    // 2 exists at the provider after all: judged as a file row would be, paid without a bill row.
    expect(await s.open()).toEqual([
      ['1', 'missing_at_provider', 'critical'],
      ['3', 'missing_at_provider', 'info'],
      ['2', 'order_without_bill', 'warning'],
    ]);
    const missing = (await s.discrepancies()).find((d) => d.order_id === s.id('1'))!;
    expect(missing.details.live).toMatchObject({ code: '2018', state: 'not_found' });
    expect(missing.details.ledger_status).toBe('paid');
  });

  /** A ledger payout no file has (missing_at_provider, critical) for each local id, on D. */
  const missingPayouts = async (s: Scenario, locals: string[]) => {
    const o: ProviderOrder = { id: s.id('90'), ref: '900000000000000090', amount: '100' };
    s.writeDay(D, [o], paidBills(o));
    await s.ledger([
      { id: o.id, amount: '100.00', status: 'paid' },
      ...locals.map((l) => ({ id: s.id(l), amount: '6.00', status: 'paid' as const, created: `${D} 12:00:00` })),
    ], D);
  };
  const paidAnswer = { status: 1, status_detail: 0, status_message: '已打款', pay: '6.00', finished_time: `${D} 12:00:05` };
  const unreadable = async (s: Scenario) => (await db().handle.withSession((x) => x.query<Record<string, unknown>>(
    `select order_id, answered_order_id, code, state, status, status_detail, problem
       from recon.provider_order_checks where dealer_id = $1 order by order_id, id`, [s.dealerId]))).rows;

  it('an answer about another order, or of another dealer, is stored as unreadable and changes nothing', async () => {
    const s = await scenario();
    await missingPayouts(s, ['1', '2', '3']);
    s.live({
      1: { ...paidAnswer, order_id: 'OTHER-777' },
      2: { ...paidAnswer, dealer_id: 'someone-else' },
      3: paidAnswer,
    });
    const result = await s.run(D);
    expect(result.followUp).toMatchObject({ asked: 3, answered: { paid: 1 }, unanswered: 2 });
    expect(result.followUp.error).toBeUndefined();
    // Only 3's answer is evidence: paid without a bill row. 1 and 2 stay missing, critical.
    expect(await s.open()).toEqual([
      ['1', 'missing_at_provider', 'critical'],
      ['2', 'missing_at_provider', 'critical'],
      ['3', 'order_without_bill', 'warning'],
    ]);
    const rows = await unreadable(s);
    expect(rows.map((r) => [r.order_id, r.answered_order_id, r.code, r.state])).toEqual([
      [s.id('1'), 'OTHER-777', '0000', null],
      [s.id('2'), s.id('2'), '0000', null],
      [s.id('3'), s.id('3'), '0000', 'paid'],
    ]);
    expect(rows[0]!.problem).toBe(`the answer is about order "OTHER-777", not ${s.id('1')}`);
    expect(rows[1]!.problem).toBe('the answer is of dealer "someone-else", not ours');
    expect(rows[2]!.problem).toBeNull();
  });

  it('a status or status_detail that is not an integer of the document\'s appendices is no evidence', async () => {
    const s = await scenario();
    const answers: Record<string, Record<string, unknown>> = {
      1: { ...paidAnswer, status: 'n/a' },
      2: { ...paidAnswer, status: true },
      3: { ...paidAnswer, status: '1 ' },
      4: { ...paidAnswer, status: 99 },
      5: { ...paidAnswer, status: 1.5 },
      6: { ...paidAnswer, status_detail: '二十七' },
      7: { ...paidAnswer, status_detail: 27.5 },
      8: { ...paidAnswer, status_detail: null },
    };
    await missingPayouts(s, Object.keys(answers));
    s.live(answers);
    const result = await s.run(D);
    expect(result.followUp).toMatchObject({ asked: 8, answered: {}, unanswered: 8 });
    expect(await s.open()).toEqual(Object.keys(answers).map((l) => [l, 'missing_at_provider', 'critical']));
    const rows = await unreadable(s);
    expect(rows.map((r) => [r.order_id, r.state, r.status, r.status_detail])).toEqual([
      [s.id('1'), null, null, 0], [s.id('2'), null, null, 0], [s.id('3'), null, null, 0], [s.id('4'), null, null, 0],
      [s.id('5'), null, null, 0], [s.id('6'), null, 1, null], [s.id('7'), null, 1, null], [s.id('8'), null, 1, null],
    ]);
    expect(rows.map((r) => r.problem)).toEqual([
      'status "n/a" is not a status of the document\'s appendix 1',
      'status true is not a status of the document\'s appendix 1',
      'status "1 " is not a status of the document\'s appendix 1',
      'status 99 is not a status of the document\'s appendix 1',
      'status 1.5 is not a status of the document\'s appendix 1',
      'status_detail "二十七" is not an integer',
      'status_detail 27.5 is not an integer',
      'status_detail null is not an integer',
    ]);
  });

  it('an answer over 1 MiB is an unreadable answer for its order alone: stored, no evidence, the others still asked', async () => {
    const s = await scenario();
    await missingPayouts(s, ['1', '2', '3']);
    s.live({ 1: paidAnswer, 2: paidAnswer, 3: paidAnswer });
    await s.run(D, { followUp: { concurrency: 1, max: 0 } });
    // The first order query (follow-up mode downloads nothing first) is answered with 2 MiB.
    s.sandbox.faults.rawAnswer = JSON.stringify({
      code: '0000', message: 'ok', request_id: 'r-big', data: { order_id: s.id('1'), status: 1, status_detail: 0, pad: 'x'.repeat(2 * 1024 * 1024) },
    });
    s.sandbox.faults.rawAnswerCalls = 1;
    const result = await s.run(D, { mode: 'follow-up', followUp: { concurrency: 1, max: 500 } });
    expect(result.followUp).toMatchObject({ asked: 3, answered: { paid: 2 }, unanswered: 1 });
    expect(result.followUp.error).toBeUndefined();
    expect(orderQueries(s)).toHaveLength(3);
    expect(await s.open()).toEqual([
      ['1', 'missing_at_provider', 'critical'],
      ['2', 'order_without_bill', 'warning'],
      ['3', 'order_without_bill', 'warning'],
    ]);
    const rows = await unreadable(s);
    expect(rows[0]).toEqual({
      order_id: s.id('1'), answered_order_id: null, code: '', state: null, status: null, status_detail: null,
      problem: `GET ${ENDPOINTS.queryOrder} answered more than 1 MiB (1048576 bytes); refused`,
    });
  });

  it('the follow-up as a whole stops at YZH_FOLLOWUP_BUDGET_MS; what was not asked waits for the next run', async () => {
    const s = await scenario();
    const locals = ['1', '2', '3', '4', '5', '6'];
    await missingPayouts(s, locals);
    s.live(Object.fromEntries(locals.map((l) => [l, paidAnswer])));
    // Every answer takes 500 ms, well within YZH_TIMEOUT_MS; six one at a time would take 3 s.
    // A budget of 1.5 s has room for two at most (fewer on a busy machine).
    s.sandbox.faults.orderQueryDelayMs = 500;
    const cut = await s.run(D, { followUp: { concurrency: 1, max: 500, budgetMs: 1500 } });
    const answered = cut.followUp.answered.paid ?? 0;
    expect(answered).toBeLessThanOrEqual(2);
    expect(cut.followUp).toMatchObject({ candidates: 6, asked: 6, unanswered: 6 - answered });
    expect(cut.followUp.error).toBe(`the follow-up stopped at YZH_FOLLOWUP_BUDGET_MS (1500 ms); ${6 - answered} orders wait for the next run`);
    // No call started after the budget: the one cut short is the only one without an answer.
    expect(orderQueries(s).length).toBeLessThanOrEqual(answered + 1);
    expect((await s.open()).filter(([, kind]) => kind === 'missing_at_provider')).toHaveLength(6 - answered);
    // Nothing is recorded for a call the budget cut short; the next run asks the others.
    expect(await checks(s)).toHaveLength(answered);
    s.sandbox.resetFaults();
    const next = await s.run(D);
    expect(next.followUp).toMatchObject({ asked: 6 - answered, answered: { paid: 6 - answered }, unanswered: 0 });
    expect(await s.open()).toEqual(locals.map((l) => [l, 'order_without_bill', 'warning']));
  });

  it('each answer is kept as given, and an answer that cannot be read concerns its order alone', async () => {
    const s = await scenario();
    const orders = await Promise.all(['1', '2', '3'].map((l) => redPacket(s, l)));
    await writeRedPackets(s, orders);
    await s.ledger([{ id: s.id('9'), amount: '5.00', status: 'paid', created: `${D} 12:00:00` }], D);
    s.live({
      1: { status: 1, status_detail: 0, status_message: '已打款', pay: ' 100.00 ', finished_time: `${D} 20:15:00` },
      2: 'pending', 3: 'pending', 9: 'not_found',
    });
    await s.run(D, { followUp: { concurrency: 1, max: 0 } });
    // The first call answers something that is not the provider's JSON: that order is not
    // answered, and the others are still asked (follow-up mode: no download comes first).
    s.sandbox.faults.rawAnswer = 'not json';
    s.sandbox.faults.rawAnswerCalls = 1;
    const result = await s.run(D, { mode: 'follow-up', followUp: { concurrency: 1, max: 500 } });
    expect(result.followUp).toMatchObject({ candidates: 4, asked: 4, unanswered: 1 });
    expect(result.followUp.error).toBeUndefined();
    expect(orderQueries(s)).toHaveLength(4);
    const latest = async () => (await db().handle.withSession((x) => x.query<Record<string, unknown>>(
      `select distinct on (order_id) order_id, code, state, status_message, provider_ref, broker_id, amount::text as amount, finished_at
         from recon.provider_order_checks where dealer_id = $1 order by order_id, id desc`, [s.dealerId]))).rows;
    // The answer that is not JSON is stored as an unreadable answer, state null: no evidence.
    const first = await latest();
    expect(first).toHaveLength(4);
    expect(first.filter((r) => r.state === null)).toMatchObject([{ code: '', state: null }]);
    // Asked again (all but a claimed packet, which is settled), every answer is read; each
    // order's newest check holds the answer's fields.
    const again = await s.run(D, { mode: 'follow-up', followUp: { concurrency: 1, max: 500 } });
    expect(again.followUp).toMatchObject({ unanswered: 0 });
    const byId = new Map((await latest()).map((r) => [r.order_id, r]));
    expect([...byId.keys()].sort()).toEqual([s.id('1'), s.id('2'), s.id('3'), s.id('9')]);
    expect(byId.get(s.id('1'))).toEqual({
      order_id: s.id('1'), code: '0000', state: 'paid', status_message: '已打款', provider_ref: orders[0]!.ref, broker_id: s.broker(),
      amount: '100.00', finished_at: new Date(`${D}T12:15:00Z`),
    });
    expect(byId.get(s.id('9'))).toEqual({
      order_id: s.id('9'), code: '2018', state: 'not_found', status_message: '该笔订单不存在', provider_ref: null, broker_id: null,
      amount: null, finished_at: null,
    });
  });

  it('provider errors and timeouts during follow-up: the run succeeds, nothing is lost, the next run asks again', async () => {
    const s = await scenario();
    const orders = await Promise.all(['1', '2', '3'].map((l) => redPacket(s, l)));
    await writeRedPackets(s, orders);
    s.live({ 1: 'pending', 2: 'pending', 3: 'pending' });
    await s.run(D);
    await s.run(D1);
    const before = await s.discrepancies();
    expect(before.map((d) => d.kind)).toEqual(['stale_pending_claim', 'stale_pending_claim', 'stale_pending_claim']);
    s.live({ 1: 'claimed', 2: 'returned', 3: 'claimed' });
    const asked = (await checks(s)).length;

    // The provider answers 502 to every order query: retried, then no further calls start.
    s.sandbox.faults.orderQueryHttpErrors = 1000;
    // (reaskAfterHours 0: these runs follow each other within seconds)
    const down = await s.run(D1, { followUp: { concurrency: 1, max: 500, reaskAfterHours: 0 } });
    expect(down.followUp).toMatchObject({ candidates: 3, asked: 3, unanswered: 3 });
    expect(down.followUp.error).toMatch(/gave up after \d+ attempts/);
    expect(orderQueries(s).filter((c) => c.code === 'HTTP 502')).toHaveLength(4); // one order, YZH_RETRIES 3
    expect(s.sandbox.calls.at(-1)!.endpoint).toBe(ENDPOINTS.queryAccounts);
    const kept = await s.discrepancies();
    expect(kept.map(({ last_seen_run_id: _, ...rest }) => rest)).toEqual(before.map(({ last_seen_run_id: _, ...rest }) => rest));
    expect(await checks(s)).toHaveLength(asked);
    s.sandbox.resetFaults();

    // Too slow: every call times out; the run still succeeds as the files say.
    s.sandbox.faults.orderQueryStalls = 1000;
    s.sandbox.faults.stallMs = 1500;
    const slow = await s.run(D1, { clientEnv: { YZH_TIMEOUT_MS: '200', YZH_RETRIES: '1' }, followUp: { concurrency: 4, max: 500, reaskAfterHours: 0 } });
    expect(slow.followUp).toMatchObject({ asked: 3, unanswered: 3 });
    expect(slow.followUp.error).toMatch(/timed out after 200 ms/);
    expect(await s.open()).toEqual([['1', 'stale_pending_claim', 'warning'], ['2', 'stale_pending_claim', 'warning'], ['3', 'stale_pending_claim', 'warning']]);
    s.sandbox.resetFaults();

    // A provider code that says nothing about the order is recorded, and is no evidence.
    s.sandbox.faults.providerCode = '3000';
    s.sandbox.faults.providerCodeCalls = 1;
    const partly = await s.run(D1, { mode: 'follow-up', followUp: { concurrency: 1, max: 500 } });
    // (the one call with code 3000 is the first order query: follow-up mode downloads no file)
    expect(partly.followUp).toMatchObject({ asked: 3, unanswered: 1, answered: { paid: 1, returned: 1 } });
    expect((await checks(s)).filter((c) => c.code === '3000')).toMatchObject([{ state: null }]);
    const third = await s.run(D1);
    expect(third.followUp.unanswered).toBe(0);
    expect(await s.open()).toEqual([['2', 'refund_unrecorded', 'critical']]);
  });

  it('at most YZH_FOLLOWUP_MAX orders a run, the oldest findings first among those never asked', async () => {
    const s = await scenario();
    const days = ['2024-03-06', '2024-03-07', '2024-03-08', '2024-03-09'];
    // A ledger payout no file has, on each of four days; the findings opened without asking.
    for (const [i, day] of days.entries()) {
      s.writeDay(day, [], []);
      await s.ledger([{ id: s.id(String(i + 1)), amount: '10.00', status: 'paid', created: `${day} 12:00:00` }], day);
      await s.run(day, { followUp: { concurrency: 4, max: 0 } });
    }
    expect(orderQueries(s)).toEqual([]);
    expect((await s.open()).map(([id, kind]) => [id, kind])).toEqual(['1', '2', '3', '4'].map((id) => [id, 'missing_at_provider']));
    s.writeDay(D, [], []);
    await s.ledger([{ id: s.id('5'), amount: '10.00', status: 'paid', created: `${D} 12:00:00` }], D);
    const capped = await s.run(D, { followUp: { concurrency: 4, max: 2 } });
    expect(capped.followUp).toMatchObject({ candidates: 5, asked: 2, deferred: 3 });
    expect(orderQueries(s).map((c) => c.orderId).sort()).toEqual([s.id('1'), s.id('2')]);
    expect((await checks(s)).map((c) => c.order_id).sort()).toEqual([s.id('1'), s.id('2')]);
  });

  it('least recently asked first, never asked before all: a backlog answered the same way every time does not starve the others', async () => {
    const s = await scenario();
    const days = ['2024-03-06', '2024-03-07', '2024-03-08', '2024-03-09'];
    for (const [i, day] of days.entries()) {
      s.writeDay(day, [], []);
      await s.ledger([{ id: s.id(String(i + 1)), amount: '10.00', status: 'paid', created: `${day} 12:00:00` }], day);
      await s.run(day, { followUp: { concurrency: 1, max: 0 } });
    }
    // The provider knows none of them, every time: each run's answers are the same as before.
    s.live({ 1: 'not_found', 2: 'not_found', 3: 'not_found', 4: 'not_found', 5: 'not_found' });
    // (reaskAfterHours 0: as if each run came a day after the one before)
    const followUp = { concurrency: 1, max: 2, reaskAfterHours: 0 };
    const askedBy = async (day: string) => {
      const before = orderQueries(s).length;
      const result = await s.run(day, { followUp });
      expect(result.followUp).toMatchObject({ asked: 2, answered: { not_found: 2 } });
      return orderQueries(s).slice(before).map((c) => c.orderId!.slice(s.id('').length)).sort();
    };
    s.writeDay(D, [], []);
    expect(await askedBy(D)).toEqual(['1', '2']);
    expect(await askedBy(D)).toEqual(['3', '4']);
    // A new order, never asked, comes first; then the one asked longest ago.
    await s.ledger([{ id: s.id('5'), amount: '10.00', status: 'paid', created: `${D} 12:00:00` }], D);
    expect(await askedBy(D)).toEqual(['1', '5']);
    expect(await askedBy(D)).toEqual(['2', '3']);
    expect((await s.open()).map(([id, kind]) => [id, kind])).toEqual(['1', '2', '3', '4', '5'].map((id) => [id, 'missing_at_provider']));
  });

  it('a scheduled run does not ask again about an order answered within YZH_FOLLOWUP_REASK_HOURS; the follow-up command does', async () => {
    const s = await scenario();
    const orders = await Promise.all(['1', '2'].map((l) => redPacket(s, l)));
    await writeRedPackets(s, orders);
    s.live({ 1: 'pending', 2: 'pending' });
    await s.run(D);
    await s.run(D1);
    const asked = orderQueries(s).length;
    expect(asked).toBeGreaterThan(0);
    const again = await s.run(D1);
    expect(again.followUp).toMatchObject({ candidates: 0, asked: 0 });
    expect(orderQueries(s)).toHaveLength(asked);
    expect(await s.open()).toEqual([['1', 'stale_pending_claim', 'warning'], ['2', 'stale_pending_claim', 'warning']]);
    // An operator asks now: both are asked, and a claim resolves its finding.
    s.live({ 1: 'claimed', 2: 'pending' });
    const now = await s.run(D1, { mode: 'follow-up' });
    expect(now.followUp).toMatchObject({ asked: 2 });
    expect(await s.open()).toEqual([['2', 'stale_pending_claim', 'warning']]);
    // With the window at 0 hours every run asks again.
    const every = await s.run(D1, { followUp: { concurrency: 4, max: 500, reaskAfterHours: 0 } });
    expect(every.followUp).toMatchObject({ asked: 1 });
  });

  it('never more calls at once than YZH_FOLLOWUP_CONCURRENCY', async () => {
    const s = await scenario();
    const orders = await Promise.all(Array.from({ length: 12 }, (_, i) => redPacket(s, String(i + 1))));
    await writeRedPackets(s, orders);
    s.live(Object.fromEntries(orders.map((_, i) => [String(i + 1), 'claimed'])));
    s.sandbox.maxConcurrentOrderQueries = 0;
    const result = await s.run(D, { followUp: { concurrency: 3, max: 500 } });
    expect(result.followUp).toMatchObject({ asked: 12, answered: { paid: 12 } });
    expect(s.sandbox.maxConcurrentOrderQueries).toBeGreaterThan(0);
    expect(s.sandbox.maxConcurrentOrderQueries).toBeLessThanOrEqual(3);
    expect(new Set(orderQueries(s).map((c) => c.requestId)).size).toBe(12);
  });

  it('a re-run that gets the same answers leaves the findings exactly as they were but last_seen_run_id', async () => {
    const s = await scenario();
    const orders = await Promise.all(['1', '2'].map((l) => redPacket(s, l)));
    await writeRedPackets(s, orders);
    s.live({ 1: 'pending', 2: 'returned' });
    await s.run(D);
    await s.run(D1);
    const before = (await s.discrepancies('true')).map(({ last_seen_run_id: _, ...rest }) => rest);
    expect(before.map((d) => d.kind).filter((k) => k !== 'systemic_mismatch').sort()).toEqual(['refund_unrecorded', 'stale_pending_claim']);
    await s.run(D1);
    expect((await s.discrepancies('true')).map(({ last_seen_run_id: _, ...rest }) => rest)).toEqual(before);
  });
});

describe('YZH_FOLLOWUP_BUDGET_MS', () => {
  it('is 120000 unless set, and a value outside 1000-3600000 is a configuration error naming it', () => {
    expect(loadConfig({}).followUp.budgetMs).toBe(120_000);
    expect(loadConfig({ YZH_FOLLOWUP_BUDGET_MS: '1000' }).followUp.budgetMs).toBe(1000);
    expect(loadConfig({ YZH_FOLLOWUP_BUDGET_MS: '3600000' }).followUp.budgetMs).toBe(3_600_000);
    for (const bad of ['999', '3600001', '0', '-5', '2m', '1e5']) {
      expect(() => loadConfig({ YZH_FOLLOWUP_BUDGET_MS: bad }))
        .toThrow(`configuration: YZH_FOLLOWUP_BUDGET_MS must be a whole number from 1000 to 3600000, got "${bad}"`);
    }
  });
});
