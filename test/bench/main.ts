/**
 * npm run bench [-- --orders N[,N2…]] [--stages reader,run,floor,instructions] [--data DIR] [--repeat K] [--explain]
 *                 [--history H] [--filled-days K] [--stray-quote] [--shape real|ordered] [--keep] [--pglite]
 *
 * Generates a day of N orders (about 2N bill rows, a ledger of about 1.1N rows with planted
 * discrepancies; `--shape`: see Shape below), serves it from the sandbox, and measures in separate processes (so that each
 * peak RSS is its own): bare csv-parse, the real reader (download included), `yzh-recon run`
 * end to end against DATABASE_URL (PGlite when unset), and the floor: the same decompressed
 * files COPYed by Postgres into text staging tables plus one join against the ledger.
 * `--stages instructions` (needs valgrind) counts the instructions of bare csv-parse and of the
 * reader with callgrind: the same figure on every run, however busy the machine is.
 * `--history H` first runs H earlier days of N orders each (other order ids, not timed), so
 * that the measured run has H days of provider rows and ledger behind it; the day also runs on
 * an empty database in the same invocation, and the table gives the ratio.
 * `--filled-days K` also runs the day on a database holding K days of N orders' provider rows
 * (written by SQL into their partitions, no ledger), for the load time against an empty one.
 * `--pglite` (with DATABASE_URL) also runs the day on the embedded PGlite, beside the server.
 * `--keep` leaves the last measured run's database (Postgres) for a look afterwards.
 * `--stray-quote` then runs the same day again with one unclosed quote in the order file's
 * line 2 (`"王**`), which must fail naming line 2, and compares its peak RSS with the clean run's.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { openPglite, openPostgres, type DatabaseHandle } from '../../src/db/connection.js';
import { ProviderClient } from '../../src/provider/client.js';
import { readProviderFile } from '../../src/provider/file-reader.js';
import type { FileKind } from '../../src/provider/protocol.js';
import { Sandbox } from '../../src/provider/sandbox-server.js';
import { generateDay, type Planted } from './generate.js';
import { generateRealDay } from './generate-real.js';
import { BENCH_DATE, BENCH_KEYS, explainMain, fillDays, floor, loadLedger } from './bench-db.js';

const DATE = BENCH_DATE;
const KEYS = BENCH_KEYS;
/** The shipped command (npm run build), not a copy compiled with the bench. */
const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
/** The node flags of the command's first line (`#!/usr/bin/env -S node …`), as the image starts it. */
const CLI_NODE_FLAGS = readFileSync(CLI, 'utf8').split('\n', 1)[0]!.split(' ').slice(3);
/** Its own database per bench process: two benches on one server must not drop each other's. */
const BENCH_DB = `yzh_bench_${process.pid}`;
const silent = pino({ level: 'silent' });
/** Preloaded into a measured child: writes its peak RSS (KiB) where BENCH_RSS_FILE says. */
const RSS_PROBE = `data:text/javascript,${encodeURIComponent(
  "import { writeFileSync } from 'node:fs'; process.on('exit', () => { if (process.env.BENCH_RSS_FILE) writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)); });",
)}`;

interface Measured {
  ms: number;
  rows: number;
  maxRssKb: number;
  downloadMs?: number;
  /** CPU time of every thread of the process (gunzip runs on libuv's pool). */
  cpuMs?: number;
}

// --- child stages -----------------------------------------------------------------------

async function childParseBare(file: string): Promise<Measured> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let rows = -1;
  // The cheapest consumer: records are counted inside the parser's push (as the reader takes
  // them), so this is csv-parse's own cost plus gunzip's.
  const parser = parse();
  const push = parser.push.bind(parser);
  parser.push = (record: unknown) => {
    if (record === null) return push(null);
    rows++;
    return true;
  };
  await pipeline(createReadStream(file), createGunzip(), parser, new Writable({ objectMode: true, write: (_r, _e, done) => done() }));
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - started, rows, maxRssKb: process.resourceUsage().maxRSS, cpuMs: (used.user + used.system) / 1000 };
}

