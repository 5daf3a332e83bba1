import { parseInThread } from './parse-thread.js';
import { qualified } from './day-tables.js';
import type { FileLoader } from './loader.js';
import { copyPrefix, ROW_COLUMNS } from './row-columns.js';

/**
 * Characters of COPY text handed to PGlite at once (about 600 rows): PGlite reads
 * `COPY … FROM '/dev/blob'` from a whole blob, so the file goes in as several COPYs, each
 * blob bounded. At N = 100,000, blobs of 4 Mi characters peaked at 652 MB, 1 Mi at 541 MB,
 * 256 Ki at 471 MB, 128 Ki at 487-522 MB and 64 Ki at 526 MB (one run each, the same
 * day): past a few hundred KiB the size stops mattering against run-to-run noise, and the
 * time does not change.
 */
const BLOB_CHARS = 1 << 17;

/**
 * The embedded engine's loader: csv-parse reads the file (file-reader.ts, the reader every
 * check comes from) on a thread of its own (parse-thread.ts), and its rows, as COPY text
 * (copy-text.ts), go into PGlite's `COPY … FROM '/dev/blob'` in bounded blobs.
 *
 * The parser thread stays for PGlite alone: PGlite runs on the main thread, so parsing there
 * took turns with it (a 100,000-order day 10.3–11.9 s end to end, five runs); on its own
 * thread it overlaps PGlite's COPY (8.1–8.2 s, peak RSS 469–494 MB against 471–541 MB).
 */
export const loadEmbedded: FileLoader = async (session, job, onRows, signal) => {
  let rows = 0;
  const text = parseInThread({ path: job.path, kind: job.kind, label: job.label, prefix: copyPrefix(job.dealerId, job.date) }, (n) => {
    rows = n;
    onRows(n);
  });
  const sql = `copy ${qualified(job.table)} (${ROW_COLUMNS[job.kind].join(', ')}) from '/dev/blob'`;
  let batch: string[] = [];
  let size = 0;
  const flush = async () => {
    if (size === 0) return;
    const blob = new Blob(batch);
    batch = [];
    size = 0;
    await session.copyFromBlob!(sql, blob);
  };
  try {
    for await (const chunk of text) {
      signal?.throwIfAborted();
      batch.push(chunk as string);
      size += (chunk as string).length;
      if (size >= BLOB_CHARS) await flush();
    }
    await flush();
    return rows;
  } finally {
    if (!text.destroyed) text.destroy();
  }
};
