import { DEFAULT_DUPLICATE_WINDOW_DAYS, DEFAULT_FOLLOW_UP, DEFAULT_RETAIN_DAYS, type Config, type FollowUpConfig } from '../../config.js';
import type { DatabaseHandle, Session } from '../../db/connection.js';
import { migrate } from '../../db/migrator.js';
import type { RunTrigger } from '../../db/schema.js';
import { coerceError, fileError, ReconError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { Archive } from '../../provider/file-archive.js';
import type { DownloadResult, ProviderClient } from '../../provider/client.js';
import { FILE_KINDS, type FileKind } from '../../provider/protocol.js';
import { carryForwardBalanceFindings, checkBalances, type BalanceResult } from '../live/balances.js';
import { applyFindings, type LifecycleResult } from '../lifecycle/discrepancies.js';
import { followUp, type FollowUpResult } from '../live/live-follow-up.js';
import { discard, dropSideTables, loadProviderFiles, type FileIngest } from '../load/ingest.js';
import { DROP_ROW_VIEWS_SQL, ensureDealerTables, prunedFileKinds, rowViewsSql, swapDay } from '../load/day-tables.js';
import { computeFindings, prepareFindings } from '../match/matching.js';
import { pruneProviderDays } from '../lifecycle/prune/provider-rows-pruner.js';
import { createRunDir, type RunDir } from './run-dir.js';
import { acquireRunLock, insertRun, markFailed, markSucceeded, releaseAlive, releaseRunLock } from './runs.js';
import { obtainDayFile, type DayFile, type FileSource } from './day-files.js';
import { recordAudit } from './audit.js';

export interface RunRequest {
  dealerId: string;
  date: string;
  trigger: RunTrigger;
  /** `archive`: the files last ingested for the day, from the archive; the provider is not asked. */
  source?: FileSource;
  signal?: AbortSignal;
  /**
   * `run` (the default): the whole day. `follow-up`: the live follow-up alone, for an operator
   * who wants an answer now: no files are downloaded; the day is judged on what is already
   * ingested, with fresh live answers; no balance query.
   */
  mode?: RunMode;
}

export type RunMode = 'run' | 'follow-up';

export interface StageTimes {
  downloadMs: number;
  loadMs: number;
  matchMs: number;
  followUpMs: number;
  balanceMs: number;
  writeMs: number;
  totalMs: number;
}

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

function interruption(signal: AbortSignal): ReconError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'abort');
  return new ReconError('INTERRUPTED', `interrupted by ${reason}`);
}

function interrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interruption(signal);
}

/**
 * One business day: download both files, then in one transaction load them, match, and write
 * the discrepancies. A failure anywhere rolls the transaction back, so the tables are as they
 * were, and the run is recorded as failed with its error.
 */
