import { DEFAULT_DUPLICATE_WINDOW_DAYS, DEFAULT_RETAIN_DAYS, type FollowUpConfig } from '../../config.js';
import type { Session } from '../../db/connection.js';
import { migrate } from '../../db/migrator.js';
import { coerceError, fileError, ReconError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { DownloadResult, ProviderClient } from '../../provider/client.js';
import { Archive } from '../../provider/file-archive.js';
import { FILE_KINDS, type FileKind } from '../../provider/protocol.js';
import { applyFindings } from '../lifecycle/discrepancies.js';
import { pruneProviderDays } from '../lifecycle/prune/provider-rows-pruner.js';
import { carryForwardBalanceFindings, checkBalances } from '../live/balances.js';
import { followUp } from '../live/live-follow-up.js';
import { dropRowViews, rowViewsSql, swapDay } from '../load/day-tables.js';
import { discard, dropSideTables, type FileIngest } from '../load/ingest.js';
import { computeFindings } from '../match/matching.js';
import { recordAudit } from './audit.js';
import { obtainDayFile, type DayFile, type FileSource } from './day-files.js';
import { createRunDir, type RunDir } from './run-dir.js';
import type { RunDeps, RunMode, RunResult, RunBase } from './run-day.js';
import { RunTransaction, type RunTx } from './run-transaction.js';
import { acquireRunLock, insertRun, markFailed, markSucceeded, releaseAlive, releaseRunLock } from './runs.js';
import { StageClock, type StageTimes } from './stage-clock.js';

/** The pieces of a run that `runDay` and `followUpDay` share. */

/** A run under way: its row, its lock, its folder, its clock; its transaction once begun. */
export interface ActiveRun {
  readonly session: Session;
  readonly runId: number;
  readonly dealerId: string;
  readonly date: string;
  readonly mode: RunMode;
  readonly signal: AbortSignal | undefined;
  readonly log: Logger;
  readonly client: ProviderClient;
  readonly times: StageClock;
  /** The run's own folder, which the next run removes if this process dies without removing it (run-dir.ts). */
  readonly dir: RunDir;
  /** What the run downloaded, discarded at its end whatever happens. */
  readonly downloads: DownloadResult[];
  /** Load tables a second connection committed for this run: dropped unless the run commits. */
  readonly sideTables: string[];
  /** What a second connection still does for this run (a side table's index): awaited before the table is read by id, swapped in or dropped. */
  readonly sideWork: Promise<void>[];
  /** Begins the run's transaction. */
  begin(): Promise<RunTx>;
  /** Commits it; the side tables are the day's from then on. */
  commit(): Promise<void>;
}

function interruption(signal: AbortSignal): ReconError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'abort');
  return new ReconError('INTERRUPTED', `interrupted by ${reason}`);
}

export function interrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interruption(signal);
}

/**
 * A run from its row to its end: migrations, the run's row (after `precondition`, which refuses
 * a run before it is recorded), the dealer's run lock, the run's folder, then `work`. A failure
 * anywhere rolls the run's transaction back, so the tables are as they were, and the run is
 * recorded as failed with its error. The lock, the run's alive lock, the downloads and the
 * folder are released at the end either way.
 */
