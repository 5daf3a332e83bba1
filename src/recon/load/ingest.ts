import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Session } from '../../db/connection.js';
import type { RunTx } from '../runs/run-transaction.js';
import { ReconError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ProviderClient, DownloadResult } from '../../provider/client.js';
import type { FileKind } from '../../provider/protocol.js';
import { startProgress } from './progress.js';
import { analyzeLoadTable, buildLoadTableIndexes, createLoadTable, dropLoadTables, finishLoadTable, indexLoadTable, qualified, recordDayPayouts } from './day-tables.js';
import { recordFileTotals, totalsObjectSql } from './file-totals.js';
import { loadEmbedded } from './embedded-loader.js';
import type { FileLoader } from './loader.js';
import { createMultiTable, loadOnServer } from './server-loader.js';

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
  /**
   * A load table a side connection created and committed: the run's rollback does not take it
   * away, so a run that does not commit drops it (dropSideTables), after its rollback (its
   * views hold a lock on the table until then).
   */
  sideTableCreated?: (name: string) => void;
  /**
   * Work a side connection goes on with once the load is over: the bill table's index, built
   * while the run matches. The run waits for it before it reads the table by id, and before
   * it drops the table after a failure; its error is the run's.
   */
  sideWork?: (work: Promise<void>) => void;
}

export interface LoadResult {
  files: Omit<FileIngest, 'downloadMs'>[];
  /** The tables this run loaded, by kind, to be swapped in before commit (day-tables.ts). */
  tables: Partial<Record<FileKind, string>>;
  /** Wall time of the whole load: both files, their indexes and the order-state hook. */
  loadMs: number;
}

/**
 * A connection of its own for the day's second file, on a Postgres server (the handle's
 * withSession); null on PGlite, one backend, where the files load one after the other.
 */
export type SideSession = <T>(work: (session: Session) => Promise<T>) => Promise<T>;

/** Drops the load tables a side connection committed for a run that did not commit. */
export async function dropSideTables(session: Session, dealerId: string, names: readonly string[]): Promise<void> {
  for (const name of names) await dropLoadTables(session, dealerId, name);
}

/**
 * Loads each downloaded file into a table of its own (day-tables.ts), inside the caller's
 * transaction; the caller swaps the tables in before commit. A file equal (by sha256) to the last one ingested is not
 * loaded again: the day's partition stays, and the views read it.
 *
 * On a Postgres server (Postgres' own COPY parser, server-loader.ts) with a side connection,
 * the two files load at once: the order file on the run's connection, inside its transaction,
 * the bill file on the side connection into a table it commits on its own (and indexes after,
 * while the run matches: hooks.sideWork), which the run's transaction then reads and attaches
 * like its own. On PGlite (csv-parse feeding
 * COPY, embedded-loader.ts) the order file loads first, then the bill file.
 */
