import ExcelJS from 'exceljs';
import { ReconError } from '../../errors.js';
import { parseAckCsv, type AckFileRow } from './ack-import.js';
import { headerIndex, SHEET_NAMES } from './xlsx.js';

/**
 * Acknowledgements from a report workbook (`report --format xlsx`) that finance edited in Excel
 * or WPS. The findings sheet is found by its name in either language (差异 / Findings; a sheet
 * added beside it does not matter); its header row is read by name, in whatever order the
 * columns were dragged into, and turned back into the CSV's column names. The rows then go
 * through the CSV import's own reading (parseAckCsv), so that an id, a row version or an
 * acknowledgement is checked in one place whatever the file's format; Excel's row numbers are
 * kept, so a refusal names the row finance sees.
 */

/** A zip file (xlsx is one): the local file header's signature. */
export function isXlsx(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** The text a person sees in a cell (a formula's own text, as they typed it, not its result). */
export function cellText(value: ExcelJS.CellValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (value instanceof Date) return value.toISOString().slice(0, 10);
  if ('richText' in value) return value.richText.map((r) => r.text).join('');
  if ('formula' in value || 'sharedFormula' in value) {
    const f = 'formula' in value ? value.formula : value.sharedFormula;
    return `=${f}`;
  }
  if ('hyperlink' in value) return cellText(value.text);
  if ('error' in value) return String(value.error);
  return '';
}

const quote = (v: string) => `"${v.replace(/"/g, '""')}"`;

const REQUIRED = ['id', 'last_seen_run_id'];

export async function readAckXlsx(bytes: Buffer, name: string): Promise<AckFileRow[]> {
  const book = new ExcelJS.Workbook();
  try {
    await book.xlsx.load(bytes as unknown as ArrayBuffer);
  } catch (err) {
    throw new ReconError('USAGE', `${name}: not a readable Excel workbook (.xlsx): ${(err as Error).message}`);
  }
  const names = new Set<string>([SHEET_NAMES.findings.zh, SHEET_NAMES.findings.en.toLowerCase()]);
  const index = headerIndex();
  const headerOf = (sheet: ExcelJS.Worksheet) => {
    const row = sheet.getRow(1);
    const cells: string[] = [];
    for (let c = 1; c <= Math.max(row.cellCount, 0); c++) {
      const t = cellText(row.getCell(c).value).trim();
      cells.push(index.get(t.toLowerCase()) ?? t);
    }
    return cells;
  };
  let sheet = book.worksheets.find((s) => names.has(s.name.trim().toLowerCase()) || names.has(s.name.trim()));
  if (sheet === undefined) {
    // Renamed: the one sheet whose header has the columns the import needs.
    const candidates = book.worksheets.filter((s) => REQUIRED.every((c) => headerOf(s).includes(c)));
    if (candidates.length === 1) sheet = candidates[0];
  }
  if (sheet === undefined) {
    const present = book.worksheets.map((s) => s.name).join(', ') || 'none';
    throw new ReconError('USAGE', `${name}: no sheet named ${SHEET_NAMES.findings.zh} or ${SHEET_NAMES.findings.en} (sheets: ${present}); use a workbook from \`yzh-recon report --format xlsx\``);
  }
  const header = headerOf(sheet);
  if (header.length === 0) throw new ReconError('USAGE', `${name}: sheet ${sheet.name}: empty`);
  const lines = [header.map(quote).join(',')];
  for (let r = 2; r <= sheet.rowCount; r++) {
    const row = sheet.getRow(r);
    const cells: string[] = [];
    for (let c = 1; c <= header.length; c++) cells.push(cellText(row.getCell(c).value));
    lines.push(cells.map(quote).join(','));
  }
  return parseAckCsv({ text: `${lines.join('\r\n')}\r\n`, encoding: 'UTF-8' }, `${name} (${sheet.name})`);
}
