import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { loadConfig } from '../../src/config.js';
import type { DatabaseHandle } from '../../src/db/connection.js';
import type { Logger } from '../../src/logger.js';
import { ProviderClient } from '../../src/provider/client.js';
import { Sandbox } from '../../src/provider/sandbox-server.js';
import { runDay } from '../../src/recon/runs/run-day.js';

/**
 * A month of a small merchant's days, run through the real job (sandbox provider, runDay),
 * for the finance page's tests and its screenshot: each day has clean orders and a few planted
 * findings of several kinds, finance corrects the ledger for some of them a few days later (so
 * later runs resolve them), one day's files never arrive (a failed run), and a few findings
 * are acknowledged.
 */

const KEYS = { appKey: '78f9b4fad3481fbce1df0b30eee58577', des3Key: '123456788765432112345678' };
const ORDER_HEADER = '商户订单号,订单流水号,商户批次号,姓名,经纪公司ID,订单状态,收款账号,支付渠道,金额,服务费,渠道流水号,短周期授信账单号,服务费账单号,余额账单号,创建时间,完成时间';
const BILL_HEADER = '商户订单号,订单流水号,流水号,流水类型,流水状态,支付渠道,姓名,经纪公司ID,金额,渠道流水号,创建时间,完成时间';
const BROKER = 'yiyun01';

export interface HistoryOptions {
  dealerId: string;
  /** The last business day; the history ends there. */
  end: string;
  days: number;
  /** Which day (0 = first) has no files, so that its run fails; -1 for none. */
  missingDay?: number;
  log: Logger;
}

export interface History {
  dealerId: string;
  days: string[];
  failedDays: string[];
}

