import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDay } from '../bench/generate.js';
import type { Engine } from '../../src/db/connection.js';
import { Sandbox } from '../../src/provider/sandbox-server.js';
import { lastLine, runCli, type CliResult } from '../helpers/cli.js';
import { childDatabase, providerEnv, type ChildDatabase } from '../helpers/cli-env.js';
import { ENGINES } from '../helpers/db.js';
import { FIXTURE_DATE, FIXTURE_DIR, KEYS } from '../helpers/provider.js';
import { encodeGb18030 as gb18030 } from '../helpers/gb18030.js';

/**
 * The fault-injection suite: a real `yzh-recon run` (the built command) against the sandbox,
 * on PGlite and, when TEST_DATABASE_URL is set, on a real Postgres too. After every case: the
 * exit status, the one-line message, and recon.discrepancies exactly as before the run.
 */
const BIG: Record<Engine, number> = { pg: 1_000_000, pglite: 50_000 };
console.log('fault suite: on PGlite the "one bad line" case reads a 50,000-row file (1,000,000 on Postgres); '
  + 'the "database connection killed mid-ingest" case needs a real Postgres and is skipped there');

const D = FIXTURE_DATE;
const ordersCsv = readFileSync(join(FIXTURE_DIR, D, 'orders.csv'), 'utf8');
const billsCsv = readFileSync(join(FIXTURE_DIR, D, 'bills.csv'), 'utf8');
const ORDER_HEADER = ordersCsv.slice(0, ordersCsv.indexOf('\n'));
const BILL_HEADER = billsCsv.slice(0, billsCsv.indexOf('\n'));

/** The database of the engine the current block runs on; one per engine, made once. */
let db: ChildDatabase;
const dbs = new Map<Engine, ChildDatabase>();
const sandboxes: Sandbox[] = [];
const folders: string[] = [];

/** A new folder under the OS temp dir, removed when the file is done. */
function folder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