/** The reader on a local file: the same work as childParseReader without the download. */
async function childParseReaderFile(kind: FileKind, file: string): Promise<Measured> {
  const started = performance.now();
  let rows = 0;
  await pipeline(readProviderFile(createReadStream(file), kind as 'order', `${kind} file`), async function (records) {
    for await (const _ of records) rows++;
  });
  return { ms: performance.now() - started, rows, maxRssKb: process.resourceUsage().maxRSS };
}

async function childParseReader(kind: FileKind, baseUrl: string): Promise<Measured> {
  const config = loadConfig({ YZH_BASE_URL: baseUrl, YZH_DEALER_ID: KEYS.dealerId, YZH_APP_KEY: KEYS.appKey, YZH_DES3_KEY: KEYS.des3Key }, { requireProvider: true });
  const client = new ProviderClient(config.provider, silent);
  const started = performance.now();
  const url = await client.fileUrl(kind, DATE);
  const path = join(tmpdir(), `yzh-bench-${process.pid}.gz`);
  await client.download(url, path, `${kind} file`);
  const downloadMs = performance.now() - started;
  let rows = 0;
  await pipeline(readProviderFile(createReadStream(path), kind as 'order', `${kind} file`), async function (records) {
    for await (const _ of records) rows++;
  });
  rmSync(path, { force: true });
  await client.close();
  return { ms: performance.now() - started, downloadMs, rows, maxRssKb: process.resourceUsage().maxRSS };
}

/** Instructions a child stage executes under valgrind's callgrind: repeatable, whatever the load. */
function instructions(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = join(tmpdir(), `yzh-bench-callgrind-${process.pid}-${Date.now()}`);
    const child = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, '--smc-check=all-non-file',
      process.execPath, SELF, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      rmSync(out, { force: true });
      const m = /Collected : (\d+)/.exec(err);
      if (code === 0 && m) resolve(Number(m[1]));
      else reject(new Error(`callgrind of ${args[0]} exited ${code}`));
    });
  });
}

function spawnJson(args: string[]): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Measured) : reject(new Error(`bench stage ${args[0]} exited ${code}`))));
  });
}

// --- orchestration ----------------------------------------------------------------------

interface MeasuredRun {
  run: { ms: number; maxRssKb: number; stdout: string; stderr: string };
  times: Record<string, number>;
  files: { kind: string; rows: number; loadMs: number }[];
  rows: number;
  orderRows: number;
  counts: Record<string, number>;
  runEnv: Record<string, string>;
}

