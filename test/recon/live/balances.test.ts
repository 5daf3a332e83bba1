import { describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/db.js';
import { paidBills, scenarioSuite, type ProviderOrder, type Scenario } from '../../helpers/scenario.js';

const D = '2024-03-10';

describe.each(ENGINES)('balance snapshots and balance_low on %s', (engine) => {
  const { db, scenario } = scenarioSuite(engine);

  const account = (s: Scenario, balances: { bank: string; alipay: string; wxpay: string }) => ({
    broker_id: s.broker(), bank_card_balance: balances.bank, is_bank_card: true, alipay_balance: balances.alipay, is_alipay: true,
    wxpay_balance: balances.wxpay, is_wxpay: true, rebate_fee_balance: '0.00',
  });

  /** Two days of payouts: bank card 300 + 100 (200 a day), WeChat 30 on one day (15 a day). */
  const twoDays = async (s: Scenario) => {
    const day = (date: string, orders: ProviderOrder[]) => {
      s.writeDay(date, orders, orders.flatMap(paidBills));
      return s.ledger(orders.map((o) => ({ id: o.id, amount: o.amount, status: 'paid' as const })), date);
    };
    await day('2024-03-09', [
      { id: s.id('1'), ref: '700000000000000001', amount: '300' },
      { id: s.id('2'), ref: '700000000000000002', amount: '30', channel: '微信' },
    ]);
    await day(D, [{ id: s.id('3'), ref: '700000000000000003', amount: '100' }]);
  };

  const snapshots = async (s: Scenario) => (await db().handle.withSession((x) => x.query<Record<string, unknown>>(
    `select run_id, broker_id, bank_card_balance, alipay_balance, wxpay_balance, rebate_fee_balance, is_bank_card, is_alipay, is_wxpay
       from recon.balance_snapshots where dealer_id = $1 order by id`, [s.dealerId]))).rows;

  it('balance_low is raised once per day and channel, not again on a re-run, and resolved by a top-up', async () => {
    const s = await scenario();
    await twoDays(s);
    await s.run('2024-03-09');
    // 200.00 a day on bank card against 199.99; 15.00 a day on WeChat against 15.00; nothing by Alipay.
    s.accounts([account(s, { bank: '199.99', alipay: '0', wxpay: '15.00' })]);
    const first = await s.run(D);
    expect(first.balances!.channels.filter((c) => c.low).map((c) => c.channel)).toEqual(['bankcard']);
    expect(first.balances!.channels.find((c) => c.channel === 'bankcard')).toMatchObject({ balance: '199.99', averageDailyPayout: '200.00' });
    const rows = await s.discrepancies();
    expect(rows.map((d) => [d.order_id, d.kind, d.severity, d.provider_ref, d.provider_amount, d.business_date])).toEqual([
      [null, 'balance_low', 'warning', `${s.broker()}/bankcard`, '199.99', D],
    ]);
    expect(rows[0]!.details).toMatchObject({ broker_id: s.broker(), channel: 'bankcard', balance: '199.99', average_daily_payout: '200.00' });

    // The same day again, WeChat low too: the bank-card row is the same row, WeChat gets its own.
    s.accounts([account(s, { bank: '150.00', alipay: '0', wxpay: '14.99' })]);
    const again = await s.run(D);
    const all = (await s.discrepancies("kind = 'balance_low'")).sort((a, b) => a.provider_ref!.localeCompare(b.provider_ref!));
    expect(all.map((d) => [d.provider_ref, d.status, d.provider_amount])).toEqual([
      [`${s.broker()}/bankcard`, 'open', '150.00'],
      [`${s.broker()}/wxpay`, 'open', '14.99'],
    ]);
    expect(all[0]!.id).toBe(rows[0]!.id);
    expect(all[0]!.first_seen_run_id).toBe(first.runId);
    expect(all[0]!.last_seen_run_id).toBe(again.runId);

    // The balance query fails: the run succeeds and the day's findings stay open.
    s.sandbox.faults.accountsHttpErrors = 1000;
    const failed = await s.run(D);
    expect(failed.balances).toMatchObject({ asked: false });
    expect((await s.discrepancies("kind = 'balance_low'")).map((d) => [d.provider_ref, d.status, d.last_seen_run_id]).sort()).toEqual([
      [`${s.broker()}/bankcard`, 'open', failed.runId],
      [`${s.broker()}/wxpay`, 'open', failed.runId],
    ]);
    s.sandbox.resetFaults();

    // Bank card topped up: that finding resolves, WeChat's stays.
    s.accounts([account(s, { bank: '5000.00', alipay: '0', wxpay: '14.99' })]);
    await s.run(D);
    expect((await s.discrepancies("kind = 'balance_low'")).map((d) => [d.provider_ref, d.status]).sort()).toEqual([
      [`${s.broker()}/bankcard`, 'resolved'],
      [`${s.broker()}/wxpay`, 'open'],
    ]);

    // One snapshot row per broker per run that could ask, amounts exact.
    const snaps = await snapshots(s);
    expect(snaps).toHaveLength(4); // the runs of 03-09, D, D again and the top-up; not the failed one
    expect(snaps[1]).toMatchObject({ run_id: first.runId, broker_id: s.broker(), bank_card_balance: '199.99', alipay_balance: '0.00', wxpay_balance: '15.00', is_wxpay: true });
  });

  it('balance_low is one open row per broker and channel: the next day still low keeps it (and its first day), a top-up on any day resolves it', async () => {
    const s = await scenario();
    await twoDays(s);
    await s.run('2024-03-09');
    s.accounts([account(s, { bank: '199.99', alipay: '0', wxpay: '5000.00' })]);
    const first = await s.run(D);
    const [day] = await s.discrepancies("kind = 'balance_low'");
    expect(day).toMatchObject({ business_date: D, status: 'open', provider_ref: `${s.broker()}/bankcard` });
    // The next day has no orders: 400.00 over the three days with a bill file, 133.33 a day,
    // against 100.00: still low, the same row, still filed under the first day seen low.
    s.writeDay('2024-03-11', [], []);
    s.accounts([account(s, { bank: '100.00', alipay: '0', wxpay: '5000.00' })]);
    const next = await s.run('2024-03-11');
    let rows = await s.discrepancies("kind = 'balance_low'");
    expect(rows.map((d) => [d.id, d.business_date, d.status, d.provider_amount, d.first_seen_run_id, d.last_seen_run_id]))
      .toEqual([[day!.id, D, 'open', '100.00', first.runId, next.runId]]);

    // Topped up, seen by the run of the day after: D's row resolves.
    s.writeDay('2024-03-12', [], []);
    s.accounts([account(s, { bank: '5000.00', alipay: '0', wxpay: '5000.00' })]);
    const topUp = await s.run('2024-03-12');
    rows = await s.discrepancies("kind = 'balance_low'");
    expect(rows.map((d) => [d.id, d.status, d.resolved_run_id])).toEqual([[day!.id, 'resolved', topUp.runId]]);

    // Low again, then a back-fill of five old days with today's low balance: one open row,
    // filed under the first day it was seen low, and no row per old day.
    s.accounts([account(s, { bank: '1.00', alipay: '0', wxpay: '5000.00' })]);
    const low = await s.run('2024-03-12');
    for (const old of ['2024-03-05', '2024-03-06', '2024-03-07', '2024-03-08', D]) {
      s.writeDay(old, [{ id: s.id(`old-${old}`), ref: `7${old.replaceAll('-', '').padStart(17, '0')}`, amount: '100' }], []);
      await s.run(old);
    }
    const open = await s.discrepancies("kind = 'balance_low' and status = 'open'");
    expect(open.map((d) => [d.business_date, d.provider_ref, d.first_seen_run_id])).toEqual([['2024-03-12', `${s.broker()}/bankcard`, low.runId]]);
    expect(await s.discrepancies("kind = 'balance_low'")).toHaveLength(2);

    // A run that does not ask (the balance query fails) keeps it open, whatever its day.
    s.sandbox.faults.accountsHttpErrors = 1000;
    await s.run('2024-03-11');
    s.sandbox.resetFaults();
    expect((await s.discrepancies("kind = 'balance_low' and status = 'open'")).map((d) => d.id)).toEqual([open[0]!.id]);
    // A back-fill that sees the balance topped up resolves it, though the row is of another day.
    s.accounts([account(s, { bank: '5000.00', alipay: '0', wxpay: '5000.00' })]);
    await s.run('2024-03-06');
    expect(await s.discrepancies("kind = 'balance_low' and status = 'open'")).toEqual([]);
  });

  it('rows opened one per day by earlier versions: the oldest is continued, the later ones resolve', async () => {
    const s = await scenario();
    await twoDays(s);
    await s.run('2024-03-09');
    s.accounts([account(s, { bank: '1.00', alipay: '0', wxpay: '5000.00' })]);
    const first = await s.run(D);
    const [oldest] = await s.discrepancies("kind = 'balance_low'");
    // As a version that filed one row per day left it: the same broker and channel on 03-11.
    await db().handle.withSession((x) => x.query(
      `insert into recon.discrepancies (dealer_id, business_date, kind, severity, order_id, provider_ref, provider_amount, details, first_seen_run_id, last_seen_run_id)
       select dealer_id, '2024-03-11', kind, severity, null, provider_ref, provider_amount, details, first_seen_run_id, last_seen_run_id
         from recon.discrepancies where id = $1`, [oldest!.id]));
    s.writeDay('2024-03-11', [], []);
    const next = await s.run('2024-03-11');
    const rows = await s.discrepancies("kind = 'balance_low'");
    expect(rows.map((d) => [d.business_date, d.status, d.first_seen_run_id, d.last_seen_run_id, d.resolved_run_id])).toEqual([
      [D, 'open', first.runId, next.runId, null], ['2024-03-11', 'resolved', first.runId, first.runId, next.runId],
    ]);
  });

  it('a balance answer that cannot be used is named (broker, field, value), fails only the balance check, and leaves the findings open', async () => {
    const s = await scenario();
    await twoDays(s);
    await s.run('2024-03-09');
    s.accounts([account(s, { bank: '199.99', alipay: '0', wxpay: '5000.00' })]);
    await s.run(D);
    const [low] = await s.discrepancies("kind = 'balance_low'");
    const broker = s.broker();
    const cases: [Record<string, unknown>[], string][] = [
      [[account(s, { bank: '5000.00', alipay: '0', wxpay: '5000.00' }), account(s, { bank: '1.00', alipay: '0', wxpay: '0' })],
        `broker ${broker} is listed twice (accounts 1 and 2)`],
      [[{ ...account(s, { bank: '5000.00', alipay: '12,5', wxpay: '5000.00' }), rebate_fee_balance: null }],
        `broker ${broker}: alipay_balance "12,5" is not an amount; broker ${broker}: rebate_fee_balance null is not an amount`],
      [[{ ...account(s, { bank: '5000.00', alipay: '0', wxpay: '5000.00' }), broker_id: '' }], 'account 1 has no broker_id'],
      [[{ ...account(s, { bank: '5000.00', alipay: '0', wxpay: '5000.00' }), is_wxpay: 'yes' }], `broker ${broker}: is_wxpay "yes" is not true or false`],
    ];
    for (const [infos, problem] of cases) {
      s.accounts(infos);
      const result = await s.run(D);
      expect(result.balances).toEqual({ asked: false, channels: [], error: `the balance answer (query-accounts) cannot be used: ${problem}` });
      const runs = await db().handle.withSession((x) => x.query<{ status: string; summary: { balances: { error: string } } }>(
        'select status, summary from recon.runs where id = $1', [result.runId]));
      expect(runs.rows[0]!.status).toBe('succeeded');
      expect(runs.rows[0]!.summary.balances.error).toContain(problem);
      expect((await s.discrepancies("kind = 'balance_low'")).map((d) => [d.id, d.status, d.last_seen_run_id])).toEqual([[low!.id, 'open', result.runId]]);
    }
    // Nothing of those answers was recorded: the snapshots are those of 03-09 and D.
    expect(await snapshots(s)).toHaveLength(2);
  });

  it('a closed channel is never low, and a broker without payouts is only recorded', async () => {
    const s = await scenario();
    await twoDays(s);
    s.accounts([
      { ...account(s, { bank: '0.00', alipay: '0', wxpay: '0' }), is_bank_card: false, is_wxpay: false },
      { ...account(s, { bank: '0.00', alipay: '0', wxpay: '0' }), broker_id: s.broker('other') },
    ]);
    const result = await s.run(D);
    expect(result.balances!.channels.some((c) => c.low)).toBe(false);
    expect(await s.discrepancies("kind = 'balance_low'")).toEqual([]);
    expect((await snapshots(s)).map((r) => r.broker_id)).toEqual([s.broker(), s.broker('other')]);
  });

  it('a snapshot keeps each channel flag as answered, and amounts given as whole numbers or with spaces', async () => {
    const s = await scenario();
    await twoDays(s);
    await s.run('2024-03-09');
    s.accounts([
      { ...account(s, { bank: ' 199.99 ', alipay: '0', wxpay: '15.00' }), is_alipay: false },
      { ...account(s, { bank: '0', alipay: '0', wxpay: '0' }), broker_id: s.broker('other'), bank_card_balance: 300,
        alipay_balance: 0, is_bank_card: false, is_wxpay: false, rebate_fee_balance: 2 },
    ]);
    const result = await s.run(D);
    expect(result.balances).toMatchObject({ asked: true });
    expect(result.balances!.channels.filter((c) => c.low).map((c) => `${c.brokerId}/${c.channel}`)).toEqual([`${s.broker()}/bankcard`]);
    expect((await snapshots(s)).slice(1)).toEqual([
      expect.objectContaining({ broker_id: s.broker(), bank_card_balance: '199.99', is_bank_card: true, is_alipay: false, is_wxpay: true }),
      expect.objectContaining({ broker_id: s.broker('other'), bank_card_balance: '300.00', alipay_balance: '0.00', rebate_fee_balance: '2.00',
        is_bank_card: false, is_alipay: true, is_wxpay: false }),
    ]);
  });

  it('an answer without accounts is a query that succeeded: nothing recorded, nothing low', async () => {
    const s = await scenario();
    await twoDays(s);
    s.accounts([]);
    const result = await s.run(D);
    expect(result.balances).toEqual({ asked: true, channels: [] });
    expect(await snapshots(s)).toEqual([]);
    expect(await s.discrepancies("kind = 'balance_low'")).toEqual([]);
  });
});
