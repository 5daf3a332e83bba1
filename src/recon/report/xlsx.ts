import ExcelJS from 'exceljs';
import type { ReportRow } from './findings.js';
import { LABELS, SEVERITIES, type Lang } from './labels.js';
import type { PageData } from './page-data.js';

/**
 * The report as one Excel workbook: a sheet of open findings with the CSV's columns (header
 * frozen, filter on, the sheet protected without a password so that only ack_by and ack_note
 * take typing) and a sheet with the day at a glance. `yzh-recon ack --file` reads the findings
 * sheet back (xlsx-import.ts) by its header names, in either language, whatever order the
 * columns were dragged into.
 *
 * Amounts are numbers to Excel (a double, as every Excel number is) shown with two decimals;
 * in this program they stay numeric text, and the import never reads them.
 */

/** The findings sheet's columns: the CSV's, then the hidden ones the import compares. */
export const XLSX_COLUMNS = [
  'business_date', 'severity', 'kind', 'order_id', 'provider_ref', 'ledger_amount', 'provider_amount', 'status',
  'ack_by', 'ack_note', 'id', 'details', 'last_seen_run_id', 'ack_version',
] as const;
export type XlsxColumn = (typeof XLSX_COLUMNS)[number];

/** Hidden: the row version and the acknowledgement as exported. Their headers are the CSV's names in both languages. */
export const HIDDEN_COLUMNS: ReadonlySet<XlsxColumn> = new Set(['last_seen_run_id', 'ack_version']);
const EDITABLE: ReadonlySet<XlsxColumn> = new Set(['ack_by', 'ack_note']);

export const SHEET_NAMES = { findings: { zh: '差异', en: 'Findings' }, glance: { zh: '概览', en: 'Overview' } } as const;

export function columnHeader(column: XlsxColumn, lang: Lang): string {
  if (HIDDEN_COLUMNS.has(column)) return column;
  const l = LABELS[lang];
  const zh = lang === 'zh';
  switch (column) {
    case 'business_date': return l.businessDate;
    case 'severity': return l.severity;
    case 'kind': return l.kind;
    case 'order_id': return l.orderId;
    case 'provider_ref': return l.providerRef;
    case 'ledger_amount': return l.ledgerAmount;
    case 'provider_amount': return l.providerAmount;
    case 'status': return zh ? '状态' : 'Status';
    case 'ack_by': return zh ? '确认人 ack_by' : 'Acknowledged by ack_by';
    case 'ack_note': return zh ? '确认说明 ack_note' : 'Note ack_note';
    case 'id': return zh ? '差异编号 id' : 'Finding id';
    case 'details': return zh ? '明细' : 'Details';
    default: return column;
  }
}

/** Every header a column is known by (both languages and the CSV name), lowercased and trimmed. */
export function headerIndex(): Map<string, XlsxColumn> {
  const index = new Map<string, XlsxColumn>();
  for (const column of XLSX_COLUMNS) {
    for (const name of [column, columnHeader(column, 'zh'), columnHeader(column, 'en')]) index.set(name.trim().toLowerCase(), column);
  }
  return index;
}

const AMOUNT_FORMAT = '#,##0.00';
const DATE_FORMAT = 'yyyy-mm-dd';
const DATE_TIME_FORMAT = 'yyyy-mm-dd hh:mm:ss';

/** Display width in Excel's character units: CJK and full-width characters take two. */
function displayWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(ch) ? 2 : 1;
  return w;
}

/** A 'YYYY-MM-DD' day as the Date Excel shows as that day (exceljs writes a Date's UTC value). */
function day(text: string): Date {
  return new Date(`${text}T00:00:00Z`);
}

/** Wall-clock time in Asia/Shanghai as a Date whose UTC fields are those of Beijing time. */
function beijing(at: Date): Date {
  return new Date(at.getTime() + 8 * 3600_000);
}

