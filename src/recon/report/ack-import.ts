import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import type { Session } from '../../db/connection.js';
import { ReconError } from '../../errors.js';
import { restoreCell } from './csv.js';
import { ACK_VERSION_SQL } from './findings.js';
import { showControls } from './visible.js';

/**
 * Acknowledgements from a report CSV that finance edited in Excel: only ack_by and ack_note
 * change, matched by id, and only where the finding is as it was when exported (same
 * last_seen_run_id, not resolved since) and so is its acknowledgement (same ack_version):
 * compare-and-set, so that a file exported before someone else's import never overwrites it. Values are stored as the text they are: a cell
 * holding "=HYPERLINK(…)" is a note, never evaluated, and the CSV export neutralizes it again.
 */

export const MAX_ACK_BY = 100;
export const MAX_ACK_NOTE = 2000;

export interface AckFileRow {
  /** The row's number as Excel shows it (the header is row 1). */
  row: number;
  id: number;
  version: number;
  /**
   * The acknowledgement as exported (ACK_VERSION_SQL): '' when there was none; undefined when
   * the file has no ack_version column (exported before it existed).
   */
  ackVersion: string | undefined;
  /** The finding's status as exported, when the file has the column. */
  status: string | undefined;
  ackBy: string;
  ackNote: string;
}

export interface DecodedFile {
  text: string;
  encoding: 'UTF-8' | 'UTF-16' | 'GB18030';
}

/** What `--encoding` may say of a file without a byte-order mark. */
export const CSV_ENCODINGS = ['utf8', 'gb18030', 'utf16'] as const;
export type CsvEncoding = (typeof CSV_ENCODINGS)[number];

const NAMES: Record<CsvEncoding, DecodedFile['encoding']> = { utf8: 'UTF-8', gb18030: 'GB18030', utf16: 'UTF-16' };

/** The 1-based line of the first bytes that do not decode, and the first byte of that line that does not. */
function firstBadLine(body: Uint8Array, decoder: string): { line: number; byte: number | undefined } {
  let line = 1;
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    if (i < body.length && body[i] !== 0x0a) continue;
    const bytes = body.subarray(start, i);
    try {
      new TextDecoder(decoder, { fatal: true }).decode(bytes);
    } catch {
      return { line, byte: bytes.find((b) => b >= 0x80) };
    }
    line++;
    start = i + 1;
  }
  return { line, byte: undefined };
}

/**
 * Excel saves "CSV UTF-8" with a BOM, plain "CSV" in the system code page (GB18030/GBK on
 * Chinese Windows), and "Unicode text" as UTF-16 with a BOM. The BOM decides; a file without
 * one is strict UTF-8 unless `encoding` (the command's --encoding) says otherwise. Nothing is
 * guessed: GBK bytes can be valid UTF-8 (谢小英 reads as лСӢ) and Windows-1252 bytes valid
 * GB18030 (Renée as Ren閑), so a guess can only be wrong without a word. Every decoder is
 * fatal: one invalid sequence refuses the whole file, naming its line.
 */
export function decodeCsvFile(bytes: Buffer, name: string, encoding?: CsvEncoding): DecodedFile {
  const decode = (decoder: string, body: Uint8Array) => new TextDecoder(decoder, { fatal: true, ignoreBOM: true }).decode(body);
  const bom: [CsvEncoding, string, number] | null = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? ['utf8', 'utf-8', 3]
    : bytes[0] === 0xff && bytes[1] === 0xfe ? ['utf16', 'utf-16le', 2]
      : bytes[0] === 0xfe && bytes[1] === 0xff ? ['utf16', 'utf-16be', 2] : null;
  if (bom !== null) {
    if (encoding !== undefined && encoding !== bom[0]) {
      throw new ReconError('USAGE', `${name}: starts with a ${NAMES[bom[0]]} byte-order mark, but --encoding says ${encoding}`);
    }
    try {
      return { text: decode(bom[1], bytes.subarray(bom[2])), encoding: NAMES[bom[0]] };
    } catch {
      throw new ReconError('USAGE', `${name}: starts with a byte-order mark but does not decode as that encoding`);
    }
  }
  const chosen = encoding ?? 'utf8';
  const decoder = chosen === 'utf8' ? 'utf-8' : chosen === 'utf16' ? 'utf-16le' : 'gb18030';
  try {
    return { text: decode(decoder, bytes), encoding: NAMES[chosen] };
  } catch {
    const bad = chosen === 'utf16' ? null : firstBadLine(bytes, decoder);
    const where = bad === null ? 'is not valid UTF-16 (little-endian, as Windows writes it without a byte-order mark)'
      : `line ${bad.line} is not valid ${NAMES[chosen]}${bad.byte === undefined ? '' : ` (byte 0x${bad.byte.toString(16).padStart(2, '0')})`}`;
    const hint = chosen === 'utf8'
      ? '; if Excel on Chinese Windows saved it as plain CSV, import it with --encoding gb18030, or save it from Excel as "CSV UTF-8"'
      : '; save it from Excel as "CSV UTF-8"';
    throw new ReconError('USAGE', `${name}: ${where}${hint}`);
  }
}

