import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../src/provider/sandbox-server.js';
import { runCli } from '../helpers/cli.js';
import { childDatabase, providerEnv, type ChildDatabase } from '../helpers/cli-env.js';
import { ENGINES } from '../helpers/db.js';
import { FIXTURE_DATE, FIXTURE_DIR, KEYS } from '../helpers/provider.js';

// Personal data the provider would normally mask, planted unmasked to prove it never leaks.
const PERSONAL = { name: '张三丰', card: '6228880199872220', idCard: '120101198812142146', phone: '18601318616' };

describe.each(ENGINES)('nothing leaked on %s', (engine) => {
  let db: ChildDatabase;
  let sandbox: Sandbox;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yzh-secrets-'));
    cpSync(FIXTURE_DIR, dir, { recursive: true });
    const orders = join(dir, FIXTURE_DATE, 'orders.csv');
    const text = readFileSync(orders, 'utf8')
      .replace('2017112701,1053817962754221,,张**,yiyun**,成功,6228*****52416', `2017112701,1053817962754221,${PERSONAL.idCard},${PERSONAL.name},yiyun**,成功,${PERSONAL.card}`)
      .replace('2017112702,1053817962754222,,陈**,yiyun**,失败,oQWg******iusdfzvMZN1HEsdf', `2017112702,1053817962754222,,陈**,yiyun**,失败,${PERSONAL.phone}`);
    writeFileSync(orders, text);
    sandbox = new Sandbox({ ...KEYS, dir, retentionDays: null });
    await sandbox.start();
    db = await childDatabase(engine, { fixtureDay: true });
  });
  afterAll(async () => {
    await sandbox.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('no key, signature, ciphertext, name, ID, card or phone number in anything printed or in recon.runs.error', async () => {
    const env = { ...db.env, ...providerEnv(sandbox), LOG_LEVEL: 'debug' };
    const outputs = [
      await runCli(['run', '--date', FIXTURE_DATE], env),
      await runCli(['report', '--format', 'json'], env),
      await runCli(['report', '--format', 'csv'], env),
      await runCli(['check'], env),
      // failures print their causes: wrong keys, a broken file
      await runCli(['run', '--date', FIXTURE_DATE], { ...env, YZH_APP_KEY: 'a'.repeat(32) }),
      await runCli(['run', '--date', FIXTURE_DATE], { ...env, YZH_DES3_KEY: 'b'.repeat(24) }),
    ];
    expect(outputs[0]!.code, outputs[0]!.stderr).toBe(0);
    expect(outputs[4]!.code).toBe(1);
    const errors = await db.use((h) => h.withSession(async (s) =>
      (await s.query<{ error: string | null }>('select error from recon.runs')).rows.map((r) => r.error ?? '')));
    const everything = [...outputs.flatMap((o) => [o.stdout, o.stderr]), ...errors].join('\n');
    expect(everything.length).toBeGreaterThan(1000); // debug logs were written

    for (const secret of [KEYS.appKey, KEYS.des3Key, 'a'.repeat(32), 'b'.repeat(24), ...Object.values(PERSONAL)]) {
      expect(everything).not.toContain(secret);
    }
    // No signature and no ciphertext: the only long hex strings are the files' sha256, and
    // the run's audit hash (logged as auditHash, printed in the summary), and there is no base64
    // run of the length a 3DES payload has but the archive keys (<dealer>/<day>/<kind>/<sha256>).
    const shas = new Set([...everything.matchAll(/"sha256":"([0-9a-f]{64})"/g)].map((m) => m[1]));
    const audits = new Set([...everything.matchAll(/"auditHash":"([0-9a-f]{64})"/g)].map((m) => m[1]));
    const hex = new Set([...everything.matchAll(/\b[0-9a-f]{64}\b/g)].map((m) => m[0]));
    expect([...hex].filter((h) => !shas.has(h) && !audits.has(h))).toEqual([]);
    expect(shas.size).toBe(2);
    const base64 = [...everything.matchAll(/[A-Za-z0-9+/]{40,}={0,2}/g)].map((m) => m[0])
      .filter((s) => !/^[0-9a-f]+$/.test(s) && !/^([\w-]*\/)*(order|bill)\/[0-9a-f]{64}$/.test(s));
    expect(base64).toEqual([]);
    expect(everything).not.toMatch(/\bsign=|\bdata=|"sign":|"mess":/);
  });
});

describe('every log line of a run carries its context', () => {
  it('run_id, dealer_id and business_date on each line between "run started" and the end', async () => {
    const { startSandbox } = await import('../helpers/provider.js');
    const sandbox = await startSandbox();
    sandbox.faults.apiHttpErrors = 1; // a retry warning comes from the client
    const db = await childDatabase('pglite');
    const result = await runCli(['run', '--date', FIXTURE_DATE], { ...db.env, ...providerEnv(sandbox), LOG_LEVEL: 'debug' });
    await sandbox.stop();
    await db.drop();
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stderr.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const fromStart = lines.slice(lines.findIndex((l) => l.msg === 'run started'));
    expect(fromStart.some((l) => String(l.msg).includes('retrying'))).toBe(true);
    expect(fromStart.some((l) => l.msg === 'provider call')).toBe(true);
    for (const line of fromStart) expect(line, JSON.stringify(line)).toMatchObject({ run_id: 1, dealer_id: 'sixcn', business_date: FIXTURE_DATE });
  });
});
