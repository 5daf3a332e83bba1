import { formatFen, type BillRow, type OrderRow } from '../../provider/file-format.js';
import type { FileKind } from '../../provider/protocol.js';

/** Columns of recon.provider_orders / provider_bills in the order rows are written. */
export const ROW_COLUMNS: Record<FileKind, readonly string[]> = {
  order: [
    'dealer_id', 'business_date', 'line', 'order_id', 'provider_ref', 'batch_id', 'name_masked', 'broker_id',
    'status_text', 'status', 'account_masked', 'channel', 'amount', 'fee', 'channel_ref', 'credit_bill_no',
    'fee_bill_no', 'balance_bill_no', 'created_at', 'finished_at',
  ],
  bill: [
    'dealer_id', 'business_date', 'line', 'order_id', 'provider_ref', 'bill_ref', 'bill_type', 'bill_status',
    'channel', 'name_masked', 'broker_id', 'amount', 'channel_ref', 'created_at', 'finished_at',
  ],
};

export const ROW_TABLES: Record<FileKind, string> = { order: 'recon.provider_orders', bill: 'recon.provider_bills' };

const NEEDS_ESCAPE = /[\\\t\n\r]/;

/** A text value for COPY text format: backslash escapes, `\N` for null. */
function text(v: string | null): string {
  if (v === null) return '\\N';
  return NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : v;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
let cachedDay = -1;
let cachedDayText = '';

/**
 * An instant (epoch ms) as UTC ISO text. The date part is formatted once per UTC day:
 * Date#toISOString for two timestamps of every row cost more than the rest of the line.
 */
function instant(ms: number | null): string {
  if (ms === null) return '\\N';
  const day = Math.floor(ms / 86_400_000);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDayText = new Date(day * 86_400_000).toISOString().slice(0, 11);
  }
  const secs = Math.floor((ms - day * 86_400_000) / 1000);
  const millis = ms % 1000;
  const base = `${cachedDayText}${pad2(Math.floor(secs / 3600))}:${pad2(Math.floor(secs / 60) % 60)}:${pad2(secs % 60)}`;
  return millis === 0 ? `${base}Z` : `${base}.${String(millis).padStart(3, '0')}Z`;
}

const fen = (v: bigint | null): string => (v === null ? '\\N' : formatFen(v));
/** Values that can never need escaping: enums, numbers, dates. */
const plain = (v: string | null): string => (v === null ? '\\N' : v);

/**
 * One row as a COPY text line, in ROW_COLUMNS order, built directly from the row: only the
 * free-text fields from the file are checked for characters COPY must escape.
 */
export function orderCopyLine(prefix: string, r: OrderRow): string {
  return `${prefix}\t${r.line}\t${text(r.orderId)}\t${text(r.providerRef)}\t${text(r.batchId)}\t${text(r.name)}\t${text(r.brokerId)}\t${text(r.statusText)}\t${r.status}\t${text(r.account)}\t${plain(r.channel)}\t${formatFen(r.amountFen)}\t${fen(r.feeFen)}\t${text(r.channelRef)}\t${text(r.creditBillNo)}\t${text(r.feeBillNo)}\t${text(r.balanceBillNo)}\t${instant(r.createdAt)}\t${instant(r.finishedAt)}\n`;
}

export function billCopyLine(prefix: string, r: BillRow): string {
  return `${prefix}\t${r.line}\t${text(r.orderId)}\t${text(r.providerRef)}\t${text(r.billRef)}\t${r.billType}\t${r.billStatus}\t${plain(r.channel)}\t${text(r.name)}\t${text(r.brokerId)}\t${formatFen(r.amountFen)}\t${text(r.channelRef)}\t${instant(r.createdAt)}\t${instant(r.finishedAt)}\n`;
}

/** The columns every row of one file shares: dealer and business day, escaped once. */
export function copyPrefix(dealerId: string, date: string): string {
  return `${text(dealerId)}\t${date}`;
}
