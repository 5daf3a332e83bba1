import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrator.js';
import type { Sandbox } from '../../src/provider/sandbox.js';
import { runCli } from '../helpers/cli.js';
import { childDatabase, providerEnv, type ChildDatabase } from '../helpers/cli-env.js';
import { FIXTURE_DATE, silentLog, startSandbox } from '../helpers/provider.js';

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
    db = await childDatabase('pglite');
    await db.use((h) => h.withSession((s) => migrate(s, silentLog)));
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
    expect(body).toMatch(/yzh_recon_open_findings\{dealer_id="sixcn",kind="missing_in_ledger",severity="critical"\} \d+/);
    expect(body).toMatch(/yzh_recon_run_new_findings\{dealer_id="sixcn",severity="critical"\} \d+/);
    expect(body).toMatch(/yzh_recon_last_success_business_date_seconds\{dealer_id="sixcn"\} 1511107200/);
    expect(body).toMatch(/yzh_recon_last_success_timestamp_seconds\{dealer_id="sixcn",business_date="2017-11-20"\} \d+/);
    // The balances of fixtures/sandbox/accounts.json, per broker and channel.
    expect(body).toMatch(/yzh_recon_balance_yuan\{dealer_id="sixcn",broker_id="yiyun\*\*",channel="bankcard"\} 50000\n/);
    expect(body).toMatch(/yzh_recon_balance_yuan\{dealer_id="sixcn",broker_id="yiyun\*\*",channel="wxpay"\} 997.84\n/);
    expect(body).toMatch(/yzh_recon_followup_orders\{dealer_id="sixcn",outcome="asked"\} \d+/);

    sandbox.faults.providerCode = '1003';
    sandbox.faults.providerCodeCalls = 1;
    expect((await runCli(['run', '--date', FIXTURE_DATE], env)).code).toBe(1);
    expect(pushes).toHaveLength(2);
    expect(pushes[1]!.body).toMatch(/yzh_recon_run_success\{dealer_id="sixcn",business_date="2017-11-20"\} 0/);
    expect(pushes[1]!.body).not.toContain('yzh_recon_last_success_timestamp_seconds{');
  });
});
