import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedFixtureLedger } from '../../../src/db/seed.js';
import { runDay } from '../../../src/recon/runs/run-day.js';
import type { Sandbox } from '../../../src/provider/sandbox-server.js';
import { freshDatabase, ENGINES, type TestDatabase } from '../../helpers/db.js';
import { client, FIXTURE_DATE, silentLog, startSandbox } from '../../helpers/provider.js';


describe.each(ENGINES)('the fixture day on %s', (engine) => {
  let db: TestDatabase;
  let sandbox: Sandbox;
  const archiveDir = mkdtempSync(join(tmpdir(), 'yzh-archive-'));
  beforeAll(async () => {
    sandbox = await startSandbox();
    db = await freshDatabase(engine);
    await db.handle.withSession(async (s) => {
      await seedFixtureLedger(s);
    });
  });
  afterAll(async () => {
    await db.drop();
    await sandbox.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  it('finds exactly the planted discrepancies', async () => {
    const c = client(sandbox);
    const result = await runDay({ db: db.handle, client: c, config: { lockTimeoutMs: 5000, tmpDir: tmpdir(), archiveDir }, log: silentLog },
      { dealerId: 'sixcn', date: FIXTURE_DATE, trigger: 'manual' });
    await c.close();
    expect(result.files.map((f) => [f.kind, f.rows, f.loaded])).toEqual([['order', 40, true], ['bill', 80, true]]);
    const rows = await db.handle.withSession((s) => s.query<{ kind: string; severity: string; order_id: string; details: Record<string, unknown> }>(
      `select kind, severity, order_id, details from recon.discrepancies order by order_id, kind`));
    expect(rows.rows.map((r) => [r.order_id, r.kind, r.severity])).toEqual([
      ['2017111102', 'refund_unrecorded', 'critical'],
      ['2017111103', 'amount_mismatch', 'critical'],
      ['2017112704', 'status_mismatch', 'warning'],
      ['2017112705', 'duplicate_provider_order', 'critical'],
      ['2017112708', 'missing_at_provider', 'critical'],
      ['2017112709', 'missing_at_provider', 'info'],
    ]);
    expect(rows.rows.find((r) => r.order_id === '2017112709')!.details).toMatchObject({ reason: 'cutoff' });
  });
});
