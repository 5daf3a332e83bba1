import { isUtf8 } from 'node:buffer';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { TextDecoder } from 'node:util';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import { ReconError } from '../errors.js';
import type { FileKind } from './protocol.js';
import {
  FILE_SPECS, NULL_TEXT, parseFen, parseShanghaiTime, type BillRow, type ColumnMap, type ColumnSpec, type OrderRow,
} from './file-format.js';

export function formatError(label: string, line: number, column: string | null, what: string): ReconError {
  const where = column === null ? `${label} line ${line}` : `${label} line ${line}, column ${column}`;
  return new ReconError('FILE_FORMAT', `${where}: ${what}`, { facts: { file: label, line, column: column ?? undefined } });
}

/**
 * The largest record the reader takes, in bytes of UTF-8 text (csv-parse's `max_record_size`).
 * The document's largest legal row is under 1,100 bytes: an order row has 16 fields, the
 * longest of them ids of at most 64 characters (商户订单号, 商户批次号, 渠道流水号), the others
 * amounts, times, masked names and accounts, and 64 Chinese characters would be 192 bytes.
 * 64 KiB leaves a margin of sixty times that, and keeps what one stray quote can make the
 * parser hold (the rest of the file as one field) to 64 KiB instead of the file's size.
 */
export const MAX_RECORD_BYTES = 65_536;

/** Line 1 is 16 column names, a few hundred bytes; the encoding is decided on at most this much. */
const HEADER_MAX_BYTES = 65_536;

/** What the text stage learned that the row stage needs, and the reverse. */
export interface TextFacts {
  /** A `"` was seen: a quoted field may span lines, so line numbers must count its newlines. */
  quoted: boolean;
  /** A NUL byte was seen: Postgres text cannot hold one, so cells are checked for it. */
  nul: boolean;
  /** Lines taken by the records converted so far: the next record starts on the line after. */
  lines: number;
}

type Encoding = 'UTF-8' | 'GB18030';