const REQUIRED = ['id', 'last_seen_run_id', 'ack_by', 'ack_note'] as const;

/** The rows of an exported-and-edited report CSV: comma- or tab-separated, quoted newlines kept. */
export function parseAckCsv(file: DecodedFile, name: string): AckFileRow[] {
  const firstLine = file.text.slice(0, file.text.search(/\r?\n|$/));
  const delimiter = firstLine.includes('\t') && !firstLine.includes(',') ? '\t' : firstLine.includes(';') && !firstLine.includes(',') ? ';' : ',';
  let records: string[][];
  try {
    records = parse(file.text, { delimiter, relax_column_count: true, bom: true });
  } catch (err) {
    throw new ReconError('USAGE', `${name}: not a readable CSV: ${(err as Error).message}`);
  }
  const header = records[0]?.map((h) => h.trim().toLowerCase());
  if (header === undefined) throw new ReconError('USAGE', `${name}: empty file`);
  const index = Object.fromEntries(REQUIRED.map((c) => [c, header.indexOf(c)])) as Record<(typeof REQUIRED)[number], number>;
  const missing = REQUIRED.filter((c) => index[c] < 0);
  if (missing.length > 0) {
    throw new ReconError('USAGE', `${name}: no column ${missing.join(', ')}; use a file from \`yzh-recon report --format csv\``);
  }
  const statusAt = header.indexOf('status');
  const ackVersionAt = header.indexOf('ack_version');
  const rows: AckFileRow[] = [];
  for (let i = 1; i < records.length; i++) {
    const record = records[i]!;
    if (record.every((c) => c.trim() === '')) continue;
    const get = (i: number) => (i >= 0 ? record[i] ?? '' : '');
    const id = get(index.id).trim();
    const version = get(index.last_seen_run_id).trim();
    if (!/^\d+$/.test(id) || !/^\d+$/.test(version)) {
      throw new ReconError('USAGE', showControls(`${name}: row ${i + 1}: id and last_seen_run_id must be whole numbers, got "${id}" and "${version}"`));
    }
    rows.push({
      row: i + 1,
      id: Number(id),
      version: Number(version),
      ackVersion: ackVersionAt >= 0 ? get(ackVersionAt).trim() : undefined,
      status: statusAt >= 0 ? get(statusAt).trim() || undefined : undefined,
      ackBy: restoreCell(get(index.ack_by).trim()),
      ackNote: restoreCell(get(index.ack_note).replace(/\r\n?/g, '\n').trim()),
    });
  }
  return rows;
}

export interface AckChange {
  row: AckFileRow;
  finding: string;
  ackBy: string;
  ackNote: string | null;
  /** The acknowledgement the change replaces, as planned: the write checks it again. */
  ackVersion: string;
}

export interface AckRefusal {
  row: AckFileRow;
  finding: string;
  reason: string;
}

export interface AckPlan {
  changes: AckChange[];
  refusals: AckRefusal[];
  unchanged: number;
}

interface Current {
  id: number;
  dealer_id: string;
  business_date: string;
  kind: string;
  order_id: string | null;
  status: string;
  last_seen_run_id: number;
  resolved_run_id: number | null;
  ack_by: string | null;
  ack_note: string | null;
  ack_version: string;
  /** ack_at in Beijing time, to the minute. */
  ack_at: string | null;
}

/**
 * Decides each row against the findings as they are now, with them locked: a blank cell
 * leaves the stored value as it is (clearing an acknowledgement is not done from a file);
 * a row that changes nothing is not checked for staleness.
 */
