import type { ReportRow } from './findings.js';
import { restoreControls, showControls } from './visible.js';

/**
 * The report's CSV, for Excel: a UTF-8 BOM, CRLF, every cell that could be read as a formula
 * neutralized. The columns finance fills in (ack_by, ack_note) sit beside the finding, and the
 * id, row version (last_seen_run_id) and acknowledgement as exported (ack_version) that
 * `yzh-recon ack` reads back come after them.
 */

export const CSV_COLUMNS = [
  'business_date', 'severity', 'kind', 'order_id', 'provider_ref', 'ledger_amount', 'provider_amount', 'status',
  'ack_by', 'ack_note', 'id', 'last_seen_run_id', 'ack_version', 'details',
] as const;

type Column = (typeof CSV_COLUMNS)[number];

/** Columns that hold numbers from the database: written as numbers, so that Excel sums them. */
const NUMERIC: ReadonlySet<Column> = new Set(['ledger_amount', 'provider_amount', 'id', 'last_seen_run_id']);
const NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * OWASP's CSV-injection rule: a cell starting with = + - @, tab or carriage return is taken by
 * spreadsheets as a formula (or the start of one); a leading apostrophe makes it text. Order
 * ids, provider refs, notes and details come from the provider file or from people, so every
 * text cell goes through this; numbers are left as they are.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export function neutralizeCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/**
 * The inverse for cells read back from an exported file: our own apostrophe is dropped, and a
 * control written as `⟨U+XXXX⟩` on export (see cell) is the character again.
 */
export function restoreCell(value: string): string {
  return restoreControls(value.startsWith("'") && FORMULA_START.test(value.slice(1)) ? value.slice(1) : value);
}

function cell(row: ReportRow, column: Column): string {
  const v = row[column] as string | number | boolean | object | null | undefined;
  const text = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (NUMERIC.has(column) && NUMBER.test(text)) return text;
  // Bidirectional and zero-width controls from outside are shown, never applied by the spreadsheet.
  return neutralizeCell(showControls(text));
}

const quote = (v: string) => (/[",\r\n\t]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v);

export function formatCsv(rows: ReportRow[]): string {
  const lines = [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((c) => quote(cell(r, c))).join(','))];
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}