export async function withRun<T>(
  deps: RunDeps, request: RunBase, mode: RunMode, precondition: ((session: Session) => Promise<void>) | null,
  work: (run: ActiveRun) => Promise<T>,
): Promise<T> {
  const { dealerId, date, signal } = request;
  const times = new StageClock();
  return deps.db.withSession(async (session) => {
    await migrate(session, deps.log);
    await precondition?.(session);
    const runId = await insertRun(session, dealerId, date, request.trigger);
    const log = deps.log.child({ run_id: runId, dealer_id: dealerId, business_date: date });
    const client = deps.client.withLog(log);
    log.info({ trigger: request.trigger, mode }, 'run started');
    const downloads: DownloadResult[] = [];
    const sideTables: string[] = [];
    const sideWork: Promise<void>[] = [];
    let runDir: RunDir | null = null;
    let locked = false;
    const transaction: { current: RunTransaction | null } = { current: null };
    try {
      await acquireRunLock(session, dealerId, runId, deps.config.lockTimeoutMs, signal);
      locked = true;
      runDir = await createRunDir(deps.config.tmpDir, log).catch((err: unknown) => {
        throw fileError(err, `creating the run's folder in YZH_TMP_DIR (${deps.config.tmpDir})`);
      });
      return await work({
        session, runId, dealerId, date, mode, signal, log, client, times, dir: runDir, downloads, sideTables, sideWork,
        begin: async () => (transaction.current = await RunTransaction.begin(session, signal)).tx,
        commit: async () => {
          await transaction.current!.commit();
          sideTables.length = 0;
        },
      });
    } catch (err) {
      const error = signal?.aborted ? interruption(signal) : coerceError(err);
      await transaction.current?.rollback();
      await Promise.allSettled(sideWork);
      await dropSideTables(session, dealerId, sideTables)
        .catch((e: unknown) => log.warn({ err: (e as Error).message, tables: sideTables }, 'could not drop the side load table; the next run drops it'));
      await recordFailure(session, runId, error, log);
      throw error;
    } finally {
      transaction.current?.release();
      if (locked) await releaseRunLock(session, dealerId).catch(() => {});
      await releaseAlive(session, runId).catch(() => {});
      await Promise.all(downloads.map(discard));
      await runDir?.remove().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not remove the run\'s folder'));
    }
  });
}

/** The day's two files, from the provider or the archive; each kept in the archive before anything is written to the tables. */
export async function obtainDayFiles(run: ActiveRun, archiveDir: string, source: FileSource): Promise<Map<FileKind, DayFile>> {
  const { session, client, dealerId, date, log, signal } = run;
  const byKind = new Map<FileKind, DayFile>();
  const archive = new Archive(archiveDir);
  for (const kind of FILE_KINDS) {
    interrupted(signal);
    const file = await obtainDayFile({ session, client, archive, dealerId, date, kind, tmpDir: run.dir.path, source, log, signal });
    const { download } = file;
    run.downloads.push(download);
    byKind.set(kind, file);
    log.info({ kind, bytes: download.bytes, sha256: download.sha256, source: file.source }, `${kind} file ${file.source === 'provider' ? 'downloaded' : 'read from the archive'}`);
  }
  return byKind;
}

/** The run's views of the provider rows (day-tables.ts), over the tables this run loaded. */
export async function createRowViews(tx: RunTx, run: ActiveRun, loaded: Partial<Record<FileKind, string>>, duplicateWindowDays?: number): Promise<void> {
  for (const sql of rowViewsSql(run.dealerId, run.date, loaded, duplicateWindowDays ?? DEFAULT_DUPLICATE_WINDOW_DAYS)) await tx.query(sql);
}

export interface DayInput {
  /** The day's files as this run read them; none in follow-up mode. */
  files: (FileIngest & { source: FileSource })[];
  /** The tables this run loaded, by kind, swapped in before commit. */
  tables: Partial<Record<FileKind, string>>;
  followUp: FollowUpConfig;
  /** Set in follow-up mode: every candidate is asked again, however recently it was. */
  reaskAfterHours?: number;
  /** Whether the provider's balances are asked; if not, the open balance_low rows are carried forward. */
  askBalances: boolean;
}

/**
 * Once matching's first part has run: the rest of matching; then the provider is asked what
 * the files cannot tell, and the rules judge those orders again; then the balances (neither
 * ever fails the run, see each); the findings written, the run marked succeeded, its audit
 * link, the day's tables swapped in, commit; retention after it.
 */
