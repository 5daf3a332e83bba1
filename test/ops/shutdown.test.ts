import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDay } from '../bench/generate.js';
import { Sandbox } from '../../src/provider/sandbox-server.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { childDatabase, providerEnv, type ChildDatabase } from '../helpers/cli-env.js';
import { ENGINES } from '../helpers/db.js';
import { FIXTURE_DATE, KEYS, startSandbox } from '../helpers/provider.js';


describe.each(ENGINES)('SIGTERM during a run on %s', (engine) => {
  let sandbox: Sandbox;
  let db: ChildDatabase;
  beforeAll(async () => {
    sandbox = await startSandbox();
    db = await childDatabase(engine, { fixtureDay: true });
  });
  afterAll(async () => {
    await sandbox.stop();
    await db.drop();
  });

  /** Exit 143 within moments, the tables as before, the run recorded as interrupted. */
  async function expectInterrupted(result: CliResult, signalled: number, after: unknown, before: unknown): Promise<void> {
    expect(result.code, result.stderr).toBe(143);
    expect(Date.now() - signalled).toBeLessThan(5000);
    expect(result.stderr).toMatch(/yzh-recon: interrupted by SIGTERM\n$/);
    expect(after).toEqual(before);
    await db.use((h) => h.withSession(async (s) => {
      const last = (await s.query<{ status: string; error: string }>('select status, error from recon.runs order by id desc limit 1')).rows[0];
      expect(last).toEqual({ status: 'failed', error: 'interrupted by SIGTERM' });
    }));
  }

  it('stops the download, records the run as interrupted, releases the lock, exits 143 and leaves the tables as they were', async () => {
    const env = { ...db.env, ...providerEnv(sandbox) };
    expect((await runCli(['run', '--date', FIXTURE_DATE], env)).code).toBe(0);
    const snapshot = () => db.use((h) => h.withSession(async (s) => ({
      discrepancies: (await s.query('select * from recon.discrepancies order by id')).rows,
      files: (await s.query('select * from recon.provider_files order by id')).rows,
    })));
    const before = await snapshot();

    // Served slowly: the run is mid-download when the signal comes.
    sandbox.faults.downloadBytesPerSecond = 100;
    sandbox.calls.length = 0;
    let pid = 0;
    const started = Date.now();
    const running = runCli(['run', '--date', FIXTURE_DATE], { ...env, YZH_TIMEOUT_MS: '60000' }, { onSpawn: (p) => { pid = p; } });
    while (!sandbox.calls.some((c) => c.endpoint.includes('order/downloadurl') && c.code === '0000') && Date.now() - started < 20_000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500));
    const signalled = Date.now();
    process.kill(pid, 'SIGTERM');
    const result = await running;
    sandbox.faults.downloadBytesPerSecond = 0;

    await expectInterrupted(result, signalled, await snapshot(), before);
    await db.use((h) => h.withSession(async (s) => {
      const lock = await s.query<{ free: boolean }>(`select pg_try_advisory_lock(7313042, hashtext('sixcn')) as free`);
      expect(lock.rows[0]!.free).toBe(true);
      await s.query(`select pg_advisory_unlock(7313042, hashtext('sixcn'))`);
    }));
    // The next run succeeds.
    expect((await runCli(['run', '--date', FIXTURE_DATE], env)).code).toBe(0);
  });

  it('stops the load (Postgres: inside its COPY), records the run as interrupted, exits 143 and leaves the tables as they were', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yzh-sigterm-load-'));
    const big = new Sandbox({ ...KEYS, dir, retentionDays: null });
    try {
      await generateDay(dir, FIXTURE_DATE, 200_000);
      await big.start();
      const env = { ...db.env, ...providerEnv(big), YZH_TIMEOUT_MS: '60000' };
      const snapshot = () => db.use((h) => h.withSession(async (s) => ({
        discrepancies: (await s.query('select * from recon.discrepancies order by id')).rows,
        files: (await s.query('select * from recon.provider_files order by id')).rows,
        orders: (await s.query('select count(*)::int as n from recon.provider_orders')).rows,
      })));
      const before = await snapshot();
      let pid = 0;
      const running = runCli(['run', '--date', FIXTURE_DATE], env, { onSpawn: (p) => { pid = p; } });
      const started = Date.now();
      let inCopy = false;
      if (engine === 'pg') {
        // The signal comes while Postgres is taking in a file's records.
        const admin = new pg.Client({ connectionString: db.env.DATABASE_URL });
        await admin.connect();
        try {
          while (!inCopy && Date.now() - started < 60_000) {
            const r = await admin.query("select 1 from pg_stat_activity where datname = current_database() and state = 'active' and query ilike 'copy recon%'");
            if (r.rowCount! > 0) inCopy = true;
            else await new Promise((r) => setTimeout(r, 20));
          }
        } finally {
          await admin.end();
        }
        expect(inCopy).toBe(true);
      } else {
        // PGlite runs in the child: the signal comes a second after the bill file was asked
        // for, well inside a 200,000-order load (over ten seconds there).
        while (!big.requests.some((r) => r.path.includes('/bill.csv.gz')) && Date.now() - started < 60_000) {
          await new Promise((r) => setTimeout(r, 20));
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      const signalled = Date.now();
      process.kill(pid, 'SIGTERM');
      const result = await running;
      await expectInterrupted(result, signalled, await snapshot(), before);
    } finally {
      await big.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
