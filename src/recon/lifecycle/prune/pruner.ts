import type { DateTime } from 'luxon';
import type { Config } from '../../../config.js';
import type { DatabaseHandle } from '../../../db/connection.js';
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
  retentionDays(config: Config): number | null;
  prune(context: PruneContext, days: number): Promise<PruneResult>;
}

export interface PruneContext {
  db: DatabaseHandle;
  config: Config;
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
