import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { generateDay } from '../bench/generate.js';
import type { Engine } from '../../src/db/connection.js';
import { Sandbox } from '../../src/provider/sandbox-server.js';
import { lastLine, runCli, type CliResult } from '../helpers/cli.js';
import { childDatabase, providerEnv, type ChildDatabase } from '../helpers/cli-env.js';
import { FIXTURE_DATE, FIXTURE_DIR, KEYS } from '../helpers/provider.js';

/**
 * The fault-injection suite's harness (faults.test.ts, file-faults.test.ts): a real
 * `yzh-recon run` (the built command) against the sandbox, on PGlite and, when
 * TEST_DATABASE_URL is set, on a real Postgres too. After every case: the exit status, the
 * one-line message, and recon.discrepancies exactly as before the run.
 */
export const D = FIXTURE_DATE;
export const ordersCsv = readFileSync(join(FIXTURE_DIR, D, 'orders.csv'), 'utf8');
export const billsCsv = readFileSync(join(FIXTURE_DIR, D, 'bills.csv'), 'utf8');
export const ORDER_HEADER = ordersCsv.slice(0, ordersCsv.indexOf('\n'));
export const BILL_HEADER = billsCsv.slice(0, billsCsv.indexOf('\n'));

/** The database of the engine the current block runs on; one per engine, made once. */
export let db: ChildDatabase;
const dbs = new Map<Engine, ChildDatabase>();
/** Every sandbox started, stopped when the file is done. */
export const sandboxes: Sandbox[] = [];
export const folders: string[] = [];

/** A new folder under the OS temp dir, removed when the file is done. */
export function folder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

/** A sandbox serving the fixture folder, with the files of day D replaced as given. */
export async function sandboxWith(files: { orders?: Buffer | string; bills?: Buffer | string; extraDays?: string[] } = {}): Promise<Sandbox> {
  const dir = folder('yzh-fault-');
  cpSync(FIXTURE_DIR, dir, { recursive: true });
  for (const [name, content] of [['orders', files.orders], ['bills', files.bills]] as const) {
    if (content === undefined) continue;
    // Raw bytes are served as they are (a broken gzip); text is gzipped by the sandbox.
    if (Buffer.isBuffer(content)) writeFileSync(join(dir, D, `${name}.csv.gz`), content);
    else writeFileSync(join(dir, D, `${name}.csv`), content);
  }
  for (const day of files.extraDays ?? []) {
    mkdirSync(join(dir, day), { recursive: true });
    writeFileSync(join(dir, day, 'orders.csv'), `${ORDER_HEADER}\n`);
    writeFileSync(join(dir, day, 'bills.csv'), `${BILL_HEADER}\n`);
  }
  const sandbox = new Sandbox({ ...KEYS, dir, retentionDays: null });
  await sandbox.start();
  sandboxes.push(sandbox);
  return sandbox;
}

/**
 * recon.discrepancies as it is now. Read again only after a command ran: on PGlite each read
 * starts the embedded Postgres, so a case's "before" is the previous case's "after".
 */
let known: Record<string, unknown>[] | null = null;
/** The next snapshot reads the table again (a command ran that `run` did not start). */
export function forgetSnapshot(): void {
  known = null;
}
export const snapshot = async () => known ??= await db.use((h) => h.withSession(async (s) =>
  (await s.query('select * from recon.discrepancies order by id')).rows));
export const withoutLastSeen = (rows: Record<string, unknown>[]) => rows.map(({ last_seen_run_id: _, ...rest }) => rest);

export async function run(sandbox: Sandbox, args: string[] = ['run', '--date', D], env: Record<string, string> = {}, honourModes = false): Promise<CliResult> {
  known = null;
  return runCli(args, { ...db.env, ...providerEnv(sandbox, { YZH_TIMEOUT_MS: '1500', YZH_RETRIES: '2' }), ...env }, { honourModes });
}

/** A failing case: exit code, the one clear line, and the discrepancy table untouched. */
export async function expectFailure(sandbox: Sandbox, message: RegExp, options: { code?: number; args?: string[]; env?: Record<string, string> } = {}) {
  const before = await snapshot();
  const result = await run(sandbox, options.args, options.env);
  expect(result.code, result.stderr).toBe(options.code ?? 1);
  expect(lastLine(result.stderr)).toMatch(message);
  expect(await snapshot()).toEqual(before);
  return result;
}

/** A recovering case: exit 0 and, the files being the same, nothing changed but last_seen_run_id. */
export async function expectRecovery(sandbox: Sandbox) {
  const before = await snapshot();
  const result = await run(sandbox);
  expect(result.code, result.stderr).toBe(0);
  expect(withoutLastSeen(await snapshot())).toEqual(withoutLastSeen(before));
  return result;
}

export const lines = (csv: string) => csv.trimEnd().split('\n');
export const replaceCell = (csv: string, line: number, column: number, value: string) => {
  const all = lines(csv);
  const cells = all[line - 1]!.split(',');
  cells[column] = value;
  all[line - 1] = cells.join(',');
  return `${all.join('\n')}\n`;
};

/**
 * The cases of a block run on `engine`: its database is made the first time, migrated, with the
 * fixture day's ledger and one good run of the fixture day, which every case starts from.
 */
export function onEngine(engine: Engine): void {
  beforeAll(async () => {
    known = null;
    const existing = dbs.get(engine);
    if (existing) {
      db = existing;
      return;
    }
    db = await childDatabase(engine, { fixtureDay: true });
    dbs.set(engine, db);
    const baseline = await run(await sandboxWith());
    expect(baseline.code, baseline.stderr).toBe(0);
    expect((await snapshot()).length).toBe(6);
  }, 120_000);
}

/** Stops the sandboxes, drops the databases and removes the folders once the test file is done. */
export function cleanUpAfterFile(): void {
  afterAll(async () => {
    await Promise.all(sandboxes.map((s) => s.stop()));
    for (const each of dbs.values()) await each.drop();
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });
}

/** A sandbox over a generated day of `n` orders (the fixture ledger stays as it is). */
export async function generatedSandbox(n: number, options: Parameters<typeof generateDay>[3] = {}): Promise<Sandbox> {
  const dir = folder('yzh-fault-gen-');
  await generateDay(dir, D, n, options);
  const sandbox = new Sandbox({ ...KEYS, dir, retentionDays: null });
  await sandbox.start();
  sandboxes.push(sandbox);
  return sandbox;
}

/** Bytes of `file` with `insert` put right after the first `after`. */
export const planted = (file: Buffer, after: string, insert: number[]) => {
  const at = file.indexOf(after) + Buffer.byteLength(after);
  return Buffer.concat([file.subarray(0, at), Buffer.from(insert), file.subarray(at)]);
};
