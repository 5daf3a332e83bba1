import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { lockDirectory } from '../../src/db/pglite-lock.js';
import { ReconError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'yzh-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

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
    expect(readFileSync(`${dir}.lock`, 'utf8').trim()).toBe(String(process.pid));
    await releaseSecond();
  });

  it('gives up after the timeout, naming the process that holds it', async () => {
    const dir = join(root, 'b');
    const release = await lockDirectory(dir, 1_000);
    const err = await lockDirectory(dir, 300).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ReconError);
    expect((err as ReconError).code).toBe('LOCKED');
    expect((err as ReconError).message).toBe(`the embedded database in ${dir} is in use by process ${process.pid}; waited 0 s`);
    await release();
  });

  it('takes over a lock whose process is gone', async () => {
    const dir = join(root, 'c');
    // The pid of a process that has exited.
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    writeFileSync(`${dir}.lock`, `${gone}\n`);
    const release = await lockDirectory(dir, 1_000);
    expect(readFileSync(`${dir}.lock`, 'utf8').trim()).toBe(String(process.pid));
    await release();
  });
});
