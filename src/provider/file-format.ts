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

const AMOUNT = /^(-?)(\d{1,14})(?:\.(\d{1,2}))?$/;

/** Yuan text to integer fen; null when the text is not an amount of at most two decimals. */
export function parseFen(text: string): bigint | null {
  const m = AMOUNT.exec(text);
  if (m === null) return null;
  const fen = BigInt(m[2]!) * 100n + BigInt((m[3] ?? '').padEnd(2, '0'));
  return m[1] === '-' ? -fen : fen;
}

/** Integer fen to the canonical yuan text `123.45`, exact. */
export function formatFen(fen: bigint): string {
  const negative = fen < 0n;
  const abs = negative ? -fen : fen;
  const yuan = abs / 100n;
  const cents = abs % 100n;
  return `${negative ? '-' : ''}${yuan}.${cents < 10n ? '0' : ''}${cents}`;
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/;
const dayStartCache = new Map<string, number | null>();

/**
 * Beijing wall time `YYYY-MM-DD HH:mm:ss` to epoch ms. The zone offset is looked up once per
 * calendar day with luxon (Asia/Shanghai has had no DST since 1991, so a day has one offset);
 * a per-row luxon parse would cost more than the CSV parsing itself.
 */
export function parseShanghaiTime(text: string): number | null {
  const m = TIME.exec(text);
  if (m === null) return null;
  const date = `${m[1]}-${m[2]}-${m[3]}`;
  let dayStart = dayStartCache.get(date);
  if (dayStart === undefined) {
    const dt = DateTime.fromISO(date, { zone: PROVIDER_ZONE });
    dayStart = dt.isValid ? dt.toMillis() : null;
    if (dayStartCache.size > 10_000) dayStartCache.clear();
    dayStartCache.set(date, dayStart);
  }
  const h = Number(m[4]);
  const min = Number(m[5]);
  const s = Number(m[6]);
  if (dayStart === null || h > 23 || min > 59 || s > 59) return null;
  return dayStart + ((h * 60 + min) * 60 + s) * 1000;
}
