import type { DateTime } from 'luxon';
import type { Config } from '../../../config.js';
import type { Session } from '../../../db/connection.js';
import type { Logger } from '../../../logger.js';

/**
 * One kind of thing that `prune` removes once it is past its retention. Each lives in a module
 * of its own under src/recon/lifecycle/prune/ and is listed in PRUNERS (index.ts); the command runs them
 * in that order and prints one line for each.
 */
export interface Pruner {
  /** Short name for the command's output, e.g. `archive`. */
  readonly name: string;
  /** The environment variable that sets its retention, in days. */
  readonly variable: string;
  /** Its retention from the configuration; null when unset (kept forever). */
  retentionDays(config: PruneContext['config']): number | null;
  prune(context: PruneContext, days: number): Promise<PruneResult>;
}

/** One dealer's prune, on the session that holds the dealer's run lock (see index.ts). */
export interface PruneContext {
  session: Session;
  /** The dealer whose rows and archive objects are pruned; never another's. */
  dealerId: string;
  config: Pick<Config, 'archiveDir' | 'archiveRetainDays' | 'retainDays'>;
  /** Report what would be removed, remove nothing. */
  dryRun: boolean;
  /** Now, in Asia/Shanghai: business days older than now minus the retention are pruned. */
  now: DateTime;
  log: Logger;
}

export interface PruneResult {
  /** Items removed (or, on a dry run, that would be). */
  removed: number;
  /** Their size in bytes, where it means something. */
  bytes: number | null;
  /** The first business day kept. */
  keptFrom: string;
}
