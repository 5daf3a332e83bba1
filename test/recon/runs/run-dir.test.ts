import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRunDir, currentOwner, removeAbandoned, RUN_DIR_PREFIX } from '../../../src/recon/runs/run-dir.js';
import { silentLog } from '../../helpers/provider.js';

const root = mkdtempSync(join(tmpdir(), 'yzh-run-dir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshTmp = () => {
  const dir = join(root, `tmp-${n++}`);
  mkdirSync(dir);
  return dir;
};

const RUN_DIR_JS = new URL('../../../dist/recon/runs/run-dir.js', import.meta.url).href;

/** Another process that makes its run folder, puts a download in it and waits to be killed. */
async function otherRun(tmp: string): Promise<{ pid: number; path: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    const { createRunDir } = await import(${JSON.stringify(RUN_DIR_JS)});
    const { writeFileSync } = await import('node:fs');
    const dir = await createRunDir(${JSON.stringify(tmp)}, { info() {}, warn() {} });
    writeFileSync(dir.path + '/order.csv.gz', 'x');
    console.log(dir.path);
    setInterval(() => {}, 1000);
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data') as [Buffer];
  return { pid: child.pid!, path: line.toString().trim() };
}

async function kill(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('run folders in YZH_TMP_DIR', () => {
  it('a live run\'s folder is kept; once its process is SIGKILLed, the next run removes it', async () => {
    const tmp = freshTmp();
    const other = await otherRun(tmp);
    expect(readdirSync(other.path).sort()).toEqual(['order.csv.gz', 'owner.json']);
    expect(await removeAbandoned(tmp, silentLog)).toEqual([]);
    expect(existsSync(other.path)).toBe(true);
    await kill(other.pid);
    const mine = await createRunDir(tmp, silentLog);
    expect(existsSync(other.path)).toBe(false);
    expect(readdirSync(tmp)).toEqual([mine.path.slice(tmp.length + 1)]);
    await mine.remove();
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('the same pid with another start time (node restarted in its container) is a dead owner', async () => {
    const tmp = freshTmp();
    const me = currentOwner();
    expect(me.started).not.toBeNull();
    const restarted = join(tmp, `${RUN_DIR_PREFIX}${me.pid}-before`);
    mkdirSync(restarted);
    writeFileSync(join(restarted, 'owner.json'), JSON.stringify({ ...me, started: String(Number(me.started) - 1) }));
    // A folder of this very process (another run in it) is alive.
    const live = await createRunDir(tmp, silentLog);
    expect(await removeAbandoned(tmp, silentLog)).toEqual([]);
    expect(existsSync(restarted)).toBe(false);
    expect(existsSync(live.path)).toBe(true);
    await live.remove();
  });

  it('another host\'s folder and files of the earlier layout are removed only past a day', async () => {
    const tmp = freshTmp();
    const foreign = join(tmp, `${RUN_DIR_PREFIX}7-abcdef`);
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'owner.json'), JSON.stringify({ pid: 7, started: '1', boot: null, host: `not-${hostname()}` }));
    const loose = join(tmp, 'yzh-recon-sixcn-2024-06-30-order-7-1719800000000.csv.gz');
    writeFileSync(loose, 'x');
    writeFileSync(`${loose}.copy`, 'x');
    writeFileSync(join(tmp, 'unrelated.csv.gz'), 'x');
    expect(await removeAbandoned(tmp, silentLog)).toEqual([]);
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    for (const p of [foreign, loose, `${loose}.copy`, join(tmp, 'unrelated.csv.gz')]) utimesSync(p, twoDaysAgo, twoDaysAgo);
    expect((await removeAbandoned(tmp, silentLog)).sort()).toEqual([
      `${RUN_DIR_PREFIX}7-abcdef`, 'yzh-recon-sixcn-2024-06-30-order-7-1719800000000.csv.gz', 'yzh-recon-sixcn-2024-06-30-order-7-1719800000000.csv.gz.copy',
    ]);
    expect(readdirSync(tmp)).toEqual(['unrelated.csv.gz']);
  });
});
