import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReconError } from '../errors.js';

const POLL_MS = 100;
/** A lock file left empty (its writer died between creating and writing it) is stale after this. */
const EMPTY_STALE_MS = 10_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function holder(path: string): Promise<{ pid: number | null; stale: boolean } | null> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    const pid = /^\d+$/.test(text) ? Number(text) : null;
    if (pid !== null) return { pid, stale: !alive(pid) };
    return { pid: null, stale: Date.now() - (await stat(path)).mtimeMs > EMPTY_STALE_MS };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * An embedded database directory belongs to one process at a time: PGlite is a whole Postgres
 * inside the process, and two of them on the same files lose each other's writes. The lock is
 * a file beside the directory holding the owner's pid; a second process waits up to
 * `timeoutMs` for it, then fails naming the holder. A lock whose process is gone is taken over.
 * Returns the release function.
 */
export async function lockDirectory(dir: string, timeoutMs: number): Promise<() => Promise<void>> {
  const path = `${dir}.lock`;
  const started = Date.now();
  for (;;) {
    try {
      const file = await open(path, 'wx');
      try {
        await file.writeFile(`${process.pid}\n`);
      } finally {
        await file.close();
      }
      return async () => {
        const now = await holder(path);
        if (now?.pid === process.pid) await unlink(path).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const now = await holder(path);
    if (now === null) continue;
    if (now.stale) {
      // Renamed away first: of two processes that find the same stale lock, one takes it over.
      await rename(path, `${path}.stale-${process.pid}`).then(() => unlink(`${path}.stale-${process.pid}`), () => {});
      continue;
    }
    if (Date.now() - started >= timeoutMs) {
      throw new ReconError('LOCKED', `the embedded database in ${dir} is in use by process ${now.pid ?? '(starting)'}; waited ${Math.round(timeoutMs / 1000)} s`, {
        facts: { dir, pid: now.pid ?? undefined },
      });
    }
    await sleep(POLL_MS);
  }
}
