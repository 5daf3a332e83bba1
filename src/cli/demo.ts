import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { openPglite } from '../db/connection.js';
import { migrate } from '../db/migrator.js';
import { seedFixtureLedger } from '../db/seed.js';
import { loadConfig } from '../config.js';
import { ProviderClient } from '../provider/client.js';
import { Sandbox } from '../provider/sandbox-server.js';
import type { Session } from '../db/connection.js';
import { buildReportPage, writeReportPage } from '../recon/report/page.js';
import { selectDiscrepancies } from '../recon/report/findings.js';
import { followUpDay, runDay } from '../recon/runs/run-day.js';
import { messageMarkdown } from '../recon/notify/message.js';
import { runFacts } from '../recon/notify/after-run.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';
import { formatTable } from './report.js';
import { FIXTURE_SANDBOX_DIR, SANDBOX_KEYS } from './sandbox.js';
import { formatRunSummary } from './summary.js';

export const DEMO_DATE = '2017-11-20';

/** The red packet of the demo's follow-up: sent on DEMO_PACKET_DATE, claimed late. */
export const DEMO_PACKET = '2017112140';
const DEMO_PACKET_DATE = '2017-11-21';
const DEMO_LATER_DATE = '2017-11-22';

export const DEMO_USAGE = `usage: yzh-recon demo [--dir DIR]

The whole job on embedded defaults, with nothing to configure: starts the sandbox provider on
the fixture day (${DEMO_DATE}, built from the provider document's sample files), creates a fresh
embedded database in DIR (default .yzh-recon/demo), loads the fixture ledger, runs the day and
prints the report, and writes the finance page (report --format html) beside DIR as
report.html. Then the live follow-up at work: a WeChat red packet sent on ${DEMO_PACKET_DATE}
is still 成功(待领取) in the files two days later (stale_pending_claim, the provider's
real-time order query agreeing), until it is claimed and \`follow-up\` resolves the finding.`;

const ORDER_HEADER = '商户订单号,订单流水号,商户批次号,姓名,经纪公司ID,订单状态,收款账号,支付渠道,金额,服务费,渠道流水号,短周期授信账单号,服务费账单号,余额账单号,创建时间,完成时间';
const BILL_HEADER = '商户订单号,订单流水号,流水号,流水类型,流水状态,支付渠道,姓名,经纪公司ID,金额,渠道流水号,创建时间,完成时间';

/**
 * The demo's own copy of the fixture folder, with two more days: the red packet's day and
 * the day after (no orders), and live.json saying the packet is still unclaimed.
 */
function demoSandboxDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'yzh-demo-sandbox-'));
  cpSync(FIXTURE_SANDBOX_DIR, dir, { recursive: true });
  const day = join(dir, DEMO_PACKET_DATE);
  mkdirSync(day);
  const at = `${DEMO_PACKET_DATE} 10:00:00`;
  const done = `${DEMO_PACKET_DATE} 10:00:05`;
  writeFileSync(join(day, 'orders.csv'), `${ORDER_HEADER}\n${DEMO_PACKET},1053817962754440,,赵**,yiyun**,成功(待领取),oQWg******Zz98Yx76,微信,88,6.16,10000417012017112130000016240,104475780210006015,-/-,-/-,${at},${done}\n`);
  writeFileSync(join(day, 'bills.csv'), `${BILL_HEADER}\n`
    + `${DEMO_PACKET},1053817962754440,10538179700000440,经纪公司打款,成功(待领取),微信,赵**,yiyun**,88,10000417012017112130000016240,${at},${done}\n`
    + `${DEMO_PACKET},1053817962754440,10538179701000440,经纪公司打款服务费,成功,-/-,赵**,yiyun**,6.16,,${at},${done}\n`);
  mkdirSync(join(dir, DEMO_LATER_DATE));
  writeFileSync(join(dir, DEMO_LATER_DATE, 'orders.csv'), `${ORDER_HEADER}\n`);
  writeFileSync(join(dir, DEMO_LATER_DATE, 'bills.csv'), `${BILL_HEADER}\n`);
  writeFileSync(join(dir, 'live.json'), JSON.stringify({ [DEMO_PACKET]: 'pending' }));
  return dir;
}

async function packetFinding(s: Session): Promise<string> {
  const d = await s.db.selectFrom('recon.discrepancies').select(['kind', 'status'])
    .where('order_id', '=', DEMO_PACKET).orderBy('id', 'desc').limit(1).executeTakeFirst();
  const c = await s.db.selectFrom('recon.provider_order_checks').select(['status', 'status_detail'])
    .where('order_id', '=', DEMO_PACKET).orderBy('id', 'desc').limit(1).executeTakeFirst();
  return `${DEMO_PACKET}: ${d === undefined ? 'no finding' : `${d.kind} ${d.status}`}; the provider's latest answer: status ${c?.status ?? '-'}, status_detail ${c?.status_detail ?? '-'}`;
}

