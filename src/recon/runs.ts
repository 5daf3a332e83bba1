import { setTimeout as sleep } from 'node:timers/promises';
import type { Session } from '../db/connection.js';
import type { RunTrigger } from '../db/schema.js';
import { ReconError } from '../errors.js';

/** recon.runs and the run lock. */

export async function insertRun(session: Session, dealerId: string, date: string, trigger: RunTrigger): Promise<number> {
  const row = await session.db
    .insertInto('recon.runs')
    .values({ dealer_id: dealerId, business_date: date, trigger, status: 'running' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
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

export async function acquireRunLock(session: Session, dealerId: string, runId: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
    const r = await session.query<{ locked: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as locked', [LOCK_NAMESPACE, dealerId]);
    if (r.rows[0]?.locked === true) break;
    if (Date.now() >= deadline || signal?.aborted) {
      const holder = await session.query<{ id: number; business_date: string; started_at: Date }>(
        `select id, business_date, started_at from recon.runs
          where dealer_id = $1 and status = 'running' and id <> $2 order by id limit 1`,
        [dealerId, runId],
      );
      const h = holder.rows[0];
      const who = h ? `run ${h.id} (business date ${h.business_date}, started ${h.started_at.toISOString()})` : 'another session';
      throw new ReconError('LOCKED', `dealer ${dealerId} is locked by ${who}; gave up after waiting ${Math.round(timeoutMs / 1000)} s`, {
        facts: { holderRunId: h?.id },
      });
    }
    await sleep(Math.min(wait, Math.max(0, deadline - Date.now())));
  }
  // Holding the lock, any other 'running' row of this dealer belongs to a process that died.
  await session.query(
    `update recon.runs set status = 'failed', finished_at = now(),
            error = 'abandoned: the process ended before the run finished'
      where dealer_id = $1 and status = 'running' and id <> $2`,
    [dealerId, runId],
  );
}

export async function releaseRunLock(session: Session, dealerId: string): Promise<void> {
  await session.query('select pg_advisory_unlock($1, hashtext($2))', [LOCK_NAMESPACE, dealerId]);
}
