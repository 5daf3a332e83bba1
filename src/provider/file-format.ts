import { DateTime } from 'luxon';
import type { Channel } from './protocol.js';

/** Order file (订单文件) columns by name; the file may order them differently. */
export const ORDER_COLUMNS = {
  商户订单号: 'orderId',
  订单流水号: 'providerRef',
  商户批次号: 'batchId',
  姓名: 'name',
  经纪公司ID: 'brokerId',
  订单状态: 'statusText',
  收款账号: 'account',
  支付渠道: 'channel',
  金额: 'amount',
  服务费: 'fee',
  渠道流水号: 'channelRef',
  短周期授信账单号: 'creditBillNo',
  服务费账单号: 'feeBillNo',
  余额账单号: 'balanceBillNo',
  创建时间: 'createdAt',
  完成时间: 'finishedAt',
} as const;

/** Bill file (流水文件) columns by name. */
export const BILL_COLUMNS = {
  商户订单号: 'orderId',
  订单流水号: 'providerRef',
  流水号: 'billRef',
  流水类型: 'billType',
  流水状态: 'billStatus',
  支付渠道: 'channel',
  姓名: 'name',
  经纪公司ID: 'brokerId',
  金额: 'amount',
  渠道流水号: 'channelRef',
  创建时间: 'createdAt',
  完成时间: 'finishedAt',
} as const;

/** CONTRACT.md section 4: provider order statuses, normalized. */
export type OrderStatus = 'paid' | 'paid_pending_claim' | 'failed' | 'returned' | 'deleted' | 'unresolved';

export const ORDER_STATUS_TEXT: Readonly<Record<string, OrderStatus>> = {
  成功: 'paid',
  '成功(待领取)': 'paid_pending_claim',
  '成功（待领取）': 'paid_pending_claim',
  失败: 'failed',
  退汇: 'returned',
  删除: 'deleted',
  挂单: 'unresolved',
  打款中: 'unresolved',
  '-/-': 'unresolved',
  未知: 'unresolved',
  '': 'unresolved',
};

export type BillType = 'payout' | 'payout_fee' | 'return' | 'return_fee';

export const BILL_TYPE_TEXT: Readonly<Record<string, BillType>> = {
  经纪公司打款: 'payout',
  经纪公司打款服务费: 'payout_fee',
  经纪公司退汇: 'return',
  经纪公司退汇手续费: 'return_fee',
};

export type BillStatus = 'succeeded' | 'pending_claim' | 'failed' | 'unknown';

export const BILL_STATUS_TEXT: Readonly<Record<string, BillStatus>> = {
  成功: 'succeeded',
  '成功(待领取)': 'pending_claim',
  '成功（待领取）': 'pending_claim',
  失败: 'failed',
  状态未知: 'unknown',
  未知: 'unknown',
};

export const CHANNEL_TEXT: Readonly<Record<string, Channel>> = {
  银行卡: 'bankcard',
  支付宝: 'alipay',
  微信: 'wxpay',
};

export interface OrderRow {
  line: number;
  orderId: string;
  providerRef: string;
  batchId: string | null;
  name: string | null;
  brokerId: string | null;
  statusText: string;
  status: OrderStatus;
  account: string | null;
  channel: Channel | null;
  amountFen: bigint;
  feeFen: bigint | null;
  channelRef: string | null;
  creditBillNo: string | null;
  feeBillNo: string | null;
  balanceBillNo: string | null;
  /** Instants as epoch milliseconds, read as Asia/Shanghai wall time. */
  createdAt: number | null;
  finishedAt: number | null;
}

export interface BillRow {
  line: number;
  orderId: string;
  providerRef: string;
  billRef: string;
  billType: BillType;
  billStatus: BillStatus;
  channel: Channel | null;
  name: string | null;
  brokerId: string | null;
  amountFen: bigint;
  channelRef: string | null;
  createdAt: number | null;
  finishedAt: number | null;
}

export const PROVIDER_ZONE = 'Asia/Shanghai';

