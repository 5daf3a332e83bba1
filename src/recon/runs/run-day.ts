import { DEFAULT_FOLLOW_UP, DEFAULT_RETAIN_DAYS, type Config, type FollowUpConfig } from '../../config.js';
import type { DatabaseHandle, Session } from '../../db/connection.js';
import type { RunTrigger } from '../../db/schema.js';
import { ReconError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ProviderClient } from '../../provider/client.js';
import { FILE_KINDS } from '../../provider/protocol.js';
import type { LifecycleResult } from '../lifecycle/discrepancies.js';
import type { BalanceResult } from '../live/balances.js';
import type { FollowUpResult } from '../live/live-follow-up.js';
import { ensureDealerTables, prunedFileKinds } from '../load/day-tables.js';
import { loadProviderFiles, type FileIngest } from '../load/ingest.js';
import { prepareFindings } from '../match/matching.js';
import type { FileSource } from './day-files.js';
import { createRowViews, interrupted, judgeDay, obtainDayFiles, withRun } from './run-stages.js';
import type { StageTimes } from './stage-clock.js';

export type { StageTimes } from './stage-clock.js';

/** What both entry points are asked. */
export interface RunBase {
  dealerId: string;
  date: string;
  trigger: RunTrigger;
  signal?: AbortSignal;
}

export interface RunRequest extends RunBase {
  /** `archive`: the files last ingested for the day, from the archive; the provider is not asked. */
  source?: FileSource;
}

/**
 * The live follow-up alone (`followUpDay`), for an operator who wants an answer now: no files
 * are downloaded; the day is judged on what is already ingested, with fresh live answers; no
 * balance query.
 */
export type FollowUpRequest = RunBase;

/** `run`: the whole day (runDay). `follow-up`: the live follow-up alone (followUpDay). */
export type RunMode = 'run' | 'follow-up';

export interface RunResult {
  runId: number;
  dealerId: string;
  date: string;
  files: (FileIngest & { source: FileSource })[];
  mode: RunMode;
  lifecycle: LifecycleResult;
  followUp: FollowUpResult;
  /** null when the run did not ask (follow-up mode). */
  balances: BalanceResult | null;
  times: StageTimes;
  /** The run's link in the dealer's audit chain. */
  auditHash: string;
}

export interface RunDeps {
  db: DatabaseHandle;
  client: ProviderClient;
  config: Pick<Config, 'lockTimeoutMs' | 'tmpDir' | 'archiveDir'> & Partial<Pick<Config, 'retainDays' | 'duplicateWindowDays'>>
    & { followUp?: FollowUpConfig };
  log: Logger;
}

/**
 * One business day: download both files, then in one transaction load them, match, and write
 * the discrepancies. A failure anywhere rolls the transaction back, so the tables are as they
 * were, and the run is recorded as failed with its error.
 */
export async function runDay(deps: RunDeps, request: RunRequest): Promise<RunResult> {
  const { config } = deps;
  // A run from the archive never asks the provider: its findings are those the files (and
  // the live answers already recorded) give.
  const fromArchive = request.source === 'archive';
  return withRun(deps, request, 'run', null, async (run) => {
    const { session, dealerId, date, log, signal, times } = run;
    const byKind = await times.stage('download', () => obtainDayFiles(run, config.archiveDir, request.source ?? 'provider'));
    interrupted(signal);
    await ensureDealerTables(session, dealerId);
    // A day whose provider rows retention dropped is loaded again, even from unchanged files.
    const pruned = await prunedFileKinds(session, dealerId, date);
    if (pruned.size > 0) log.info({ kinds: [...pruned] }, 'the day\'s provider rows were pruned; its files are loaded again');
    const tx = await run.begin();
    const toLoad = FILE_KINDS.map((kind) => {
      const file = byKind.get(kind)!;
      return { kind, download: file.download, archiveKey: file.archiveKey, reload: file.source === 'archive' || pruned.has(kind) };
    });
    // Matching's first part runs inside the load (while the bill file parses); it counts as matching.
    const load = await times.stage('load', () => loadProviderFiles(tx, dealerId, date, toLoad, run.runId, log, signal, {
      tablesCreated: (tables) => createRowViews(tx, run, tables, config.duplicateWindowDays),
      ordersLoaded: () => times.stage('match', () => prepareFindings(tx, dealerId, date)),
      sideTableCreated: (name) => run.sideTables.push(name),
      sideWork: (work) => run.sideWork.push(work),
    }, deps.db.engine === 'pg' ? (work) => deps.db.withSession(work) : null));
    const downloadMs = times.ms('download');
    return judgeDay(tx, run, {
      files: load.files.map((f) => ({ ...f, downloadMs, source: byKind.get(f.kind)!.source })),
      tables: load.tables,
      followUp: fromArchive ? { ...DEFAULT_FOLLOW_UP, max: 0 } : config.followUp ?? DEFAULT_FOLLOW_UP,
      askBalances: !fromArchive,
    }, config.retainDays);
  });
}

/**
 * The live follow-up alone, as a run of its own (`yzh-recon follow-up`): the day judged on
 * what is already ingested, every candidate asked again now, the balances not asked (their
 * open findings carried forward). Lock, audit link, commit and failure as in runDay.
 */
export async function followUpDay(deps: RunDeps, request: FollowUpRequest): Promise<RunResult> {
  const { config } = deps;
  const { dealerId, date } = request;
  const refuseUningested = (session: Session) => requireIngestedDay(session, dealerId, date, config.retainDays ?? DEFAULT_RETAIN_DAYS);
  return withRun(deps, request, 'follow-up', refuseUningested, async (run) => {
    interrupted(run.signal);
    await ensureDealerTables(run.session, dealerId);
    const tx = await run.begin();
    await createRowViews(tx, run, {}, config.duplicateWindowDays);
    await run.times.stage('match', () => prepareFindings(tx, dealerId, date));
    return judgeDay(tx, run, {
      files: [], tables: {}, followUp: config.followUp ?? DEFAULT_FOLLOW_UP, reaskAfterHours: 0, askBalances: false,
    }, config.retainDays);
  });
}

/**
 * The follow-up alone judges a day on what is already ingested; on a day never run, or one
 * whose provider rows retention dropped, every ledger row of the day would look missing at the
 * provider.
 */
async function requireIngestedDay(session: Session, dealerId: string, date: string, retainDays: number): Promise<void> {
  const r = await session.query('select 1 from recon.provider_files where dealer_id = $1 and business_date = $2 and kind = $3 limit 1', [dealerId, date, 'order']);
  if (r.rows.length === 0) {
    throw new ReconError('USAGE', `no order file of ${date} has been ingested for dealer ${dealerId}: run \`yzh-recon run --date ${date}\` first`);
  }
  if ((await prunedFileKinds(session, dealerId, date)).size > 0) {
    throw new ReconError('RETENTION',
      `follow-up ${date}: the provider rows of ${date} for dealer ${dealerId} were pruned (YZH_RETAIN_DAYS=${retainDays}); `
      + `run \`yzh-recon run --date ${date}\` to load the day's files again`);
  }
}

/** The newest business day with an ingested order file: what `follow-up` asks about by default. */
export async function newestIngestedDay(session: Session, dealerId: string): Promise<string | null> {
  const r = await session.query<{ day: string | null }>(
    `select max(business_date)::text as day from recon.provider_files where dealer_id = $1 and kind = 'order'`, [dealerId]);
  return r.rows[0]?.day ?? null;
}
