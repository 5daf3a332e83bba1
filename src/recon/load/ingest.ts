import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Session } from '../../db/connection.js';
import { ReconError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ProviderClient, DownloadResult } from '../../provider/client.js';
import type { FileKind } from '../../provider/protocol.js';
import { startProgress } from './progress.js';
import { createLoadTable, finishLoadTable, qualified } from './day-tables.js';
import { recordFileTotals, totalsObjectSql } from './file-totals.js';
import { loadEmbedded } from './embedded-loader.js';
import type { FileLoader } from './loader.js';
import { loadOnServer } from './server-loader.js';

export interface FileIngest {
  kind: FileKind;
  label: string;
  sha256: string;
  bytes: number;
  rows: number;
  /** False when the file equals the one ingested last for that day, so nothing was loaded. */
  loaded: boolean;
  downloadMs: number;
  loadMs: number;
}

export const FILE_LABELS: Record<FileKind, (date: string) => string> = {
  order: (date) => `order file ${date}`,
  bill: (date) => `bill file ${date}`,
};

/**
 * A temporary file's name for one of a dealer's files: one path segment of safe characters,
 * whatever the dealer id holds. The configuration already refuses an id outside 1-64 of
 * A-Z a-z 0-9 _ -; this holds for an id that reaches here by another road (a slash or `../`
 * would otherwise name a folder that does not exist, or one outside the run's).
 */
export function tempFileName(dealerId: string, date: string, kind: FileKind, suffix: string): string {
  const dealer = dealerId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || '_';
  return `yzh-recon-${dealer}-${date}-${kind}-${process.pid}-${Date.now()}${suffix}`;
}

/** Downloads one day's file to a temporary path (removed by the caller through `discard`). */
export async function fetchProviderFile(
  client: ProviderClient, kind: FileKind, date: string, dealerId: string, tmpDir: string, log: Logger, signal?: AbortSignal,
): Promise<DownloadResult> {
  const label = FILE_LABELS[kind](date);
  const url = await client.fileUrl(kind, date, signal);
  const path = join(tmpDir, tempFileName(dealerId, date, kind, '.csv.gz'));
  const progress = startProgress(log, `download ${label}`, 'bytes');
  try {
    return await client.download(url, path, label, signal, (bytes) => progress.update(bytes));
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  } finally {
    progress.done();
  }
}

export async function discard(download: DownloadResult): Promise<void> {
  await rm(download.path, { force: true });
}

/** One file of the day to load, as downloaded. */
export interface FileToLoad {
  kind: FileKind;
  download: DownloadResult;
  /** Where the file is kept in the archive, recorded with it. */
  archiveKey?: string | null;
  /**
   * Load the rows even when the file equals the one ingested last (a re-run from the archive:
   * the day's rows are rebuilt from the archived bytes); no second file record is written.
   */
  reload?: boolean;
}

export interface LoadHooks {
  /**
   * Runs once the tables this load fills exist (empty), before any row goes in: the run
   * creates its views of the provider rows over them (day-tables.ts rowViewsSql).
   */
  tablesCreated?: (tables: Partial<Record<FileKind, string>>) => Promise<void>;
  /**
   * Runs once day D's order rows are in place, on the same connection, before the bill file
   * is loaded: work that needs only the order rows.
   */
  ordersLoaded?: () => Promise<void>;
}

export interface LoadResult {
  files: Omit<FileIngest, 'downloadMs'>[];
  /** The tables this run loaded, by kind, to be swapped in before commit (day-tables.ts). */
  tables: Partial<Record<FileKind, string>>;
  /** Wall time of the whole load: both files, their indexes and the order-state hook. */
  loadMs: number;
}

/**
 * Loads each downloaded file into a table of its own (day-tables.ts), inside the caller's
 * transaction; the caller swaps the tables in before commit. A file equal (by sha256) to the last one ingested is not
 * loaded again: the day's partition stays, and the views read it.
 *
 * The order file is loaded first, then the bill file: on a Postgres server by Postgres' own
 * COPY parser (server-loader.ts), on PGlite by csv-parse feeding COPY (embedded-loader.ts).
 */
