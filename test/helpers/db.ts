import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPglite, openPostgres, type DatabaseHandle, type Engine } from '../../src/db/connection.js';
import { migrate } from '../../src/db/migrator.js';
import { silentLog } from './provider.js';

/**
 * PGlite always; the real Postgres too when TEST_DATABASE_URL names one. TEST_ENGINES (e.g.
 * `pg`) narrows that, for the mutation run, which reruns the tests once per mutant.
 */
const ALL_ENGINES: Engine[] = process.env.TEST_DATABASE_URL ? ['pglite', 'pg'] : ['pglite'];
export const ENGINES: Engine[] = process.env.TEST_ENGINES
  ? ALL_ENGINES.filter((engine) => process.env.TEST_ENGINES!.split(',').includes(engine))
  : ALL_ENGINES;

if (!process.env.TEST_DATABASE_URL && !process.env.YZH_QUIET_SKIP) {
  process.env.YZH_QUIET_SKIP = '1';
  console.log('TEST_DATABASE_URL is not set: database tests run on PGlite only (set it to run them on Postgres too)');
}

export interface TestDatabase {
  engine: Engine;
  handle: DatabaseHandle;
  /** A connection string for a child process (pg only). */
  url: string | undefined;
  drop(): Promise<void>;
}

/** A fresh, migrated database: a new Postgres database, or an in-memory PGlite. */
export async function freshDatabase(engine: Engine, options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  let db: TestDatabase;
  if (engine === 'pglite') {
    const handle = await openPglite(null);
    db = { engine, handle, url: undefined, drop: () => handle.close() };
  } else {
    const admin = process.env.TEST_DATABASE_URL!;
    const name = `yzh_test_${randomBytes(6).toString('hex')}`;
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    await client.query(`create database ${name}`);
    await client.end();
    const url = new URL(admin);
    url.pathname = `/${name}`;
    const handle = openPostgres(url.toString());
    db = {
      engine, handle, url: url.toString(),
      drop: async () => {
        await handle.close();
        const c = new pg.Client({ connectionString: admin });
        await c.connect();
        await c.query(`drop database if exists ${name} with (force)`);
        await c.end();
      },
    };
  }
  if (options.migrated !== false) await db.handle.withSession((s) => migrate(s, silentLog));
  return db;
}
