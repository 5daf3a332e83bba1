import { mkdirSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, type PostgresPool } from 'kysely';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { lockDirectory } from './pglite-lock.js';
import type { Database } from './schema.js';

export type Engine = 'pg' | 'pglite';

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/**
 * One database connection, held for a whole unit of work: a run's transaction, its advisory
 * lock and its COPY must all be on the same connection.
 */
export interface Session {
  readonly engine: Engine;
  /** Typed queries; runs on this session's connection. */
  readonly db: Kysely<Database>;
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** `COPY … FROM STDIN` as a writable stream on pg; null on PGlite, which has no COPY stream. */
  copyFrom(sql: string): Writable | null;
  /** `COPY … FROM '/dev/blob'` of the blob's bytes on PGlite; null on pg, which streams instead. */
  copyFromBlob: ((sql: string, blob: Blob) => Promise<void>) | null;
  /**
   * Cancels the statement running on this session, from another connection (pg). PGlite runs
   * in this process and finishes its statement; the caller stops before the next one.
   */
  cancel(): Promise<void>;
}

export interface DatabaseHandle {
  readonly engine: Engine;
  /** Runs `work` on a connection of its own; on PGlite, one unit of work at a time. */
  withSession<T>(work: (session: Session) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// Postgres type OIDs whose text must not become a JS float or a zone-shifted Date.
const OID = { int8: 20, numeric: 1700, date: 1082 } as const;

/** Ids and counts fit a double; money (numeric) and days (date) stay text. */
const parseInt8 = (value: string): number => Number(value);
const keepText = (value: string): string => value;

function commandOf(sql: string): string {
  return /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? '';
}

interface Queryable {
  query(sql: string, params: readonly unknown[]): Promise<{ rows: unknown[]; rowCount: number; command: string }>;
}

/** A Kysely bound to one connection: its pool hands out that connection every time. */
function kyselyOn(connection: Queryable): Kysely<Database> {
  const pool = {
    connect: () => Promise.resolve({ query: connection.query.bind(connection), release: () => {} }),
    end: async () => {},
  } as unknown as PostgresPool;
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export function openPostgres(connectionString: string, options: { applicationName?: string } = {}): DatabaseHandle {
  const types = {
    getTypeParser: (oid: number, format?: 'text' | 'binary') => {
      if (oid === OID.int8) return parseInt8;
      if (oid === OID.numeric || oid === OID.date) return keepText;
      return pg.types.getTypeParser(oid, format) as (value: string) => unknown;
    },
  };
  const pool = new pg.Pool({
    connectionString,
    types,
    max: 4,
    application_name: options.applicationName ?? 'yzh-recon',
    connectionTimeoutMillis: 30_000,
  });
  // A connection that dies while idle must not crash the process; the next query reports it.
  pool.on('error', () => {});
  return {
    engine: 'pg',
    async withSession(work) {
      const client = await pool.connect();
      const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      let lost: Error | undefined;
      const onError = (err: Error) => { lost = err; };
      client.on('error', onError);
      const connection: Queryable = {
        query: async (sql, params) => {
          const r = await client.query(sql, params as unknown[]);
          return { rows: r.rows, rowCount: r.rowCount ?? 0, command: r.command };
        },
      };
      const session: Session = {
        engine: 'pg',
        db: kyselyOn(connection),
        query: async <R>(sql: string, params: readonly unknown[] = []) => {
          const r = await client.query(sql, params as unknown[]);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        },
        exec: async (sql) => { await client.query(sql); },
        copyFrom: (sql) => client.query(copyFrom(sql)),
        copyFromBlob: null,
        cancel: async () => {
          const other = new pg.Client({ connectionString, application_name: 'yzh-recon cancel' });
          await other.connect();
          try {
            await other.query('select pg_cancel_backend($1)', [pid]);
          } finally {
            await other.end();
          }
        },
      };
      try {
        return await work(session);
      } finally {
        client.off('error', onError);
        // A connection that failed is destroyed, not returned to the pool.
        client.release(lost);
      }
    },
    close: () => pool.end(),
  };
}

export async function openPglite(dataDir: string | null, options: { lockTimeoutMs?: number } = {}): Promise<DatabaseHandle> {
  let unlock = async () => {};
  if (dataDir !== null) {
    mkdirSync(dataDir, { recursive: true });
    unlock = await lockDirectory(dataDir, options.lockTimeoutMs ?? 60_000);
  }
  let db: PGlite;
  try {
    db = await PGlite.create(dataDir ?? undefined, {
      parsers: { [OID.int8]: parseInt8, [OID.numeric]: keepText, [OID.date]: keepText },
    });
  } catch (err) {
    await unlock();
    throw err;
  }
  const connection: Queryable = {
    query: async (sql, params) => {
      const r = await db.query(sql, params as unknown[]);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length, command: commandOf(sql) };
    },
  };
  const session: Session = {
    engine: 'pglite',
    db: kyselyOn(connection),
    query: async <R>(sql: string, params: readonly unknown[] = []) => {
      const r = await db.query<R>(sql, params as unknown[]);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
    exec: async (sql) => { await db.exec(sql); },
    copyFrom: () => null,
    copyFromBlob: async (sql, blob) => { await db.query(sql, [], { blob }); },
    cancel: async () => {},
  };
  // PGlite is one backend: units of work take turns so that transactions never interleave.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    engine: 'pglite',
    withSession<T>(work: (s: Session) => Promise<T>): Promise<T> {
      const next = queue.then(() => work(session));
      queue = next.catch(() => {});
      return next;
    },
    close: async () => {
      try {
        await db.close();
      } finally {
        await unlock();
      }
    },
  };
}

/** `DATABASE_URL` set: that Postgres; unset: the embedded PGlite in `pgliteDir`. */
export async function openDatabase(config: { databaseUrl: string | undefined; pgliteDir: string; lockTimeoutMs?: number }): Promise<DatabaseHandle> {
  return config.databaseUrl !== undefined
    ? openPostgres(config.databaseUrl)
    : openPglite(config.pgliteDir, config.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: config.lockTimeoutMs });
}
