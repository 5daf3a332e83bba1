import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { BILL_HEADER, GzipCsv, ORDER_HEADER, type Planted } from './generate.js';

/**
 * The brokers of a realistic day and their contract rates, each valid from a day on (per mille:
 * 65 is 0.065). Two of them change rate inside the month before the bench's day, so that a
 * history of days crosses a change.
 */
export const REAL_RATES: readonly { broker: string; perMille: number; from: string }[] = [
  { broker: 'yiyun01', perMille: 70, from: '2000-01-01' },
  { broker: 'yiyun01', perMille: 65, from: '2024-06-16' },
  { broker: 'yiyun02', perMille: 60, from: '2000-01-01' },
  { broker: 'cf73', perMille: 68, from: '2024-01-01' },
  { broker: 'cf73', perMille: 72, from: '2024-06-28' },
];

const BROKERS = ['yiyun01', 'yiyun01', 'yiyun02', 'cf73'] as const;
/** Channels by share: bank card most, then Alipay, then WeChat. */
const CHANNELS = [
  ['银行卡', 'bankcard'], ['银行卡', 'bankcard'], ['银行卡', 'bankcard'], ['银行卡', 'bankcard'],
  ['支付宝', 'alipay'], ['支付宝', 'alipay'], ['微信', 'wxpay'],
] as const;

function perMille(broker: string, date: string): number {
  let k = 0;
  for (const r of REAL_RATES) if (r.broker === broker && r.from <= date) k = r.perMille;
  return k;
}

/** A small deterministic PRNG (mulberry32): the same day every time. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle(a: Int32Array, random: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

/** A bijection of [0, 1e9+7): ids whose order has nothing to do with the order's index. */
const P = 1_000_000_007;
const scatter = (i: number, salt: number) => ((i + salt) * 48271) % P;

const yuan = (fen: number) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
const two = (n: number) => String(n).padStart(2, '0');
const clock = (date: string, secs: number) => `${date} ${two(Math.floor(secs / 3600))}:${two(Math.floor(secs / 60) % 60)}:${two(secs % 60)}`;

