import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lastLine, runCli } from '../helpers/cli.js';

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
  });

  it('every command prints --help', async () => {
    for (const command of ['migrate', 'run', 'report', 'sandbox', 'demo']) {
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
    [['report', '--format', 'xml'], '--format must be table, csv or json'],
    [['frobnicate'], 'yzh-recon: unknown command "frobnicate"'],
  ])('usage error %j exits 2 and says why', async (args, message) => {
    const r = await runCli(args as string[], PROVIDER_ENV);
    expect(r.code).toBe(2);
    if (typeof message === 'string') expect(r.stderr).toContain(message);
    else expect(r.stderr).toMatch(message);
  });

  it('missing and bad configuration is reported at once, in one line, without the values', async () => {
    const r = await runCli(['run', '--date', '2024-01-01'], { YZH_DES3_KEY: 'short-secret-value', YZH_TIMEOUT_MS: 'soon' });
    expect(r.code).toBe(1);
    const line = lastLine(r.stderr);
    expect(line).toBe('yzh-recon: configuration: YZH_DEALER_ID is required; YZH_APP_KEY is required; YZH_DES3_KEY must be exactly 24 bytes, it has 18; YZH_TIMEOUT_MS must be a positive whole number, got "soon"');
    expect(r.stderr).not.toContain('short-secret-value');
  });

  it('report --format csv starts with a UTF-8 BOM', async () => {
    const env = { PGLITE_DIR: join(folder('yzh-report-'), 'db') };
    const unmigrated = await runCli(['report'], env);
    expect([unmigrated.code, lastLine(unmigrated.stderr)]).toEqual([1, 'yzh-recon: the database has no recon tables yet: run `yzh-recon migrate` (or a first `yzh-recon run`)']);
    expect((await runCli(['migrate'], env)).stdout).toBe('migrations applied: 0001_schema.sql, 0002_provider_rows_indexes.sql\n');
    expect((await runCli(['migrate'], env)).stdout).toBe('migrations: up to date\n');
    const r = await runCli(['report', '--format', 'csv'], env);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('\uFEFFbusiness_date,severity,kind,order_id')).toBe(true);
  });
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
    expect(bad.stdout).toMatch(/^FAIL  provider\s+provider code 1003 \(签名错误\)/m);
    expect(bad.stdout).not.toContain('z'.repeat(32));
    await sandbox.stop();
  });
});