/** A sandbox serving the fixture folder, with the files of day D replaced as given. */
async function sandboxWith(files: { orders?: Buffer | string; bills?: Buffer | string; extraDays?: string[] } = {}): Promise<Sandbox> {
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
const snapshot = async () => known ??= await db.use((h) => h.withSession(async (s) =>
  (await s.query('select * from recon.discrepancies order by id')).rows));
const withoutLastSeen = (rows: Record<string, unknown>[]) => rows.map(({ last_seen_run_id: _, ...rest }) => rest);

async function run(sandbox: Sandbox, args: string[] = ['run', '--date', D], env: Record<string, string> = {}, honourModes = false): Promise<CliResult> {
  known = null;
  return runCli(args, { ...db.env, ...providerEnv(sandbox, { YZH_TIMEOUT_MS: '1500', YZH_RETRIES: '2' }), ...env }, { honourModes });
}

/** A failing case: exit code, the one clear line, and the discrepancy table untouched. */
async function expectFailure(sandbox: Sandbox, message: RegExp, options: { code?: number; args?: string[]; env?: Record<string, string> } = {}) {
  const before = await snapshot();
  const result = await run(sandbox, options.args, options.env);
  expect(result.code, result.stderr).toBe(options.code ?? 1);
  expect(lastLine(result.stderr)).toMatch(message);
  expect(await snapshot()).toEqual(before);
  return result;
}

/** A recovering case: exit 0 and, the files being the same, nothing changed but last_seen_run_id. */
async function expectRecovery(sandbox: Sandbox) {
  const before = await snapshot();
  const result = await run(sandbox);
  expect(result.code, result.stderr).toBe(0);
  expect(withoutLastSeen(await snapshot())).toEqual(withoutLastSeen(before));
  return result;
}

const lines = (csv: string) => csv.trimEnd().split('\n');
const replaceCell = (csv: string, line: number, column: number, value: string) => {
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
function onEngine(engine: Engine): void {
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

afterAll(async () => {
  await Promise.all(sandboxes.map((s) => s.stop()));
  for (const each of dbs.values()) await each.drop();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

describe.each(ENGINES)('fault injection on %s: transport', (engine) => {
  onEngine(engine);

  it('HTTP 502 on the first two API calls and 503 on the first download: the run recovers', async () => {
    const sandbox = await sandboxWith();
    sandbox.faults.apiHttpErrors = 2;
    sandbox.faults.downloadHttpErrors = 1;
    await expectRecovery(sandbox);
    expect(sandbox.calls.filter((c) => c.code === 'HTTP 502')).toHaveLength(2);
  });

  it('a download that stalls mid-body past the timeout: retried, then a clear failure', async () => {
    const sandbox = await sandboxWith();
    sandbox.faults.stalledDownloads = 10;
    sandbox.faults.stallMs = 4000;
    await expectFailure(sandbox, /^yzh-recon: download order file 2017-11-20: gave up after 3 attempts: download order file 2017-11-20 after \d+ bytes: timed out after 1500 ms$/);
  });
});

describe.each(ENGINES)('fault injection on %s: files', (engine) => {
  onEngine(engine);

  it('a truncated gzip', async () => {
    const gz = gzipSync(ordersCsv);
    await expectFailure(await sandboxWith({ orders: gz.subarray(0, gz.length - 20) }),
      /^yzh-recon: order file 2017-11-20: the gzip stream is truncated \(unexpected end of file\)$/);
  });

  it('a file that is not gzip at all', async () => {
    await expectFailure(await sandboxWith({ bills: Buffer.from(billsCsv) }), /^yzh-recon: bill file 2017-11-20: not a valid gzip file/);
  });

  it('an empty file', async () => {
    await expectFailure(await sandboxWith({ orders: Buffer.alloc(0) }), /^yzh-recon: order file 2017-11-20: the file is empty \(0 bytes downloaded\)$/);
  });

  it('a file with only the header is a valid day with no orders, not a failure', async () => {
    const sandbox = await sandboxWith({ extraDays: ['2017-11-21'] });
    const before = await snapshot();
    const result = await run(sandbox, ['run', '--date', '2017-11-21']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/order file\s+0 rows/);
    // The day before is re-checked and still holds, except the cut-off order, which is no
    // longer "info": the next day's file is in without it.
    const after = await snapshot();
    expect(after.map((d) => [d.order_id, d.kind, d.status])).toEqual(before.map((d) => [d.order_id, d.kind, d.status]));
    expect(after.find((d) => d.order_id === '2017112709')!.severity).toBe('warning');
  });

  it('a missing column', async () => {
    const csv = lines(ordersCsv).map((l) => l.split(',').slice(0, 15).join(',')).join('\n');
    await expectFailure(await sandboxWith({ orders: csv }), /^yzh-recon: order file 2017-11-20 line 1: missing column "完成时间" in the header$/);
  });

  it('an unknown column', async () => {
    await expectFailure(await sandboxWith({ bills: billsCsv.replace('渠道流水号', '银行流水号') }),
      /^yzh-recon: bill file 2017-11-20 line 1, column 银行流水号: unknown column "银行流水号" in the header$/);
  });

  it(`a malformed amount on one line among ${BIG[engine].toLocaleString('en-US')}`, async () => {
    const dir = folder('yzh-fault-big-');
    const bad = BIG[engine] - 1000;
    await generateDay(dir, D, BIG[engine], { malformedAmountAt: bad });
    const sandbox = new Sandbox({ ...KEYS, dir, retentionDays: null });
    await sandbox.start();
    sandboxes.push(sandbox);
    // Line = header + orders before it + the duplicate rows the generator plants before it.
    const dupsBefore = Array.from({ length: bad }, (_, i) => i).filter((i) => i % 4999 !== 1 && i % 7001 !== 2 && i % 9001 !== 3 && i % 11003 !== 4 && i % 13001 === 5).length;
    const line = 1 + bad + dupsBefore + 1;
    await expectFailure(sandbox, new RegExp(`^yzh-recon: order file 2017-11-20 line ${line}, column 金额: malformed amount "12\\.3\\.4"$`),
      { env: { YZH_TIMEOUT_MS: '120000' } });
    // The day's files are the largest a test writes (over 100 MB at a million rows).
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it('a row with too few fields', async () => {
    const all = lines(ordersCsv);
    all[4] = all[4]!.split(',').slice(0, 12).join(',');
    await expectFailure(await sandboxWith({ orders: all.join('\n') }), /^yzh-recon: order file 2017-11-20 line 5: wrong number of fields \(12; the header has 16\)$/);
  });

  it('an invalid date', async () => {
    await expectFailure(await sandboxWith({ orders: replaceCell(ordersCsv, 7, 15, '2017-11-31 00:02:03') }),
      /^yzh-recon: order file 2017-11-20 line 7, column 完成时间: invalid date-time \(expected YYYY-MM-DD HH:mm:ss\) "2017-11-31 00:02:03"$/);
  });

  it('an unknown status text', async () => {
    await expectFailure(await sandboxWith({ orders: replaceCell(ordersCsv, 3, 5, '已冲正') }),
      /^yzh-recon: order file 2017-11-20 line 3, column 订单状态: unknown order status "已冲正"$/);
  });

  it('an unknown 流水类型', async () => {
    await expectFailure(await sandboxWith({ bills: replaceCell(billsCsv, 4, 3, '经纪公司返点') }),
      /^yzh-recon: bill file 2017-11-20 line 4, column 流水类型: unknown 流水类型 "经纪公司返点"$/);
  });
});

/** A sandbox over a generated day of `n` orders (the fixture ledger stays as it is). */
async function generatedSandbox(n: number, options: Parameters<typeof generateDay>[3] = {}): Promise<Sandbox> {
  const dir = folder('yzh-fault-gen-');
  await generateDay(dir, D, n, options);
  const sandbox = new Sandbox({ ...KEYS, dir, retentionDays: null });
  await sandbox.start();
  sandboxes.push(sandbox);
  return sandbox;
}


/** Bytes of `file` with `insert` put right after the first `after`. */
const planted = (file: Buffer, after: string, insert: number[]) => {
  const at = file.indexOf(after) + Buffer.byteLength(after);
  return Buffer.concat([file.subarray(0, at), Buffer.from(insert), file.subarray(at)]);
};

describe.each(ENGINES)('fault injection on %s: encodings, stray quotes, NUL bytes', (engine) => {
  onEngine(engine);

  it('an invalid byte in a GB18030 file: exit 1 naming line and byte offset (it loaded as U+FFFD, and exited 0)', async () => {
    const bad = planted(gb18030(ordersCsv), '\n20171127', [0xff]);
    const offset = bad.indexOf(0xff);
    await expectFailure(await sandboxWith({ orders: gzipSync(bad) }),
      new RegExp(`^yzh-recon: order file 2017-11-20 line 2: byte 0xFF at byte offset ${offset} is not valid GB18030 \\(the header line is GB18030, so the whole file must be\\)$`));
  });

  it('one Latin-1 byte in a UTF-8 file: exit 1 at that byte (it read the whole file as GB18030)', async () => {
    const bad = planted(Buffer.from(ordersCsv), '\n2017112703,', [0xe9]);
    const offset = Buffer.from(ordersCsv).indexOf('\n2017112703,') + '\n2017112703,'.length;
    await expectFailure(await sandboxWith({ orders: gzipSync(bad) }),
      new RegExp(`^yzh-recon: order file 2017-11-20 line 4: bytes 0xE9 0x31 at byte offset ${offset} are not valid UTF-8 \\(the header line is UTF-8, so the whole file must be\\)$`));
  });

  it('a stray quote on line 2 of a 20,000-order file: exit 1 naming line 2, within the record bound', async () => {
    await expectFailure(await generatedSandbox(20_000, { strayQuoteAt: 0 }),
      /^yzh-recon: order file 2017-11-20 line 2: a quote opens a field on this line and is not closed within 64 KiB \(a stray quote\?\); no legal row is near that long$/);
  });

  it('a 1.5 MB gzip whose unclosed field unpacks to 1.5 GB: exit 1 naming line 2, peak memory well under the CronJob limit', async () => {
    // Concatenated gzip members are one gzip stream: 1,500 copies of 1 MiB of "a" after an open quote.
    const member = gzipSync(Buffer.alloc(1 << 20, 'a'));
    const bomb = Buffer.concat([gzipSync(`${ORDER_HEADER}\n2017112701,"`), ...Array.from({ length: 1500 }, () => member)]);
    expect(bomb.length).toBeLessThan(2_000_000);
    const probeDir = folder('yzh-fault-rss-');
    const probe = join(probeDir, 'probe.mjs');
    writeFileSync(probe, `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(${JSON.stringify(join(probeDir, 'rss'))}, String(process.resourceUsage().maxRSS)));\n`);
    await expectFailure(await sandboxWith({ orders: bomb }),
      /^yzh-recon: order file 2017-11-20 line 2: a quote opens a field on this line and is not closed within 64 KiB \(a stray quote\?\); no legal row is near that long$/,
      { env: { NODE_OPTIONS: `--import=file://${probe}` } });
    // The whole process, database driver (and PGlite) included; it went to 3 GB. On PGlite it
    // is 390-405 MB, nearly all PGlite's own heap (375-390 MB before the partitioned tables of
    // migration 0006); the CronJobs' limit is 512 MiB.
    const peakMb = Number(readFileSync(join(probeDir, 'rss'), 'utf8')) / 1024;
    expect(peakMb).toBeLessThan(450);
  });

  it('a NUL byte in a field: exit 1 naming line and column (it was "database error 22021")', async () => {
    const bills = billsCsv.replace('\n2017111102,', '\n2017111102\u0000,');
    expect(bills).not.toBe(billsCsv);
    await expectFailure(await sandboxWith({ bills }),
      /^yzh-recon: bill file 2017-11-20 line 4, column 商户订单号: contains a NUL byte \(0x00\), which no provider field may hold$/);
  });
});

describe.each(ENGINES)('fault injection on %s: clear errors', (engine) => {
  onEngine(engine);

  it('the provider answers {"code":"0000","data":null}: exit 1 naming endpoint and request id (it was a TypeError)', async () => {
    const sandbox = await sandboxWith();
    sandbox.faults.rawAnswer = '{"code":"0000","data":null}';
    sandbox.faults.rawAnswerCalls = 1;
    await expectFailure(sandbox,
      /^yzh-recon: GET \/api\/dataservice\/v1\/order\/downloadurl answered code 0000 with data null, not an object \[request_id [0-9a-f-]{36}\]$/);
  });

  it('YZH_RETRIES=0 is accepted and means one attempt', async () => {
    const sandbox = await sandboxWith();
    sandbox.faults.apiHttpErrors = 1;
    await expectFailure(sandbox, /^yzh-recon: GET \/api\/dataservice\/v1\/order\/downloadurl: gave up after 1 attempt \(YZH_RETRIES=0\): .*HTTP 502/,
      { env: { YZH_RETRIES: '0' } });
    expect(sandbox.calls).toHaveLength(1);
  });

  it('after a SIGKILL mid-download, the next run removes what the dead run left in YZH_TMP_DIR', async () => {
    const tmp = folder('yzh-fault-tmp-');
    const sandbox = await sandboxWith();
    sandbox.faults.stalledDownloads = 1;
    sandbox.faults.stallMs = 30_000;
    let pid = 0;
    const killed = runCli(['run', '--date', D], { ...db.env, ...providerEnv(sandbox, { YZH_TIMEOUT_MS: '120000' }), YZH_TMP_DIR: tmp },
      { onSpawn: (p) => { pid = p; } });
    // Killed once its download is under way: a run folder holding a partial download.
    const runDirs = () => readdirSync(tmp).filter((n) => n.startsWith('yzh-recon-run-'));
    while (!(runDirs().length === 1 && readdirSync(join(tmp, runDirs()[0]!)).some((f) => f.endsWith('.csv.gz')))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    process.kill(pid, 'SIGKILL');
    expect((await killed).signal).toBe('SIGKILL');
    const left = runDirs();
    expect(left).toHaveLength(1);
    sandbox.resetFaults();
    const next = await runCli(['run', '--date', D], { ...db.env, ...providerEnv(sandbox), YZH_TMP_DIR: tmp });
    known = null; // read the table again: two commands ran
    expect(next.code, next.stderr).toBe(0);
    expect(existsSync(join(tmp, left[0]!))).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
  }, 120_000);

  it.skipIf(engine !== 'pg')('a full YZH_TMP_DIR (ulimit -f) while downloading: exit 1 naming the file and EFBIG, not "database error EFBIG" (needs TEST_DATABASE_URL: PGlite writes its own files under the same limit)', async () => {
    const sandbox = await generatedSandbox(20_000);
    const tmp = folder('yzh-fault-efbig-');
    const before = await snapshot();
    // bash counts ulimit -f in KiB: less room than one download (several hundred KiB each).
    const result = await runCli(['run', '--date', D], { ...db.env, ...providerEnv(sandbox), YZH_TMP_DIR: tmp }, { fileSizeLimitKiB: 128 });
    known = null; // read the table again: a command ran
    expect(result.code, result.stderr).toBe(1);
    expect(lastLine(result.stderr)).toMatch(
      /^yzh-recon: download (order|bill) file 2017-11-20: writing \/\S+\/yzh-recon-run-\d+-\w+\/\S+\.csv\.gz: EFBIG: file too large, write \(no room left: the file system is full, or over a quota or file-size limit\)$/);
    expect(await snapshot()).toEqual(before);
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe.each(ENGINES)('fault injection on %s: provider answers', (engine) => {
  onEngine(engine);

  it.each([
    ['1001', /code 1001 \(签名已过期\) on GET \/api\/dataservice\/v1\/order\/downloadurl: signature expired.*clock.* \[request_id [0-9a-f-]{36}\]$/],
    ['1003', /code 1003 \(签名错误\) on GET .*: signature rejected: check YZH_APP_KEY and YZH_DEALER_ID \[request_id [0-9a-f-]{36}\]$/],
    ['1004', /code 1004 \(加密错误\) on GET .*: decryption failed at the provider: check YZH_DES3_KEY \[request_id [0-9a-f-]{36}\]$/],
    ['5000', /code 5000 \(不存在的账单\) on GET .*: no such bill: the file is not generated yet .* \[request_id [0-9a-f-]{36}\]$/],
  ])('provider code %s', async (code, message) => {
    const sandbox = await sandboxWith();
    sandbox.faults.providerCode = code;
    sandbox.faults.providerCodeCalls = 1;
    await expectFailure(sandbox, new RegExp(`^yzh-recon: provider ${message.source}`));
  });

  it('an empty download URL (past the 90-day retention): the archived copy is used', async () => {
    const sandbox = await sandboxWith();
    sandbox.faults.emptyUrlCalls = 1;
    await expectRecovery(sandbox);
  });

  it('an empty download URL and no archived copy either', async () => {
    const sandbox = await sandboxWith();
    sandbox.faults.emptyUrlCalls = 1;
    const empty = mkdtempSync(join(tmpdir(), 'yzh-fault-archive-'));
    try {
      await expectFailure(sandbox, new RegExp('^yzh-recon: the provider returned no download URL for the order file of 2017-11-20: files are kept 90 days, this one is past retention; '
        + `and the archive has no copy of the order file 2017-11-20 last ingested \\(run \\d+, sha256 [0-9a-f]{12}\\): ${empty}/sixcn/2017-11-20/order/[0-9a-f]{64}\\.csv\\.gz is missing$`),
      { env: { YZH_ARCHIVE_DIR: empty } });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('a wrong app key, a wrong 3DES key, a dealer id the provider does not know', async () => {
    const sandbox = await sandboxWith();
    await expectFailure(sandbox, /code 1003 \(签名错误\)/, { env: { YZH_APP_KEY: 'f'.repeat(32) } });
    await expectFailure(sandbox, /code 1004 \(加密错误\)/, { env: { YZH_DES3_KEY: 'abcdefghijklmnopqrstuvwx' } });
    await expectFailure(sandbox, /code 1005 \(商户未设置3deskey或没有设置appkey\).*check YZH_DEALER_ID/, { env: { YZH_DEALER_ID: 'nobody' } });
  });
});

describe.each(ENGINES)('fault injection on %s: database and concurrency', (engine) => {
  onEngine(engine);

  it.skipIf(engine !== 'pg')('the database connection killed in the middle of ingest: a clean failure, then the next run succeeds (needs TEST_DATABASE_URL)', async () => {
    const dir = folder('yzh-fault-kill-');
    await generateDay(dir, D, 300_000);
    const big = new Sandbox({ ...KEYS, dir, retentionDays: null });
    await big.start();
    sandboxes.push(big);
    const before = await snapshot();
    const running = run(big, ['run', '--date', D], { YZH_TIMEOUT_MS: '60000' });
    const admin = new pg.Client({ connectionString: db.env.DATABASE_URL });
    await admin.connect();
    let killed = false;
    for (let i = 0; i < 600 && !killed; i++) {
      const r = await admin.query<{ pid: number }>(
        "select pid from pg_stat_activity where datname = current_database() and query ilike 'copy recon%' and pid <> pg_backend_pid()");
      if (r.rows[0]) killed = (await admin.query('select pg_terminate_backend($1)', [r.rows[0].pid])).rowCount === 1;
      else await new Promise((res) => setTimeout(res, 50));
    }
    const result = await running;
    expect(killed).toBe(true);
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toMatch(/^yzh-recon: (database error 57P01: terminating connection due to administrator command|database connection lost.*|Connection terminated.*)$/);
    expect(await snapshot()).toEqual(before);
    const after = await run(await sandboxWith());
    expect(after.code, after.stderr).toBe(0);
    const runs = await admin.query<{ status: string; error: string | null }>('select status, error from recon.runs order by id desc limit 2');
    expect(runs.rows[0]!.status).toBe('succeeded');
    expect(runs.rows[1]).toMatchObject({ status: 'failed' });
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it('a run killed with SIGKILL while it holds the lock (as by the out-of-memory killer): another command meanwhile waits and names it, the next run takes over and succeeds', async () => {
    const sandbox = await sandboxWith();
    sandbox.faults.stalledDownloads = 1;
    sandbox.faults.stallMs = 300_000;
    const before = await snapshot();
    let holderPid = 0;
    known = null;
    const holder = runCli(['run', '--date', D], { ...db.env, ...providerEnv(sandbox, { YZH_TIMEOUT_MS: '600000' }) }, { onSpawn: (pid) => { holderPid = pid; } });
    // A provider call comes after the lock: the database directory's on PGlite, the dealer's
    // advisory lock on Postgres.
    for (let i = 0; i < 1200 && sandbox.calls.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(sandbox.calls.length).toBeGreaterThan(0);
    // On PGlite, the same directory named with a trailing slash is the same database.
    const other: Record<string, string> = engine === 'pglite' ? { PGLITE_DIR: `${db.env.PGLITE_DIR}/` } : {};
    const waiting = await run(sandbox, ['run', '--date', D], { ...other, YZH_LOCK_TIMEOUT_MS: '300' });
    expect(waiting.code, waiting.stderr).toBe(1);
    expect(lastLine(waiting.stderr)).toMatch(engine === 'pglite'
      ? new RegExp(`^yzh-recon: the embedded database in ${db.env.PGLITE_DIR} is in use by process ${holderPid} on \\S+ since \\S+; waited 0 s$`)
      : /^yzh-recon: dealer sixcn is locked by run \d+ \(business date 2017-11-20, started .*\); gave up after waiting 0 s$/);
    process.kill(holderPid, 'SIGKILL');
    expect((await holder).signal).toBe('SIGKILL');
    // The next run waits for the dead holder's lock to go stale (PGlite) or finds it released
    // with the connection (Postgres), then runs the day as usual.
    const next = await run(sandbox);
    expect(next.code, next.stderr).toBe(0);
    expect(withoutLastSeen(await snapshot())).toEqual(withoutLastSeen(before));
  }, 180_000);

  it('two runs of the same day started together: both complete, one result set, no duplicate rows', async () => {
    const sandbox = await sandboxWith();
    const before = await snapshot();
    const [a, b] = await Promise.all([run(sandbox), run(sandbox)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(withoutLastSeen(await snapshot())).toEqual(withoutLastSeen(before));
  });

  it('a run for D while a run for D+1 is under way: they take turns, both complete', async () => {
    const sandbox = await sandboxWith({ extraDays: ['2017-11-21'] });
    const [next, day] = await Promise.all([run(sandbox, ['run', '--date', '2017-11-21']), run(sandbox)]);
    expect([next.code, day.code], next.stderr + day.stderr).toEqual([0, 0]);
    const rows = await snapshot();
    const open = rows.filter((r) => r.status === 'open').map((r) => `${String(r.business_date)}/${String(r.kind)}/${String(r.order_id)}`);
    expect(new Set(open).size).toBe(open.length);
  });
});

describe.each(ENGINES)('fault injection on %s: the archive', (engine) => {
  onEngine(engine);

  it('a read-only archive directory: exit 1, one line, nothing written', async () => {
    const readOnly = mkdtempSync(join(tmpdir(), 'yzh-fault-ro-'));
    chmodSync(readOnly, 0o555);
    const sandbox = await sandboxWith();
    try {
      const files = () => db.use((h) => h.withSession(async (s) => (await s.query('select * from recon.provider_files order by id')).rows));
      const [before, filesBefore] = [await snapshot(), await files()];
      // Root writes through a mode of 0555: as root, the run goes without CAP_DAC_OVERRIDE.
      const result = await run(sandbox, ['run', '--date', D], { YZH_ARCHIVE_DIR: readOnly }, true);
      expect(result.code, result.stderr).toBe(1);
      expect(lastLine(result.stderr)).toMatch(
        new RegExp(`^yzh-recon: cannot write order file 2017-11-20 to the archive ${readOnly} \\(YZH_ARCHIVE_DIR\\): EACCES: permission denied, mkdir '${readOnly}/sixcn'$`));
      expect(await snapshot()).toEqual(before);
      expect(await files()).toEqual(filesBefore);
      expect(readdirSync(readOnly)).toEqual([]);
    } finally {
      rmSync(readOnly, { recursive: true, force: true });
    }
  });
});

describe.each(ENGINES)('fault injection on %s: command line', (engine) => {
  onEngine(engine);

  it.each([
    [['run', '--date', '2017-02-30'], /^yzh-recon: --date must be a date YYYY-MM-DD, got "2017-02-30"$/],
    [['run', '--from', '2017-11-21', '--to', '2017-11-20'], /^yzh-recon: --from 2017-11-21 is after --to 2017-11-20$/],
    [['run', '--date', '2999-12-31'], /^yzh-recon: --date 2999-12-31 is in the future for the provider: the newest day with files is \d{4}-\d{2}-\d{2} \(yesterday in Asia\/Shanghai\)$/],
  ])('%j exits 2', async (args, message) => {
    const sandbox = await sandboxWith();
    const before = await snapshot();
    const result = await run(sandbox, args);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(message);
    expect(await snapshot()).toEqual(before);
  });
});
