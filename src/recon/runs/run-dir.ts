import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../logger.js';

/**
 * A run's own folder in YZH_TMP_DIR, holding its downloads, so that what a
 * run killed outright (SIGKILL, the OOM killer, a node lost) leaves behind is found and removed
 * by the next run instead of staying forever.
 *
 * A folder belongs to a live run while its owner process is alive. The owner file records the
 * pid with the process's start time (from /proc) and the kernel's boot id: a pid alone is not
 * proof, since in a container node gets the same pid after every restart. A folder of another
 * host (a shared YZH_TMP_DIR) cannot be checked, and is only removed once older than any run
 * can last.
 */
export const RUN_DIR_PREFIX = 'yzh-recon-run-';
const STAGING_PREFIX = '.yzh-recon-new-';
const OWNER_FILE = 'owner.json';
/** Far beyond a run's longest life (the CronJobs' activeDeadlineSeconds is one hour). */
const UNCHECKABLE_AFTER_MS = 24 * 3600_000;
/** Files of the earlier layout, straight in YZH_TMP_DIR: `yzh-recon-<dealer>-<date>-<kind>-<pid>-<ms>.csv.gz[.copy]`. */
const LOOSE_FILE = /^yzh-recon-.+-\d{4}-\d{2}-\d{2}-(order|bill)-\d+-\d+\.csv\.gz(\.copy)?$/;

export interface RunOwner {
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22); null where there is no /proc. */
  started: string | null;
  boot: string | null;
  host: string;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** A process's start time, or null when it does not exist or /proc is not there. */
export function processStartTime(pid: number): string | null {
  const stat = readOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // Field 2 (the command) is in parentheses and may hold spaces; field 22 is the 20th after it.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

const bootId = (): string | null => readOrNull('/proc/sys/kernel/random/boot_id')?.trim() ?? null;

export function currentOwner(): RunOwner {
  return { pid: process.pid, started: processStartTime(process.pid), boot: bootId(), host: hostname() };
}

/** True while the process that wrote `owner` may still be running. */
export function ownerAlive(owner: RunOwner, ageMs: number): boolean {
  if (owner.host !== hostname()) return ageMs < UNCHECKABLE_AFTER_MS;
  const boot = bootId();
  if (owner.boot !== null && boot !== null && owner.boot !== boot) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // The pid is taken; by the same process only if it started at the same moment.
  const started = processStartTime(owner.pid);
  return owner.started === null || started === null || started === owner.started;
}

async function ownerOf(dir: string): Promise<RunOwner | null> {
  try {
    const owner = JSON.parse(await readFile(join(dir, OWNER_FILE), 'utf8')) as RunOwner;
    return typeof owner.pid === 'number' && typeof owner.host === 'string' ? owner : null;
  } catch {
    return null;
  }
}

/**
 * Removes what dead runs left in `tmpDir`: run folders whose owner is gone, staging folders
 * and files of the earlier layout older than any run lasts. Returns the names removed. Never
 * fails: a folder it cannot read or remove is left for a later run.
 */
export async function removeAbandoned(tmpDir: string, log: Logger): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(tmpDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const path = join(tmpDir, name);
    const isRunDir = name.startsWith(RUN_DIR_PREFIX);
    if (!isRunDir && !name.startsWith(STAGING_PREFIX) && !LOOSE_FILE.test(name)) continue;
    try {
      const ageMs = Date.now() - (await stat(path)).mtimeMs;
      let abandoned: boolean;
      if (isRunDir) {
        const owner = await ownerOf(path);
        abandoned = owner === null ? ageMs >= UNCHECKABLE_AFTER_MS : !ownerAlive(owner, ageMs);
      } else {
        abandoned = ageMs >= UNCHECKABLE_AFTER_MS;
      }
      if (!abandoned) continue;
      await rm(path, { recursive: true, force: true });
      removed.push(name);
    } catch (err) {
      log.warn({ path, err: (err as Error).message }, 'could not check or remove what an earlier run left');
    }
  }
  if (removed.length > 0) log.info({ tmpDir, removed }, `removed ${removed.length} folder(s) or file(s) left by runs that died`);
  return removed;
}

export interface RunDir {
  path: string;
  remove(): Promise<void>;
}

/**
 * Removes what dead runs left, then makes this run's folder. The folder is prepared under a
 * staging name and renamed once its owner file is in place, so that no other run ever sees a
 * run folder without its owner.
 */
export async function createRunDir(tmpDir: string, log: Logger): Promise<RunDir> {
  await removeAbandoned(tmpDir, log);
  const staging = await mkdtemp(join(tmpDir, STAGING_PREFIX));
  const owner = currentOwner();
  await writeFile(join(staging, OWNER_FILE), JSON.stringify(owner));
  const path = join(tmpDir, `${RUN_DIR_PREFIX}${owner.pid}-${staging.slice(-6)}`);
  await rename(staging, path);
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
