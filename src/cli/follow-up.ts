import { openDatabase } from '../db/connection.js';
import { ReconError } from '../errors.js';
import { ProviderClient } from '../provider/client.js';
import { parseBusinessDate } from './business-date.js';
import { followUpDay, newestIngestedDay } from '../recon/runs/run-day.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';
import { formatRunSummary } from './summary.js';

export const FOLLOW_UP_USAGE = `usage: yzh-recon follow-up [--date YYYY-MM-DD]

Asks the provider's real-time order query now about the orders the files cannot settle (red
packets still 成功(待领取), 挂单 / 打款中 / -/- orders, ledger payouts no file has, paid orders
without a bill row), records each answer in recon.provider_order_checks and judges those orders
again by the same rules: a claimed red packet resolves its finding, one sent back opens
refund_unrecorded, "no such order" stays on missing_at_provider as evidence. Every run does
this too; this command is for an answer before the next scheduled run. Downloads no file:
business day D (default: the newest day already run for YZH_DEALER_ID) is judged on what is
ingested; a day whose provider rows were pruned (YZH_RETAIN_DAYS) is refused with exit 1
(\`yzh-recon run --date D\` loads its files again). At most YZH_FOLLOWUP_MAX orders (least
recently asked first), YZH_FOLLOWUP_CONCURRENCY at once, within YZH_FOLLOWUP_BUDGET_MS. Exit
status: 0 done (also when the provider could not be asked: the summary says so), 1 the work
failed, 2 usage error.`;

export async function followUpCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ name: 'follow-up', usage: FOLLOW_UP_USAGE, options: { date: { type: 'string' } } }, argv);
  if (values.help) {
    ctx.stdout.write(`${FOLLOW_UP_USAGE}\n`);
    return 0;
  }
  const given = values.date === undefined ? undefined : parseBusinessDate(values.date, '--date');
  const config = ctx.config({ requireProvider: true });
  const db = await openDatabase(config);
  const client = new ProviderClient(config.provider, ctx.log);
  try {
    const dealerId = config.provider.dealerId;
    const date = given ?? await db.withSession((s) => newestIngestedDay(s, dealerId).catch(() => null));
    if (date === null) throw new ReconError('USAGE', `no day has been run yet for dealer ${dealerId}: run \`yzh-recon run\` first`);
    const result = await followUpDay({ db, client, config, log: ctx.log }, { dealerId, date, trigger: 'manual', signal: ctx.signal });
    ctx.stdout.write(formatRunSummary(result));
    return 0;
  } finally {
    await client.close();
    await db.close();
  }
}