/** Bytes of an incomplete UTF-8 sequence at the end of `chunk` (0 when it ends cleanly). */
function incompleteTail(chunk: Buffer): number {
  for (let back = 1; back <= Math.min(3, chunk.length); back++) {
    const b = chunk[chunk.length - back]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

function countNewlines(bytes: Buffer, end = bytes.length): number {
  let n = 0;
  for (let i = bytes.indexOf(10); i !== -1 && i < end; i = bytes.indexOf(10, i + 1)) n++;
  return n;
}

/** `bytes` strictly decoded (an incomplete character at the end allowed), or null. */
function strictDecode(encoding: Encoding, bytes: Buffer): string | null {
  try {
    return new TextDecoder(encoding, { fatal: true }).decode(bytes, { stream: true });
  } catch {
    return null;
  }
}

/**
 * Index of the byte at which strict decoding of `bytes` (starting at a character boundary)
 * fails, or -1 when every complete character decodes. A binary search over prefixes: only
 * called once a chunk has failed, so its cost does not matter.
 */
function firstInvalidByte(encoding: Encoding, bytes: Buffer): number {
  if (strictDecode(encoding, bytes) !== null) return -1;
  let good = 0;
  let bad = bytes.length;
  while (bad - good > 1) {
    const mid = (good + bad) >>> 1;
    if (strictDecode(encoding, bytes.subarray(0, mid)) === null) bad = mid;
    else good = mid;
  }
  return bad - 1;
}

/**
 * Where the character holding byte `index` starts: the last character boundary at or before
 * it, so that a lead byte followed by a bad one (0xE9 then "2") is shown whole.
 */
function characterStart(encoding: Encoding, bytes: Buffer, index: number): number {
  const complete = (n: number) => {
    try {
      new TextDecoder(encoding, { fatal: true }).decode(bytes.subarray(0, n));
      return true;
    } catch {
      return false;
    }
  };
  for (let j = index; j > 0 && j > index - 4; j--) if (complete(j)) return j;
  return Math.max(0, index - 3);
}

const hex = (b: number | undefined) => `0x${(b ?? 0).toString(16).toUpperCase().padStart(2, '0')}`;

/**
 * The first sequence of `bytes` that does not decode: its offset, whether the bytes simply
 * ran out, and "bytes 0xE9 0x32 at byte offset 588 are" for a message.
 */
function invalidSequence(encoding: Encoding, bytes: Buffer): { offset: number; truncated: boolean; text: string } {
  const at = firstInvalidByte(encoding, bytes);
  const index = at === -1 ? bytes.length : at;
  const first = characterStart(encoding, bytes, index);
  const shown = [...bytes.subarray(first, Math.min(index + 1, bytes.length))].map(hex);
  const text = `${shown.length > 1 ? `bytes ${shown.join(' ')}` : `byte ${shown[0]}`} at byte offset {offset} ${shown.length > 1 ? 'are' : 'is'}`;
  return { offset: first, truncated: at === -1, text: text.replace('{offset}', String(first)) };
}

/**
 * Decides the file's encoding on its header line, which is known Chinese column names: the
 * UTF-8 and the GB18030 bytes of those names are never both readable as names, so a stray
 * byte further down cannot sway the decision (deciding on the first 4 KB could).
 */
function decideEncoding(head: Buffer, columns: ColumnMap, label: string): Encoding {
  const newline = head.indexOf(10);
  const line = head.subarray(0, newline === -1 ? head.length : newline);
  if (line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf) return 'UTF-8';
  const names = Object.keys(columns);
  const known = (text: string | null) => text !== null && names.some((n) => text.includes(n));
  const utf8 = strictDecode('UTF-8', line);
  if (known(utf8)) return 'UTF-8';
  const gb = strictDecode('GB18030', line);
  if (known(gb)) return 'GB18030';
  // No known name either way: a header of other names reads as UTF-8, and the header check names them.
  if (utf8 !== null) return 'UTF-8';
  const bad = invalidSequence('UTF-8', line);
  const why = gb === null
    ? `${bad.text} not UTF-8, and ${invalidSequence('GB18030', line).text} not GB18030`
    : `${bad.text} not UTF-8, and read as GB18030 it holds none of the expected column names`;
  throw new ReconError('FILE_FORMAT', `${label} line 1: the header is neither UTF-8 nor GB18030: ${why}`, {
    facts: { file: label, line: 1, byteOffset: bad.offset },
  });
}

/**
 * Checks the decompressed bytes' encoding, decided on the header line (decideEncoding). UTF-8
 * (with or without BOM) passes through as bytes, validated strictly; GB18030 is decoded with
 * a fatal decoder. Either way a byte that does not decode is an error naming the file, the
 * line, the byte offset (from 0, in the decompressed file) and the encoding the header showed,
 * never a silent U+FFFD.
 */
export function textStage(label: string, columns: ColumnMap, facts: TextFacts): Transform {
  let mode: 'head' | Encoding = 'head';
  let head: Buffer[] = [];
  let headLength = 0;
  /** Bytes of the file before the current chunk. */
  let offset = 0;
  /** Newlines in the bytes before the current chunk (the carry's bytes have none). */
  let newlines = 0;
  /** UTF-8: an incomplete character at the end of the last chunk, held for the next. */
  let carry: Buffer | null = null;
  let gb: TextDecoder | null = null;
  /** GB18030: the bytes after the last newline decoded so far, where a character starts (for locating an error). */
  let lineTail: Buffer = Buffer.alloc(0);
  let blank = true;

  const notDecodable = (encoding: Encoding, bytes: Buffer, start: number): ReconError => {
    const bad = invalidSequence(encoding, bytes);
    const line = newlines + countNewlines(bytes, bad.offset) + 1;
    const byteOffset = start + bad.offset;
    const seq = bad.text.replace(`byte offset ${bad.offset}`, `byte offset ${byteOffset}`);
    const what = bad.truncated
      ? `the file ends inside a ${encoding} character (${seq.replace(/ (is|are)$/, '')})`
      : `${seq} not valid ${encoding}`;
    return new ReconError('FILE_FORMAT', `${label} line ${line}: ${what} (the header line is ${encoding}, so the whole file must be)`, {
      facts: { file: label, line, byteOffset, encoding },
    });
  };
  const utf8 = (chunk: Buffer, final: boolean): Buffer => {
    const start = offset - (carry?.length ?? 0);
    const bytes = carry === null ? chunk : Buffer.concat([carry, chunk]);
    const tail = final ? 0 : incompleteTail(bytes);
    const whole = tail === 0 ? bytes : bytes.subarray(0, bytes.length - tail);
    if (!isUtf8(whole)) throw notDecodable('UTF-8', whole, start);
    carry = tail === 0 ? null : Buffer.from(bytes.subarray(bytes.length - tail));
    newlines += countNewlines(whole);
    return whole;
  };
  const gb18030 = (chunk: Buffer, final: boolean): string => {
    let text: string;
    try {
      text = gb!.decode(chunk, { stream: !final });
    } catch {
      // A newline is never part of a GB18030 character, so the bytes after the last one start a character.
      throw notDecodable('GB18030', Buffer.concat([lineTail, chunk]), offset - lineTail.length);
    }
    const last = chunk.lastIndexOf(10);
    if (last !== -1) lineTail = chunk.subarray(last + 1);
    else if (lineTail.length < 4 * MAX_RECORD_BYTES) lineTail = Buffer.concat([lineTail, chunk]);
    newlines += countNewlines(chunk);
    return text;
  };
  const convert = (chunk: Buffer, final: boolean): Buffer | string => {
    const out = mode === 'UTF-8' ? utf8(chunk, final) : gb18030(chunk, final);
    offset += chunk.length;
    return out;
  };
  const emit = (stage: Transform, out: Buffer | string) => {
    if (out.length === 0) return;
    if (blank && out.toString().trim() !== '') blank = false;
    if (typeof out === 'string') {
      if (!facts.quoted && out.includes('"')) facts.quoted = true;
      if (!facts.nul && out.includes('\0')) facts.nul = true;
    } else {
      if (!facts.quoted && out.includes(0x22)) facts.quoted = true;
      if (!facts.nul && out.includes(0)) facts.nul = true;
    }
    stage.push(out);
  };
  const decide = (final: boolean, stage: Transform) => {
    const bytes = Buffer.concat(head);
    head = [];
    mode = decideEncoding(bytes, columns, label);
    if (mode === 'GB18030') gb = new TextDecoder('gb18030', { fatal: true });
    emit(stage, convert(bytes, final));
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        if (mode === 'head') {
          head.push(chunk);
          headLength += chunk.length;
          if (chunk.includes(10) || headLength >= HEADER_MAX_BYTES) decide(false, this);
          return done();
        }
        emit(this, convert(chunk, false));
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done) {
      try {
        if (mode === 'head') decide(true, this);
        else emit(this, convert(Buffer.alloc(0), true));
        // An empty file is an error: a real day with no orders still has its header row.
        if (blank) throw new ReconError('FILE_FORMAT', `${label}: the file is empty (no header row)`, { facts: { file: label } });
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

/** Reads the header: every expected column exactly once, nothing else. Returns field → index. */
export function readHeader(cells: string[], columns: ColumnMap, label: string): Record<string, number> {
  const index: Record<string, number> = {};
  cells.forEach((raw, i) => {
    const name = raw.replace(/^\uFEFF/, '').trim();
    const field = columns[name];
    if (field === undefined) throw formatError(label, 1, name, `unknown column "${name}" in the header`);
    if (index[field] !== undefined) throw formatError(label, 1, name, `column "${name}" appears twice in the header`);
    index[field] = i;
  });
  // A column with several header texts is named by its first.
  const missing: string[] = [];
  const named = new Set<string>();
  for (const [name, field] of Object.entries(columns)) {
    if (index[field] !== undefined || named.has(field)) continue;
    named.add(field);
    missing.push(name);
  }
  if (missing.length > 0) throw formatError(label, 1, null, `missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} in the header`);
  return index;
}

type Converter = (cells: string[], line: number) => OrderRow | BillRow;

/** A cell as text: trimmed only when it has surrounding space (most cells have none). */
function cellText(cells: string[], i: number): string {
  const v = cells[i] ?? '';
  return v.length > 0 && (v.charCodeAt(0) <= 32 || v.charCodeAt(v.length - 1) <= 32) ? v.trim() : v;
}

/** One column's value of a record, converted and checked, set on the row. */
type Step = (cells: string[], line: number, row: Record<string, unknown>) => void;

const absent = (v: string) => v === '' || v === NULL_TEXT;

/** The converter of one column (at index `i` of the file's records), from its spec. */
function columnStep(c: ColumnSpec, i: number, label: string): Step {
  const fail = (line: number, value: string): never => {
    throw formatError(label, line, c.headers[0]!, c.echo ? `${c.what} "${value}"` : c.what!);
  };
  const read = c.trim ? cellText : (cells: string[], j: number) => cells[j] ?? '';
  const { prop, nullable } = c;
  switch (c.kind) {
    case 'text':
      return nullable
        ? (cells, _line, row) => {
          const v = read(cells, i);
          row[prop] = absent(v) ? null : v;
        }
        : (cells, line, row) => {
          const v = read(cells, i);
          row[prop] = absent(v) ? fail(line, '') : v;
        };
    case 'amount':
      return (cells, line, row) => {
        const v = read(cells, i);
        row[prop] = nullable && absent(v) ? null : parseFen(v) ?? fail(line, v);
      };
    case 'time':
      return (cells, line, row) => {
        const v = read(cells, i);
        row[prop] = nullable && absent(v) ? null : parseShanghaiTime(v) ?? fail(line, v);
      };
    case 'code': {
      const codes = c.codes!;
      const textProp = c.text?.prop;
      return (cells, line, row) => {
        const v = read(cells, i);
        if (textProp !== undefined) row[textProp] = v;
        row[prop] = nullable && absent(v) ? null : codes[v] ?? fail(line, v);
      };
    }
  }
}

/**
 * Builds the row converter for one header, from the file's column spec (file-format.ts):
 * column indices are resolved once, not per row, and the columns are checked in the spec's
 * check order, so that the first failure on a line is the one reported.
 */
function makeConverter(kind: FileKind, index: Record<string, number>, label: string): Converter {
  const steps = FILE_SPECS[kind].checkOrder.map((c) => columnStep(c, index[c.field]!, label));
  const n = steps.length;
  return (cells, line) => {
    const row: Record<string, unknown> = { line };
    for (let s = 0; s < n; s++) steps[s]!(cells, line, row);
    return row as unknown as OrderRow | BillRow;
  };
}

/**
 * Records to typed rows, counting lines itself. csv-parse can report each record's line, but
 * only by building a context object per record (on_record), which costs more than the rest
 * of the conversion; counting here is exact: blank lines arrive as records and are counted,
 * and a record's own newlines are counted once the file has shown a quote.
 *
 * The conversion runs inside the parser's own push(): csv-parse pushes each record
 * synchronously, so this costs no extra stream hop per record (an object-mode Transform
 * after the parser added a quarter to the parse time).
 */
function convertOnPush(parser: Transform, kind: FileKind, label: string, facts: TextFacts): void {
  const columns: ColumnMap = FILE_SPECS[kind].byHeader;
  const push = parser.push.bind(parser);
  let convert: Converter | null = null;
  let header: string[] = [];
  let width = 0;
  let line = 0;
  let failed = false;
  parser.push = (cells: string[] | null): boolean => {
    if (cells === null) return push(null);
    if (failed) return false;
    try {
      line++;
      const recordLine = line;
      if (facts.quoted) for (const c of cells) for (let i = c.indexOf('\n'); i >= 0; i = c.indexOf('\n', i + 1)) line++;
      facts.lines = line;
      if (cells.length === 1 && cells[0] === '') return true;
      if (facts.nul) {
        // Postgres text cannot hold U+0000 (it would fail as SQLSTATE 22021, naming no row).
        const at = cells.findIndex((c) => c.includes('\0'));
        if (at !== -1) throw formatError(label, recordLine, convert === null ? null : header[at] ?? null, CSV_FAULTS.nul);
      }
      if (convert === null) {
        convert = makeConverter(kind, readHeader(cells, columns, label), label);
        header = cells.map((c) => c.replace(/^\uFEFF/, '').trim());
        width = cells.length;
        return true;
      }
      if (cells.length !== width) {
        throw formatError(label, recordLine, null, CSV_FAULTS.width(cells.length, width));
      }
      return push(convert(cells, recordLine));
    } catch (err) {
      failed = true;
      parser.destroy(err as Error);
      return false;
    }
  };
}

/** Quoting faults, worded the same by every reader (this one and the load's framer, copy-framer.ts). */
export const CSV_FAULTS = {
  openingQuote: (line: number, start: number) => `malformed CSV (a quote inside a field that does not start with one${onLine(line, start)})`,
  closingQuote: (line: number, start: number) => `malformed CSV (a quoted field's closing quote is followed by more text${onLine(line, start)})`,
  loneCr: 'malformed CSV (a carriage return outside quotes that does not end the line)',
  unclosedQuote: 'a quote opens a field on this line and is never closed (the file ends inside it)',
  recordTooLong: (quoting: boolean) => (quoting
    ? `a quote opens a field on this line and is not closed within ${KIB(MAX_RECORD_BYTES)} (a stray quote?); no legal row is near that long`
    : `the record on this line runs past ${KIB(MAX_RECORD_BYTES)} without ending; no legal row is near that long`),
  nul: 'contains a NUL byte (0x00), which no provider field may hold',
  width: (fields: number, width: number) => `wrong number of fields (${fields}; the header has ${width})`,
};

const onLine = (line: number, start: number) => (line > start ? `, on line ${line} of the record that starts on this line` : '');

export const KIB = (bytes: number) => `${bytes / 1024} KiB`;

export function wrapStreamError(err: unknown, label: string, facts: TextFacts, quoting: boolean): ReconError {
  if (err instanceof ReconError) return err;
  const e = err as NodeJS.ErrnoException & { lines?: number };
  if (e.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(e.message)) {
    return new ReconError('FILE_FORMAT', `${label}: the gzip stream is truncated (unexpected end of file)`, { cause: err, facts: { file: label } });
  }
  if (e.code === 'Z_DATA_ERROR') {
    return new ReconError('FILE_FORMAT', `${label}: not a valid gzip file (${e.message})`, { cause: err, facts: { file: label } });
  }
  if (e.code === 'INVALID_OPENING_QUOTE' || e.code === 'CSV_INVALID_OPENING_QUOTE' || e.code === 'CSV_INVALID_CLOSING_QUOTE') {
    const start = facts.lines + 1;
    const fault = e.code === 'CSV_INVALID_CLOSING_QUOTE' ? CSV_FAULTS.closingQuote : CSV_FAULTS.openingQuote;
    return formatError(label, start, null, fault(e.lines ?? start, start));
  }
  if (typeof e.code === 'string' && e.code.startsWith('CSV_')) {
    // The record in error starts on the line after the last one converted: where its quote
    // opened, not where the parser gave up (the end of the file, for a quote never closed).
    const start = facts.lines + 1;
    if (e.code === 'CSV_MAX_RECORD_SIZE') {
      return formatError(label, start, null, CSV_FAULTS.recordTooLong(quoting));
    }
    if (e.code === 'CSV_QUOTE_NOT_CLOSED') {
      return formatError(label, start, null, CSV_FAULTS.unclosedQuote);
    }
    const where = e.lines !== undefined && e.lines > start ? `, found on line ${e.lines} in the record that starts on this line` : '';
    return formatError(label, start, null, `malformed CSV (${e.code}: ${e.message.split(':')[0]}${where})`);
  }
  return new ReconError('FILE_FORMAT', `${label}: ${e.message}`, { cause: err, facts: { file: label } });
}

/**
 * Streams a gzip CSV provider file as typed rows (an object-mode Readable). Every error names
 * the file (`label`), the line and, where it applies, the column. Backpressure flows through:
 * nothing is read from `source` faster than the consumer takes rows, and no record is held
 * beyond MAX_RECORD_BYTES, so memory stays flat whatever the file holds.
 */
export function readProviderFile(source: Readable, kind: 'order', label: string): Readable;
export function readProviderFile(source: Readable, kind: 'bill', label: string): Readable;
export function readProviderFile(source: Readable, kind: FileKind, label: string): Readable {
  const facts: TextFacts = { quoted: false, nul: false, lines: 0 };
  // Blank lines come through as [''] so that the line count includes them.
  const rows = parse({ bom: true, relax_column_count: true, skip_empty_lines: false, max_record_size: MAX_RECORD_BYTES });
  convertOnPush(rows, kind, label, facts);
  // pipeline() destroys every stage with the raw error (zlib's, csv-parse's) before its
  // callback runs, so the mapping to a message that names the file happens here.
  const destroy = rows.destroy.bind(rows);
  // csv-parse's error does not say whether it stopped inside a quoted field; its state does.
  const quoting = () => (rows as unknown as { state?: { quoting?: boolean } }).state?.quoting === true;
  rows.destroy = (err?: Error) => destroy(err === undefined || err === null ? err : wrapStreamError(err, label, facts, quoting()));
  pipeline(source, createGunzip(), textStage(label, FILE_SPECS[kind].byHeader, facts), rows, () => {});
  return rows;
}