async function dropBenchDatabase(databaseUrl: string | undefined): Promise<void> {
  if (!databaseUrl) return;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${BENCH_DB} with (force)`);
  await admin.end();
}

/**
 * The measured day, run by the command on a fresh database that holds the ledger, after
 * `history` real days run the same way (not timed) or `filledDays` days of provider rows
 * written straight into their partitions.
 */
async function measuredRun(o: {
  databaseUrl: string | undefined; dataDir: string; runEnvBase: Record<string, string>; history: string[]; filledDays: number; explain: boolean;
  explainName: string; orders: number; shape: Shape;
}): Promise<MeasuredRun> {
  let db: DatabaseHandle;
  let env: Record<string, string>;
  const pgliteDir = join(tmpdir(), `yzh-bench-pglite-${process.pid}`);
  if (o.databaseUrl) {
    await dropBenchDatabase(o.databaseUrl);
    const admin = new pg.Client({ connectionString: o.databaseUrl });
    await admin.connect();
    await admin.query(`create database ${BENCH_DB}`);
    await admin.end();
    const url = new URL(o.databaseUrl);
    url.pathname = `/${BENCH_DB}`;
    env = { DATABASE_URL: url.toString() };
    db = openPostgres(url.toString());
  } else {
    rmSync(pgliteDir, { recursive: true, force: true });
    env = { PGLITE_DIR: pgliteDir };
    db = await openPglite(pgliteDir);
  }
  await loadLedger(db, join(o.dataDir, 'ledger.csv'), o.shape);
  for (const date of o.history) await loadLedger(db, join(o.dataDir, `ledger-${date}.csv`), o.shape);
  if (o.filledDays > 0) {
    const started = performance.now();
    await fillDays(db, historyDays(o.filledDays), o.orders);
    console.log(`wrote ${o.filledDays} days of provider rows in ${fmt(performance.now() - started)} (not timed)`);
  }
  if (!o.databaseUrl) await db.close();
  // Each measured run archives its files as a real run does, into a fresh folder.
  const archiveDir = join(o.dataDir, 'archive');
  rmSync(archiveDir, { recursive: true, force: true });
  const runEnv = { ...env, YZH_ARCHIVE_DIR: archiveDir, ...o.runEnvBase };
  for (const date of o.history) {
    const started = performance.now();
    await runCli(runEnv, date);
    console.log(`ran the history day ${date} in ${fmt(performance.now() - started)} (not timed)`);
  }
  if (o.databaseUrl) {
    // The measured run starts on a settled database, as a scheduled run does: hours apart,
    // autovacuum has processed the earlier days' tables (here it would still be at work on
    // the last history day's, on the same two cores).
    const started = performance.now();
    const c = new pg.Client({ connectionString: env.DATABASE_URL });
    await c.connect();
    await c.query('vacuum analyze');
    await c.end();
    console.log(`vacuum analyze before the measured run: ${fmt(performance.now() - started)} (not timed)`);
  }
  const run = await runCli(runEnv);
  if (!o.databaseUrl) db = await openPglite(pgliteDir);
  const found = await db.withSession(async (s) => {
    const summary = (await s.query<{ summary: { times: Record<string, number>; files: { kind: string; rows: number; loadMs: number }[] }; order_rows: number; bill_rows: number }>(
      "select summary, order_rows, bill_rows from recon.runs where status = 'succeeded' and business_date = $1 order by id desc limit 1", [DATE])).rows[0]!;
    const counts = (await s.query<{ kind: string; n: number }>(
      "select kind, count(*)::int as n from recon.discrepancies where status = 'open' and business_date = $1 group by kind", [DATE])).rows;
    if (o.explain) await explainMain(s.query.bind(s), join(o.dataDir, o.explainName));
    return { summary, counts: Object.fromEntries(counts.map((c) => [c.kind, c.n])) };
  });
  await db.close();
  rmSync(pgliteDir, { recursive: true, force: true });
  return {
    run, times: found.summary.summary.times, files: found.summary.summary.files, counts: found.counts, runEnv,
    rows: found.summary.order_rows + found.summary.bill_rows, orderRows: found.summary.order_rows,
  };
}

/** The `count` days before DATE, oldest first. */
function historyDays(count: number): string[] {
  const day = Date.parse(`${DATE}T00:00:00Z`);
  return Array.from({ length: count }, (_, i) => new Date(day - (count - i) * 86_400_000).toISOString().slice(0, 10));
}

async function runCli(
  env: Record<string, string>, date = DATE, expectCode = 0,
): Promise<{ ms: number; maxRssKb: number; stdout: string; stderr: string }> {
  const rssFile = join(tmpdir(), `yzh-bench-rss-${process.pid}`);
  const started = performance.now();
  const [stdout, stderr] = await new Promise<[string, string]>((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_NODE_FLAGS, '--import', RSS_PROBE, CLI, 'run', '--date', date], {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', BENCH_RSS_FILE: rssFile, ...env },
      stdio: ['ignore', 'pipe', expectCode === 0 ? 'inherit' : 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('close', (code) => (code === expectCode ? resolve([out, err]) : reject(new Error(`yzh-recon run exited ${code}\n${err}`))));
  });
  const ms = performance.now() - started;
  const maxRssKb = Number(readFileSync(rssFile, 'utf8'));
  rmSync(rssFile, { force: true });
  return { ms, maxRssKb, stdout, stderr };
}

/** The run whose `key` is the median of the runs (whole figures of one run, not mixed). */
function median(runs: Measured[], key: (m: Measured) => number): Measured {
  return [...runs].sort((a, b) => key(a) - key(b))[Math.floor(runs.length / 2)]!;
}

/**
 * `real` (the default): rows in no particular order, several brokers, rates and channels, a
 * ledger with the neighbouring days' rows (generate-real.ts). `ordered`: the earlier day, every
 * file in 商户订单号 order with one broker and one rate (generate.ts), the kindest case.
 */
type Shape = 'real' | 'ordered';

const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const rate = (rows: number, ms: number) => `${Math.round(rows / (ms / 1000)).toLocaleString('en-US')} rows/s`;
const mb = (kb: number) => `${Math.round(kb / 1024)} MB`;

interface SizeResult { n: number; runRssKb?: number; readerRssKb?: number }

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      orders: { type: 'string' }, stages: { type: 'string' }, data: { type: 'string' }, explain: { type: 'boolean' }, repeat: { type: 'string' },
      history: { type: 'string' }, 'filled-days': { type: 'string' }, 'stray-quote': { type: 'boolean' }, shape: { type: 'string' }, keep: { type: 'boolean' }, pglite: { type: 'boolean' },
    },
  });
  const sizes = (values.orders ?? '1000000').split(',').map(Number);
  const results: SizeResult[] = [];
  for (const n of sizes) results.push(await runSize(n, values));
  if (results.length > 1) {
    const base = results[0]!;
    console.log('\npeak RSS side by side (the whole process):');
    for (const r of results) {
      const growth = (now?: number, then?: number) => (now && then ? ` (${now >= then ? '+' : ''}${Math.round((now / then - 1) * 100)}% against N = ${base.n.toLocaleString('en-US')})` : '');
      console.log(`  N = ${r.n.toLocaleString('en-US').padStart(9)}:${r.runRssKb ? ` yzh-recon run ${mb(r.runRssKb)}${growth(r.runRssKb, base.runRssKb)}` : ''}${r.readerRssKb ? `; reader ${mb(r.readerRssKb)}${growth(r.readerRssKb, base.readerRssKb)}` : ''}`);
    }
  }
}

async function runSize(
  n: number, values: { stages?: string; data?: string; explain?: boolean; repeat?: string; history?: string; 'filled-days'?: string; 'stray-quote'?: boolean; shape?: string; keep?: boolean; pglite?: boolean },
): Promise<SizeResult> {
  const shapeArg = values.shape ?? 'real';
  if (shapeArg !== 'real' && shapeArg !== 'ordered') throw new Error(`--shape: real or ordered, not ${shapeArg}`);
  const shape: Shape = shapeArg;
  const repeat = Number(values.repeat ?? 3);
  const size: SizeResult = { n };
  const stages = new Set((values.stages ?? 'reader,run,floor').split(','));
  const dataDir = join(values.data ?? 'bench-data', shape === 'real' ? String(n) : `${n}-ordered`);
  const day = join(dataDir, DATE);
  const plantedFile = join(dataDir, 'planted.json');
  const databaseUrl = process.env.DATABASE_URL;
  const cores = Number(execFileSync('nproc').toString().trim());
  const machine = `${cores} cores, node ${process.version}, ${databaseUrl ? 'Postgres' : 'PGlite'}`;
  console.log(`yzh-recon bench: ${n.toLocaleString('en-US')} orders on ${machine}`);

  let planted: Planted;
  if (existsSync(plantedFile)) {
    planted = JSON.parse(readFileSync(plantedFile, 'utf8')) as Planted;
    console.log(`using the generated day in ${dataDir}`);
  } else {
    const started = performance.now();
    mkdirSync(dataDir, { recursive: true });
    planted = shape === 'real' ? await generateRealDay(dataDir, DATE, n, { nextDay: true }) : await generateDay(dataDir, DATE, n);
    writeFileSync(plantedFile, JSON.stringify(planted));
    console.log(`generated the day in ${fmt(performance.now() - started)} (${dataDir})`);
  }
  const historyDates = historyDays(Number(values.history ?? 0));
  for (const date of historyDates) {
    if (existsSync(join(dataDir, `ledger-${date}.csv`))) continue;
    const started = performance.now();
    const ledgerFile = `ledger-${date}.csv`;
    await (shape === 'real' ? generateRealDay(dataDir, date, n, { ledgerFile }) : generateDay(dataDir, date, n, { ledgerFile }));
    console.log(`generated the history day ${date} in ${fmt(performance.now() - started)}`);
  }
  if (historyDates.length > 0) console.log(`the measured day comes after ${historyDates.length} day(s) of history: ${historyDates.join(', ')}`);
  const sandbox = new Sandbox({ ...KEYS, dir: dataDir, retentionDays: null });
  const baseUrl = await sandbox.start();
  const table: string[][] = [];
  const results: Record<string, unknown> = { orders: n, machine, historyDays: historyDates.length };
  let bareCpuMs = 0;

  if (stages.has('reader')) {
    for (const kind of ['order', 'bill'] as const) {
      const file = join(day, kind === 'order' ? 'orders.csv.gz' : 'bills.csv.gz');
      // Alternating runs, medians reported: single runs on a shared 2-core machine vary by
      // more than the difference being measured.
      const bares: Measured[] = [];
      const readers: Measured[] = [];
      for (let i = 0; i < repeat; i++) {
        bares.push(await spawnJson(['parse-bare', file]));
        readers.push(await spawnJson(['parse-reader', kind, baseUrl]));
      }
      const bare = median(bares, (m) => m.ms);
      const reader = median(readers, (m) => m.ms - m.downloadMs!);
      const parseMs = reader.ms - reader.downloadMs!;
      bareCpuMs += median(bares, (m) => m.cpuMs!).cpuMs!;
      table.push([`${kind} file: bare csv-parse (gunzip + parse), median of ${repeat}`, `${fmt(bare.ms)} (CPU ${fmt(bare.cpuMs!)})`, rate(bare.rows, bare.ms), mb(bare.maxRssKb)]);
      table.push([`${kind} file: reader, download + typed rows`, fmt(reader.ms), rate(reader.rows, reader.ms), mb(reader.maxRssKb)]);
      table.push([`${kind} file: reader, typed rows alone (vs bare: ${((parseMs / bare.ms - 1) * 100).toFixed(0)}%)`, fmt(parseMs), rate(reader.rows, parseMs), '']);
      results[`${kind}_reader`] = { bare, reader, parseMs, overheadPct: (parseMs / bare.ms - 1) * 100, bares, readers };
      size.readerRssKb = Math.max(size.readerRssKb ?? 0, reader.maxRssKb);
    }
  }

  if (stages.has('instructions')) {
    // Wall time on a shared machine varies by more than the reader's overhead; instruction
    // counts do not. Each figure is net of a process that loads the same modules and exits.
    const base = await instructions(['noop']);
    for (const kind of ['order', 'bill'] as const) {
      const file = join(day, kind === 'order' ? 'orders.csv.gz' : 'bills.csv.gz');
      const bare = (await instructions(['parse-bare', file])) - base;
      const reader = (await instructions(['parse-reader-file', kind, file])) - base;
      const pct = (reader / bare - 1) * 100;
      table.push([`${kind} file: instructions, bare csv-parse`, `${(bare / 1e9).toFixed(2)} G`, '', '']);
      table.push([`${kind} file: instructions, reader (vs bare: ${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%)`, `${(reader / 1e9).toFixed(2)} G`, '', '']);
      results[`${kind}_instructions`] = { bare, reader, overheadPct: pct };
    }
  }

  if (stages.has('run')) {
    const runEnvBase = { YZH_BASE_URL: baseUrl, YZH_DEALER_ID: KEYS.dealerId, YZH_APP_KEY: KEYS.appKey, YZH_DES3_KEY: KEYS.des3Key, YZH_TIMEOUT_MS: '120000' };
    // The day on an empty database first; then, in the same invocation, after H real days of
    // history (--history) and after K days of provider rows alone (--filled-days): the cost of
    // a run must not grow with the days kept.
    const variants: { label: string; history: string[]; filledDays: number; embedded?: boolean }[] = [{ label: '', history: [], filledDays: 0 }];
    // --pglite: the same day on the embedded engine as well, beside the server's figures.
    if (values.pglite === true && databaseUrl) variants.push({ label: 'on PGlite (embedded)', history: [], filledDays: 0, embedded: true });
    if (historyDates.length > 0) variants.push({ label: `after ${historyDates.length} days of history`, history: historyDates, filledDays: 0 });
    const filledDays = Number(values['filled-days'] ?? 0);
    if (filledDays > 0) variants.push({ label: `into ${filledDays} days of provider rows`, history: [], filledDays });
    let baseline: { ms: number; loadMs: number } | null = null;
    for (const variant of variants) {
      const m = await measuredRun({ databaseUrl: variant.embedded === true ? undefined : databaseUrl, dataDir, runEnvBase, orders: n, shape, history: variant.history, filledDays: variant.filledDays, explain: values.explain === true, explainName: variant.label === '' ? 'explain.txt' : `explain ${variant.label}.txt`.replace(/ /g, '-') });
      const t = m.times;
      const prefix = variant.label === '' ? 'run' : `run ${variant.label}`;
      if (variant.label === '') {
        table.push(['run: download both files', fmt(t.downloadMs!), '', '']);
        table.push(['run: gunzip + parse + load (streamed together)', fmt(t.loadMs!), rate(m.rows, t.loadMs!), '']);
        for (const f of m.files) table.push([`run:   ${f.kind} file`, fmt(f.loadMs), rate(f.rows, f.loadMs), '']);
        table.push(['run: match (all rules)', fmt(t.matchMs!), rate(m.orderRows, t.matchMs!), '']);
        table.push(['run: discrepancy writes', fmt(t.writeMs!), '', '']);
        table.push(['run: end to end (process start to exit)', fmt(m.run.ms), rate(m.rows, m.run.ms), mb(m.run.maxRssKb)]);
        results.run = { ...t, endToEndMs: m.run.ms, maxRssKb: m.run.maxRssKb, rows: m.rows };
        baseline = { ms: m.run.ms, loadMs: t.loadMs! };
      } else {
        const vs = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
        if (variant.embedded === true) {
          table.push([`${prefix}: load / match`, `${fmt(t.loadMs!)} / ${fmt(t.matchMs!)}`, '', '']);
          table.push([`${prefix}: end to end (vs the server: ${vs(m.run.ms, baseline!.ms)})`, fmt(m.run.ms), rate(m.rows, m.run.ms), mb(m.run.maxRssKb)]);
          results.runOnPglite = { ...t, endToEndMs: m.run.ms, maxRssKb: m.run.maxRssKb };
        } else {
        table.push([`${prefix}: load (vs empty: ${vs(t.loadMs!, baseline!.loadMs)})`, fmt(t.loadMs!), rate(m.rows, t.loadMs!), '']);
        table.push([`${prefix}: match`, fmt(t.matchMs!), '', '']);
        table.push([`${prefix}: end to end (vs empty: ${vs(m.run.ms, baseline!.ms)})`, fmt(m.run.ms), rate(m.rows, m.run.ms), mb(m.run.maxRssKb)]);
        results[variant.history.length > 0 ? 'runWithHistory' : 'runIntoFilledDays'] = {
          ...t, endToEndMs: m.run.ms, maxRssKb: m.run.maxRssKb, historyDays: variant.history.length, filledDays: variant.filledDays,
          vsEmpty: { endToEnd: m.run.ms / baseline!.ms, load: t.loadMs! / baseline!.loadMs },
        };
        }
      }
      size.runRssKb = Math.max(size.runRssKb ?? 0, m.run.maxRssKb);
      const wrong = Object.entries(planted).filter(([kind, count]) => m.counts[kind] !== count);
      const extra = Object.keys(m.counts).filter((kind) => !(kind in planted));
      results[variant.label === '' ? 'planted' : `planted ${variant.label}`] = { planted, found: m.counts };
      if (wrong.length > 0 || extra.length > 0) {
        console.log(m.run.stdout);
        throw new Error(`${prefix}: planted discrepancies not found exactly: planted ${JSON.stringify(planted)}, found ${JSON.stringify(m.counts)}`);
      }
      console.log(`${prefix}: all ${Object.values(planted).reduce((a, b) => a + b, 0)} planted discrepancies found, nothing else: ${JSON.stringify(m.counts)}`);
      if (variant.label !== '') continue;
      if (values['stray-quote']) {
        // The same day with an unclosed quote on the order file's line 2: the run must fail
        // there, with memory no larger than the clean day's (the parser holds at most one
        // record, MAX_RECORD_BYTES, not the rest of the file).
        const strayDir = `${dataDir}-stray-quote`;
        if (!existsSync(join(strayDir, DATE, 'orders.csv.gz'))) await generateDay(strayDir, DATE, n, { strayQuoteAt: 0 });
        const straySandbox = new Sandbox({ ...KEYS, dir: strayDir, retentionDays: null });
        const strayUrl = await straySandbox.start();
        const stray = await runCli({ ...m.runEnv, YZH_BASE_URL: strayUrl }, DATE, 1);
        await straySandbox.stop();
        const message = stray.stderr.trimEnd().split('\n').at(-1) ?? '';
        const pct = (stray.maxRssKb / m.run.maxRssKb - 1) * 100;
        table.push([`run with a stray quote on line 2 (exit 1; vs clean: ${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%)`, fmt(stray.ms), '', mb(stray.maxRssKb)]);
        results.strayQuote = { maxRssKb: stray.maxRssKb, cleanMaxRssKb: m.run.maxRssKb, rssVsCleanPct: pct, message };
        console.log(`stray quote: ${message}`);
      }
      if (stages.has('floor') && databaseUrl) {
        const url = new URL(databaseUrl);
        url.pathname = `/${BENCH_DB}`;
        const f = await floor(url.toString(), day);
        const floorMs = f.copyMs + f.joinMs;
        table.push(['floor: COPY of the decompressed files into text tables', fmt(f.copyMs), rate(m.rows, f.copyMs), '']);
        table.push(['floor: one full join against the ledger', fmt(f.joinMs), '', '']);
        table.push([`ratio end to end / floor`, `${(m.run.ms / floorMs).toFixed(2)}×`, '', '']);
        results.floor = { ...f, floorMs, ratio: m.run.ms / floorMs };
        if (bareCpuMs > 0) {
          // No pipeline that parses both files with csv-parse and has Postgres take the rows in
          // can finish sooner than this on these cores, before it matches anything.
          const boundMs = (bareCpuMs + f.copyMs) / cores;
          table.push([`bound: (csv-parse CPU of both files + floor COPY) / ${cores} cores`, fmt(boundMs), '', '']);
          table.push([`ratio bound / floor`, `${(boundMs / floorMs).toFixed(2)}×`, '', '']);
          results.bound = { bareCpuMs, cores, boundMs, ratio: boundMs / floorMs };
        }
      }
    }
    if (values.keep === true) console.log(`kept the database ${BENCH_DB} (--keep)`);
    else await dropBenchDatabase(databaseUrl);
  }
  await sandbox.stop();
  const widths = [0, 1, 2, 3].map((i) => Math.max(...table.map((r) => r[i]!.length)));
  console.log(`\n${table.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n')}`);
  writeFileSync(join(dataDir, 'results.json'), JSON.stringify(results, null, 2));
  return size;
}

const [stage, ...args] = process.argv.slice(2);
if (stage === 'parse-bare') {
  process.stdout.write(JSON.stringify(await childParseBare(args[0]!)));
} else if (stage === 'parse-reader-file') {
  process.stdout.write(JSON.stringify(await childParseReaderFile(args[0] as FileKind, args[1]!)));
} else if (stage === 'noop') {
  process.stdout.write('{}');
} else if (stage === 'parse-reader') {
  process.stdout.write(JSON.stringify(await childParseReader(args[0] as FileKind, args[1]!)));
} else {
  await main();
}
