import type { LiveState } from '../../../db/schema.js';
import type { RealtimeOrder } from '../../../provider/client.js';
import { formatFen, parseFen, parseShanghaiTime } from '../../../provider/file-format.js';

/** Codes with which the real-time order query says that it has no such order. */
export const NOT_FOUND_CODES: ReadonlySet<string> = new Set(['2011', '2018']);

/**
 * A live answer in the order files' status vocabulary (CONTRACT.md section 4), so that the
 * rules read it as they read a file row. From the document's appendix 1 (status) and 2
 * (status_detail), and section 2.1's red-packet tables:
 *
 * - 1 已打款: paid; with status_detail 27 (微信红包待领取) paid, pending claim, as 成功(待领取);
 *   1/0 is a claimed red packet.
 * - 2 打款失败: failed. 9 打款失败(已退款,退汇或者冲正): returned, as 退汇 (9/213 is a red
 *   packet sent back after 24 hours).
 * - -1 删除 and 15 取消支付: deleted, as 删除.
 * - 0 已受理, 4 待打款(暂停处理), 5 打款中(状态未知), 8 待打款, 11 部分成功, 18 无需付款 and
 *   anything else: unresolved, for a person to look at, as 挂单 / 打款中 are.
 * - codes 2011/2018: not_found. Any other code says nothing about the order: null.
 */
export function liveState(code: string, order: RealtimeOrder | null): LiveState | null {
  if (NOT_FOUND_CODES.has(code)) return 'not_found';
  if (code !== '0000' || order === null) return null;
  const status = Number(order.status);
  const detail = Number(order.status_detail);
  switch (status) {
    case 1: return detail === 27 ? 'paid_pending_claim' : 'paid';
    case 2: return 'failed';
    case 9: return 'returned';
    case -1:
    case 15: return 'deleted';
    default: return 'unresolved';
  }
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

/** An integer field of the answer (the document shows numbers; strings are accepted). */
export function liveInt(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isInteger(n) ? n : null;
}
