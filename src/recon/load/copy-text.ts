import { createReadStream } from 'node:fs';
import { Transform, pipeline, type Readable } from 'node:stream';
import type { BillRow, OrderRow } from '../../provider/file-format.js';
import { readProviderFile } from '../../provider/file-reader.js';
import type { FileKind } from '../../provider/protocol.js';
import { billCopyLine, orderCopyLine } from './row-columns.js';

/** What a parser needs to know about one downloaded file. */
export interface ParseJob {
  path: string;
  kind: FileKind;
  /** The file's name in messages ("order file 2024-06-30"). */
  label: string;
  /** The columns every row shares (copyPrefix). */
  prefix: string;
}

/** Chunks of about this many characters: one CopyData message per row would cost more than formatting it. */
export const CHUNK_CHARS = 65_536;

/**
 * A downloaded provider file as COPY text for its table, in ~64 KiB chunks, on this thread.
 * `onRows` gets the running row count with each chunk and the final count at the end.
 * Errors are the reader's, naming the file, line and column.
 */
export function copyText(job: ParseJob, onRows: (rows: number) => void): Readable {
  const line = job.kind === 'order'
    ? (r: OrderRow | BillRow) => orderCopyLine(job.prefix, r as OrderRow)
    : (r: OrderRow | BillRow) => billCopyLine(job.prefix, r as BillRow);
  let count = 0;
  let pending = '';
  // Chunks leave as strings: the embedded loader gathers them into one blob per COPY.
  const toText = new Transform({
    writableObjectMode: true,
    writableHighWaterMark: 1024,
    readableObjectMode: true,
    readableHighWaterMark: 4,
    transform(row: OrderRow | BillRow, _enc, done) {
      pending += line(row);
      count++;
      if (pending.length < CHUNK_CHARS) return done();
      const chunk = pending;
      pending = '';
      onRows(count);
      done(null, chunk);
    },
    flush(done) {
      onRows(count);
      done(null, pending.length > 0 ? pending : undefined);
    },
  });
  pipeline(readProviderFile(createReadStream(job.path), job.kind as 'order', job.label), toText, () => {});
  return toText;
}