export async function demoCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ name: 'demo', usage: DEMO_USAGE, options: { dir: { type: 'string' } } }, argv);
  if (values.help) {
    ctx.stdout.write(`${DEMO_USAGE}\n`);
    return 0;
  }
  // The demo reads as a story on stdout; JSON logs only for warnings unless asked for.
  ctx.env.LOG_LEVEL ??= 'warn';
  const dir = values.dir ?? '.yzh-recon/demo';
  rmSync(dir, { recursive: true, force: true });
  // The demo's raw-file archive sits beside its database, and starts afresh with it.
  const archiveDir = `${dir}-archive`;
  rmSync(archiveDir, { recursive: true, force: true });
  const sandboxDir = demoSandboxDir();
  const sandbox = new Sandbox({ ...SANDBOX_KEYS, dir: sandboxDir, retentionDays: null });
  const baseUrl = await sandbox.start();
  const config = loadConfig({
    YZH_BASE_URL: baseUrl, YZH_DEALER_ID: SANDBOX_KEYS.dealerId, YZH_APP_KEY: SANDBOX_KEYS.appKey,
    YZH_DES3_KEY: SANDBOX_KEYS.des3Key, LOG_LEVEL: ctx.env.LOG_LEVEL ?? 'warn', PGLITE_DIR: dir,
    YZH_ARCHIVE_DIR: archiveDir,
  }, { requireProvider: true });
  const db = await openPglite(dir);
  const client = new ProviderClient(config.provider, ctx.log);
  try {
    await db.withSession(async (s) => {
      await migrate(s, ctx.log);
      const ledger = await seedFixtureLedger(s);
      ctx.stdout.write(`demo: sandbox provider at ${baseUrl}, embedded database in ${dir}, archive in ${archiveDir}, ${ledger} ledger rows loaded\n\n`);
    });
    const result = await runDay({ db, client, config, log: ctx.log }, {
      dealerId: SANDBOX_KEYS.dealerId, date: DEMO_DATE, trigger: 'manual', signal: ctx.signal,
    });
    ctx.stdout.write(`${formatRunSummary(result)}\n`);
    const rows = await db.withSession((s) => selectDiscrepancies(s, { dealerId: SANDBOX_KEYS.dealerId, from: DEMO_DATE, to: DEMO_DATE, openOnly: true }));
    ctx.stdout.write(formatTable(rows));
    // The chat message this run would send to YZH_NOTIFY_URLS (企业微信 / 钉钉 / 飞书 markdown).
    const facts = await runFacts(db, config.notify, { dealerId: SANDBOX_KEYS.dealerId, date: DEMO_DATE, result, error: undefined, durationSeconds: result.times.totalMs / 1000 }, ctx.log);
    ctx.stdout.write(`\nchat message after the run (sent to each webhook in YZH_NOTIFY_URLS):\n\n${messageMarkdown(facts).replace(/^/gm, '  ')}\n`);

    // The live follow-up: a red packet the files cannot settle.
    const deps = { db, client, config, log: ctx.log };
    const run = (date: string, mode: 'run' | 'follow-up' = 'run') =>
      (mode === 'run' ? runDay : followUpDay)(deps, { dealerId: SANDBOX_KEYS.dealerId, date, trigger: 'manual', signal: ctx.signal });
    await db.withSession((s) => s.db.insertInto('recon.ledger_payouts').values({
      order_id: DEMO_PACKET, dealer_id: SANDBOX_KEYS.dealerId, broker_id: 'yiyun**', channel: 'wxpay', amount: '88.00', status: 'paid',
      created_at: `${DEMO_PACKET_DATE} 09:59:58+08`,
    }).execute());
    ctx.stdout.write(`\nlive follow-up: ${DEMO_PACKET}, a WeChat red packet of 88.00 sent on ${DEMO_PACKET_DATE}, is still 成功(待领取) in that day's final file\n\n`);
    await run(DEMO_PACKET_DATE);
    const later = await run(DEMO_LATER_DATE);
    ctx.stdout.write(`${formatRunSummary(later)}  ${await db.withSession(packetFinding)}\n`);
    ctx.stdout.write(`\nthe person claims it; \`yzh-recon follow-up --date ${DEMO_LATER_DATE}\` asks the provider now:\n\n`);
    writeFileSync(join(sandboxDir, 'live.json'), JSON.stringify({ [DEMO_PACKET]: 'claimed' }));
    const followUp = await run(DEMO_LATER_DATE, 'follow-up');
    ctx.stdout.write(`${formatRunSummary(followUp)}  ${await db.withSession(packetFinding)}\n`);

    // Beside the database folder, not in it: the folder is the embedded Postgres' own.
    const page = join(dirname(resolve(dir)), 'report.html');
    const html = await db.withSession((s) => buildReportPage(s, { dealerId: SANDBOX_KEYS.dealerId, from: DEMO_DATE, to: DEMO_DATE, lang: 'zh' }));
    writeReportPage(page, html);
    ctx.stdout.write(`\nfinance page (Chinese; \`yzh-recon report --format html --lang en\` for English): ${page}\n`);
    return 0;
  } finally {
    await client.close();
    await db.close();
    await sandbox.stop();
    rmSync(sandboxDir, { recursive: true, force: true });
  }
}
