import { DateTime } from 'luxon';
import type { Config } from '../config.js';
import type { DatabaseHandle } from '../db/connection.js';
import { openDatabase } from '../db/connection.js';
import { migrate } from '../db/migrator.js';
import { ReconError } from '../errors.js';
import type { Logger } from '../logger.js';
import { PROVIDER_ZONE } from '../provider/file-format.js';
import { pruneAllDealers, pruneDealer, type PrunerOutcome } from '../recon/lifecycle/prune/index.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';

export const PRUNE_USAGE = `usage: yzh-recon prune [--dry-run] [--all-dealers]

Removes what is past its retention, each by its own setting, for the dealer YZH_DEALER_ID
only (its rows, partitions and archive objects), holding that dealer's run lock:
  rows     provider rows (the order and bill files' rows) of business days more than
           YZH_RETAIN_DAYS days (default 120) before the dealer's newest day on file, a
           day's partition at a time (each successful run does this for its dealer too);
           open findings of those days stay open and say so (details.provider_rows_pruned)
  archive  archive objects of business days older than YZH_ARCHIVE_RETAIN_DAYS days (unset:
           kept forever; their records in recon.provider_files stay, marked pruned)
--all-dealers prunes every dealer the database or the archive knows instead, each by its
own newest day and under its own run lock in turn (the same settings for all).
Never findings, runs or the audit chain. --dry-run prints what would be removed and removes
nothing. Prints one line per kind (per dealer, headed by it, with --all-dealers). Waits up
to YZH_LOCK_TIMEOUT_MS for a dealer's running run. Exit status: 0 done, 1 it failed (or a
dealer's lock stayed taken: the others are still pruned), 2 usage error.`;

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function formatOutcomes(outcomes: PrunerOutcome[], dryRun: boolean, indent: string): string {
  return outcomes.map(({ pruner, days, result }) => {
    if (days === null || result === null) return `${indent}${pruner.name.padEnd(8)} kept forever (${pruner.variable} is unset)\n`;
    const size = result.bytes === null ? '' : ` (${mib(result.bytes)})`;
    return `${indent}${pruner.name.padEnd(8)} ${dryRun ? 'would remove' : 'removed'} ${result.removed}${size} from before ${result.keptFrom} (${pruner.variable}=${days})\n`;
  }).join('');
}

export async function pruneCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    name: 'prune', usage: PRUNE_USAGE, options: { 'dry-run': { type: 'boolean' }, 'all-dealers': { type: 'boolean' } },
  }, argv);
  if (values.help) {
    ctx.stdout.write(`${PRUNE_USAGE}\n`);
    return 0;
  }
  const config = ctx.config();
  const db = await openDatabase(config);
  try {
    return await prune(db, config, { dryRun: values['dry-run'] === true, allDealers: values['all-dealers'] === true }, ctx);
  } finally {
    await db.close();
  }
}

/** The command once its database is open: prints what it did, throws when a dealer could not be pruned. */
export async function prune(
  db: DatabaseHandle, config: Config, request: { dryRun: boolean; allDealers: boolean },
  ctx: { stdout: NodeJS.WritableStream; log: Logger; signal?: AbortSignal },
): Promise<number> {
  const { dryRun } = request;
  const dealerId = config.provider.dealerId;
  if (!request.allDealers && dealerId === '') {
    throw new ReconError('CONFIG', 'configuration: YZH_DEALER_ID is required by prune (or --all-dealers to prune every dealer)');
  }
  return db.withSession(async (session) => {
    await migrate(session, ctx.log);
    const options = {
      config, dryRun, now: DateTime.now().setZone(PROVIDER_ZONE), log: ctx.log, lockTimeoutMs: config.lockTimeoutMs,
      ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    };
    if (!request.allDealers) {
      ctx.stdout.write(formatOutcomes(await pruneDealer(session, dealerId, options), dryRun, ''));
      return 0;
    }
    const dealers = await pruneAllDealers(session, options);
    for (const d of dealers) {
      ctx.stdout.write(`dealer ${d.dealerId}\n`);
      ctx.stdout.write(d.error === null ? formatOutcomes(d.outcomes, dryRun, '  ') : `  not pruned: ${d.error.message}\n`);
    }
    if (dealers.length === 0) ctx.stdout.write('no dealer has provider rows, runs or archive objects yet\n');
    const skipped = dealers.filter((d) => d.error !== null);
    if (skipped.length > 0) {
      throw new ReconError('LOCKED', `prune --all-dealers: ${skipped.length} of ${dealers.length} dealer(s) not pruned, their run lock stayed taken: ${skipped.map((d) => d.dealerId).join(', ')}`);
    }
    return 0;
  });
}