export async function runDay(deps: RunDeps, request: RunRequest): Promise<RunResult> {
  const { db, config } = deps;
  const { dealerId, date, signal } = request;
  const mode = request.mode ?? 'run';
  const started = performance.now();
  return db.withSession(async (session) => {
    await migrate(session, deps.log);
    if (mode === 'follow-up') await requireIngestedDay(session, dealerId, date, config.retainDays ?? DEFAULT_RETAIN_DAYS);
    const runId = await insertRun(session, dealerId, date, request.trigger);
    const log = deps.log.child({ run_id: runId, dealer_id: dealerId, business_date: date });
    const client = deps.client.withLog(log);
    log.info({ trigger: request.trigger, mode }, 'run started');
    const downloads: DownloadResult[] = [];
    let runDir: RunDir | null = null;
    let locked = false;
    let inTransaction = false;
    /** Load tables a second connection committed for this run: dropped unless the run commits. */
    let sideTables: string[] = [];
    let onAbort: (() => void) | null = null;
    /** The server-side cancel a stop signal sent, awaited before the rollback (see the catch). */
    const cancelling: { sent: Promise<void> | null } = { sent: null };
    try {
      await acquireRunLock(session, dealerId, runId, config.lockTimeoutMs, signal);
      locked = true;
      // Downloads go to the run's own folder, which the next run removes if
      // this process dies without removing it (run-dir.ts).
      runDir = await createRunDir(config.tmpDir, log).catch((err: unknown) => {
        throw fileError(err, `creating the run's folder in YZH_TMP_DIR (${config.tmpDir})`);
      });
      const downloadStarted = performance.now();
      const byKind = new Map<FileKind, DayFile>();
      const archive = new Archive(config.archiveDir);
      const source = request.source ?? 'provider';
      for (const kind of mode === 'run' ? FILE_KINDS : []) {
        interrupted(signal);
        // Kept in the archive before anything is written to the tables.
        const file = await obtainDayFile({ session, client, archive, dealerId, date, kind, tmpDir: runDir.path, source, log, signal });
        const { download } = file;
        downloads.push(download);
        byKind.set(kind, file);
        log.info({ kind, bytes: download.bytes, sha256: download.sha256, source: file.source }, `${kind} file ${file.source === 'provider' ? 'downloaded' : 'read from the archive'}`);
      }
      const downloadMs = performance.now() - downloadStarted;
      interrupted(signal);
      await ensureDealerTables(session, dealerId);
      // A day whose provider rows retention dropped is loaded again, even from unchanged files.
      const pruned = mode === 'run' ? await prunedFileKinds(session, dealerId, date) : new Set<FileKind>();
      if (pruned.size > 0) log.info({ kinds: [...pruned] }, 'the day\'s provider rows were pruned; its files are loaded again');

      await session.exec('begin');
      inTransaction = true;
      // A stop signal during a long statement (COPY, a rule) cancels it server-side, so the
      // rollback below starts within moments rather than after the statement.
      onAbort = () => { cancelling.sent = session.cancel().catch(() => {}); };
      signal?.addEventListener('abort', onAbort, { once: true });
      let prepareMs = 0;
      const prepare = async () => {
        const prepareStarted = performance.now();
        await prepareFindings(session, dealerId, date);
        prepareMs = performance.now() - prepareStarted;
      };
      const createViews = async (loaded: Partial<Record<FileKind, string>>) => {
        for (const sql of rowViewsSql(dealerId, date, loaded, config.duplicateWindowDays ?? DEFAULT_DUPLICATE_WINDOW_DAYS)) await session.query(sql);
      };
      let files: (FileIngest & { source: FileSource })[] = [];
      let tables: Partial<Record<FileKind, string>> = {};
      let loadMs = 0;
      if (mode === 'run') {
        const load = await loadProviderFiles(
          session, dealerId, date,
          FILE_KINDS.map((kind) => {
            const file = byKind.get(kind)!;
            return { kind, download: file.download, archiveKey: file.archiveKey, reload: file.source === 'archive' || pruned.has(kind) };
          }),
          runId, log, signal,
          { tablesCreated: createViews, ordersLoaded: prepare, sideTableCreated: (name) => sideTables.push(name) },
          db.engine === 'pg' ? (work) => db.withSession(work) : null,
        );
        files = load.files.map((f) => ({ ...f, downloadMs, source: byKind.get(f.kind)!.source }));
        tables = load.tables;
        loadMs = load.loadMs;
      } else {
        await createViews({});
        await prepare();
      }
      interrupted(signal);
      const matchStarted = performance.now();
      await computeFindings(session);
      // Matching's first part ran inside the load (while the bill file parsed); it counts here.
      const matchMs = prepareMs + performance.now() - matchStarted;
      interrupted(signal);
      // After matching, the provider is asked what the files cannot tell, and the rules judge
      // those orders again; then the balances. Neither ever fails the run (see each).
      const followUpStarted = performance.now();
      // A run from the archive never asks the provider: its findings are those the files (and
      // the live answers already recorded) give.
      const fromArchive = request.source === 'archive';
      const followUpConfig = fromArchive ? { ...DEFAULT_FOLLOW_UP, max: 0 } : deps.config.followUp ?? DEFAULT_FOLLOW_UP;
      const followUpResult = await followUp(session, {
        client, config: followUpConfig, log, signal, ...(mode === 'follow-up' ? { reaskAfterHours: 0 } : {}),
      }, runId, dealerId);
      const followUpMs = performance.now() - followUpStarted;
      interrupted(signal);
      const balanceStarted = performance.now();
      let balances: BalanceResult | null = null;
      if (mode === 'run' && !fromArchive) balances = await checkBalances(session, { client, log, signal }, runId, dealerId, date);
      else await carryForwardBalanceFindings(session);
      const balanceMs = performance.now() - balanceStarted;
      interrupted(signal);
      const writeStarted = performance.now();
      const lifecycle = await applyFindings(session, runId);
      const writeMs = performance.now() - writeStarted;
      const times: StageTimes = {
        downloadMs, loadMs: loadMs - (mode === 'run' ? prepareMs : 0), matchMs, followUpMs, balanceMs, writeMs,
        totalMs: performance.now() - started,
      };
      const order = files.find((f) => f.kind === 'order');
      const bill = files.find((f) => f.kind === 'bill');
      await markSucceeded(session, runId, {
        orderSha256: order?.sha256 ?? null, billSha256: bill?.sha256 ?? null, orderRows: order?.rows ?? null, billRows: bill?.rows ?? null,
        summary: {
          mode, findings: lifecycle.findings, opened: lifecycle.opened, resolved: lifecycle.resolved, times: roundTimes(times),
          files: files.map((f) => ({ kind: f.kind, rows: f.rows, loaded: f.loaded, loadMs: Math.round(f.loadMs), source: f.source })),
          followUp: followUpResult,
          balances: balances === null ? null : {
            asked: balances.asked, ...(balances.error === undefined ? {} : { error: balances.error }),
            channels: balances.channels.filter((c) => c.open),
          },
        },
      });
      // Last before commit, once every finding of the run is written.
      const auditHash = await recordAudit(session, runId, dealerId);
      interrupted(signal);
      // The loaded tables become the day's partitions last: from here to commit the dealer's
      // provider tables are locked against readers, for moments.
      await session.query(DROP_ROW_VIEWS_SQL);
      for (const kind of FILE_KINDS) {
        const table = tables[kind];
        if (table !== undefined) await swapDay(session, kind, dealerId, date, table);
      }
      await session.exec('commit');
      inTransaction = false;
      sideTables = [];
      await pruneAfterRun(session, dealerId, config.retainDays ?? DEFAULT_RETAIN_DAYS, log);
      log.info({ opened: lifecycle.opened, resolved: lifecycle.resolved, findings: lifecycle.findings, auditHash, ms: Math.round(times.totalMs) }, 'run succeeded');
      return { runId, dealerId, date, files, mode, lifecycle, followUp: followUpResult, balances, times, auditHash };
    } catch (err) {
      const error = signal?.aborted ? interruption(signal) : coerceError(err);
      // The cancel travels on a connection of its own: were it still on its way, it could
      // land on the rollback or on the statement that records the failure, and the run would
      // stay 'running'. Once it has arrived, a backend that has moved on ignores it.
      await cancelling.sent;
      if (inTransaction) await session.exec('rollback').catch(() => {});
      await dropSideTables(session, dealerId, sideTables)
        .catch((e: unknown) => log.warn({ err: (e as Error).message, tables: sideTables }, 'could not drop the side load table; the next run drops it'));
      await recordFailure(session, runId, error, log);
      throw error;
    } finally {
      if (onAbort !== null) signal?.removeEventListener('abort', onAbort);
      if (locked) await releaseRunLock(session, dealerId).catch(() => {});
      await releaseAlive(session, runId).catch(() => {});
      await Promise.all(downloads.map(discard));
      await runDir?.remove().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not remove the run\'s folder'));
    }
  });
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