/** A small deterministic generator, so that every history with the same options is the same. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Order { id: string; ref: string; amountFen: number; status: string; bill: boolean; returned?: boolean }
interface LedgerRow { id: string; amountFen: number; status: string; created: string }

const yuan = (fen: number) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;

export async function buildHistory(db: DatabaseHandle, options: HistoryOptions): Promise<History> {
  const dir = mkdtempSync(join(tmpdir(), 'yzh-history-'));
  const sandbox = new Sandbox({ ...KEYS, dealerId: options.dealerId, dir, retentionDays: null });
  const baseUrl = await sandbox.start();
  const config = loadConfig({
    YZH_BASE_URL: baseUrl, YZH_DEALER_ID: options.dealerId, YZH_APP_KEY: KEYS.appKey, YZH_DES3_KEY: KEYS.des3Key,
    YZH_RETRIES: '1', YZH_TIMEOUT_MS: '5000',
  }, { requireProvider: true });
  const client = new ProviderClient(config.provider, options.log, { retryBaseDelayMs: 5 });
  const end = DateTime.fromISO(options.end, { zone: 'utc' });
  const days = Array.from({ length: options.days }, (_, i) => end.minus({ days: options.days - 1 - i }).toISODate()!);
  const missing = options.missingDay ?? Math.max(0, options.days - 9);
  const rnd = random(20171120);
  const failedDays: string[] = [];
  /** Ledger corrections finance makes a few days after a finding appears. */
  const corrections = new Map<number, LedgerRow[]>();
  try {
    for (const [i, day] of days.entries()) {
      const tag = day.replaceAll('-', '');
      const orders: Order[] = [];
      const ledger: LedgerRow[] = [];
      const time = (n: number) => `${day} ${String(9 + (n % 9)).padStart(2, '0')}:${String((n * 7) % 60).padStart(2, '0')}:00`;
      const clean = 30 + Math.floor(rnd() * 30);
      for (let n = 0; n < clean; n++) {
        const id = `P${tag}${String(n).padStart(4, '0')}`;
        const amountFen = 5_000 + Math.floor(rnd() * 800_000);
        orders.push({ id, ref: `${tag}${String(n).padStart(6, '0')}1`, amountFen, status: '成功', bill: true });
        ledger.push({ id, amountFen, status: 'paid', created: time(n) });
      }
      let n = clean;
      const plant = (count: number, make: (id: string, ref: string, amountFen: number, k: number) => void) => {
        for (let k = 0; k < count; k++, n++) {
          make(`P${tag}${String(n).padStart(4, '0')}`, `${tag}${String(n).padStart(6, '0')}1`, 10_000 + Math.floor(rnd() * 2_000_000), k);
        }
      };
      const later = (row: LedgerRow, after: number) => {
        const at = i + after;
        corrections.set(at, [...(corrections.get(at) ?? []), row]);
      };
      // Amount mismatches: the provider paid more; finance corrects the ledger three days later.
      plant(i % 3 === 0 ? 2 : 1, (id, ref, fen, k) => {
        orders.push({ id, ref, amountFen: fen + 10_000, status: '成功', bill: true });
        const row = { id, amountFen: fen, status: 'paid', created: time(n) };
        ledger.push(row);
        if (k === 0) later({ ...row, amountFen: fen + 10_000 }, 3);
      });
      // Missing in the ledger every few days: money out with no record.
      if (i % 4 === 1) plant(1, (id, ref, fen) => orders.push({ id, ref, amountFen: fen, status: '成功', bill: true }));
      // Missing at the provider: the ledger says paid, no file has it.
      if (i % 5 === 2) plant(1, (id, _ref, fen) => { ledger.push({ id, amountFen: fen, status: 'paid', created: time(n) }); });
      // The ledger still says submitted: a warning, which finance settles the next day.
      plant(1 + (i % 2), (id, ref, fen) => {
        orders.push({ id, ref, amountFen: fen, status: '成功', bill: true });
        const row = { id, amountFen: fen, status: 'submitted', created: time(n) };
        ledger.push(row);
        later({ ...row, status: 'paid' }, 1);
      });
      // Returned by the broker, not recorded.
      if (i % 6 === 4) plant(1, (id, ref, fen) => {
        orders.push({ id, ref, amountFen: fen, status: '退汇', bill: true, returned: true });
        ledger.push({ id, amountFen: fen, status: 'paid', created: time(n) });
      });
      // A paid order whose bill row is missing.
      if (i % 7 === 3) plant(1, (id, ref, fen) => {
        orders.push({ id, ref, amountFen: fen, status: '成功', bill: false });
        ledger.push({ id, amountFen: fen, status: 'paid', created: time(n) });
      });

      if (i !== missing) writeDay(dir, day, orders);
      await db.withSession(async (s) => {
        for (const r of [...ledger, ...(corrections.get(i) ?? [])]) {
          await s.query(
            `insert into recon.ledger_payouts (order_id, dealer_id, broker_id, channel, amount, status, created_at)
             values ($1, $2, $3, 'bankcard', $4, $5, $6)
             on conflict (order_id) do update set amount = excluded.amount, status = excluded.status`,
            [r.id, options.dealerId, BROKER, yuan(r.amountFen), r.status, `${r.created}+08`],
          );
        }
      });
      try {
        await runDay({ db, client, config: { lockTimeoutMs: 10_000, tmpDir: tmpdir(), archiveDir: join(dir, 'archive') }, log: options.log },
          { dealerId: options.dealerId, date: day, trigger: 'schedule' });
      } catch {
        failedDays.push(day);
      }
    }
    // Finance has looked at a few of the oldest open findings.
    await db.withSession((s) => s.query(
      `update recon.discrepancies set ack_by = 'li.na', ack_note = '已联系云账户，等待回单', ack_at = now()
        where id in (select id from recon.discrepancies where dealer_id = $1 and status = 'open' and severity = 'critical'
                      order by business_date, id limit 3)`,
      [options.dealerId]));
    return { dealerId: options.dealerId, days, failedDays };
  } finally {
    await client.close();
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeDay(dir: string, day: string, orders: Order[]): void {
  mkdirSync(join(dir, day), { recursive: true });
  const at = `${day} 10:00:00`;
  const done = `${day} 10:00:05`;
  writeFileSync(join(dir, day, 'orders.csv'), `${[ORDER_HEADER, ...orders.map((o) => [
    o.id, o.ref, '', '张**', BROKER, o.status === '退汇' ? '成功' : o.status, '6222*****1234', '银行卡', yuan(o.amountFen), '', '', '', '-/-', '-/-', at, done,
  ].join(','))].join('\n')}\n`);
  const bills: string[] = [];
  for (const o of orders) {
    if (!o.bill) continue;
    bills.push([o.id, o.ref, `${o.ref}1`, '经纪公司打款', '成功', '银行卡', '张**', BROKER, yuan(o.amountFen), '', at, done].join(','));
    if (o.returned) bills.push([o.id, o.ref, `${o.ref}3`, '经纪公司退汇', '成功', '银行卡', '张**', BROKER, yuan(o.amountFen), '', at, done].join(','));
  }
  writeFileSync(join(dir, day, 'bills.csv'), `${[BILL_HEADER, ...bills].join('\n')}\n`);
}
