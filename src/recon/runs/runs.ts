import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Session } from '../../db/connection.js';
import type { RunTx } from './run-transaction.js';
import type { RunTrigger } from '../../db/schema.js';
import { ReconError } from '../../errors.js';

/** recon.runs and the run lock. */

/**
 * Records a 'running' run and takes its alive lock (see RUN_ALIVE_NAMESPACE) in the same
 * statement, so that no other session ever sees the row without its lock.
 */
export async function insertRun(session: Session, dealerId: string, date: string, trigger: RunTrigger): Promise<number> {
  const run = await session.db
    .with('run', (db) => db
      .insertInto('recon.runs')
      .values({ dealer_id: dealerId, business_date: date, trigger, status: 'running' })
      .returning('id'))
    .selectFrom('run')
    .select(['id', sql`pg_advisory_lock(${sql.lit(RUN_ALIVE_NAMESPACE)}, id::int4)`.as('locked')])
    .executeTakeFirstOrThrow();
  return run.id;
}

export interface RunOutcome {
  orderSha256: string | null;
  billSha256: string | null;
  orderRows: number | null;
  billRows: number | null;
  summary: unknown;
}

export async function markSucceeded(session: RunTx, runId: number, outcome: RunOutcome): Promise<void> {
  await session.db
    .updateTable('recon.runs')
    .set({
      status: 'succeeded',
      finished_at: new Date(),
      order_file_sha256: outcome.orderSha256,
      bill_file_sha256: outcome.billSha256,
      order_rows: outcome.orderRows,
      bill_rows: outcome.billRows,
      summary: JSON.stringify(outcome.summary),
      // A run taken for dead by mistake (its connection was slow to show) and then finished
      // is a success: nothing of the failure stays on it.
      error: null,
    })
    .where('id', '=', runId)
    .execute();
}

export async function markFailed(session: Session, runId: number, error: string): Promise<void> {
  await session.db
    .updateTable('recon.runs')
    .set({ status: 'failed', finished_at: new Date(), error })
    .where('id', '=', runId)
    .execute();
}

/**
 * The run lock is per dealer, not per (dealer, day): a run re-checks the dealer's open
 * discrepancies of every earlier day, so runs of two different days touch the same rows.
 * Session-level, so it is released by unlock or by the connection ending, whichever is first.
 */
const LOCK_NAMESPACE = 7_313_042;

/**
 * Each run also holds a lock of its own id from its start to its end, waiting or not, so that
 * whether a 'running' row is alive is a fact in pg_locks, not a guess: a process that died
 * took its locks with it.
 */
const RUN_ALIVE_NAMESPACE = 7_313_043;

/** The row's run is alive: some session holds its RUN_ALIVE lock. `r` is recon.runs. */
const ALIVE = `exists (select 1 from pg_locks k
                where k.locktype = 'advisory' and k.granted and k.objsubid = 2
                  and k.classid = ${RUN_ALIVE_NAMESPACE}::oid and k.objid = r.id::int4::oid)`;

export async function releaseAlive(session: Session, runId: number): Promise<void> {
  await sql`select pg_advisory_unlock(${RUN_ALIVE_NAMESPACE}, ${runId}::int4)`.execute(session.db);
}

/**
 * Takes the dealer's run lock, waiting up to `timeoutMs`. `runId` is the caller's run, or null
 * for a command that holds the lock without a run of its own (`prune`).
 */
export async function acquireRunLock(session: Session, dealerId: string, runId: number | null, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
    const r = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${LOCK_NAMESPACE}, hashtext(${dealerId})) as locked`.execute(session.db);
    if (r.rows[0]?.locked === true) break;
    if (Date.now() >= deadline || signal?.aborted) {
      // The holder: the run whose alive lock is held by the session that holds the dealer's
      // (pg_locks is the catalog's, so this one stays SQL).
      const holder = await sql<{ id: number; business_date: string; started_at: Date }>`
        select r.id, r.business_date, r.started_at
           from pg_locks dl
           join pg_locks rl on rl.pid = dl.pid and rl.locktype = 'advisory' and rl.granted and rl.objsubid = 2
                           and rl.classid = ${sql.lit(RUN_ALIVE_NAMESPACE)}::oid
           join recon.runs r on r.id::int4::oid = rl.objid
          where dl.locktype = 'advisory' and dl.granted and dl.objsubid = 2
            and dl.classid = ${sql.lit(LOCK_NAMESPACE)}::oid and dl.objid = hashtext(${dealerId})::oid
            and r.dealer_id = ${dealerId} and r.status = 'running'
          order by r.id limit 1`.execute(session.db);
      const h = holder.rows[0];
      const who = h ? `run ${h.id} (business date ${h.business_date}, started ${h.started_at.toISOString()})` : 'another session';
      throw new ReconError('LOCKED', `dealer ${dealerId} is locked by ${who}; gave up after waiting ${Math.round(timeoutMs / 1000)} s`, {
        facts: { holderRunId: h?.id },
      });
    }
    await sleep(Math.min(wait, Math.max(0, deadline - Date.now())));
  }
  // A 'running' row of this dealer whose process holds no alive lock died before it finished.
  // (Runs still waiting for the dealer's lock hold theirs, and are left alone.)
  await session.db
    .updateTable('recon.runs as r')
    .set({ status: 'failed', finished_at: sql`now()`, error: 'abandoned: the process ended before the run finished' })
    .where('r.dealer_id', '=', dealerId)
    .where('r.status', '=', 'running')
    .where('r.id', 'is distinct from', sql<number | null>`${runId}::bigint`)
    .where(sql<boolean>`not ${sql.raw(ALIVE)}`)
    .execute();
}

export async function releaseRunLock(session: Session, dealerId: string): Promise<void> {
  await sql`select pg_advisory_unlock(${LOCK_NAMESPACE}, hashtext(${dealerId}))`.execute(session.db);
}
