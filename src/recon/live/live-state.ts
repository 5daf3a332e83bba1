import type { LiveState } from '../../db/schema.js';
import type { RealtimeOrder } from '../../provider/client.js';
import { formatFen, parseFen, parseShanghaiTime } from '../../provider/file-format.js';

/** Codes with which the real-time order query says that it has no such order. */
export const NOT_FOUND_CODES: ReadonlySet<string> = new Set(['2011', '2018']);

/** The document's appendix 1: every `status` the real-time order query can give. */
export const APPENDIX_1_STATUSES: ReadonlySet<number> = new Set([-1, 0, 1, 2, 4, 5, 8, 9, 11, 15, 18]);
/** The document's appendix 2: every `status_detail` it can give. */
export const APPENDIX_2_DETAILS: ReadonlySet<number> = new Set([0, 27, 111, 112, 211, 212, 213, 261, 262, 265, 266, 271, 273, 274, 275, 277, 278]);

/**
 * An integer as an answer may send it: a JSON number (the document's example answer shows
 * `"status": 1`), or a string of digits (as it sends amounts, and as another implementation of
 * the same API may send every field). Anything else (a boolean, "n/a", 1.5, null) is null.
 */
function integerOf(value: unknown): number | null {
  if (typeof value === 'number') return Number.isInteger(value) ? value : null;
  return typeof value === 'string' && /^-?\d{1,6}$/.test(value) ? Number(value) : null;
}

/** A `status` of the document's appendix 1, else null: the answer is not read. */
export function liveStatus(value: unknown): number | null {
  const n = integerOf(value);
  return n !== null && APPENDIX_1_STATUSES.has(n) ? n : null;
}

/**
 * A `status_detail`: an integer, else null. Appendix 2 lists those the document knew; one it
 * does not list says no more than its status does (only 27 and 213 change what a status means).
 */
export function liveDetail(value: unknown): number | null {
  return integerOf(value);
}

/**
 * A live answer in the order files' status vocabulary (docs/contract.md section 4), so that the
 * rules read it as they read a file row. From the document's appendix 1 (status) and 2
 * (status_detail), and section 2.1's red-packet tables:
 *
 * - 1 已打款: paid; with status_detail 27 (微信红包待领取) paid, pending claim, as 成功(待领取);
 *   1/0 is a claimed red packet.
 * - 2 打款失败: failed. 9 打款失败(已退款,退汇或者冲正): returned, as 退汇 (9/213 is a red
 *   packet sent back after 24 hours).
 * - -1 删除 and 15 取消支付: deleted, as 删除.
 * - 0 已受理, 4 待打款(暂停处理), 5 打款中(状态未知), 8 待打款, 11 部分成功 and 18 无需付款:
 *   unresolved, for a person to look at, as 挂单 / 打款中 are.
 * - codes 2011/2018: not_found. Any other code, a status outside appendix 1 or a status or
 *   status_detail that is no integer (a boolean, "n/a", 1.5), says nothing about the order: null.
 */
export function liveState(code: string, order: RealtimeOrder | null): LiveState | null {
  if (NOT_FOUND_CODES.has(code)) return 'not_found';
  if (code !== '0000' || order === null) return null;
  const status = liveStatus(order.status);
  const detail = liveDetail(order.status_detail);
  if (status === null || detail === null) return null;
  switch (status) {
    case 1: return detail === 27 ? 'paid_pending_claim' : 'paid';
    case 2: return 'failed';
    case 9: return 'returned';
    case -1:
    case 15: return 'deleted';
    default: return 'unresolved';
  }
}

/** A value of an answer in a message: JSON, cut to 40 characters (never a whole field of personal data). */
function shown(value: unknown): string {
  if (value === undefined) return 'missing';
  const text = JSON.stringify(value) ?? typeof value;
  return text.length <= 40 ? text : `${text.slice(0, 37)}...`;
}

/** What a 0000 answer says of the order asked, and why it is no evidence when it is not. */
export interface ReadAnswer {
  state: LiveState | null;
  status: number | null;
  statusDetail: number | null;
  /** The answer's `order_id` as given (cut to 128 characters), null when it has none. */
  answeredOrderId: string | null;
  /** Why the answer is no evidence, when it cannot be read; null otherwise. */
  problem: string | null;
}

/**
 * Reads an answer of the real-time order query about `orderId` (docs/contract.md section 6, "Live
 * answers"): it is evidence only when its `order_id` is the one asked, its `status` and
 * `status` is an integer of the document's appendix 1 and its `status_detail` an integer, and any `dealer_id` in it
 * is ours. Anything else is an unreadable answer: state null, with the first problem named.
 */
export function readAnswer(orderId: string, dealerId: string, code: string, order: RealtimeOrder | null): ReadAnswer {
  if (order === null) return { state: liveState(code, null), status: null, statusDetail: null, answeredOrderId: null, problem: null };
  const answered: unknown = order.order_id;
  const answeredOrderId = typeof answered === 'string' ? answered.slice(0, 128) : null;
  const status = liveStatus(order.status);
  const statusDetail = liveDetail(order.status_detail);
  const problem = answered !== orderId ? `the answer is about order ${shown(answered)}, not ${orderId}`
    : order.dealer_id !== undefined && order.dealer_id !== dealerId ? `the answer is of dealer ${shown(order.dealer_id)}, not ours`
      : status === null ? `status ${shown(order.status)} is not a status of the document's appendix 1`
        : statusDetail === null ? `status_detail ${shown(order.status_detail)} is not an integer`
          : null;
  return { state: problem === null ? liveState(code, order) : null, status, statusDetail, answeredOrderId, problem };
}

/** A provider amount string as canonical yuan text, or null when it is not an amount. */
export function liveAmount(text: unknown): string | null {
  if (typeof text !== 'string') return null;
  const fen = parseFen(text.trim());
  return fen === null ? null : formatFen(fen);
}

/** The answer's `finished_time` (Beijing wall time) as an instant, or null (`""`, `-/-`). */
export function liveTime(text: unknown): Date | null {
  if (typeof text !== 'string') return null;
  const ms = parseShanghaiTime(text.trim());
  return ms === null ? null : new Date(ms);
}
