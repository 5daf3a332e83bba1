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
  // Read-only first: when nothing is pending, no DDL runs, so a least-privilege job role
  // (see sql/roles/job-role.sql) that cannot create schemas can still start its runs.
  if (await pendingMigrations(session, migrations).then((p) => p.length === 0)) return [];
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

/** Migrations not yet recorded in recon.migrations (all of them on a fresh database). */
export async function pendingMigrations(session: Session, migrations = readMigrations()): Promise<Migration[]> {
  const exists = await session.query<{ t: string | null }>("select to_regclass('recon.migrations')::text as t");
  if (exists.rows[0]?.t === null || exists.rows[0]?.t === undefined) return migrations;
  const done = await session.query<{ id: number }>('select id from recon.migrations');
  const applied = new Set(done.rows.map((r) => r.id));
  return migrations.filter((m) => !applied.has(m.id));
}
