import { FILE_SPECS, formatFen, type BillRow, type ColumnSpec, type OrderRow } from '../../provider/file-format.js';
import type { FileKind } from '../../provider/protocol.js';

/** The table columns a file column fills: its text's column first where it keeps its text. */
const tableColumns = (c: ColumnSpec): string[] => (c.text === null ? [c.column] : [c.text.column, c.column]);

/**
 * Columns of recon.provider_orders / provider_bills in the order rows are written: the dealer,
 * the day and the line, then the file's columns as the spec lists them (file-format.ts).
 */
export const ROW_COLUMNS: Record<FileKind, readonly string[]> = {
  order: ['dealer_id', 'business_date', 'line', ...FILE_SPECS.order.columns.flatMap(tableColumns)],
  bill: ['dealer_id', 'business_date', 'line', ...FILE_SPECS.bill.columns.flatMap(tableColumns)],
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

type Row = Readonly<Record<string, unknown>>;

/** How one column's value is written: free text escaped, the others never need it. */
function formatter(c: ColumnSpec): (r: Row) => string {
  const prop = c.prop;
  switch (c.kind) {
    case 'text': return (r) => text(r[prop] as string | null);
    case 'amount': return (r) => fen(r[prop] as bigint | null);
    case 'time': return (r) => instant(r[prop] as number | null);
    case 'code': {
      if (c.text === null) return (r) => plain(r[prop] as string | null);
      const textProp = c.text.prop;
      return (r) => `${text(r[textProp] as string)}\t${plain(r[prop] as string | null)}`;
    }
  }
}

/**
 * One row as a COPY text line, in ROW_COLUMNS order, built directly from the row: only the
 * free-text fields from the file are checked for characters COPY must escape.
 */
function copyLine(kind: FileKind): (prefix: string, r: Row) => string {
  const parts = FILE_SPECS[kind].columns.map(formatter);
  const n = parts.length;
  return (prefix, r) => {
    let line = `${prefix}\t${r.line as number}`;
    for (let i = 0; i < n; i++) line += `\t${parts[i]!(r)}`;
    return `${line}\n`;
  };
}

const orderLine = copyLine('order');
const billLine = copyLine('bill');

export function orderCopyLine(prefix: string, r: OrderRow): string {
  return orderLine(prefix, r as unknown as Row);
}

export function billCopyLine(prefix: string, r: BillRow): string {
  return billLine(prefix, r as unknown as Row);
}

/** The columns every row of one file shares: dealer and business day, escaped once. */
export function copyPrefix(dealerId: string, date: string): string {
  return `${text(dealerId)}\t${date}`;
}
