import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.js';
import type { Session } from './connection.js';

/** The `sql/` folder beside `src/` and `dist/`. */
export const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));

/** A fixed advisory lock key: two migrators serialize here instead of racing on DDL. */
const MIGRATE_LOCK = 7_313_042_001;

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export function readMigrations(dir = SQL_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((name) => ({ id: Number(name.slice(0, 4)), name, sql: readFileSync(`${dir}/${name}`, 'utf8') }));
}

/**
 * Applies pending migrations in order, each in its own transaction that first takes the
 * migration lock, so that a second `migrate` waits and then finds nothing left to do.
 * Returns the names applied now.
 */
export async function migrate(session: Session, log: Logger, migrations = readMigrations()): Promise<string[]> {
  const applied: string[] = [];
  for (const migration of migrations) {
    await session.exec('begin');
    try {
      await session.query('select pg_advisory_xact_lock($1)', [MIGRATE_LOCK]);
      await session.exec(`
        create schema if not exists recon;
        create table if not exists recon.migrations (
          id integer primary key,
          name text not null,
          applied_at timestamptz not null default now()
        );`);
      const done = await session.query('select 1 from recon.migrations where id = $1', [migration.id]);
      if (done.rows.length > 0) {
        await session.exec('commit');
        continue;
      }
      await session.query('insert into recon.migrations (id, name) values ($1, $2)', [migration.id, migration.name]);
      await session.exec(migration.sql);
      await session.exec('commit');
      applied.push(migration.name);
      log.info({ migration: migration.name }, 'migration applied');
    } catch (err) {
      await session.exec('rollback').catch(() => {});
      throw err;
    }
  }
  return applied;
}
