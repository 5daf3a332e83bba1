import { copyText } from './copy-text.js';
import { qualified } from './day-tables.js';
import type { FileLoader } from './loader.js';
import { copyPrefix, ROW_COLUMNS } from './provider-rows.js';

/**
 * Characters of COPY text handed to PGlite at once (about 20,000 rows): PGlite reads
 * `COPY … FROM '/dev/blob'` from a whole blob, so the file goes in as several COPYs, each
 * blob bounded, and memory stays flat.
 */
const BLOB_CHARS = 4 << 20;

/**
 * The embedded engine's loader: csv-parse reads the file on this thread (file-reader.ts, the
 * reader every check comes from) and its rows, as COPY text (copy-text.ts), go into PGlite's
 * `COPY … FROM '/dev/blob'` in bounded blobs.
 */
export const loadEmbedded: FileLoader = async (session, job, onRows, signal) => {
  let rows = 0;
  const text = copyText({ path: job.path, kind: job.kind, label: job.label, prefix: copyPrefix(job.dealerId, job.date) }, (n) => {
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