export async function judgeDay(tx: RunTx, run: ActiveRun, input: DayInput, retainDays: number | undefined): Promise<RunResult> {
  const { runId, dealerId, date, mode, signal, log, client, times } = run;
  const { files, tables } = input;
  interrupted(signal);
  // A stop that came while the run's connection waited for the index found no statement to cancel.
  await times.stage('match', () => computeFindings(tx, () => Promise.all(run.sideWork).then(() => interrupted(signal))));
  interrupted(signal);
  const followUpResult = await times.stage('followUp', () => followUp(tx, {
    client, config: input.followUp, log, signal, ...(input.reaskAfterHours === undefined ? {} : { reaskAfterHours: input.reaskAfterHours }),
  }, runId, dealerId));
  interrupted(signal);
  const balances = await times.stage('balance', async () => {
    if (input.askBalances) return checkBalances(tx, { client, log, signal }, runId, dealerId, date);
    await carryForwardBalanceFindings(tx);
    return null;
  });
  interrupted(signal);
  const lifecycle = await times.stage('write', () => applyFindings(tx, runId));
  const stageTimes = times.times();
  const order = files.find((f) => f.kind === 'order');
  const bill = files.find((f) => f.kind === 'bill');
  await markSucceeded(tx, runId, {
    orderSha256: order?.sha256 ?? null, billSha256: bill?.sha256 ?? null, orderRows: order?.rows ?? null, billRows: bill?.rows ?? null,
    summary: {
      mode, findings: lifecycle.findings, opened: lifecycle.opened, resolved: lifecycle.resolved, times: roundTimes(stageTimes),
      files: files.map((f) => ({ kind: f.kind, rows: f.rows, loaded: f.loaded, loadMs: Math.round(f.loadMs), source: f.source })),
      followUp: followUpResult,
      balances: balances === null ? null : {
        asked: balances.asked, ...(balances.error === undefined ? {} : { error: balances.error }),
        channels: balances.channels.filter((c) => c.open),
      },
    },
  });
  // Last before commit, once every finding of the run is written.
  const auditHash = await recordAudit(tx, runId, dealerId);
  interrupted(signal);
  // The loaded tables become the day's partitions last: from here to commit the dealer's
  // provider tables are locked against readers, for moments.
  await dropRowViews(tx);
  await Promise.all(run.sideWork);
  for (const kind of FILE_KINDS) {
    const table = tables[kind];
    if (table !== undefined) await swapDay(tx, kind, dealerId, date, table);
  }
  await run.commit();
  await pruneAfterRun(run.session, dealerId, retainDays ?? DEFAULT_RETAIN_DAYS, log);
  log.info({ opened: lifecycle.opened, resolved: lifecycle.resolved, findings: lifecycle.findings, auditHash, ms: Math.round(stageTimes.totalMs) }, 'run succeeded');
  return { runId, dealerId, date, files, mode, lifecycle, followUp: followUpResult, balances, times: stageTimes, auditHash };
}

/**
 * Retention after a successful run: the dealer's provider rows past YZH_RETAIN_DAYS. The run
 * has committed; a failure here is logged, and the next run or `prune` tries again.
 */
async function pruneAfterRun(session: Session, dealerId: string, retainDays: number, log: Logger): Promise<void> {
  try {
    const pruned = await pruneProviderDays(session, dealerId, retainDays, false);
    if (pruned.tables > 0) log.info({ ...pruned, retain_days: retainDays }, 'provider rows past YZH_RETAIN_DAYS dropped');
  } catch (err) {
    log.warn({ err: (err as Error).message, retain_days: retainDays }, 'could not drop provider rows past YZH_RETAIN_DAYS');
  }
}

async function recordFailure(session: Session, runId: number, error: ReconError, log: Logger): Promise<void> {
  try {
    await markFailed(session, runId, error.message);
  } catch (markErr) {
    // The connection itself may be gone; the next run marks this one abandoned.
    log.error({ err: (markErr as Error).message }, 'could not record the run as failed');
  }
  log.error({ code: error.code, err: error.message, ...error.facts }, 'run failed');
}

function roundTimes(times: StageTimes): Record<string, number> {
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(v as number)]));
}