/** Yuan text to integer fen; null when the text is not an amount of at most two decimals. */
export function parseFen(text: string): bigint | null {
  // A character loop: this runs for every amount of every row, and a regex plus BigInt(string)
  // cost more than the CSV parsing of the field itself.
  const n = text.length;
  let i = text.charCodeAt(0) === 45 ? 1 : 0; // '-'
  const negative = i === 1;
  let whole = 0;
  let wholeDigits = 0;
  for (; i < n; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    whole = whole * 10 + c;
    wholeDigits++;
  }
  // At most 14 whole digits: numeric(16,2). Beyond 13, fen would pass 2^53 as a double.
  if (wholeDigits === 0 || wholeDigits > 14) return null;
  let cents = 0;
  if (i < n) {
    if (text.charCodeAt(i) !== 46 || n - i - 1 < 1 || n - i - 1 > 2) return null; // '.', then 1 or 2 digits
    for (let j = i + 1; j < n; j++) {
      const c = text.charCodeAt(j) - 48;
      if (c < 0 || c > 9) return null;
      cents = cents * 10 + c;
    }
    if (n - i - 1 === 1) cents *= 10;
  }
  const fen = wholeDigits <= 13 ? BigInt(whole * 100 + cents) : BigInt(text.slice(negative ? 1 : 0, negative ? wholeDigits + 1 : wholeDigits)) * 100n + BigInt(cents);
  return negative ? -fen : fen;
}

const SAFE_FEN = BigInt(Number.MAX_SAFE_INTEGER);

/** Integer fen to the canonical yuan text `123.45`, exact. */
export function formatFen(fen: bigint): string {
  const negative = fen < 0n;
  const abs = negative ? -fen : fen;
  if (abs <= SAFE_FEN) {
    // Number arithmetic is exact below 2^53 and several times faster than BigInt division.
    const n = Number(abs);
    const cents = n % 100;
    return `${negative ? '-' : ''}${(n - cents) / 100}.${cents < 10 ? '0' : ''}${cents}`;
  }
  const yuan = abs / 100n;
  const cents = abs % 100n;
  return `${negative ? '-' : ''}${yuan}.${cents < 10n ? '0' : ''}${cents}`;
}

const dayStartCache = new Map<string, number | null>();

const digit = (text: string, i: number): number => {
  const c = text.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : NaN;
};
const two = (text: string, i: number): number => digit(text, i) * 10 + digit(text, i + 1);

let lastText = '';
let lastMs: number | null = null;

/**
 * Beijing wall time `YYYY-MM-DD HH:mm:ss` to epoch ms. The zone offset is looked up once per
 * calendar day with luxon (Asia/Shanghai has had no DST since 1991, so a day has one offset);
 * a per-row luxon parse would cost more than the CSV parsing itself.
 */
export function parseShanghaiTime(text: string): number | null {
  // Busy days have many rows per second, and 创建时间 often equals 完成时间.
  if (text === lastText) return lastMs;
  lastMs = parseTime(text);
  lastText = text;
  return lastMs;
}

function parseTime(text: string): number | null {
  if (text.length !== 19 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45
      || (text.charCodeAt(10) !== 32 && text.charCodeAt(10) !== 84) || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) {
    return null;
  }
  const date = text.slice(0, 10);
  let dayStart = dayStartCache.get(date);
  if (dayStart === undefined) {
    const dt = /^\d{4}-\d{2}-\d{2}$/.test(date) ? DateTime.fromISO(date, { zone: PROVIDER_ZONE }) : null;
    dayStart = dt !== null && dt.isValid ? dt.toMillis() : null;
    if (dayStartCache.size > 10_000) dayStartCache.clear();
    dayStartCache.set(date, dayStart);
  }
  const h = two(text, 11);
  const min = two(text, 14);
  const s = two(text, 17);
  // NaN (a non-digit) fails every comparison below, and so returns null.
  if (dayStart === null || !(h <= 23 && min <= 59 && s <= 59)) return null;
  return dayStart + ((h * 60 + min) * 60 + s) * 1000;
}
