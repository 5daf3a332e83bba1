import type { OrderStatus } from '../../src/provider/file-format.js';

/**
 * The reference model's vocabulary: the files' rows, the ledger, the live answers, the
 * findings, and the helpers for time and money. Money is integer fen throughout. Times are
 * Asia/Shanghai wall times, 'YYYY-MM-DD HH:mm:ss'.
 */

export interface OrderFileRow {
  orderId: string;
  ref: string;
  statusText: string;
  amountFen: number;
  feeFen: number | null;
  /** 创建时间 and 完成时间 ('-/-' when the file has none). */
  created: string;
  finished: string;
  channel: '银行卡' | '支付宝' | '微信';
}

export interface BillFileRow {
  orderId: string;
  ref: string;
  billRef: string;
  type: '经纪公司打款' | '经纪公司打款服务费' | '经纪公司退汇' | '经纪公司退汇手续费';
  statusText: '成功' | '失败' | '状态未知';
  amountFen: number;
}

export interface DayFiles {
  orders: OrderFileRow[];
  bills: BillFileRow[];
}

export type LedgerStatus = 'submitted' | 'paid' | 'failed' | 'refunded' | 'cancelled';

export interface LedgerEntry {
  orderId: string;
  amountFen: number;
  status: LedgerStatus;
  created: string;
}

/** What the provider answers when asked about an order live (CONTRACT: 1/0 claimed, 9/213 returned, 2011/2018 not found). */
export type LiveAnswer = 'claimed' | 'returned' | 'not_found';

/** A live answer and the amount (pay) it gives. */
export interface LiveReply { answer: LiveAnswer; amountFen: number }

/**
 * An answer recorded by a run (its step, counted from 1), with the 订单流水号 it gives: that of
 * the order's latest row in the files the provider has served (pruned or not), '' when none.
 */
export interface LiveCheck extends LiveReply { step: number; ref: string }

/** recon.broker_fee_rates: one broker (the dealer's), a rate in 1/100000 from a day on. */
export interface FeeRate {
  rate100k: number;
  validFrom: string;
}

export type Kind =
  | 'missing_in_ledger' | 'missing_at_provider' | 'amount_mismatch' | 'status_mismatch' | 'refund_unrecorded'
  | 'duplicate_provider_order' | 'fee_mismatch' | 'bill_without_order' | 'bill_amount_mismatch' | 'order_without_bill'
  | 'stale_pending_claim' | 'unresolved_provider_status' | 'systemic_mismatch';

export const MODELLED_KINDS: readonly Kind[] = [
  'missing_in_ledger', 'missing_at_provider', 'amount_mismatch', 'status_mismatch', 'refund_unrecorded',
  'duplicate_provider_order', 'fee_mismatch', 'bill_without_order', 'bill_amount_mismatch', 'order_without_bill',
  'stale_pending_claim', 'unresolved_provider_status', 'systemic_mismatch',
];

export type Severity = 'critical' | 'warning' | 'info';

/** One finding as a rule states it (before the lifecycle). */
export interface Finding {
  kind: Kind;
  severity: Severity;
  businessDate: string;
  /** null for the file-level systemic_mismatch. */
  orderId: string | null;
  providerRef: string | null;
  ledgerFen: number | null;
  providerFen: number | null;
}

/** One row of recon.discrepancies, as the model keeps it. */
export interface ModelRow extends Finding {
  status: 'open' | 'resolved';
  /** details.provider_rows_pruned: marked by a prune that dropped the rows of days before its day. */
  prunedMark?: boolean;
}

export const PAID: readonly OrderStatus[] = ['paid', 'paid_pending_claim'];

export const dayOf = (time: string): string => time.slice(0, 10);

/** Epoch ms of a Shanghai wall time. */
export function shanghaiMs(time: string): number {
  const [d, t = '00:00:00'] = time.split(' ');
  const [y, m, day] = d!.split('-').map(Number);
  const [h, mi, s] = t.split(':').map(Number);
  return Date.UTC(y!, m! - 1, day, h! - 8, mi, s);
}

export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** round-half-up(金额 × rate, 2), in fen (CONTRACT section 4, fee_mismatch). */
export function expectedFeeFen(amountFen: number, rate100k: number): number {
  return Math.floor((amountFen * rate100k * 2 + 100_000) / 200_000);
}

export const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Money as the numeric(16,2) column reads back. */
export function yuan(fen: number | null): string | null {
  if (fen === null) return null;
  const sign = fen < 0 ? '-' : '';
  const a = Math.abs(fen);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