export async function planAcks(session: Session, rows: AckFileRow[], dealerId: string | undefined): Promise<AckPlan> {
  const ids = [...new Set(rows.map((r) => r.id))];
  const found: Current[] = await session.db
    .selectFrom('recon.discrepancies')
    .select([
      'id', 'dealer_id', 'business_date', 'kind', 'order_id', 'status', 'last_seen_run_id', 'resolved_run_id', 'ack_by', 'ack_note',
      sql<string>`${sql.raw(ACK_VERSION_SQL)}`.as('ack_version'),
      sql<string | null>`to_char(ack_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI')`.as('ack_at'),
    ])
    .where('id', '=', sql<number>`any(${ids}::bigint[])`)
    .orderBy('id')
    .forUpdate()
    .execute();
  const byId = new Map(found.map((r) => [r.id, r]));
  const plan: AckPlan = { changes: [], refusals: [], unchanged: 0 };
  const seen = new Map<number, number>();
  for (const row of rows) {
    const cur = byId.get(row.id);
    const finding = cur === undefined ? `id ${row.id}` : `id ${cur.id} (${cur.business_date} ${cur.kind}${cur.order_id === null ? '' : ` ${cur.order_id}`})`;
    const refuse = (reason: string) => plan.refusals.push({ row, finding, reason });
    if (row.ackBy === '' && row.ackNote === '') {
      plan.unchanged++;
      continue;
    }
    const earlier = seen.get(row.id);
    seen.set(row.id, row.row);
    if (earlier !== undefined) { refuse(`also on row ${earlier} of the file`); continue; }
    if (cur === undefined || (dealerId !== undefined && cur.dealer_id !== dealerId)) { refuse('no such finding'); continue; }
    const ackBy = row.ackBy || cur.ack_by;
    const ackNote = row.ackNote || cur.ack_note;
    if (ackBy === cur.ack_by && ackNote === cur.ack_note) { plan.unchanged++; continue; }
    if (ackBy === null || ackBy === '') { refuse('ack_note without ack_by: say who acknowledges it'); continue; }
    if (ackBy.length > MAX_ACK_BY) { refuse(`ack_by longer than ${MAX_ACK_BY} characters`); continue; }
    if ((ackNote ?? '').length > MAX_ACK_NOTE) { refuse(`ack_note longer than ${MAX_ACK_NOTE} characters`); continue; }
    if (cur.last_seen_run_id !== row.version) {
      refuse(`changed since the export: seen by run ${cur.last_seen_run_id}, the file has run ${row.version}; export the report again`);
      continue;
    }
    const acked = cur.ack_by === null ? 'its acknowledgement changed' : `acknowledged by ${cur.ack_by}${cur.ack_at === null ? '' : ` at ${cur.ack_at}`}`;
    if (row.ackVersion === undefined && cur.ack_version !== '') {
      refuse(`${acked}, and the file has no ack_version column to show whether that was seen: export the report again`);
      continue;
    }
    if (row.ackVersion !== undefined && row.ackVersion !== cur.ack_version) {
      refuse(`${acked} since the export; export the report again`);
      continue;
    }
    if (cur.status !== 'open' && row.status !== cur.status) {
      refuse(`resolved by run ${cur.resolved_run_id} since the export; export the report again`);
      continue;
    }
    plan.changes.push({ row, finding, ackBy, ackNote, ackVersion: cur.ack_version });
  }
  return plan;
}

/** Writes the planned changes; each update checks again that the row version and the acknowledgement still hold. */
export async function applyAcks(session: Session, changes: AckChange[]): Promise<void> {
  for (const c of changes) {
    const r = await session.db
      .updateTable('recon.discrepancies')
      .set({ ack_by: c.ackBy, ack_note: c.ackNote, ack_at: sql`now()` })
      .where('id', '=', c.row.id)
      .where('last_seen_run_id', '=', c.row.version)
      .where(sql<string>`${sql.raw(ACK_VERSION_SQL)}`, '=', c.ackVersion)
      .executeTakeFirst();
    if (r.numUpdatedRows !== 1n) throw new ReconError('DATABASE', showControls(`${c.finding} changed while it was being acknowledged; nothing was written`));
  }
}
