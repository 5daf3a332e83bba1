import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/provider/sandbox-server.js';
import { runCli } from '../helpers/cli.js';
import { childDatabase, providerEnv, type ChildDatabase } from '../helpers/cli-env.js';
import { FIXTURE_DATE, startSandbox } from '../helpers/provider.js';

/** The fixture day's findings as fixtures/README.md plants them: kind and severity. */
const PLANTED: [string, string][] = [
  ['refund_unrecorded', 'critical'],
  ['amount_mismatch', 'critical'],
  ['status_mismatch', 'warning'],
  ['duplicate_provider_order', 'critical'],
  ['missing_at_provider', 'critical'],
  ['missing_at_provider', 'info'],
];

/** A metric's samples for dealer sixcn: the labels after dealer_id, and the value. */
function samples(body: string, metric: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const m of body.matchAll(new RegExp(`^${metric}\\{dealer_id="sixcn",?(.*)\\} (\\S+)$`, 'gm'))) found[m[1]!] = Number(m[2]);
  return found;
}

describe('Pushgateway metrics', () => {
  let sandbox: Sandbox;
  let db: ChildDatabase;
  const pushes: { method: string; url: string; body: string; type: string }[] = [];
  const gateway = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      pushes.push({ method: req.method!, url: req.url!, body, type: String(req.headers['content-type']) });
      res.writeHead(200).end();
    });
  });
  beforeAll(async () => {
    sandbox = await startSandbox();
    // Migrated, with the fixture day's ledger and fee rates: the run finds what the fixture plants.
    db = await childDatabase('pglite', { fixtureDay: true });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    await sandbox.stop();
    await db.drop();
    gateway.close();
  });

  it('pushes the run\'s metrics in the Prometheus text format, on success and on failure', async () => {
    const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    const env = { ...db.env, ...providerEnv(sandbox), PUSHGATEWAY_URL: url };
    const started = Date.now();
    expect((await runCli(['run', '--date', FIXTURE_DATE], env)).code).toBe(0);
    expect(pushes).toHaveLength(1);
    const [ok] = pushes;
    expect(ok!.method).toBe('POST');
    expect(ok!.url).toBe('/metrics/job/yzh-recon/dealer_id/sixcn');
    expect(ok!.type).toMatch(/^text\/plain/);
    const body = ok!.body;
    expect(body).toContain('# TYPE yzh_recon_run_duration_seconds gauge');
    expect(body).toMatch(/yzh_recon_run_success\{dealer_id="sixcn",business_date="2017-11-20"\} 1/);
    expect(body).toMatch(/yzh_recon_file_rows\{dealer_id="sixcn",kind="order"\} 40/);
    expect(body).toMatch(/yzh_recon_file_rows\{dealer_id="sixcn",kind="bill"\} 80/);
    // The fixture day's planted findings (fixtures/README.md), counted by kind and severity:
    // all of them open, and all of them new in this first run.
    const count = <T extends string>(keys: T[]) => keys.reduce<Record<string, number>>((n, k) => ({ ...n, [k]: (n[k] ?? 0) + 1 }), {});
    expect(samples(body, 'yzh_recon_open_findings')).toEqual(count(PLANTED.map(([kind, severity]) => `kind="${kind}",severity="${severity}"`)));
    expect(samples(body, 'yzh_recon_run_new_findings')).toEqual({
      'severity="critical"': PLANTED.filter(([, severity]) => severity === 'critical').length,
      'severity="warning"': PLANTED.filter(([, severity]) => severity === 'warning').length,
      'severity="info"': PLANTED.filter(([, severity]) => severity === 'info').length,
    });
    // And the same as the table finance reads.
    const open = await db.use((h) => h.withSession((x) => x.query<{ kind: string; severity: string }>(
      "select kind, severity from recon.discrepancies where dealer_id = 'sixcn' and status = 'open'")));
    expect(samples(body, 'yzh_recon_open_findings')).toEqual(count(open.rows.map((r) => `kind="${r.kind}",severity="${r.severity}"`)));
    expect(body).toMatch(/yzh_recon_last_success_business_date_seconds\{dealer_id="sixcn"\} 1511107200\n/);
    const lastSuccess = /yzh_recon_last_success_timestamp_seconds\{dealer_id="sixcn",business_date="2017-11-20"\} (\d+(?:\.\d+)?)\n/.exec(body);
    expect(Number(lastSuccess?.[1])).toBeGreaterThanOrEqual(Math.floor(started / 1000));
    expect(Number(lastSuccess?.[1])).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    // The balances of fixtures/sandbox/accounts.json, per broker and channel.
    expect(body).toMatch(/yzh_recon_balance_yuan\{dealer_id="sixcn",broker_id="yiyun\*\*",channel="bankcard"\} 50000\n/);
    expect(body).toMatch(/yzh_recon_balance_yuan\{dealer_id="sixcn",broker_id="yiyun\*\*",channel="wxpay"\} 997.84\n/);
    expect(body).toMatch(/yzh_recon_followup_orders\{dealer_id="sixcn",outcome="asked"\} \d+/);
    expect(body).toMatch(/yzh_recon_last_final_business_date_seconds\{dealer_id="sixcn"\} 1511107200\n/);

    sandbox.faults.providerCode = '1003';
    sandbox.faults.providerCodeCalls = 1;
    expect((await runCli(['run', '--date', FIXTURE_DATE], env)).code).toBe(1);
    expect(pushes).toHaveLength(2);
    expect(pushes[1]!.body).toMatch(/yzh_recon_run_success\{dealer_id="sixcn",business_date="2017-11-20"\} 0/);
    expect(pushes[1]!.body).not.toContain('yzh_recon_last_success_timestamp_seconds{');
  });
});
