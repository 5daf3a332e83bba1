import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../../src/db/connection.js';
import { openPglite } from '../../src/db/connection.js';
import { migrate } from '../../src/db/migrator.js';
import { seedFixtureLedger } from '../../src/db/seed.js';
import type { Sandbox } from '../../src/provider/sandbox-server.js';
import { freshDatabase, type TestDatabase } from './db.js';
import { KEYS, silentLog } from './provider.js';

/**
 * A database a child `yzh-recon` process can use: a fresh Postgres database (by URL), or a
 * PGlite folder that the test opens only while no child has it.
 */
export interface ChildDatabase {
  /** The database, and a raw-file archive of its own (YZH_ARCHIVE_DIR), for the child. */
  env: Record<string, string>;
  /** Runs `work` against the database (for PGlite, only between child runs). */
  use<T>(work: (db: TestDatabase['handle']) => Promise<T>): Promise<T>;
  drop(): Promise<void>;
}

export async function childDatabase(engine: Engine, options: { fixtureDay?: boolean } = {}): Promise<ChildDatabase> {
  const db = await openChildDatabase(engine);
  // Migrated, with the fixture day's ledger and fee rates, as the CLI tests start from.
  if (options.fixtureDay) {
    await db.use((h) => h.withSession(async (s) => {
      await migrate(s, silentLog);
      await seedFixtureLedger(s);
    }));
  }
  return db;
}

async function openChildDatabase(engine: Engine): Promise<ChildDatabase> {
  const archiveDir = mkdtempSync(join(tmpdir(), 'yzh-child-archive-'));
  const removeArchive = () => remove(archiveDir);
  if (engine === 'pg') {
    const db = await freshDatabase('pg');
    return {
      env: { DATABASE_URL: db.url!, YZH_ARCHIVE_DIR: archiveDir },
      use: (work) => work(db.handle),
      drop: async () => {
        removeArchive();
        await db.drop();
      },
    };
  }
  const parent = mkdtempSync(join(tmpdir(), 'yzh-child-'));
  const dir = join(parent, 'pglite');
  return {
    env: { PGLITE_DIR: dir, YZH_ARCHIVE_DIR: archiveDir },
    async use(work) {
      const handle = await openPglite(dir);
      try {
        return await work(handle);
      } finally {
        await handle.close();
      }
    },
    // Retried: a command a timed-out test started may still be writing there.
    drop: () => {
      removeArchive();
      rmSync(parent, { recursive: true, force: true, maxRetries: 3 });
      return Promise.resolve();
    },
  };
}

export function providerEnv(sandbox: Sandbox, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    YZH_BASE_URL: sandbox.url, YZH_DEALER_ID: KEYS.dealerId, YZH_APP_KEY: KEYS.appKey, YZH_DES3_KEY: KEYS.des3Key,
    YZH_TIMEOUT_MS: '5000', YZH_RETRIES: '2', ...overrides,
  };
}

/**
 * Removes a test's folder. A child that outlived a timed-out test may still be writing in it;
 * cleanup then leaves it rather than fail the suite.
 */
function remove(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // left in the OS temp dir
  }
}
