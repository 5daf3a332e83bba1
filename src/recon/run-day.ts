import type { Config } from '../config.js';
import type { DatabaseHandle, Session } from '../db/connection.js';
import { migrate } from '../db/migrator.js';
import type { RunTrigger } from '../db/schema.js';
import { coerceError, ReconError } from '../errors.js';
import type { Logger } from '../logger.js';
import { Archive } from '../provider/archive.js';
import type { DownloadResult, ProviderClient } from '../provider/client.js';
import { FILE_KINDS, type FileKind } from '../provider/protocol.js';
import { applyFindings, type LifecycleResult } from './discrepancies.js';
import { discard, loadProviderFiles, type FileIngest } from './ingest.js';
import { computeFindings, prepareFindings } from './matching.js';
import { acquireRunLock, insertRun, markFailed, markSucceeded, releaseRunLock } from './runs.js';
import { obtainDayFile, type DayFile, type FileSource } from './run/archive.js';
import { recordAudit } from './run/audit.js';

export interface RunRequest {
  dealerId: string;
  date: string;
  trigger: RunTrigger;
  /** `archive`: the files last ingested for the day, from the archive; the provider is not asked. */
  source?: FileSource;
  signal?: AbortSignal;
}

export interface StageTimes {
  downloadMs: number;
  loadMs: number;
  matchMs: number;
  writeMs: number;
  totalMs: number;
}

export interface RunResult {
  runId: number;
  dealerId: string;
  date: string;
  files: (FileIngest & { source: FileSource })[];
  lifecycle: LifecycleResult;
  times: StageTimes;
  /** The run's link in the dealer's audit chain. */
  auditHash: string;
}

export interface RunDeps {
  db: DatabaseHandle;
  client: ProviderClient;
  config: Pick<Config, 'lockTimeoutMs' | 'tmpDir' | 'archiveDir'>;
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
  const started = performance.now();
  return db.withSession(async (session) => {
    await migrate(session, deps.log);
    const runId = await insertRun(session, dealerId, date, request.trigger);
    const log = deps.log.child({ run_id: runId, dealer_id: dealerId, business_date: date });
    const client = deps.client.withLog(log);
    log.info({ trigger: request.trigger }, 'run started');
    const downloads: DownloadResult[] = [];
    let locked = false;
    let inTransaction = false;
    let onAbort: (() => void) | null = null;
    try {
      await acquireRunLock(session, dealerId, runId, config.lockTimeoutMs, signal);
      locked = true;
      const downloadStarted = performance.now();
      const byKind = new Map<FileKind, DayFile>();
      const archive = new Archive(config.archiveDir);
      const source = request.source ?? 'provider';
      for (const kind of FILE_KINDS) {
        interrupted(signal);
        // Kept in the archive before anything is written to the tables.
        const file = await obtainDayFile({ session, client, archive, dealerId, date, kind, tmpDir: config.tmpDir, source, log, signal });
        const { download } = file;
        downloads.push(download);
        byKind.set(kind, file);
        log.info({ kind, bytes: download.bytes, sha256: download.sha256, source: file.source }, `${kind} file ${file.source === 'provider' ? 'downloaded' : 'read from the archive'}`);
      }
      const downloadMs = performance.now() - downloadStarted;
      interrupted(signal);

      await session.exec('begin');
      inTransaction = true;
      // A stop signal during a long statement (COPY, a rule) cancels it server-side, so the
      // rollback below starts within moments rather than after the statement.
      onAbort = () => { void session.cancel().catch(() => {}); };
      signal?.addEventListener('abort', onAbort, { once: true });
      let prepareMs = 0;
      const load = await loadProviderFiles(
        session, dealerId, date,
        FILE_KINDS.map((kind) => {
          const file = byKind.get(kind)!;
          return { kind, download: file.download, archiveKey: file.archiveKey, reload: file.source === 'archive' };
        }),
        runId, log, signal,
        {
          ordersLoaded: async () => {
            const prepareStarted = performance.now();
            await prepareFindings(session, dealerId, date);
            prepareMs = performance.now() - prepareStarted;
          },
        },
      );
      const files = load.files.map((f) => ({ ...f, downloadMs, source: byKind.get(f.kind)!.source }));
      interrupted(signal);
      const matchStarted = performance.now();
      await computeFindings(session);
      // Matching's first part ran inside the load (while the bill file parsed); it counts here.
      const matchMs = prepareMs + performance.now() - matchStarted;
      interrupted(signal);
      const writeStarted = performance.now();
      const lifecycle = await applyFindings(session, runId);
      const writeMs = performance.now() - writeStarted;
      const times: StageTimes = {
        downloadMs, loadMs: load.loadMs - prepareMs, matchMs, writeMs, totalMs: performance.now() - started,
      };
      const order = files.find((f) => f.kind === 'order')!;
      const bill = files.find((f) => f.kind === 'bill')!;
      await markSucceeded(session, runId, {
        orderSha256: order.sha256, billSha256: bill.sha256, orderRows: order.rows, billRows: bill.rows,
        summary: {
          findings: lifecycle.findings, opened: lifecycle.opened, resolved: lifecycle.resolved, times: roundTimes(times),
          files: files.map((f) => ({ kind: f.kind, rows: f.rows, loaded: f.loaded, loadMs: Math.round(f.loadMs), source: f.source })),
        },
      });
      // Last before commit, once every finding of the run is written.
      const auditHash = await recordAudit(session, runId, dealerId);
      interrupted(signal);
      await session.exec('commit');
      inTransaction = false;
      log.info({ opened: lifecycle.opened, resolved: lifecycle.resolved, findings: lifecycle.findings, auditHash, ms: Math.round(times.totalMs) }, 'run succeeded');
      return { runId, dealerId, date, files, lifecycle, times, auditHash };
    } catch (err) {
      const error = signal?.aborted ? interruption(signal) : coerceError(err);
      if (inTransaction) await session.exec('rollback').catch(() => {});
      await recordFailure(session, runId, error, log);
      throw error;
    } finally {
      if (onAbort !== null) signal?.removeEventListener('abort', onAbort);
      if (locked) await releaseRunLock(session, dealerId).catch(() => {});
      await Promise.all(downloads.map(discard));
    }
  });
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
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(v)]));
}