/** Text for an outside value: no NUL or other C0 control but tab and line breaks (XML 1.0 cannot hold them). */
function text(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, (c) => `⟨U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

function cellValue(row: ReportRow, column: XlsxColumn): ExcelJS.CellValue {
  switch (column) {
    case 'business_date': return day(row.business_date);
    case 'ledger_amount':
    case 'provider_amount': {
      const v = row[column];
      return v === null ? null : Number(v);
    }
    case 'last_seen_run_id': return row.last_seen_run_id;
    case 'id': return String(row.id);
    case 'details': return row.details === null || row.details === undefined ? null : text(JSON.stringify(row.details));
    case 'ack_version': return row.ack_version === '' ? null : text(row.ack_version);
    default: {
      const v = row[column];
      return v === null || v === undefined ? null : text(String(v));
    }
  }
}

export interface WorkbookOptions {
  lang: Lang;
  /** The day at a glance; null when the database has no dealer to show it for. */
  glance: { dealerId: string; data: PageData } | null;
  now: Date;
}

export async function buildWorkbook(rows: ReportRow[], options: WorkbookOptions): Promise<Buffer> {
  const { lang } = options;
  const book = new ExcelJS.Workbook();
  book.creator = 'yzh-recon';
  book.created = options.now;
  book.modified = options.now;

  const sheet = book.addWorksheet(SHEET_NAMES.findings[lang], {
    views: [{ state: 'frozen', xSplit: 0, ySplit: 1 }],
    // Printed: A4 landscape, one page wide, the header on every page.
    pageSetup: { paperSize: 9, orientation: 'landscape', fitToPage: true, fitToWidth: 1, fitToHeight: 0, printTitlesRow: '1:1' },
  });
  sheet.columns = XLSX_COLUMNS.map((c) => ({ key: c, header: columnHeader(c, lang) }));
  for (const row of rows) sheet.addRow(Object.fromEntries(XLSX_COLUMNS.map((c) => [c, cellValue(row, c)])));

  const header = sheet.getRow(1);
  header.font = { bold: true };
  header.alignment = { vertical: 'middle' };
  XLSX_COLUMNS.forEach((c, i) => {
    const column = sheet.getColumn(i + 1);
    const headerWidth = displayWidth(columnHeader(c, lang));
    const longest = Math.max(headerWidth, ...rows.map((r) => {
      const v = cellValue(r, c);
      return c === 'business_date' ? 12 : typeof v === 'number' ? v.toFixed(2).length + 3 : typeof v === 'string' ? displayWidth(v) : 0;
    }));
    column.width = Math.min(c === 'details' ? 60 : 40, Math.max(8, longest + 2));
    if (c === 'business_date') column.numFmt = DATE_FORMAT;
    if (c === 'ledger_amount' || c === 'provider_amount') column.numFmt = AMOUNT_FORMAT;
    if (c === 'id' || c === 'order_id' || c === 'provider_ref') column.numFmt = '@';
    if (HIDDEN_COLUMNS.has(c)) column.hidden = true;
    if (EDITABLE.has(c)) {
      column.eachCell({ includeEmpty: true }, (cell, rowNumber) => {
        if (rowNumber > 1) cell.protection = { locked: false };
      });
      header.getCell(i + 1).fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FFFFF2CC' } };
    }
  });
  // The editable cells also take a note with line breaks as Excel shows it.
  for (const c of EDITABLE) sheet.getColumn(c).alignment = { wrapText: c === 'ack_note', vertical: 'top' };
  sheet.autoFilter = { from: { row: 1, column: 1 }, to: { row: Math.max(1, rows.length + 1), column: XLSX_COLUMNS.length } };
  await sheet.protect('', {
    selectLockedCells: true, selectUnlockedCells: true, formatColumns: true, formatRows: true, autoFilter: true, sort: true,
  });

  addGlanceSheet(book, options);
  const out = await book.xlsx.writeBuffer();
  return Buffer.from(out);
}

function addGlanceSheet(book: ExcelJS.Workbook, options: WorkbookOptions): void {
  const l = LABELS[options.lang];
  const zh = options.lang === 'zh';
  const sheet = book.addWorksheet(SHEET_NAMES.glance[options.lang], {
    pageSetup: { paperSize: 9, orientation: 'landscape', fitToPage: true, fitToWidth: 1, fitToHeight: 0 },
  });
  sheet.getColumn(1).width = 24;
  for (let i = 2; i <= 8; i++) sheet.getColumn(i).width = i === 2 ? 22 : 16;
  const title = sheet.addRow([l.title]);
  title.font = { bold: true, size: 14 };
  const put = (label: string, value: ExcelJS.CellValue, numFmt?: string) => {
    const r = sheet.addRow([label, value]);
    r.getCell(1).font = { bold: true };
    if (numFmt !== undefined) r.getCell(2).numFmt = numFmt;
    return r;
  };
  put(l.generatedAt, beijing(options.now), DATE_TIME_FORMAT);
  const glance = options.glance;
  if (glance === null) {
    sheet.addRow([]);
    sheet.addRow([zh ? '数据库中还没有运行记录。' : 'No runs in the database yet.']);
    return;
  }
  const d = glance.data;
  put(l.dealer, text(glance.dealerId));
  put(l.businessDate, d.request.from === d.request.to ? day(d.request.to) : `${d.request.from} – ${d.request.to}`, DATE_FORMAT);
  put(l.lastSuccess, d.lastSuccess === null ? l.never : l.runOf(d.lastSuccess.id, d.lastSuccess.business_date));

  const amount = (v: string) => Number(v);
  const section = (name: string, headers: string[]) => {
    sheet.addRow([]);
    sheet.addRow([name]).font = { bold: true, size: 12 };
    const h = sheet.addRow(headers);
    h.font = { bold: true };
    h.fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FFF1F5F9' } };
  };
  const numbered = (values: ExcelJS.CellValue[], amountColumns: number[]) => {
    const r = sheet.addRow(values);
    for (const c of amountColumns) r.getCell(c).numFmt = AMOUNT_FORMAT;
    return r;
  };

  section(l.glance, [l.side, l.count, l.amount, l.paid, `${l.paid} ${l.amount}`, l.returned, `${l.returned} ${l.amount}`, l.fees]);
  const o = d.orders;
  numbered([l.orderFile, o.rows, amount(o.amount), o.paid, amount(o.paidAmount), o.returned, amount(o.returnedAmount), amount(o.fees)], [3, 5, 7, 8]);
  const b = d.bills;
  numbered([l.billFile, b.rows, null, b.payouts, amount(b.payoutAmount), b.returns, amount(b.returnAmount), amount(b.fees)], [5, 7, 8]);
  const g = d.ledger;
  numbered([l.ledger, g.rows, amount(g.amount), g.paid, amount(g.paidAmount), null, null, null], [3, 5]);
  sheet.addRow([l.glanceNote]).font = { italic: true, color: { argb: 'FF64748B' } };

  section(l.findingsBySeverity, [l.severity, l.open, l.resolved, l.newFindings, l.resolvedByRuns, l.acked, `${l.open} ${l.amount}`]);
  for (const name of SEVERITIES) {
    const s = d.severities.find((x) => x.severity === name);
    if (s === undefined) continue;
    numbered([l.severities[name], s.open, s.resolved, s.opened, s.resolvedByRuns, s.acked, amount(s.openAmount)], [7]);
  }

  section(l.kpiBacklog, zh
    ? ['待处理', '其中未确认', '严重 · 待处理', '风险金额（严重，元）']
    : ['Open', 'Not acknowledged', 'Critical open', 'At risk (critical, CNY)']);
  numbered([d.backlog.open, d.backlog.unacked, d.backlog.criticalOpen, amount(d.backlog.criticalAmount)], [4]);
}
