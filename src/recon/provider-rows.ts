import { formatFen, type BillRow, type OrderRow } from '../provider/file-format.js';
import type { FileKind } from '../provider/protocol.js';

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

const instant = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function orderValues(dealerId: string, date: string, r: OrderRow): (string | null)[] {
  return [
    dealerId, date, String(r.line), r.orderId, r.providerRef, r.batchId, r.name, r.brokerId, r.statusText, r.status,
    r.account, r.channel, formatFen(r.amountFen), r.feeFen === null ? null : formatFen(r.feeFen), r.channelRef,
    r.creditBillNo, r.feeBillNo, r.balanceBillNo, instant(r.createdAt), instant(r.finishedAt),
  ];
}

export function billValues(dealerId: string, date: string, r: BillRow): (string | null)[] {
  return [
    dealerId, date, String(r.line), r.orderId, r.providerRef, r.billRef, r.billType, r.billStatus, r.channel, r.name,
    r.brokerId, formatFen(r.amountFen), r.channelRef, instant(r.createdAt), instant(r.finishedAt),
  ];
}

const NEEDS_ESCAPE = /[\\\t\n\r]/;

/** One row in COPY text format: tab-separated, `\N` for null, backslash escapes. */
export function copyLine(values: readonly (string | null)[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) line += '\t';
    if (v === null || v === undefined) line += '\\N';
    else if (NEEDS_ESCAPE.test(v)) line += v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
    else line += v;
  }
  return `${line}\n`;
}
