import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readMigrations } from '../../src/db/migrator.js';
import { Sandbox } from '../../src/provider/sandbox-server.js';
import { lastLine, runCli } from '../helpers/cli.js';
import { FIXTURE_DIR, KEYS } from '../helpers/provider.js';

/** The folders the tests make under the OS temp dir, removed when the file is done. */
const folders: string[] = [];
const folder = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

const PROVIDER_ENV = { YZH_DEALER_ID: 'sixcn', YZH_APP_KEY: 'k'.repeat(32), YZH_DES3_KEY: 'x'.repeat(24) };

describe('yzh-recon command line', () => {
  it('demo prints the fixture day with the document\'s repeated 商户订单号 2017112705', async () => {
    const dir = folder('yzh-demo-');
    const r = await runCli(['demo', '--dir', join(dir, 'db')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2017-11-20\s+critical\s+duplicate_provider_order\s+2017112705\s+1053817962754225,1053817962754226/);
    expect(r.stdout).toMatch(/findings\s+critical 4 · warning 1 · info 1/);
    expect(r.stdout).toContain('6 discrepancies');
    // The live follow-up at work: the late red packet's finding, then resolved by follow-up.
    expect(r.stdout).toMatch(/follow-up\s+asked the provider about 1 of 1 unsettled orders \(answers: not_found 1\)/);
    expect(r.stdout).toContain('2017112140: stale_pending_claim open; the provider\'s latest answer: status 1, status_detail 27');
    expect(r.stdout).toMatch(/follow-up run \d+ · dealer sixcn · business date 2017-11-22/);
    expect(r.stdout).toContain('2017112140: stale_pending_claim resolved; the provider\'s latest answer: status 1, status_detail 0');
    // The finance page, beside the database folder, named on the last line.
    const page = join(dir, 'report.html');
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`finance page (Chinese; \`yzh-recon report --format html --lang en\` for English): ${page}`);
    expect(readFileSync(page, 'utf8')).toMatch(/^<!DOCTYPE html>[\s\S]*云账户对账日报[\s\S]*2017112705/);
    rmSync(dir, { recursive: true, force: true });
    // Four runs in one process (the fixture day, the red packet's two days, the follow-up).
  }, 240_000);

  it('every command prints --help', async () => {
    for (const command of ['migrate', 'run', 'report', 'ack', 'sandbox', 'demo', 'follow-up']) {
      const r = await runCli([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stdout, command).toMatch(new RegExp(`^usage: yzh-recon ${command}`));
    }
  });

  it('the archive\'s commands print --help', async () => {
    for (const command of ['verify', 'prune']) {
      const r = await runCli([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stdout, command).toMatch(new RegExp(`^usage: yzh-recon ${command}`));
    }
  });

  it.each([
    [['run', '--date', '2024-13-01'], '--date must be a date YYYY-MM-DD, got "2024-13-01"'],
    [['run', '--date', '20240101'], '--date must be a date YYYY-MM-DD, got "20240101"'],
    [['run', '--from', '2024-01-02', '--to', '2024-01-01'], '--from 2024-01-02 is after --to 2024-01-01'],
    [['run', '--date', '2999-01-01'], /^yzh-recon: --date 2999-01-01 is in the future for the provider/],
    [['run', '--from', '2024-01-01'], '--from and --to go together'],
    [['run', '--bogus'], /Unknown option '--bogus'/],
    [['report', '--format', 'xml'], '--format must be table, csv, json, html or xlsx'],
    [['report', '--format', 'csv', '--lang', 'en'], '--lang applies to --format html and xlsx'],
    [['report', '--format', 'html', '--lang', 'fr'], '--lang must be zh or en'],
    [['report', '--from', '2024-01-02', '--to', '2024-01-01'], '--from 2024-01-02 is after --to 2024-01-01'],
    [['ack'], 'ack: --file is required'],
    [['frobnicate'], 'yzh-recon: unknown command "frobnicate"'],
  ])('usage error %j exits 2 and says why', async (args, message) => {
    const r = await runCli(args, PROVIDER_ENV);
    expect(r.code).toBe(2);
    if (typeof message === 'string') expect(r.stderr).toContain(message);
    else expect(r.stderr).toMatch(message);
  });

  it('missing and bad configuration is reported at once, in one line, without the values', async () => {
    const r = await runCli(['run', '--date', '2024-01-01'], { YZH_DES3_KEY: 'short-secret-value', YZH_TIMEOUT_MS: 'soon' });
    expect(r.code).toBe(1);
    const line = lastLine(r.stderr);
    expect(line).toBe('yzh-recon: configuration: YZH_DEALER_ID is required; YZH_APP_KEY is required; YZH_DES3_KEY must be exactly 24 bytes, it has 18; YZH_TIMEOUT_MS must be a whole number from 100 to 600000, got "soon"');
    expect(r.stderr).not.toContain('short-secret-value');
  });

  it('report --format csv starts with a UTF-8 BOM', async () => {
    const env = { PGLITE_DIR: join(folder('yzh-report-'), 'db') };
    const unmigrated = await runCli(['report'], env);
    expect([unmigrated.code, lastLine(unmigrated.stderr)]).toEqual([1, 'yzh-recon: the database has no recon tables yet: run `yzh-recon migrate` (or a first `yzh-recon run`)']);
    // Every file of sql/ in order (0001_schema.sql, 0002_…, … 0010_provider_file_totals.sql).
    expect((await runCli(['migrate'], env)).stdout).toBe(`migrations applied: ${readMigrations().map((m) => m.name).join(', ')}\n`);
    expect((await runCli(['migrate'], env)).stdout).toBe('migrations: up to date\n');
    const r = await runCli(['report', '--format', 'csv'], env);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('\uFEFFbusiness_date,severity,kind,order_id')).toBe(true);
  });
});

describe('yzh-recon follow-up', () => {
  it('asks about the newest day run, and says when there is none', async () => {
    const { startSandbox } = await import('../helpers/provider.js');
    const { childDatabase, providerEnv } = await import('../helpers/cli-env.js');
    const sandbox = await startSandbox();
    const db = await childDatabase('pglite', { fixtureDay: true });
    const env = { ...db.env, ...providerEnv(sandbox) };
    try {
      const none = await runCli(['follow-up'], env);
      expect([none.code, lastLine(none.stderr)]).toEqual([2, 'yzh-recon: no day has been run yet for dealer sixcn: run `yzh-recon run` first']);
      const bad = await runCli(['follow-up'], { ...env, YZH_FOLLOWUP_CONCURRENCY: '0', YZH_FOLLOWUP_MAX: 'many' });
      expect(lastLine(bad.stderr)).toBe('yzh-recon: configuration: YZH_FOLLOWUP_CONCURRENCY must be a whole number from 1 to 100, got "0"; YZH_FOLLOWUP_MAX must be a whole number from 1 to 100000, got "many"');
      expect((await runCli(['run', '--date', '2017-11-20'], env)).code).toBe(0);
      const calls = sandbox.calls.length;
      const r = await runCli(['follow-up'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^follow-up run \d+ · dealer sixcn · business date 2017-11-20/);
      expect(r.stdout).toMatch(/follow-up\s+asked the provider about 1 of 1 unsettled orders \(answers: not_found 1\)/);
      // No file is downloaded, no balance asked: only the order query.
      expect(sandbox.calls.slice(calls).map((c) => c.endpoint)).toEqual(['/api/payment/v1/query-realtime-order']);
    } finally {
      await sandbox.stop();
      await db.drop();
    }
  }, 300_000);
});

describe('yzh-recon check', () => {
  it('passes every item against the sandbox, and names what fails', async () => {
    const { startSandbox } = await import('../helpers/provider.js');
    const { providerEnv } = await import('../helpers/cli-env.js');
    const sandbox = await startSandbox();
    const env = { ...providerEnv(sandbox), PGLITE_DIR: join(folder('yzh-check-'), 'db') };
    expect((await runCli(['migrate'], env)).code).toBe(0);
    const ok = await runCli(['check'], env);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout.split('\n').filter(Boolean).map((l) => l.slice(0, 19).trim())).toEqual([
      'ok    configuration', 'ok    database', 'ok    migrations', 'ok    provider', 'ok    clock',
    ]);
    const bad = await runCli(['check'], { ...env, YZH_APP_KEY: 'z'.repeat(32) });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL {2}provider\s+provider code 1003 \(签名错误\)/m);
    expect(bad.stdout).not.toContain('z'.repeat(32));
    await sandbox.stop();
  });

  it('sandbox on a port in use prints one clear line and exits 1, no stack trace', async () => {
    const taken = new Sandbox({ ...KEYS, dir: FIXTURE_DIR, retentionDays: null });
    const url = await taken.start();
    try {
      const port = new URL(url).port;
      const r = await runCli(['sandbox', '--port', port]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`yzh-recon: sandbox: 127.0.0.1:${port} is already in use (another sandbox?); choose another with --port N, or --port 0 for any free port\n`);
    } finally {
      await taken.stop();
    }
  });
});
