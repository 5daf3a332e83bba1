import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { prune } from '../../../src/cli/prune.js';
import { loadConfig } from '../../../src/config.js';
import { ENDPOINTS } from '../../../src/provider/protocol.js';
import { Archive } from '../../../src/provider/file-archive.js';
import { ENGINES } from '../../helpers/db.js';
import { silentLog } from '../../helpers/provider.js';
import { paidBills, scenarioSuite, type ProviderOrder, type Scenario } from '../../helpers/scenario.js';

const D = '2024-05-20';
const after = (days: number) => new Date(Date.parse(`${D}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

describe.each(ENGINES)('prune works on one dealer, or on each in turn, on %s', (engine) => {
  const { db, scenario } = scenarioSuite(engine);
  const archiveDir = mkdtempSync(join(tmpdir(), 'yzh-shared-archive-'));
  afterAll(() => rmSync(archiveDir, { recursive: true, force: true }));
  const order = (s: Scenario, local: string): ProviderOrder => ({ id: s.id(local), ref: `8${local.padStart(17, '0')}`, amount: '100' });
  const query = async <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) =>
    (await db().handle.withSession((x) => x.query<T>(sql, params))).rows;
  const days = async (s: Scenario) => (await query<{ d: string }>(
    "select distinct business_date::text as d from recon.provider_days where dealer_id = $1 order by 1", [s.dealerId])).map((r) => r.d);
  const marked = async (s: Scenario) => (await s.discrepancies()).filter((f) => f.details.provider_rows_pruned !== undefined).length;
  const objects = async (s: Scenario) => (await new Archive(archiveDir).list()).filter((o) => o.dealerId === s.dealerId).length;

  /**
   * Day D with an order the ledger lacks (an open finding, and the day's systemic_mismatch: its
   * one order is critical), and a matched day `newest` days later.
   */
  const twoDays = async (s: Scenario, newest: number) => {
    const [a, b] = [order(s, '1'), order(s, '2')];
    s.writeDay(D, [a], paidBills(a));
    s.writeDay(after(newest), [b], paidBills(b));
    await s.ledger([{ id: b.id, amount: '100', status: 'paid' }], after(newest));
    await s.run(D, { retainDays: 30, archiveDir });
    await s.run(after(newest), { retainDays: 30, archiveDir });
  };

  const pruneAs = async (env: Record<string, string>, allDealers = false) => {
    let stdout = '';
    const out = new Writable({ write(chunk, _enc, done) { stdout += String(chunk); done(); } });
    const config = loadConfig({ YZH_ARCHIVE_DIR: archiveDir, YZH_ARCHIVE_RETAIN_DAYS: '365', YZH_RETAIN_DAYS: '3', ...env });
    const code = await prune(db().handle, config, { dryRun: false, allDealers }, { stdout: out, log: silentLog });
    return { code, stdout };
  };

  it('dealer A\'s prune, with A\'s settings, leaves dealer B\'s partitions, archive objects and findings as they were', async () => {
    const [a, b] = [await scenario(), await scenario()];
    await twoDays(a, 5);
    await twoDays(b, 5);
    expect(await objects(b)).toBe(4);

    const done = await pruneAs({ YZH_DEALER_ID: a.dealerId });
    expect(done.code).toBe(0);
    expect(done.stdout).toBe(`rows     removed 2 (${done.stdout.match(/\((\d+\.\d) MiB\)/)![1]} MiB) from before ${after(2)} (YZH_RETAIN_DAYS=3)\n`
      + 'archive  removed 4 (0.0 MiB) from before ' + done.stdout.match(/archive .* from before (\S+)/)![1] + ' (YZH_ARCHIVE_RETAIN_DAYS=365)\n');
    expect(await days(a)).toEqual([after(5)]);
    expect(await marked(a)).toBe(2);
    expect(await objects(a)).toBe(0);

    expect(await days(b)).toEqual([D, after(5)]);
    expect(await marked(b)).toBe(0);
    expect(await objects(b)).toBe(4);
    expect(await query("select 1 from recon.provider_files where dealer_id = $1 and archive_pruned_at is not null", [b.dealerId])).toEqual([]);
  });

  it('without YZH_DEALER_ID prune refuses, naming the variable and --all-dealers; with it, each dealer by its own newest day', async () => {
    const [a, b] = [await scenario(), await scenario()];
    await twoDays(a, 5);
    await twoDays(b, 2);
    await expect(pruneAs({})).rejects.toThrow('configuration: YZH_DEALER_ID is required by prune (or --all-dealers to prune every dealer)');
    expect(await days(a)).toEqual([D, after(5)]);

    const all = await pruneAs({}, true);
    expect(all.code).toBe(0);
    // A's newest day is D+5: D is more than 3 days before it. B's is D+2: D is kept.
    expect(all.stdout).toContain(`dealer ${a.dealerId}\n  rows     removed 2 `);
    expect(all.stdout).toContain(`dealer ${b.dealerId}\n  rows     removed 0 (0.0 MiB) from before ${after(-1)} (YZH_RETAIN_DAYS=3)\n`);
    expect(await days(a)).toEqual([after(5)]);
    expect(await days(b)).toEqual([D, after(2)]);
    expect(await marked(b)).toBe(0);
    // Archive objects are kept by age on today's calendar, per dealer: both dealers' are past 365 days.
    expect([await objects(a), await objects(b)]).toEqual([0, 0]);

    const tighter = await pruneAs({ YZH_RETAIN_DAYS: '1' }, true);
    expect(tighter.stdout).toContain(`dealer ${b.dealerId}\n  rows     removed 2 `);
    expect(await days(b)).toEqual([after(2)]);
    expect(await marked(b)).toBe(2);
  });

  it.skipIf(engine === 'pglite')('a prune of dealer A while B\'s run is inside its transaction: neither waits for the other, B\'s run succeeds (Postgres only)', async () => {
    const [a, b] = [await scenario(), await scenario()];
    await twoDays(a, 5);
    await twoDays(b, 5);
    // B's next day: a paid ledger row no file has, which the follow-up asks about, and the
    // provider holds that question for a while: B's run waits inside its transaction, having
    // read its rows and holding its findings.
    const late = after(6);
    b.writeDay(late, [], []);
    await b.ledger([{ id: b.id('9'), amount: '100', status: 'paid' }], late);
    const stalled = async () => {
      b.sandbox.faults.orderQueryStalls = 1;
      b.sandbox.faults.stallMs = 4000;
      const calls = b.sandbox.calls.length;
      const outcome = { settled: false };
      const run = b.run(late, {
        retainDays: 30, archiveDir, clientEnv: { YZH_RETRIES: '0', YZH_TIMEOUT_MS: '30000' },
        followUp: { concurrency: 1, max: 500, reaskAfterHours: 0 },
      }).finally(() => { outcome.settled = true; });
      while (!b.sandbox.calls.slice(calls).some((c) => c.endpoint === ENDPOINTS.queryOrder && c.code === 'stalled')) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return { run, outcome };
    };

    const first = await stalled();
    const pruned = await pruneAs({ YZH_DEALER_ID: a.dealerId, YZH_LOCK_TIMEOUT_MS: '30000' });
    expect(pruned.code).toBe(0);
    expect(first.outcome.settled, 'the prune of A waited for B\'s run').toBe(false);
    await expect(first.run).resolves.toMatchObject({ dealerId: b.dealerId });
    expect(await days(a)).toEqual([after(5)]);
    expect(await days(b)).toEqual([D, after(5), late]);

    // --all-dealers: B's turn waits for B's run (its run lock), then prunes; the run succeeds.
    const second = await stalled();
    const all = await pruneAs({ YZH_LOCK_TIMEOUT_MS: '30000' }, true);
    expect(all.code).toBe(0);
    expect(second.outcome.settled, 'B was pruned while its run was under way').toBe(true);
    await expect(second.run).resolves.toMatchObject({ dealerId: b.dealerId });
    expect(await days(b)).toEqual([after(5), late]);
    expect(await marked(b)).toBe(2);

    // A dealer whose run lock stays taken is named; the others are still pruned.
    const third = await stalled();
    const refused = pruneAs({ YZH_DEALER_ID: b.dealerId, YZH_LOCK_TIMEOUT_MS: '500' });
    await expect(refused).rejects.toThrow(new RegExp(`^dealer ${b.dealerId} is locked by run \\d+ \\(business date ${late}`));
    await third.run;
  });
});