export async function loadProviderFiles(
  session: Session, dealerId: string, date: string, files: FileToLoad[], runId: number, log: Logger, signal?: AbortSignal,
  hooks: LoadHooks = {},
): Promise<LoadResult> {
  const started = performance.now();
  const results = new Map<FileKind, Omit<FileIngest, 'downloadMs'>>();
  const toLoad: FileToLoad[] = [];
  const known = new Set<FileKind>();
  for (const file of files) {
    const { kind, download } = file;
    const label = FILE_LABELS[kind](date);
    const last = await session.query<{ id: number; sha256: string; row_count: number; archive_key: string | null }>(
      `select id, sha256, row_count, archive_key from recon.provider_files
        where dealer_id = $1 and business_date = $2 and kind = $3 order by id desc limit 1`,
      [dealerId, date, kind],
    );
    const previous = last.rows[0];
    if (previous !== undefined && previous.sha256 === download.sha256 && previous.archive_key === null && file.archiveKey) {
      // Ingested before the archive existed: the record learns where the file is kept now.
      await session.query('update recon.provider_files set archive_key = $2 where id = $1', [previous.id, file.archiveKey]);
    }
    if (previous !== undefined && previous.sha256 === download.sha256 && file.reload === true) known.add(kind);
    else if (previous !== undefined && previous.sha256 === download.sha256) {
      log.info({ kind, sha256: download.sha256 }, `${label} unchanged since the last ingest; not loaded again`);
      results.set(kind, { kind, label, sha256: download.sha256, bytes: download.bytes, rows: previous.row_count, loaded: false, loadMs: 0 });
      continue;
    }
    if (download.bytes === 0) {
      // gunzip would call it truncated; a person should read that nothing came at all.
      throw new ReconError('FILE_FORMAT', `${label}: the file is empty (0 bytes downloaded)`, { facts: { file: label } });
    }
    toLoad.push(file);
  }
  const tables: Partial<Record<FileKind, string>> = {};
  for (const { kind } of toLoad) tables[kind] = await createLoadTable(session, kind, dealerId, date, runId);
  await hooks.tablesCreated?.(tables);
  // The hook runs once: now if the order rows are already in place, else after their load.
  const loadingOrders = toLoad.some((f) => f.kind === 'order');
  if (!loadingOrders) await hooks.ordersLoaded?.();
  const ordersLoaded = (loadingOrders && hooks.ordersLoaded) || (async () => {});
  // Indexes and statistics once a table is full; the order-state hook reads the order table.
  const finished = async (kind: FileKind) => {
    await finishLoadTable(session, kind, tables[kind]!, dealerId, date);
    if (kind === 'order') await ordersLoaded();
  };

  const loaded = await loadFiles(session, dealerId, date, toLoad, tables, log, signal, finished);
  for (const { kind, download, archiveKey } of toLoad) {
    const { rows, loadMs } = loaded.get(kind)!;
    const label = FILE_LABELS[kind](date);
    // The file's totals are recorded with it, for the day's page once its rows are pruned.
    if (!known.has(kind)) {
      await session.query(
        `insert into recon.provider_files (dealer_id, business_date, kind, sha256, bytes, row_count, generated_at, run_id, archive_key, totals)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, (select ${totalsObjectSql(kind)} from ${qualified(tables[kind]!)}))`,
        [dealerId, date, kind, download.sha256, download.bytes, rows, download.lastModified, runId, archiveKey ?? null],
      );
    } else {
      await recordFileTotals(session, kind, dealerId, date, qualified(tables[kind]!));
    }
    log.info({ kind, rows, ms: Math.round(loadMs) }, `${label} loaded`);
    results.set(kind, { kind, label, sha256: download.sha256, bytes: download.bytes, rows, loaded: true, loadMs });
  }
  return { files: files.map((f) => results.get(f.kind)!), tables, loadMs: performance.now() - started };
}

interface Loaded { rows: number; loadMs: number }

/** One file after the other on the session's connection, each indexed and analyzed once loaded. */
async function loadFiles(
  session: Session, dealerId: string, date: string, files: FileToLoad[], tables: Partial<Record<FileKind, string>>, log: Logger,
  signal: AbortSignal | undefined, finished: (kind: FileKind) => Promise<void>,
): Promise<Map<FileKind, Loaded>> {
  const load: FileLoader = session.engine === 'pglite' ? loadEmbedded : loadOnServer;
  const loaded = new Map<FileKind, Loaded>();
  for (const { kind, download } of files) {
    signal?.throwIfAborted();
    const started = performance.now();
    const label = FILE_LABELS[kind](date);
    const progress = startProgress(log, `load ${label}`, 'rows');
    const job = { kind, path: download.path, label, table: tables[kind]!, dealerId, date };
    const rows = await load(session, job, (n) => progress.update(n), signal).finally(() => progress.done());
    loaded.set(kind, { rows, loadMs: performance.now() - started });
    await finished(kind);
  }
  return loaded;
}
