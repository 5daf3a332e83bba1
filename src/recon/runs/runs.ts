import { setTimeout as sleep } from 'node:timers/promises';
import type { Session } from '../../db/connection.js';
import type { RunTrigger } from '../../db/schema.js';
import { ReconError } from '../../errors.js';

/** recon.runs and the run lock. */

/**
 * Records a 'running' run and takes its alive lock (see RUN_ALIVE_NAMESPACE) in the same
 * statement, so that no other session ever sees the row without its lock.
 */
export async function insertRun(session: Session, dealerId: string, date: string, trigger: RunTrigger): Promise<number> {
  const r = await session.query<{ id: number }>(
    `with run as (
       insert into recon.runs (dealer_id, business_date, trigger, status) values ($1, $2, $3, 'running') returning id
     )
     select id, pg_advisory_lock(${RUN_ALIVE_NAMESPACE}, id::int4) from run`,
    [dealerId, date, trigger],
  );
  return r.rows[0]!.id;
}

export interface RunOutcome {
  orderSha256: string | null;
  billSha256: string | null;
  orderRows: number | null;
  billRows: number | null;
  summary: unknown;
}

export async function markSucceeded(session: Session, runId: number, outcome: RunOutcome): Promise<void> {
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
  await session.query('select pg_advisory_unlock($1, $2::int4)', [RUN_ALIVE_NAMESPACE, runId]);
}

/**
 * Takes the dealer's run lock, waiting up to `timeoutMs`. `runId` is the caller's run, or null
 * for a command that holds the lock without a run of its own (`prune`).
 */
export async function acquireRunLock(session: Session, dealerId: string, runId: number | null, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
    const r = await session.query<{ locked: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as locked', [LOCK_NAMESPACE, dealerId]);
    if (r.rows[0]?.locked === true) break;
    if (Date.now() >= deadline || signal?.aborted) {
      // The holder: the run whose alive lock is held by the session that holds the dealer's.
      const holder = await session.query<{ id: number; business_date: string; started_at: Date }>(
        `select r.id, r.business_date, r.started_at
           from pg_locks dl
           join pg_locks rl on rl.pid = dl.pid and rl.locktype = 'advisory' and rl.granted and rl.objsubid = 2
                           and rl.classid = ${RUN_ALIVE_NAMESPACE}::oid
           join recon.runs r on r.id::int4::oid = rl.objid
          where dl.locktype = 'advisory' and dl.granted and dl.objsubid = 2
            and dl.classid = ${LOCK_NAMESPACE}::oid and dl.objid = hashtext($1)::oid
            and r.dealer_id = $1 and r.status = 'running'
          order by r.id limit 1`,
        [dealerId],
      );
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
  await session.query(
    `update recon.runs r set status = 'failed', finished_at = now(),
            error = 'abandoned: the process ended before the run finished'
      where r.dealer_id = $1 and r.status = 'running' and r.id is distinct from $2::bigint and not ${ALIVE}`,
    [dealerId, runId],
  );
}

export async function releaseRunLock(session: Session, dealerId: string): Promise<void> {
  await session.query('select pg_advisory_unlock($1, hashtext($2))', [LOCK_NAMESPACE, dealerId]);
}
