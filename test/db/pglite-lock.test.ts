import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LOCK_STALE_MS, lockDirectory } from '../../src/db/pglite-lock.js';
import { ReconError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'yzh-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The built lock module, as the command uses it, for holders in other processes. */
const BUILT = pathToFileURL(resolve('dist/db/pglite-lock.js')).href;

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/**
 * Another process that takes the lock on `dir`, prints "locked", then either holds it with an
 * idle event loop or (`block`) keeps its main thread busy until the file `block` appears, as the
 * embedded Postgres does during a long statement.
 */
async function holderProcess(dir: string, block?: string): Promise<ChildProcess> {
  const script = `
    const { lockDirectory } = await import(${JSON.stringify(BUILT)});
    const { existsSync } = await import('node:fs');
    await lockDirectory(${JSON.stringify(dir)}, 1000);
    process.stdout.write('locked\\n');
    const flag = ${JSON.stringify(block ?? null)};
    if (flag !== null) {
      const pause = new Int32Array(new SharedArrayBuffer(4));
      while (!existsSync(flag)) Atomics.wait(pause, 0, 0, 50);
      process.stdout.write('unblocked\\n');
    }
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout.setEncoding('utf8');
  while (!out.includes('locked\n')) {
    const [chunk] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => { throw new Error(`holder exited: ${out}`); })])) as [string];
    out += chunk;
  }
  return child;
}

/** Every file and directory whose name starts with `<dir>.lock`, the lock whatever its shape. */
function lockEntries(dir: string): string[] {
  const parent = resolve(dir, '..');
  const name = `${resolve(dir).slice(parent.length + 1)}.lock`;
  const found: string[] = [];
  const walk = (path: string) => {
    found.push(path);
    if (lstatSync(path).isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  for (const entry of readdirSync(parent)) if (entry.startsWith(name)) walk(join(parent, entry));
  return found;
}

async function lockError(dir: string, timeoutMs: number): Promise<ReconError> {
  const err = await lockDirectory(dir, timeoutMs).then(async (release) => { await release(); return null; }, (e: unknown) => e);
  expect(err).toBeInstanceOf(ReconError);
  expect((err as ReconError).code).toBe('LOCKED');
  return err as ReconError;
}

describe('the embedded database directory lock', () => {
  it('a second holder waits for the first to release, then has it', async () => {
    const dir = join(root, 'a');
    const releaseFirst = await lockDirectory(dir, 5_000);
    const order: string[] = [];
    const second = lockDirectory(dir, 5_000).then((release) => { order.push('second'); return release; });
    await sleep(300);
    order.push('first releases');
    await releaseFirst();
    const releaseSecond = await second;
    expect(order).toEqual(['first releases', 'second']);
    expect((JSON.parse(readFileSync(join(`${dir}.lock`, 'holder'), 'utf8')) as { pid: number }).pid).toBe(process.pid);
    await releaseSecond();
    expect(existsSync(`${dir}.lock`)).toBe(false);
  });

  it('gives up after the timeout, naming the process that holds it', async () => {
    const dir = join(root, 'b');
    const holder = await holderProcess(dir);
    const err = await lockError(dir, 300);
    expect(err.message).toMatch(new RegExp(`^the embedded database in ${dir} is in use by process ${holder.pid} on \\S+ since \\S+; waited 0 s$`));
    expect(err.facts.pid).toBe(holder.pid);
  });

  // The command's own runs on /x/ and /x exclude each other too: the fault suite's SIGKILL case.
  it('one database, however its directory is written: with a trailing slash, relative, through a symbolic link', async () => {
    const dir = join(root, 'slash');
    mkdirSync(dir);
    symlinkSync(dir, join(root, 'slash-link'));
    const release = await lockDirectory(`${dir}/`, 1_000);
    expect(existsSync(`${dir}.lock`)).toBe(true);
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    await lockError(dir, 200);
    await lockError(join(root, 'slash-link'), 200);
    await lockError(`${relative(process.cwd(), dir)}//`, 200);
    await release();

    const releasePlain = await lockDirectory(dir, 1_000);
    await lockError(`${dir}/`, 200);
    await releasePlain();
  });

  it('takes over the lock of a killed holder, even when its pid now belongs to a live process', async () => {
    const dir = join(root, 'c');
    const holder = await holderProcess(dir);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    // What a container restart leaves: the same pid running again (here, this process), and a
    // lock last touched when the holder died, a while ago.
    const past = new Date(Date.now() - 2 * LOCK_STALE_MS);
    const entries = lockEntries(dir);
    expect(entries.length).toBeGreaterThan(0);
    for (const path of entries.reverse()) {
      if (statSync(path).isFile()) {
        writeFileSync(path, readFileSync(path, 'utf8').replaceAll(String(holder.pid), String(process.pid)));
      }
      utimesSync(path, past, past);
    }
    const release = await lockDirectory(dir, 1_000);
    expect((JSON.parse(readFileSync(join(`${dir}.lock`, 'holder'), 'utf8')) as { pid: number }).pid).toBe(process.pid);
    await release();
  });

  it('takes over a lock file left by an earlier version once it is stale', async () => {
    const dir = join(root, 'legacy');
    writeFileSync(`${dir}.lock`, `${process.pid}\n`);
    const past = new Date(Date.now() - 2 * LOCK_STALE_MS);
    utimesSync(`${dir}.lock`, past, past);
    const release = await lockDirectory(dir, 1_000);
    await release();
  });

  it('a live holder keeps its lock while its main thread is busy: the lock is refreshed from a thread of its own', async () => {
    const dir = join(root, 'busy');
    const flag = join(root, 'busy.unblock');
    const holder = await holderProcess(dir, flag);
    const first = statSync(`${dir}.lock`).mtimeMs;
    // The holder's main thread is blocked until the flag appears; its lock must still be
    // refreshed (every few seconds) in the meantime.
    for (let i = 0; i < 300 && statSync(`${dir}.lock`).mtimeMs === first; i++) await sleep(100);
    expect(statSync(`${dir}.lock`).mtimeMs).toBeGreaterThan(first);
    const err = await lockError(dir, 200);
    expect(err.facts.pid).toBe(holder.pid);
    writeFileSync(flag, '');
  });

  it('a dead holder whose pid is gone is taken over too', async () => {
    const dir = join(root, 'd');
    const gone = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
    mkdirSync(`${dir}.lock`);
    writeFileSync(join(`${dir}.lock`, 'holder'), JSON.stringify({ pid: gone }));
    const past = new Date(Date.now() - 2 * LOCK_STALE_MS);
    utimesSync(`${dir}.lock`, past, past);
    const release = await lockDirectory(dir, 1_000);
    await release();
  });
});
