import { join } from 'node:path';
import { openDatabase, type DatabaseHandle } from '../db/connection.js';
import type { RunTrigger } from '../db/schema.js';
import { ReconError } from '../errors.js';
import { ProviderClient } from '../provider/client.js';
import { dateRange, parseBusinessDate, yesterdayInShanghai } from './business-date.js';
import { openFindings, pushRunMetrics, reconciledDays } from '../recon/runs/metrics.js';
import { notifyAfterRun } from '../recon/notify/after-run.js';
import { buildReportPage, reportFileName, writeReportPage } from '../recon/report/page.js';
import { runDay, type RunResult } from '../recon/runs/run-day.js';
import type { Logger } from '../logger.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';
import { formatRunSummary } from './summary.js';

export const RUN_USAGE = `usage: yzh-recon run [--date YYYY-MM-DD | --from YYYY-MM-DD --to YYYY-MM-DD] [--trigger schedule|manual]
                    [--from-archive] [--report-html FILE]

Reconciles a business day (default: yesterday in Asia/Shanghai) for YZH_DEALER_ID: downloads
the provider's order and bill files, keeps them in YZH_ARCHIVE_DIR, loads them, matches them
against recon.ledger_payouts and writes recon.discrepancies, all in one transaction.
--from/--to runs the days in order and stops at the first that fails. Applies pending
migrations first. When the provider no longer has a day's file (past its 90 days), the
archived copy of the file last ingested is used instead, and the log says so.
--from-archive re-reads the files last ingested for the day from the archive and never asks
the provider (the keys are not needed).
--report-html FILE writes the finance page (report --format html) for the days run, when they
are done, whether they succeeded or not; with YZH_REPORT_DIR set, each day's page is also
written there as yzh-recon-<dealer>-<day>.html. A page that cannot be written is logged as an
error and does not change the exit status.
With YZH_NOTIFY_URLS set, each day's outcome goes to those chat webhooks (YZH_NOTIFY_ON says
when); sending takes a few seconds at most and never changes the exit status.
Exit status: 0 the run completed (whatever it found), 1 it failed, 2 usage error.`;

export function runDates(values: { date?: string; from?: string; to?: string }): string[] {
  if (values.date !== undefined && (values.from !== undefined || values.to !== undefined)) {
    throw new ReconError('USAGE', `--date cannot be combined with --from/--to\n${RUN_USAGE}`);
  }
  if ((values.from === undefined) !== (values.to === undefined)) {
    throw new ReconError('USAGE', `--from and --to go together\n${RUN_USAGE}`);
  }
  if (values.from !== undefined && values.to !== undefined) {
    return dateRange(parseBusinessDate(values.from, '--from'), parseBusinessDate(values.to, '--to'));
  }
  return [values.date === undefined ? yesterdayInShanghai() : parseBusinessDate(values.date, '--date')];
}

export async function runCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    name: 'run',
    usage: RUN_USAGE,
    options: {
      date: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, trigger: { type: 'string' },
      'report-html': { type: 'string' },
      'from-archive': { type: 'boolean' },
    },
  }, argv);
  if (values.help) {
    ctx.stdout.write(`${RUN_USAGE}\n`);
    return 0;
  }
  const trigger = (values.trigger ?? 'manual') as RunTrigger;
  if (trigger !== 'manual' && trigger !== 'schedule') throw new ReconError('USAGE', `--trigger must be schedule or manual\n${RUN_USAGE}`);
  const dates = runDates(values);
  const fromArchive = values['from-archive'] === true;
  const config = ctx.config({ requireProvider: !fromArchive });
  if (config.provider.dealerId === '') throw new ReconError('CONFIG', 'configuration: YZH_DEALER_ID is required');
  const db = await openDatabase(config);
  const client = new ProviderClient(config.provider, ctx.log);
  const dealerId = config.provider.dealerId;
  const attempted: string[] = [];
  try {
    for (const date of dates) {
      attempted.push(date);
      const started = performance.now();
      let result: RunResult | undefined;
      let failure: unknown;
      try {
        result = await runDay({ db, client, config, log: ctx.log }, { dealerId, date, trigger, source: fromArchive ? 'archive' : 'provider', signal: ctx.signal });
        ctx.stdout.write(formatRunSummary(result));
      } catch (err) {
        failure = err;
        throw err;
      } finally {
        if (config.pushgatewayUrl !== undefined) {
          const facts = await db.withSession(async (s) => ({ open: await openFindings(s, dealerId), days: await reconciledDays(s, dealerId) }))
            .catch(() => undefined);
          await pushRunMetrics(config.pushgatewayUrl, {
            dealerId, date, outcome: result ? 'succeeded' : 'failed', durationSeconds: (performance.now() - started) / 1000, result,
            open: facts?.open, days: facts?.days,
          }, ctx.log);
        }
        // The chat message (YZH_NOTIFY_URLS): a few seconds at most, never the run's outcome.
        await notifyAfterRun(db, config.notify, { dealerId, date, result, error: failure, durationSeconds: (performance.now() - started) / 1000 }, ctx.log);
      }
    }
    return 0;
  } finally {
    // After a stop signal, leave at once: the page waits for the next run.
    if (!ctx.signal.aborted) await writePages(db, ctx.log, dealerId, attempted, { file: values['report-html'], dir: config.reportDir });
    await client.close();
    await db.close();
  }
}

/**
 * The finance page after the run: a day that failed shows up on it as a day without a
 * successful run, which is what finance should see that morning.
 */
async function writePages(db: DatabaseHandle, log: Logger, dealerId: string, days: string[], to: { file?: string; dir?: string }): Promise<void> {
  if (days.length === 0) return;
  const targets: { path: string; from: string; to: string }[] = [];
  if (to.dir !== undefined) for (const day of days) targets.push({ path: join(to.dir, reportFileName(dealerId, day, day)), from: day, to: day });
  if (to.file !== undefined) targets.push({ path: to.file, from: days[0]!, to: days.at(-1)! });
  for (const t of targets) {
    try {
      const html = await db.withSession((s) => buildReportPage(s, { dealerId, from: t.from, to: t.to, lang: 'zh' }));
      writeReportPage(t.path, html);
      log.info({ path: t.path }, 'finance page written');
    } catch (err) {
      log.error({ path: t.path, err: (err as Error).message }, 'could not write the finance page');
    }
  }
}
