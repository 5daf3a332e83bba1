import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Session } from '../db/connection.js';
import { ReconError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ProviderClient, DownloadResult } from '../provider/client.js';
import type { BillRow, OrderRow } from '../provider/file-format.js';
import { readProviderFile } from '../provider/file-reader.js';
import type { FileKind } from '../provider/protocol.js';
import { startProgress, type Progress } from './progress.js';
import { billCopyLine, billValues, copyPrefix, orderCopyLine, orderValues, ROW_COLUMNS, ROW_TABLES } from './provider-rows.js';

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

/** Downloads one day's file to a temporary path (removed by the caller through `discard`). */
export async function fetchProviderFile(
  client: ProviderClient, kind: FileKind, date: string, dealerId: string, tmpDir: string, log: Logger, signal?: AbortSignal,
): Promise<DownloadResult> {
  const label = FILE_LABELS[kind](date);
  const url = await client.fileUrl(kind, date, signal);
  const path = join(tmpDir, `yzh-recon-${dealerId}-${date}-${kind}-${process.pid}-${Date.now()}.csv.gz`);
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

/**
 * Replaces the day's rows of one file kind with the downloaded file's rows, inside the
 * caller's transaction; a file equal (by sha256) to the last one ingested is not loaded again.
 */
export async function loadProviderFile(
  session: Session, kind: FileKind, dealerId: string, date: string, download: DownloadResult, runId: number, log: Logger,
  signal?: AbortSignal,
): Promise<Omit<FileIngest, 'downloadMs'>> {
  const label = FILE_LABELS[kind](date);
  const started = performance.now();
  const last = await session.query<{ sha256: string; row_count: number }>(
    `select sha256, row_count from recon.provider_files
      where dealer_id = $1 and business_date = $2 and kind = $3 order by id desc limit 1`,
    [dealerId, date, kind],
  );
  const previous = last.rows[0];
  if (previous !== undefined && previous.sha256 === download.sha256) {
    log.info({ kind, sha256: download.sha256 }, `${label} unchanged since the last ingest; not loaded again`);
    return { kind, label, sha256: download.sha256, bytes: download.bytes, rows: previous.row_count, loaded: false, loadMs: 0 };
  }
  if (download.bytes === 0) {
    // gunzip would call it truncated; a person should read that nothing came at all.
    throw new ReconError('FILE_FORMAT', `${label}: the file is empty (0 bytes downloaded)`, { facts: { file: label } });
  }
  await session.query(`delete from ${ROW_TABLES[kind]} where dealer_id = $1 and business_date = $2`, [dealerId, date]);
  const rows = readProviderFile(createReadStream(download.path), kind as 'order', label);
  const progress = startProgress(log, `load ${label}`, 'rows');
  const count = await writeRows(session, kind, dealerId, date, rows, progress, signal).finally(() => progress.done());
  await session.query(
    `insert into recon.provider_files (dealer_id, business_date, kind, sha256, bytes, row_count, generated_at, run_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [dealerId, date, kind, download.sha256, download.bytes, count, download.lastModified, runId],
  );
  const loadMs = performance.now() - started;
  log.info({ kind, rows: count, ms: Math.round(loadMs) }, `${label} loaded`);
  return { kind, label, sha256: download.sha256, bytes: download.bytes, rows: count, loaded: true, loadMs };
}

const INSERT_BATCH = 500;

/** COPY on pg; batched multi-row inserts on PGlite. Returns the number of rows written. */
async function writeRows(
  session: Session, kind: FileKind, dealerId: string, date: string, rows: Readable, progress: Progress, signal?: AbortSignal,
): Promise<number> {
  const target = `${ROW_TABLES[kind]} (${ROW_COLUMNS[kind].join(', ')})`;
  const copy = session.copyFrom(`copy ${target} from stdin`);
  const options = signal ? { signal } : {};
  return copy !== null
    ? copyRows(kind, dealerId, date, rows, copy, progress, options)
    : insertRows(session, target, kind, dealerId, date, rows, progress, options);
}

async function copyRows(
  kind: FileKind, dealerId: string, date: string, rows: Readable, copy: Writable, progress: Progress, options: { signal?: AbortSignal },
): Promise<number> {
  const prefix = copyPrefix(dealerId, date);
  const line = kind === 'order'
    ? (r: OrderRow | BillRow) => orderCopyLine(prefix, r as OrderRow)
    : (r: OrderRow | BillRow) => billCopyLine(prefix, r as BillRow);
  // Rows are joined into ~64 KiB chunks: one CopyData message per row would cost more than
  // the formatting itself.
  let count = 0;
  let pending = '';
  const toText = new Transform({
    writableObjectMode: true,
    writableHighWaterMark: 1024,
    transform(row: OrderRow | BillRow, _enc, done) {
      pending += line(row);
      if (++count % 4096 === 0) progress.update(count);
      if (pending.length < 65_536) return done();
      const chunk = pending;
      pending = '';
      done(null, chunk);
    },
    flush(done) {
      done(null, pending.length > 0 ? pending : undefined);
    },
  });
  await pipeline(rows, toText, copy, options);
  return count;
}

async function insertRows(
  session: Session, target: string, kind: FileKind, dealerId: string, date: string, rows: Readable, progress: Progress,
  options: { signal?: AbortSignal },
): Promise<number> {
  const values = kind === 'order'
    ? (r: OrderRow | BillRow) => orderValues(dealerId, date, r as OrderRow)
    : (r: OrderRow | BillRow) => billValues(dealerId, date, r as BillRow);
  let count = 0;
  let batch: (string | null)[][] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const params: (string | null)[] = [];
    const tuples = batch.map((row) => `(${row.map((v) => { params.push(v); return `$${params.length}`; }).join(', ')})`);
    await session.query(`insert into ${target} values ${tuples.join(', ')}`, params);
    batch = [];
  };
  await pipeline(rows, new Writable({
    objectMode: true,
    highWaterMark: INSERT_BATCH,
    write(row: OrderRow | BillRow, _enc, done) {
      if (++count % 4096 === 0) progress.update(count);
      batch.push(values(row));
      if (batch.length < INSERT_BATCH) return done();
      flush().then(() => done(), done);
    },
    final(done) {
      flush().then(() => done(), done);
    },
  }), options);
  return count;
}
