import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { ReconError } from '../errors.js';

const POLL_MS = 100;

/**
 * A lock not refreshed for this long is taken over: its holder is gone (killed, out of memory,
 * the machine lost). The holder refreshes it every `UPDATE_MS` from a thread of its own, so the
 * embedded Postgres, which runs each statement on the main thread and can keep it busy for
 * minutes on a large day, never delays a refresh. The margin between the two is for a thread
 * starved of CPU on a loaded machine. It is also how long a run started right after a crash
 * waits before it takes over; `YZH_LOCK_TIMEOUT_MS` (default 60 s) covers it.
 */
export const LOCK_STALE_MS = 20_000;
const UPDATE_MS = 5_000;

/** The lock is a directory; this file inside it names the holder, for the waiting side's message. */
const HOLDER_FILE = 'holder';

/**
 * The thread that holds the lock. proper-lockfile makes the lock directory with `mkdir` (atomic
 * on local and network file systems) and keeps its mtime fresh; whoever finds it older than
 * `LOCK_STALE_MS` removes it and takes it. The holder file is written inside the directory in
 * the same step as `mkdir`, before proper-lockfile takes the mtime it later checks, so that
 * writing it does not look like somebody else's update; removing the lock removes the
 * directory with the holder file (and a plain `<dir>.lock` file left by an earlier version).
 *
 * It is plain JavaScript evaluated by `Worker` so that the same code runs from the compiled
 * build and from the TypeScript sources under the test runner; it loads its modules with
 * `import()`, which works whether the process evaluates such code as a script or as a module.
 */
const WORKER_SOURCE = `(async () => {
const { default: fs } = await import('node:fs');
const { default: path } = await import('node:path');
const { parentPort, workerData } = await import('node:worker_threads');
const { default: lockfile } = await import(workerData.lockfileModule);
const lockFs = {
  ...fs,
  mkdir(dir, callback) {
    fs.mkdir(dir, (err) => {
      if (err) return callback(err);
      fs.writeFile(path.join(dir, ${JSON.stringify(HOLDER_FILE)}), workerData.holder, (err) => {
        if (!err) return callback(null);
        fs.rm(dir, { recursive: true, force: true }, () => callback(err));
      });
    });
  },
  rmdir(dir, callback) {
    fs.rm(dir, { recursive: true, force: true }, callback);
  },
};
let release = null;
parentPort.on('message', (message) => {
  if (message === 'try') {
    lockfile.lock(workerData.target, {
      lockfilePath: workerData.lockPath,
      realpath: false,
      stale: workerData.staleMs,
      update: workerData.updateMs,
      fs: lockFs,
      onCompromised: (err) => parentPort.postMessage({ type: 'compromised', message: err.message }),
    }).then(
      (fn) => { release = fn; parentPort.postMessage({ type: 'locked' }); },
      (err) => parentPort.postMessage(err.code === 'ELOCKED' ? { type: 'busy' } : { type: 'error', code: err.code, message: err.message }),
    );
  } else if (message === 'release') {
    const done = () => parentPort.postMessage({ type: 'released' });
    if (release === null) return done();
    release().then(done, done);
  }
});
})();
`;

type Reply =
  | { type: 'locked' | 'busy' | 'released' }
  | { type: 'compromised'; message: string }
  | { type: 'error'; code?: string; message: string };

/**
 * The path the lock belongs to, the same whichever way the directory is named: absolute, with
 * no trailing slash (`/x/` and `/x` are one database), and symbolic links resolved when the
 * directory exists.
 */
export function canonicalDir(dir: string): string {
  const absolute = resolve(dir);
  try {
    return realpathSync(absolute);
  } catch {
    return absolute;
  }
}

async function holderOf(lockPath: string): Promise<{ pid?: number; host?: string; since?: string } | null> {
  try {
    return JSON.parse(await readFile(`${lockPath}/${HOLDER_FILE}`, 'utf8')) as { pid?: number; host?: string; since?: string };
  } catch {
    return null;
  }
}

/**
 * An embedded database directory belongs to one process at a time: PGlite is a whole Postgres
 * inside the process, and two of them on the same files lose each other's writes. The lock is
 * the directory `<dir>.lock` beside it (`dir` made canonical first), held by a thread of this
 * process that keeps it fresh. A second process waits up to `timeoutMs` for it, then fails
 * naming the holder. A lock whose holder stopped refreshing it for `LOCK_STALE_MS` is taken over,
 * whatever process now has the pid it names. Returns the release function.
 *
 * Should the lock ever be taken from under a live holder (its thread starved of CPU beyond the
 * stale limit, or the directory removed by hand), `onCompromised` is called; by default it
 * throws from a fresh stack, ending the process rather than letting two writers go on.
 */
export async function lockDirectory(
  dir: string,
  timeoutMs: number,
  options: { onCompromised?: (err: ReconError) => void } = {},
): Promise<() => Promise<void>> {
  const target = canonicalDir(dir);
  const lockPath = `${target}.lock`;
  const onCompromised = options.onCompromised ?? ((err: ReconError) => setImmediate(() => { throw err; }));
  const holder = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      target, lockPath, holder, staleMs: LOCK_STALE_MS, updateMs: UPDATE_MS,
      lockfileModule: pathToFileURL(createRequire(import.meta.url).resolve('proper-lockfile')).href,
    },
  });
  // The lock must not keep the process alive; a process that ends without releasing it leaves
  // a lock that goes stale.
  worker.unref();
  let pending: { resolve: (reply: Reply) => void; reject: (err: Error) => void } | null = null;
  let failed: Error | null = null;
  worker.on('message', (reply: Reply) => {
    if (reply.type === 'compromised') {
      onCompromised(new ReconError('LOCKED', `the lock on the embedded database in ${target} was lost (${reply.message}); stopping so that two processes do not write it at once`, {
        facts: { dir: target },
      }));
      return;
    }
    const waiting = pending;
    pending = null;
    waiting?.resolve(reply);
  });
  const fail = (err: Error) => {
    failed = err;
    const waiting = pending;
    pending = null;
    waiting?.reject(err);
  };
  worker.on('error', fail);
  worker.on('exit', () => fail(new Error('the lock thread exited')));
  const ask = (message: 'try' | 'release'): Promise<Reply> => new Promise((resolve, reject) => {
    if (failed !== null) return reject(failed);
    pending = { resolve, reject };
    worker.postMessage(message);
  });

  const started = Date.now();
  try {
    for (;;) {
      const reply = await ask('try');
      if (reply.type === 'locked') break;
      if (reply.type === 'error') {
        throw new ReconError('DATABASE', `cannot lock the embedded database in ${target}: ${reply.message}`, { facts: { dir: target, code: reply.code } });
      }
      if (Date.now() - started >= timeoutMs) {
        const now = await holderOf(lockPath);
        const who = now?.pid === undefined ? '(starting)' : `${now.pid}${now.host ? ` on ${now.host}` : ''}${now.since ? ` since ${now.since}` : ''}`;
        throw new ReconError('LOCKED', `the embedded database in ${target} is in use by process ${who}; waited ${Math.round(timeoutMs / 1000)} s`, {
          facts: { dir: target, pid: now?.pid },
        });
      }
      await sleep(POLL_MS);
    }
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  let released: Promise<void> | null = null;
  return () => {
    released ??= ask('release').then(() => {}, () => {}).finally(() => worker.terminate()).then(() => {});
    return released;
  };
}