export async function loadProviderFiles(
  session: RunTx, dealerId: string, date: string, files: FileToLoad[], runId: number, log: Logger, signal?: AbortSignal,
  hooks: LoadHooks = {}, side: SideSession | null = null,
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
  // Both files to load on a server with a second connection: the bill file goes there.
  const sideLoad = side !== null && session.engine === 'pg' && toLoad.length === 2 ? side : null;
  if (side !== null && session.engine === 'pg') {
    // A load table a run that died left behind (committed by its second connection), whatever
    // this run loads; then this run's, created and committed first so that its transaction sees it.
    tables.bill = await side(async (s) => {
      const stale = await dropLoadTables(s, dealerId);
      if (stale.length > 0) log.info({ tables: stale }, 'dropped load tables that a run which did not finish left behind');
      return sideLoad === null ? undefined : createLoadTable(s, 'bill', dealerId, date, runId);
    });
    if (tables.bill !== undefined) hooks.sideTableCreated?.(tables.bill);
  }
  for (const { kind } of toLoad) tables[kind] ??= await createLoadTable(session, kind, dealerId, date, runId);
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
  const loaded = sideLoad === null
    ? await loadFiles(session, dealerId, date, toLoad, tables, log, signal, finished)
    : await loadFilesAtOnce(session, sideLoad, dealerId, date, toLoad, tables, log, signal, ordersLoaded, hooks.sideWork ?? null);
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

function loaderOf(session: Session): FileLoader {
  return session.engine === 'pglite' ? loadEmbedded : loadOnServer;
}

/** One file's load into its table, with its progress logged. */
async function loadOne(
  session: Session, file: FileToLoad, table: string, dealerId: string, date: string, log: Logger, signal: AbortSignal | undefined,
  onRepeats?: (ids: string[]) => void,
): Promise<Loaded> {
  const started = performance.now();
  const label = FILE_LABELS[file.kind](date);
  const progress = startProgress(log, `load ${label}`, 'rows');
  const job = { kind: file.kind, path: file.download.path, label, table, dealerId, date, ...(onRepeats ? { onRepeats } : {}) };
  const rows = await loaderOf(session)(session, job, (n) => progress.update(n), signal).finally(() => progress.done());
  return { rows, loadMs: performance.now() - started };
}

/** One file after the other on the session's connection, each indexed and analyzed once loaded. */
async function loadFiles(
  session: Session, dealerId: string, date: string, files: FileToLoad[], tables: Partial<Record<FileKind, string>>, log: Logger,
  signal: AbortSignal | undefined, finished: (kind: FileKind) => Promise<void>,
): Promise<Map<FileKind, Loaded>> {
  const loaded = new Map<FileKind, Loaded>();
  for (const file of files) {
    signal?.throwIfAborted();
    loaded.set(file.kind, await loadOne(session, file, tables[file.kind]!, dealerId, date, log, signal));
    await finished(file.kind);
  }
  return loaded;
}

/**
 * Both files at once: the order file on the run's connection (then its indexes and the
 * order-state hook, while the bill file is still loading), the bill file on the side
 * connection, in a transaction of its own that loads, analyzes and commits its table. The
 * first to fail stops the other; its error is the load's.
 *
 * The bill table's index is built after that commit, on the side connection, while the run
 * matches on its own (`sideWork`): matching reads the day's rows whole until the lookups by id,
 * and the index build (a sort of two million ids) and the matching each keep a core busy.
 */
async function loadFilesAtOnce(
  session: Session, side: SideSession, dealerId: string, date: string, files: FileToLoad[], tables: Partial<Record<FileKind, string>>,
  log: Logger, signal: AbortSignal | undefined, ordersLoaded: () => Promise<void>, sideWork: ((work: Promise<void>) => void) | null,
): Promise<Map<FileKind, Loaded>> {
  signal?.throwIfAborted();
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  /** What the loads learn as they go (closures write it): the first failure, the bill framing's list. */
  const seen: { failure: Error | null; repeats: string[] | null } = { failure: null, repeats: null };
  const failed = (err: unknown): never => {
    const error = err instanceof Error ? err : new Error(String(err));
    if (seen.failure === null) {
      seen.failure = error;
      stop.abort(error);
    }
    throw error;
  };
  const order = files.find((f) => f.kind === 'order')!;
  const bill = files.find((f) => f.kind === 'bill')!;
  let indexing: Promise<void> = Promise.resolve();
  try {
    const [orderLoaded, billLoaded] = await Promise.allSettled([
      (async () => {
        const r = await loadOne(session, order, tables.order!, dealerId, date, log, stop.signal);
        await indexLoadTable(session, 'order', tables.order!);
        stop.signal.throwIfAborted();
        await ordersLoaded();
        return r;
      })().catch(failed),
      new Promise<Loaded>((loadedBill, failedBill) => {
        indexing = side(async (s) => {
          await s.exec('begin');
          try {
            const r = await loadOne(s, bill, tables.bill!, dealerId, date, log, stop.signal, (ids) => { seen.repeats = ids; });
            await analyzeLoadTable(s, tables.bill!);
            await s.exec('commit');
            loadedBill(r);
          } catch (err) {
            await s.exec('rollback').catch(() => {});
            throw err;
          }
          await buildLoadTableIndexes(s, 'bill', tables.bill!);
        });
        // Whoever waits for it sees its error; a failure of the load itself is the load's.
        indexing.catch(failedBill);
        sideWork?.(indexing);
      }).catch(failed),
    ]);
    // No one to hand the index to: it is waited for here.
    if (sideWork === null) await indexing;
    if (seen.failure !== null) throw seen.failure;
    if (orderLoaded.status === 'rejected' || billLoaded.status === 'rejected') throw new Error('unreachable: a load failed without an error');
    // What needs the bill table on the run's connection: the framing's list, the day's totals.
    if (seen.repeats !== null) await createMultiTable(session, 'bill', seen.repeats);
    await recordDayPayouts(session, tables.bill!, dealerId, date);
    return new Map([['order', orderLoaded.value], ['bill', billLoaded.value]]);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
