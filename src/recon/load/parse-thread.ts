import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { ReconError, type ErrorCode } from '../../errors.js';
import { CHUNK_CHARS, copyText, type ParseJob } from './copy-text.js';

/** Chunks a parser thread may post before the parent takes them (~64 KiB each). */
export const PARSE_WINDOW = 8;

export type WorkerMessage =
  | { type: 'chunk'; text: string; rows: number }
  | { type: 'done'; rows: number }
  | { type: 'error'; code: ErrorCode; message: string; facts: Record<string, string | number | undefined> };

const WORKER_URL = new URL('./parse-worker.js', import.meta.url);

/**
 * Heap limits of a parser thread. Its live data is a few chunks and the parser's state, so a
 * small young generation keeps its memory flat; the old generation limit turns a runaway into
 * an error rather than a host out of memory.
 */
const RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 128 };

/**
 * A provider file as COPY text, parsed on its own thread so that the order file and the bill
 * file use both cores. The stream applies backpressure to the thread and ends with an error
 * naming the file, line and column when the file is bad; destroying it stops the thread.
 *
 * From TypeScript sources (the test runner) there is no compiled worker to start, so the file
 * is parsed on this thread instead: the same parser and text, one core.
 */
export function parseInThread(job: ParseJob, onRows: (rows: number) => void): Readable {
  if (import.meta.url.endsWith('.ts')) return copyText(job, onRows);
  const worker = new Worker(WORKER_URL, { workerData: job, resourceLimits: RESOURCE_LIMITS });
  let owed = 0;
  let finished = false;
  const out = new Readable({
    highWaterMark: 4 * CHUNK_CHARS,
    read() {
      for (; owed > 0; owed--) worker.postMessage('more');
    },
    destroy(err, callback) {
      finished = true;
      void worker.terminate();
      callback(err);
    },
  });
  worker.on('message', (m: WorkerMessage) => {
    if (m.type === 'chunk') {
      onRows(m.rows);
      if (out.push(m.text)) worker.postMessage('more');
      else owed++;
    } else if (m.type === 'done') {
      finished = true;
      onRows(m.rows);
      out.push(null);
    } else {
      finished = true;
      out.destroy(new ReconError(m.code, m.message, { facts: m.facts }));
    }
  });
  worker.on('error', (err) => {
    finished = true;
    out.destroy(new ReconError('INTERNAL', `${job.label}: the parser thread failed: ${err.message}`, { cause: err, facts: { file: job.label } }));
  });
  worker.on('exit', (code) => {
    if (!finished) out.destroy(new ReconError('INTERNAL', `${job.label}: the parser thread exited (code ${code})`, { facts: { file: job.label } }));
  });
  return out;
}
