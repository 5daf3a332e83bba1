import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { rowViewsSql, DROP_ROW_VIEWS_SQL } from '../../../src/recon/load/day-tables.js';
import { pruneProviderDays } from '../../../src/recon/lifecycle/prune/provider-rows-pruner.js';
import { migrate, readMigrations } from '../../../src/db/migrator.js';
import { ENGINES, freshDatabase } from '../../helpers/db.js';
import { silentLog } from '../../helpers/provider.js';
import { paidBills, Scenario, scenarioSuite, type ProviderOrder } from '../../helpers/scenario.js';

const D = '2024-05-20';

/** The day `days` after D. */
const after = (days: number) => new Date(Date.parse(`${D}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

describe.each(ENGINES)('provider rows by day on %s', (engine) => {
  const { db, scenario } = scenarioSuite(engine);
  const order = (s: Scenario, local: string, amount = '100', ref = `8${local.padStart(17, '0')}`): ProviderOrder => ({ id: s.id(local), ref, amount });
  const query = async <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) =>
    (await db().handle.withSession((x) => x.query<T>(sql, params))).rows;
  const paid = (s: Scenario, ids: string[], date: string) => s.ledger(ids.map((id) => ({ id: s.id(id), amount: '100', status: 'paid' as const })), date);

  /** The dealer's tables in schema recon besides the partitions: what a run may leave behind. */
  const loadTables = async (s: Scenario) => query<{ relname: string }>(
    `select c.relname from pg_class c join recon.provider_row_tables t on c.relname like t.table_name || '%_load%'
      where t.dealer_id = $1 and c.relkind = 'r'`, [s.dealerId]);

  it('a re-run with a regenerated file leaves exactly the new file\'s rows for the day, and no leftover table', async () => {
    const s = await scenario();
    const [a, b, c] = [order(s, '1'), order(s, '2'), order(s, '3')];
    s.writeDay(D, [a, b], [...paidBills(a), ...paidBills(b)]);
    await paid(s, ['1', '2', '3'], D);
    await s.run(D);
    s.regenerateDay(D, [a, c], [...paidBills(a), ...paidBills(c)], new Date('2024-05-21T08:45:00Z'));
    await s.run(D);
    const orders = await query<{ order_id: string }>(
      'select order_id from recon.provider_orders where dealer_id = $1 and business_date = $2 order by order_id', [s.dealerId, D]);
    expect(orders.map((o) => o.order_id)).toEqual([a.id, c.id]);
    const bills = await query<{ n: number }>('select count(*)::int as n from recon.provider_bills where dealer_id = $1', [s.dealerId]);
    expect(bills[0]!.n).toBe(2);
    expect(await loadTables(s)).toEqual([]);
    const days = await query<{ kind: string; business_date: string }>(
      'select kind, business_date::text from recon.provider_days where dealer_id = $1 order by kind', [s.dealerId]);
    expect(days).toEqual([{ kind: 'bill', business_date: D }, { kind: 'order', business_date: D }]);
    // What the old file had and the new one lacks is resolved; nothing else is open.
    expect(await s.open()).toEqual([['2', 'missing_at_provider', 'critical']]);
  });

  it('a failed run leaves no table behind and the day\'s rows as they were', async () => {
    const s = await scenario();
    const a = order(s, '1');
    s.writeDay(D, [a], paidBills(a));
    await paid(s, ['1'], D);
    await s.run(D);
    s.regenerateDay(D, [a, order(s, '2', 'abc')], paidBills(a), new Date('2024-05-21T08:45:00Z'));
    await expect(s.run(D)).rejects.toThrow(/金额|amount/);
    expect(await loadTables(s)).toEqual([]);
    const orders = await query<{ order_id: string }>('select order_id from recon.provider_orders where dealer_id = $1', [s.dealerId]);
    expect(orders.map((o) => o.order_id)).toEqual([a.id]);
  });

  /** D with an order the ledger lacks (missing_in_ledger), and a matched day five days later. */
  const oldAndNewDay = async (s: Scenario) => {
    const [a, b] = [order(s, '1'), order(s, '2')];
    s.writeDay(D, [a], paidBills(a));
    s.writeDay(after(5), [b], paidBills(b));
    await paid(s, ['2'], after(5));
  };

  it('a bad bill file, loaded beside the order file, leaves no table behind either', async () => {
    const s = await scenario();
    const a = order(s, '1');
    s.writeDay(D, [a], paidBills(a));
    await paid(s, ['1'], D);
    await s.run(D);
    const bills = async () => (await query<{ n: number }>('select count(*)::int as n from recon.provider_bills where dealer_id = $1', [s.dealerId]))[0]!.n;
    const before = await bills();
    const bad = paidBills(a).map((b, i) => (i === 0 ? { ...b, amount: '1.2.3' } : b));
    s.regenerateDay(D, [a, order(s, '2')], bad, new Date('2024-05-21T08:45:00Z'));
    await expect(s.run(D)).rejects.toThrow(/bill file .* column 金额: malformed amount "1\.2\.3"/);
    expect(await loadTables(s)).toEqual([]);
    expect(await bills()).toBe(before);
  });

  it('a run that fails after both files are loaded drops them; a load table a dead run left is dropped by the next run', async () => {
    const s = await scenario();
    const a = order(s, '1');
    s.writeDay(D, [a], paidBills(a));
    await paid(s, ['1'], D);
    // The run fails as it records its success, once every file is loaded and matched.
    await query(`create function recon.test_refuse_success() returns trigger language plpgsql as $$
                 begin if new.status = 'succeeded' then raise exception 'refused by the test'; end if; return new; end $$`);
    await query('create trigger test_refuse_success before update on recon.runs for each row execute function recon.test_refuse_success()');
    try {
      await expect(s.run(D)).rejects.toThrow(/refused by the test/);
    } finally {
      await query('drop trigger test_refuse_success on recon.runs');
      await query('drop function recon.test_refuse_success()');
    }
    expect(await loadTables(s)).toEqual([]);
    // A run on PGlite loads its files one after the other, on its one connection.
    if (engine === 'pglite') return;
    // As a run that died mid-load leaves it: a load table committed by its second connection.
    await query(`select recon.provider_load_table('bill', $1, $2, 999999)`, [s.dealerId, D]);
    expect(await loadTables(s)).toHaveLength(1);
    await s.run(D);
    expect(await loadTables(s)).toEqual([]);
    expect(await s.open()).toEqual([]);
  });

  // On a server the bill table is indexed on the second connection while the run matches.
  it.skipIf(engine === 'pglite')('a bill table whose index cannot be built after its load fails the run, which leaves the day as it was (Postgres only)', async () => {
    const s = await scenario();
    const a = order(s, '1');
    s.writeDay(D, [a], paidBills(a));
    await paid(s, ['1'], D);
    await s.run(D);
    const rows = async () => query<{ kind: string; n: number }>(
      `select 'order' as kind, count(*)::int as n from recon.provider_orders where dealer_id = $1
       union all select 'bill', count(*)::int from recon.provider_bills where dealer_id = $1 order by 1`, [s.dealerId]);
    const before = await rows();
    s.regenerateDay(D, [a, order(s, '2')], [...paidBills(a), ...paidBills(order(s, '2'))], new Date('2024-05-21T08:45:00Z'));
    await query(`create function recon.test_refuse_bill_index() returns event_trigger language plpgsql as $$
                 begin
                   if exists (select 1 from pg_event_trigger_ddl_commands()
                               where command_tag = 'CREATE INDEX' and object_identity like '%provider\\_bills%\\_load%') then
                     raise exception 'bill index refused by the test';
                   end if;
                 end $$`);
    await query('create event trigger test_refuse_bill_index on ddl_command_end when tag in (\'CREATE INDEX\') execute function recon.test_refuse_bill_index()');
    try {
      await expect(s.run(D)).rejects.toThrow(/bill index refused by the test/);
    } finally {
      await query('drop event trigger test_refuse_bill_index');
      await query('drop function recon.test_refuse_bill_index()');
    }
    expect(await loadTables(s)).toEqual([]);
    expect(await rows()).toEqual(before);
    // The next run loads the regenerated day whole.
    await s.run(D);
    expect((await rows()).map((r) => r.n)).toEqual([2, 2]);
  });

  it('retention drops old days by partition and keeps every finding, runs and file records', async () => {
    const s = await scenario();
    await oldAndNewDay(s);
    await s.run(D, { retainDays: 3 });
    await s.run(after(5), { retainDays: 30 });
    const findingsBefore = await s.discrepancies('true');
    expect(await s.open()).toEqual([['1', 'missing_in_ledger', 'critical']]);

    // A dry run says what would go and removes nothing.
    const dry = await db().handle.withSession((x) => pruneProviderDays(x, s.dealerId, 3, true));
    expect(dry).toMatchObject({ tables: 2, findingsMarked: 0, keptFrom: after(2) });
    expect((await query('select 1 from recon.provider_orders where dealer_id = $1 and business_date = $2', [s.dealerId, D])).length).toBe(1);

    // A successful run drops them: 5 days before the newest day is past 3 days.
    await s.run(after(5), { retainDays: 3 });
    const days = await query<{ business_date: string }>(
      'select distinct business_date::text from recon.provider_days where dealer_id = $1', [s.dealerId]);
    expect(days.map((d) => d.business_date)).toEqual([after(5)]);
    expect((await query('select 1 from recon.provider_orders where dealer_id = $1 and business_date = $2', [s.dealerId, D])).length).toBe(0);
    const findings = await s.discrepancies('true');
    expect(findings.map((f) => f.id)).toEqual(findingsBefore.map((f) => f.id));
    const [kept] = findings;
    expect(kept).toMatchObject({ status: 'open', kind: 'missing_in_ledger', business_date: D });
    expect(kept!.details.provider_rows_pruned).toEqual({ kept_from: after(2) });
    expect((await query('select 1 from recon.provider_files where dealer_id = $1 and business_date = $2', [s.dealerId, D])).length).toBe(2);
    expect((await query('select 1 from recon.runs where dealer_id = $1', [s.dealerId])).length).toBe(3);

    // The next run does not judge it again (no rows are left to judge it by): it stays open.
    await s.run(after(5), { retainDays: 3 });
    expect(await s.open()).toEqual([['1', 'missing_in_ledger', 'critical']]);
  });

  it('the prune counts what it drops and marks: partitions, their bytes as the dry run said, findings once', async () => {
    const s = await scenario();
    await oldAndNewDay(s);
    await s.run(D, { retainDays: 30 });
    await s.run(after(5), { retainDays: 30 });
    const dry = await db().handle.withSession((x) => pruneProviderDays(x, s.dealerId, 3, true));
    expect(dry.bytes).toBeGreaterThan(0);
    const done = await db().handle.withSession((x) => pruneProviderDays(x, s.dealerId, 3, false));
    // D's order missing in the ledger, and D's systemic_mismatch (its one order is critical).
    expect(done).toEqual({ tables: 2, bytes: dry.bytes, findingsMarked: 2, keptFrom: after(2) });
    expect(await db().handle.withSession((x) => pruneProviderDays(x, s.dealerId, 3, false)))
      .toEqual({ tables: 0, bytes: 0, findingsMarked: 0, keptFrom: after(2) });
  });

  it('a 退汇 arriving 40 days after its order is laid against it', async () => {
    const s = await scenario();
    const a = { ...order(s, '1'), fee: '7.00' };
    s.writeDay(D, [a], paidBills(a));
    await paid(s, ['1'], D);
    await s.run(D);
    expect(await s.open()).toEqual([]);
    const later = after(40);
    s.writeDay(later, [], [{ id: a.id, ref: a.ref, billRef: `${a.ref}9`, type: '经纪公司退汇', amount: '100' }]);
    await s.run(later);
    const [refund] = await s.discrepancies();
    expect(refund).toMatchObject({ kind: 'refund_unrecorded', business_date: D, order_id: a.id, provider_ref: a.ref });
    expect(refund!.details.returns).toEqual([{ bill_ref: `${a.ref}9`, type: 'return', amount: '100.00', business_date: later }]);
  });

  /** One 商户订单号 paid on D and again three days later (two 订单流水号), the ledger's one row on D. */
  const paidTwice = async (s: Scenario) => {
    const first = order(s, '1', '100', '800000000000000001');
    const again = order(s, '1', '100', '800000000000000002');
    s.writeDay(D, [first], paidBills(first));
    s.writeDay(after(3), [again], paidBills(again));
    await paid(s, ['1'], D);
    return `${first.ref},${again.ref}`;
  };

  it('a 商户订单号 paid again three days later is a duplicate; outside the window it is not searched', async () => {
    for (const [window, expected] of [[7, [['1', 'duplicate_provider_order', 'critical']]], [2, []]] as const) {
      const s = await scenario();
      const refs = await paidTwice(s);
      await s.run(D, { duplicateWindowDays: window });
      await s.run(after(3), { duplicateWindowDays: window });
      expect(await s.open(), `window ${window}`).toEqual(expected);
      if (expected.length > 0) {
        const [dup] = await s.discrepancies();
        expect(dup).toMatchObject({ business_date: D, provider_ref: refs, provider_amount: '200.00' });
      }
    }
  });

  it('the window looks forward too: a day back-filled after a later one finds the later payment', async () => {
    const s = await scenario();
    const refs = await paidTwice(s);
    await s.run(after(3), { duplicateWindowDays: 7 });
    await s.run(D, { duplicateWindowDays: 7 });
    expect(await s.open()).toEqual([['1', 'duplicate_provider_order', 'critical']]);
    expect((await s.discrepancies())[0]).toMatchObject({ business_date: D, provider_ref: refs, provider_amount: '200.00' });
  });

  it('a freshly loaded day has its statistics, and an order is looked up through its index on the first run', async () => {
    const s = await scenario();
    const orders = Array.from({ length: 3000 }, (_, i) => order(s, String(i + 1)));
    s.writeDay(D, orders, orders.flatMap(paidBills));
    await s.run(D);
    const [stats] = await query<{ reltuples: number; analyzed: boolean }>(
      `select c.reltuples::int as reltuples,
              exists (select 1 from pg_stats p where p.schemaname = 'recon' and p.tablename = c.relname and p.attname = 'order_id') as analyzed
         from recon.provider_days d join pg_class c on c.relname = d.table_name
        where d.dealer_id = $1 and d.kind = 'order'`, [s.dealerId]);
    expect(stats).toEqual({ reltuples: 3000, analyzed: true });
    const plan = await db().handle.withSession(async (x) => {
      await x.exec('begin');
      for (const sql of rowViewsSql(s.dealerId, D, {}, 7)) await x.query(sql);
      const r = await x.query<{ 'QUERY PLAN': string }>(`explain select * from recon_orders o where o.order_id = '${orders[1500]!.id}'`);
      await x.query(DROP_ROW_VIEWS_SQL);
      await x.exec('rollback');
      return r.rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/Index Scan|Bitmap Index Scan/);
  });

  it.skipIf(engine === 'pglite')('two dealers\' runs at once: neither, nor a finance query, waits on the other\'s partition swap (Postgres only)', async () => {
    const [a, b] = [await scenario(), await scenario()];
    for (const s of [a, b]) {
      const orders = [order(s, '1'), order(s, '2')];
      s.writeDay(D, orders, orders.flatMap(paidBills));
      await paid(s, ['1', '2'], D);
    }
    // Both at once, each swapping its day in.
    await Promise.all([a.run(D), b.run(D)]);
    const client = async () => {
      const c = new pg.Client({ connectionString: db().url });
      await c.connect();
      await c.query("set lock_timeout = '5s'");
      return c;
    };
    const [holder, finance] = [await client(), await client()];
    try {
      const [{ table_name: aTable }] = (await holder.query<{ table_name: string }>(
        "select table_name from recon.provider_row_tables where dealer_id = $1 and kind = 'order'", [a.dealerId])).rows as [{ table_name: string }];
      // Dealer A's swap: ACCESS EXCLUSIVE on its tables, held. B's run and finance go on.
      await holder.query('begin');
      await holder.query(`lock table recon."${aTable}" in access exclusive mode`);
      b.regenerateDay(D, [order(b, '1')], paidBills(order(b, '1')), new Date('2024-05-21T08:45:00Z'));
      await b.run(D, { lockTimeoutMs: 5_000 });
      await finance.query('select count(*) from recon.open_discrepancies');
      await finance.query('select count(*) from recon.daily_summary');
      await finance.query('select count(*) from recon.provider_orders where dealer_id = $1', [b.dealerId]);
      await holder.query('rollback');

      // B's rows read in a transaction that stays open (as B's run reads them): A's run, swap
      // included, does not wait for it.
      await holder.query('begin');
      await holder.query('select count(*) from recon.provider_orders where dealer_id = $1', [b.dealerId]);
      await holder.query('select count(*) from recon.provider_bills where dealer_id = $1', [b.dealerId]);
      let waited = 0;
      let running = true;
      const watch = (async () => {
        while (running) {
          const r = await finance.query<{ n: number }>(
            'select count(*)::int as n from pg_locks where not granted and database = (select oid from pg_database where datname = current_database())');
          waited = Math.max(waited, r.rows[0]!.n);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      a.regenerateDay(D, [order(a, '2')], paidBills(order(a, '2')), new Date('2024-05-21T08:45:00Z'));
      await a.run(D).finally(() => { running = false; });
      await watch;
      expect(waited).toBe(0);
      await holder.query('commit');
      expect(await a.open()).toEqual([['1', 'missing_at_provider', 'critical']]);
      expect(await b.open()).toEqual([['2', 'missing_at_provider', 'critical']]);
    } finally {
      await holder.end();
      await finance.end();
    }
  });
});

describe.each(ENGINES)('migration 0006 on a database that holds several days, on %s', (engine) => {
  it('moves every row into its dealer\'s day partition, and a run then finds them', async () => {
    const db = await freshDatabase(engine, { migrated: false });
    const s = await Scenario.create(db.handle);
    try {
      await db.handle.withSession((x) => migrate(x, silentLog, readMigrations().filter((m) => m.id < 6)));
      const days = [after(-3), after(-2), after(-1)];
      const other = `${s.dealerId}other`;
      await db.handle.withSession(async (x) => {
        for (const [i, day] of days.entries()) {
          for (const dealer of [s.dealerId, other]) {
            for (let n = 1; n <= 3; n++) {
              const id = `${dealer === other ? 'o' : ''}${s.id(`${i}${n}`)}`;
              const ref = `8${String(i * 10 + n).padStart(17, '0')}`;
              await x.query(
                `insert into recon.provider_orders (dealer_id, business_date, line, order_id, provider_ref, status_text, status, amount)
                 values ($1, $2, $3, $4, $5, '成功', 'paid', 100)`, [dealer, day, n + 1, id, ref]);
              await x.query(
                `insert into recon.provider_bills (dealer_id, business_date, line, order_id, provider_ref, bill_ref, bill_type, bill_status, amount)
                 values ($1, $2, $3, $4, $5, $6, 'payout', 'succeeded', 100)`, [dealer, day, n + 1, id, ref, `${ref}1`]);
            }
          }
        }
      });
      await db.handle.withSession((x) => migrate(x, silentLog));
      const q = async <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) =>
        (await db.handle.withSession((x) => x.query<T>(sql, params))).rows;
      const partitions = await q<{ dealer_id: string; kind: string; business_date: string; n: number }>(
        `select d.dealer_id, d.kind, d.business_date::text, count(*)::int as n from recon.provider_days d group by 1, 2, 3 order by 1, 2, 3`);
      expect(partitions).toHaveLength(12);
      const perDay = await q<{ dealer_id: string; business_date: string; n: number }>(
        'select dealer_id, business_date::text, count(*)::int as n from recon.provider_orders group by 1, 2 order by 1, 2');
      expect(perDay).toEqual([s.dealerId, other].sort().flatMap((dealer) => days.map((day) => ({ dealer_id: dealer, business_date: day, n: 3 }))));
      expect(await q("select 1 from pg_class where relname in ('provider_orders_0005', 'provider_bills_0005')")).toEqual([]);
      // The order-id index reaches every partition (ATTACH adopted each day's own).
      const unindexed = await q(
        `select c.relname from recon.provider_days d join pg_class c on c.relname = d.table_name
          where not exists (select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
                             where i.indrelid = c.oid and a.attname = 'order_id')`);
      expect(unindexed).toEqual([]);

      // A 退汇 on D for an order of a migrated day is laid against it.
      const old = { id: s.id('01'), ref: `8${'1'.padStart(17, '0')}`, amount: '100' };
      await s.ledger([{ id: old.id, amount: '100', status: 'paid' }], days[0]!);
      s.writeDay(D, [], [{ id: old.id, ref: old.ref, billRef: `${old.ref}9`, type: '经纪公司退汇', amount: '100' }]);
      await s.run(D);
      expect((await s.discrepancies()).map((f) => [f.kind, f.business_date, f.order_id])).toEqual([['refund_unrecorded', days[0], old.id]]);
    } finally {
      await s.stop();
      await db.drop();
    }
  });
});