function shiftDay(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/**
 * Writes a day of `n` orders the way real files may come: rows in no particular order (neither
 * by 商户订单号 nor by time), 商户订单号 from three merchant sequences unrelated to a row's
 * position, an order's 经纪公司打款 and 服务费 rows far apart in the bill file, three brokers
 * whose rates change inside the month, three channels, and a ledger (shuffled too) in which
 * 2% of the day's orders were booked in the last minutes of the day before and, with
 * `nextDay`, a tenth as many rows again are the next day's orders. The planted discrepancies
 * are those of generate.ts at the same strides, plus fee_mismatch; their counts are exact.
 *
 * The next day's rows are not this day's to judge. A day of history is generated without them
 * (the day after it is run too, and its files would not hold them); its early orders' rows, in
 * its ledger, fall on the day before it (the cut-off's `info`, until its own run matches them).
 */
export async function generateRealDay(dir: string, date: string, n: number, options: { ledgerFile?: string; nextDay?: boolean } = {}): Promise<Planted> {
  const day = join(dir, date);
  await mkdir(day, { recursive: true });
  const compact = date.replace(/-/g, '');
  const salt = Number(compact) % 1_000_003;
  const random = prng(Number(compact));
  const planted: Planted = {
    amount_mismatch: 0, missing_in_ledger: 0, order_without_bill: 0, status_mismatch: 0,
    duplicate_provider_order: 0, missing_at_provider: 0, fee_mismatch: 0,
  };

  const id = (i: number) => {
    const s = scatter(i, salt);
    switch (i % 3) {
      case 0: return `${compact}${String(s).padStart(10, '0')}`;
      case 1: return `WX${String(s).padStart(10, '0')}${compact.slice(2)}`;
      default: return `app-${s.toString(36).padStart(7, '0')}-${compact}`;
    }
  };
  const ref = (i: number, second: boolean) => `${second ? '1054' : '1053'}${compact.slice(2)}${String(i).padStart(8, '0')}`;
  const fenOf = (i: number) => 10_000 + (scatter(i, 7) % 300_000);
  // Seconds into the day the order was created; 2% of orders in the first ten minutes, those
  // booked in the ledger the evening before.
  const early = (i: number) => i % 50 === 17;
  const createdSecs = (i: number) => (early(i) ? 30 + (scatter(i, 3) % 560) : 600 + (scatter(i, 11) % 85_000));
  const broker = (i: number) => BROKERS[scatter(i, 5) % BROKERS.length]!;
  const channel = (i: number) => CHANNELS[scatter(i, 13) % CHANNELS.length]!;
  const feeOf = (i: number, fen: number) => Math.floor((fen * perMille(broker(i), date) + 500) / 1000);

  // What each order is: mutually exclusive plants at the strides of generate.ts.
  const kind = (i: number): 'amount' | 'unledgered' | 'billless' | 'status' | 'duplicate' | 'fee' | 'plain' => {
    if (i % 4999 === 1) return 'amount';
    if (i % 7001 === 2) return 'unledgered';
    if (i % 9001 === 3) return 'billless';
    if (i % 11003 === 4) return 'status';
    if (i % 13001 === 5) return 'duplicate';
    if (i % 17011 === 6) return 'fee';
    return 'plain';
  };
  for (let i = 0; i < n; i++) {
    const k = kind(i);
    if (k === 'amount') planted.amount_mismatch!++;
    else if (k === 'unledgered') planted.missing_in_ledger!++;
    else if (k === 'billless') planted.order_without_bill!++;
    else if (k === 'status') planted.status_mismatch!++;
    else if (k === 'duplicate') planted.duplicate_provider_order!++;
    else if (k === 'fee') planted.fee_mismatch!++;
  }

  // Order rows: one per order, two for the orders paid twice; encoded i * 2 + second.
  const orderRows: number[] = [];
  for (let i = 0; i < n; i++) {
    orderRows.push(i * 2);
    if (kind(i) === 'duplicate') orderRows.push(i * 2 + 1);
  }
  const orderOrder = Int32Array.from(orderRows);
  shuffle(orderOrder, random);
  const orders = new GzipCsv(join(day, 'orders.csv.gz'), ORDER_HEADER);
  for (const code of orderOrder) {
    const i = code >> 1;
    const second = (code & 1) === 1;
    const fen = fenOf(i);
    const fee = feeOf(i, fen) + (kind(i) === 'fee' ? 1 : 0);
    const [channelText] = channel(i);
    const secs = createdSecs(i) + (second ? 3600 : 0);
    const account = channelText === '银行卡' ? `6222*****${String(i % 100000).padStart(5, '0')}` : channelText === '支付宝' ? `138****${String(i % 10000).padStart(4, '0')}` : `o${String(scatter(i, 17)).padStart(10, '0')}`;
    await orders.line(`${id(i)},${ref(i, second)},B${compact}${i % 97},王**,${broker(i)},成功,${account},${channelText},${yuan(fen)},${yuan(fee)},`
      + `2017112044${String(i).padStart(9, '0')},104475780210006015,-/-,-/-,${clock(date, Math.min(secs, 86_399))},${clock(date, Math.min(secs + 5 + (i % 40), 86_399))}`);
  }
  await orders.close();

  // Bill rows: payout and fee per payout, apart; encoded (i * 2 + second) * 2 + fee.
  const billRows: number[] = [];
  for (let i = 0; i < n; i++) {
    if (kind(i) === 'billless') continue;
    billRows.push(i * 4, i * 4 + 1);
    if (kind(i) === 'duplicate') billRows.push(i * 4 + 2, i * 4 + 3);
  }
  const billOrder = Int32Array.from(billRows);
  billRows.length = 0;
  shuffle(billOrder, random);
  const bills = new GzipCsv(join(day, 'bills.csv.gz'), BILL_HEADER);
  let billSeq = 0;
  for (const code of billOrder) {
    const isFee = (code & 1) === 1;
    const second = (code & 2) === 2;
    const i = code >> 2;
    const fen = fenOf(i);
    const fee = feeOf(i, fen) + (kind(i) === 'fee' ? 1 : 0);
    const [channelText] = channel(i);
    const t = clock(date, Math.min(createdSecs(i) + (second ? 3600 : 0) + 5 + (i % 40), 86_399));
    const bill = `2${compact}${String(++billSeq).padStart(9, '0')}`;
    await bills.line(isFee
      ? `${id(i)},${ref(i, second)},${bill},经纪公司打款服务费,成功,-/-,王**,${broker(i)},${yuan(fee)},,${t},${t}`
      : `${id(i)},${ref(i, second)},${bill},经纪公司打款,成功,${channelText},王**,${broker(i)},${yuan(fen)},2017112044${String(i).padStart(9, '0')},${t},${t}`);
  }
  await bills.close();

  // Ledger rows, shuffled: the day's orders (i), the next day's (2n + j).
  const after = options.nextDay === true ? Math.floor(n / 10) : 0;
  const extra = Math.max(1, Math.floor(n / 10_000));
  const ledgerRows: number[] = [];
  for (let i = 0; i < n; i++) if (kind(i) !== 'unledgered') ledgerRows.push(i);
  for (let j = 0; j < after; j++) ledgerRows.push(2 * n + j);
  for (let j = 0; j < extra; j++) ledgerRows.push(3 * n + j);
  planted.missing_at_provider! += extra;
  const ledgerOrder = Int32Array.from(ledgerRows);
  ledgerRows.length = 0;
  shuffle(ledgerOrder, random);
  const ledger = createWriteStream(join(dir, options.ledgerFile ?? 'ledger.csv'));
  const previous = shiftDay(date, -1);
  const next = shiftDay(date, 1);
  let buffer: string[] = [];
  for (const code of ledgerOrder) {
    let line: string;
    if (code < n) {
      const i = code;
      const fen = fenOf(i) + (kind(i) === 'amount' ? 100 : 0);
      const status = kind(i) === 'status' ? 'failed' : 'paid';
      const created = early(i) ? `${previous} 23:${50 + (i % 10)}:${two(i % 60)}+08` : `${clock(date, createdSecs(i) - 2)}+08`;
      line = `${id(i)},sixcn,${broker(i)},${channel(i)[1]},${yuan(fen)},${status},${created}`;
    } else if (code < 3 * n) {
      const j = code % n;
      const i = scatter(j, 23);
      line = `N${next.replace(/-/g, '')}${String(i).padStart(10, '0')},sixcn,${broker(j)},${channel(j)[1]},${yuan(fenOf(j))},paid,${clock(next, 600 + (i % 80_000))}+08`;
    } else {
      // Paid in the ledger at midday, never at the provider.
      line = `L${compact}${String(code - 3 * n).padStart(6, '0')},sixcn,${BROKERS[0]},bankcard,10.00,paid,${date} 12:00:00+08`;
    }
    buffer.push(line);
    if (buffer.length >= 5000) {
      if (!ledger.write(`${buffer.join('\n')}\n`)) await once(ledger, 'drain');
      buffer = [];
    }
  }
  ledger.end(`${buffer.join('\n')}\n`);
  await once(ledger, 'close');
  return planted;
}
