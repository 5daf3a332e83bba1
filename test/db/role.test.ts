import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrator.js';
import { seedFixtureLedger } from '../../src/db/seed.js';
import type { Sandbox } from '../../src/provider/sandbox-server.js';
import { runCli } from '../helpers/cli.js';
import { providerEnv } from '../helpers/cli-env.js';
import { freshDatabase, type TestDatabase } from '../helpers/db.js';
import { FIXTURE_DATE, silentLog, startSandbox } from '../helpers/provider.js';

const HAS_PG = Boolean(process.env.TEST_DATABASE_URL);
if (!HAS_PG) console.log('least-privilege role test: needs a real Postgres (TEST_DATABASE_URL); PGlite has a single user');

describe.skipIf(!HAS_PG)('the least-privilege job role (sql/roles/job-role.sql)', () => {
  let db: TestDatabase;
  let sandbox: Sandbox;
  const archiveDir = mkdtempSync(join(tmpdir(), 'yzh-role-archive-'));
  beforeAll(async () => {
    db = await freshDatabase('pg');
    sandbox = await startSandbox();
    await db.handle.withSession(async (s) => {
      await migrate(s, silentLog);
      await seedFixtureLedger(s);
      await s.exec(readFileSync(join(import.meta.dirname, '..', '..', 'sql', 'roles', 'job-role.sql'), 'utf8'));
    });
  });
  afterAll(async () => {
    await sandbox.stop();
    await db.drop();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  it('runs the job, and cannot change the ledger, the fee rates, the ack columns, a recorded file hash or archive key, or the schema', async () => {
    const url = new URL(db.url!);
    url.username = 'yzh_recon_job';
    const result = await runCli(['run', '--date', FIXTURE_DATE], { DATABASE_URL: url.toString(), YZH_ARCHIVE_DIR: archiveDir, ...providerEnv(sandbox) });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('findings   critical 4 · warning 1 · info 1');

    const job = new pg.Client({ connectionString: url.toString() });
    await job.connect();
    const denied = async (sql: string) => {
      const err = await job.query(sql).then(() => null, (e: { code?: string }) => e);
      expect(err?.code, sql).toBe('42501'); // insufficient_privilege
    };
    await denied(`update recon.ledger_payouts set status = 'paid'`);
    await denied(`insert into recon.broker_fee_rates values ('x', 0.1, '2020-01-01')`);
    await denied(`update recon.discrepancies set ack_by = 'job'`);
    // What a run recorded about its files: by the grants, and by sql/0008's triggers.
    await denied(`update recon.provider_files set sha256 = repeat('0', 64)`);
    await denied(`update recon.provider_files set archive_key = 'x'`);
    await denied('update recon.provider_files set run_id = run_id');
    await denied('delete from recon.provider_files');
    await denied(`update recon.runs set order_file_sha256 = repeat('0', 64)`);
    await denied(`update recon.runs set audit_hash = repeat('0', 64)`);
    await denied('create table recon.extra (id int)');
    await denied('drop table recon.runs');
    await job.end();
  });
});
