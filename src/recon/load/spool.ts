import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fileError } from '../../errors.js';

/**
 * Writes a text stream to a spool file as fast as it comes; `read()` yields the file's bytes
 * as they are written, following the file until the stream has ended and all is read. A
 * spool of the whole file's COPY text at worst: a few hundred MB on a million-order day.
 */
export function spoolQueue(source: Readable, path: string) {
  const out = createWriteStream(path);
  // Taken now: a stream ended before any write may finish without `pending` ever clearing.
  const opened = once(out, 'open');
  opened.catch(() => {});
  // A write error (a full YZH_TMP_DIR) may come while the loop waits for the parser: kept
  // here, and reported at the next chunk or at the end, rather than an unhandled 'error'.
  let writeFailure: Error | null = null;
  out.on('error', (err) => { writeFailure ??= err; });
  const what = `writing the COPY text to ${path}`;
  let flushed = 0;
  let complete = false;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const written = (async () => {
    try {
      for await (const chunk of source) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        if (writeFailure !== null) throw writeFailure;
        const ok = out.write(bytes, (err) => {
          if (err) return;
          flushed += bytes.length;
          notify();
        });
        if (!ok) await once(out, 'drain');
      }
      out.end();
      await finished(out);
      complete = true;
    } catch (err) {
      failure = err === writeFailure ? fileError(err, what) : err;
      throw failure;
    } finally {
      if (!complete) out.destroy();
      notify();
    }
  })();
  // Whoever reads learns of a failure through `written`; this keeps it from going unhandled.
  written.catch(() => {});
  return {
    written,
    read: async function* () {
      await opened.catch((err: unknown) => { throw fileError(err, what); });
      const file = await open(path, 'r').catch((err: unknown) => { throw fileError(err, `reading the COPY text from ${path}`); });
      try {
        let offset = 0;
        for (;;) {
          if (offset < flushed) {
            const bytes = Buffer.allocUnsafe(Math.min(flushed - offset, 1 << 20));
            const { bytesRead } = await file.read(bytes, 0, bytes.length, offset);
            offset += bytesRead;
            yield bytes.subarray(0, bytesRead);
            continue;
          }
          if (failure !== null) throw failure;
          if (complete) return;
          await new Promise<void>((r) => { wake = r; });
        }
      } finally {
        await file.close();
      }
    },
  };
}
