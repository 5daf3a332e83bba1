import type { Session } from '../../../db/connection.js';
import { ReconError } from '../../../errors.js';
import { Archive } from '../../../provider/file-archive.js';
import { acquireRunLock, releaseRunLock } from '../../runs/runs.js';
import { archivePruner } from './archive-pruner.js';
import { providerRowsPruner } from './provider-rows-pruner.js';
import type { PruneContext, Pruner, PruneResult } from './pruner.js';

export type { Pruner, PruneContext, PruneResult } from './pruner.js';

/** What `prune` removes, in this order. */
export const PRUNERS: readonly Pruner[] = [providerRowsPruner, archivePruner];

export interface PruneOptions extends Omit<PruneContext, 'session' | 'dealerId'> {
  /** How long to wait for the dealer's run lock (YZH_LOCK_TIMEOUT_MS). */
  lockTimeoutMs: number;
  signal?: AbortSignal;
}

/** One pruner's outcome for one dealer: null `days` when its retention is unset (kept forever). */
export interface PrunerOutcome {
  pruner: Pruner;
  days: number | null;
  result: PruneResult | null;
}

/**
 * Prunes one dealer's provider rows and archive objects, holding the dealer's run lock (the one
 * `run` takes) on this session throughout: a run of the dealer is never under way meanwhile,
 * so the prune neither drops the partition a run reads nor marks a finding the run writes.
 * Nothing of another dealer is read, locked or changed.
 */
export async function pruneDealer(session: Session, dealerId: string, options: PruneOptions): Promise<PrunerOutcome[]> {
  await acquireRunLock(session, dealerId, null, options.lockTimeoutMs, options.signal);
  try {
    const outcomes: PrunerOutcome[] = [];
    for (const pruner of PRUNERS) {
      options.signal?.throwIfAborted();
      const days = pruner.retentionDays(options.config);
      const result = days === null ? null : await pruner.prune({ ...options, session, dealerId }, days);
      outcomes.push({ pruner, days, result });
    }
    return outcomes;
  } finally {
    await releaseRunLock(session, dealerId).catch(() => {});
  }
}

/** Every dealer the database or the archive knows, in order: what `prune --all-dealers` goes through. */
export async function knownDealers(session: Session, archiveDir: string): Promise<string[]> {
  const r = await session.query<{ dealer_id: string }>(
    `select dealer_id from recon.provider_files union select dealer_id from recon.provider_row_tables
      union select dealer_id from recon.runs`);
  const dealers = new Set(r.rows.map((x) => x.dealer_id));
  for (const object of await new Archive(archiveDir).list()) dealers.add(object.dealerId);
  return [...dealers].sort();
}

export interface DealerPrune {
  dealerId: string;
  outcomes: PrunerOutcome[];
  /** Why the dealer was not pruned (its run lock stayed taken, or the prune failed). */
  error: ReconError | null;
}

/**
 * Every dealer in turn, each by its own newest day and under its own run lock, taken and
 * released before the next dealer's: never two at once, so that no lock is held while waiting
 * for another. A dealer that cannot be pruned (its run lock stays taken past the timeout) is
 * reported and the others still are.
 */
export async function pruneAllDealers(session: Session, options: PruneOptions): Promise<DealerPrune[]> {
  const done: DealerPrune[] = [];
  for (const dealerId of await knownDealers(session, options.config.archiveDir)) {
    options.signal?.throwIfAborted();
    try {
      done.push({ dealerId, outcomes: await pruneDealer(session, dealerId, options), error: null });
    } catch (err) {
      if (!(err instanceof ReconError) || err.code !== 'LOCKED') throw err;
      done.push({ dealerId, outcomes: [], error: err });
    }
  }
  return done;
}
