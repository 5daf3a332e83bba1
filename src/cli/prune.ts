import { DateTime } from 'luxon';
import { openDatabase } from '../db/connection.js';
import { migrate } from '../db/migrator.js';
import { PROVIDER_ZONE } from '../provider/file-format.js';
import { PRUNERS } from '../recon/lifecycle/prune/index.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';

export const PRUNE_USAGE = `usage: yzh-recon prune [--dry-run]

Removes what is past its retention, each by its own setting:
  rows     provider rows (the order and bill files' rows) of business days more than
           YZH_RETAIN_DAYS days (default 120) before the dealer's newest day on file, a
           day's partition at a time (each successful run does this for its dealer too);
           open findings of those days stay open and say so (details.provider_rows_pruned)
  archive  archive objects of business days older than YZH_ARCHIVE_RETAIN_DAYS days (unset:
           kept forever; their records in recon.provider_files stay, marked pruned)
Never findings, runs or the audit chain. --dry-run prints what would be removed and removes
nothing. Prints one line per kind. Exit status: 0 done, 1 it failed, 2 usage error.`;

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export async function pruneCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ name: 'prune', usage: PRUNE_USAGE, options: { 'dry-run': { type: 'boolean' } } }, argv);
  if (values.help) {
    ctx.stdout.write(`${PRUNE_USAGE}\n`);
    return 0;
  }
  const dryRun = values['dry-run'] === true;
  const config = ctx.config();
  const db = await openDatabase(config);
  try {
    await db.withSession((s) => migrate(s, ctx.log));
    const now = DateTime.now().setZone(PROVIDER_ZONE);
    for (const pruner of PRUNERS) {
      const days = pruner.retentionDays(config);
      if (days === null) {
        ctx.stdout.write(`${pruner.name.padEnd(8)} kept forever (${pruner.variable} is unset)\n`);
        continue;
      }
      const result = await pruner.prune({ db, config, dryRun, now, log: ctx.log }, days);
      const size = result.bytes === null ? '' : ` (${mib(result.bytes)})`;
      ctx.stdout.write(`${pruner.name.padEnd(8)} ${dryRun ? 'would remove' : 'removed'} ${result.removed}${size} from before ${result.keptFrom} (${pruner.variable}=${days})\n`);
    }
    return 0;
  } finally {
    await db.close();
  }
}

