import { isUtf8 } from 'node:buffer';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { TextDecoder } from 'node:util';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import { ReconError } from '../errors.js';
import type { FileKind } from './protocol.js';
import {
  BILL_COLUMNS, BILL_STATUS_TEXT, BILL_TYPE_TEXT, CHANNEL_TEXT, ORDER_COLUMNS, ORDER_STATUS_TEXT,
  parseFen, parseShanghaiTime, type BillRow, type OrderRow,
} from './file-format.js';

/** Columns whose values may be echoed in an error; the others may hold personal data. */
const ECHOABLE = new Set(['amount', 'fee', 'createdAt', 'finishedAt', 'statusText', 'billType', 'billStatus', 'channel']);

function formatError(label: string, line: number, column: string | null, what: string): ReconError {
  const where = column === null ? `${label} line ${line}` : `${label} line ${line}, column ${column}`;
  return new ReconError('FILE_FORMAT', `${where}: ${what}`, { facts: { file: label, line, column: column ?? undefined } });
}

/** What the text stage learned that the row stage needs. */
interface TextFacts {
  /** A `"` was seen: a quoted field may span lines, so line numbers must count its newlines. */
  quoted: boolean;
}

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

/**
 * Checks the decompressed bytes' encoding. UTF-8 (with or without BOM) passes through as
 * bytes, validated strictly so that a bad byte is an error rather than a silent U+FFFD; a file
 * whose first bytes are not UTF-8 (a Chinese header in GB18030 never is) is decoded as GB18030.
 */
function textStage(label: string, facts: TextFacts): Transform {
  const SNIFF = 4096;
  let mode: 'sniff' | 'utf8' | 'gb18030' = 'sniff';
  let head: Buffer[] = [];
  let headLength = 0;
  let carry: Buffer | null = null;
  let gb: TextDecoder | null = null;
  let blank = true;
  const notText = () => new ReconError('FILE_FORMAT', `${label}: the text is neither valid UTF-8 nor GB18030`, { facts: { file: label } });
  const utf8 = (chunk: Buffer, final: boolean): Buffer => {
    const bytes = carry === null ? chunk : Buffer.concat([carry, chunk]);
    const tail = final ? 0 : incompleteTail(bytes);
    const whole = tail === 0 ? bytes : bytes.subarray(0, bytes.length - tail);
    carry = tail === 0 ? null : Buffer.from(bytes.subarray(bytes.length - tail));
    if (!isUtf8(whole)) throw notText();
    return whole;
  };
  const emit = (stage: Transform, out: Buffer | string) => {
    if (out.length === 0) return;
    if (blank && out.toString().trim() !== '') blank = false;
    if (!facts.quoted && (typeof out === 'string' ? out.includes('"') : out.includes(0x22))) facts.quoted = true;
    stage.push(out);
  };
  const decide = (bytes: Buffer, final: boolean) => {
    const probe = bytes.subarray(0, SNIFF);
    const cut = final ? 0 : incompleteTail(probe);
    mode = isUtf8(probe.subarray(0, probe.length - cut)) ? 'utf8' : 'gb18030';
    if (mode === 'gb18030') gb = new TextDecoder('gb18030');
  };
  const convert = (chunk: Buffer, final: boolean): Buffer | string => {
    if (mode === 'utf8') return utf8(chunk, final);
    try {
      return gb!.decode(chunk, { stream: !final });
    } catch {
      throw notText();
    }
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        if (mode === 'sniff') {
          head.push(chunk);
          headLength += chunk.length;
          if (headLength < SNIFF) return done();
          const bytes = Buffer.concat(head);
          head = [];
          decide(bytes, false);
          emit(this, convert(bytes, false));
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
        if (mode === 'sniff') {
          const bytes = Buffer.concat(head);
          decide(bytes, true);
          emit(this, convert(bytes, true));
        } else {
          emit(this, convert(Buffer.alloc(0), true));
        }
        // An empty file is an error: a real day with no orders still has its header row.
        if (blank) throw new ReconError('FILE_FORMAT', `${label}: the file is empty (no header row)`, { facts: { file: label } });
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

type ColumnMap = Readonly<Record<string, string>>;

/** Reads the header: every expected column exactly once, nothing else. Returns field → index. */
function readHeader(cells: string[], columns: ColumnMap, label: string): Record<string, number> {
  const index: Record<string, number> = {};
  cells.forEach((raw, i) => {
    const name = raw.replace(/^\uFEFF/, '').trim();
    const field = columns[name];
    if (field === undefined) throw formatError(label, 1, name, `unknown column "${name}" in the header`);
    if (index[field] !== undefined) throw formatError(label, 1, name, `column "${name}" appears twice in the header`);
    index[field] = i;
  });
  const missing = Object.entries(columns).filter(([, field]) => index[field] === undefined).map(([name]) => name);
  if (missing.length > 0) throw formatError(label, 1, null, `missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} in the header`);
  return index;
}

type Converter = (cells: string[], line: number) => OrderRow | BillRow;

/** A cell as text: trimmed only when it has surrounding space (most cells have none). */
function cellText(cells: string[], i: number): string {
  const v = cells[i] ?? '';
  return v.length > 0 && (v.charCodeAt(0) <= 32 || v.charCodeAt(v.length - 1) <= 32) ? v.trim() : v;
}

/** Builds the row converter for one header: column indices are resolved once, not per row. */
function makeConverter(kind: FileKind, index: Record<string, number>, label: string): Converter {
  const names = Object.fromEntries(Object.entries(kind === 'order' ? ORDER_COLUMNS : BILL_COLUMNS).map(([n, f]) => [f, n]));
  const fail = (line: number, field: string, what: string, value: string): never => {
    throw formatError(label, line, names[field]!, ECHOABLE.has(field) ? `${what} "${value}"` : what);
  };
  const at = (field: string) => index[field]!;
  const optional = (cells: string[], i: number): string | null => {
    const v = cellText(cells, i);
    return v === '' || v === '-/-' ? null : v;
  };
  const required = (cells: string[], i: number, field: string, line: number): string => {
    const v = optional(cells, i);
    return v === null ? fail(line, field, 'is empty', '') : v;
  };
  const amount = (cells: string[], i: number, field: string, line: number): bigint => {
    const v = cellText(cells, i);
    const fen = parseFen(v);
    return fen === null ? fail(line, field, 'malformed amount', v) : fen;
  };
  const optionalAmount = (cells: string[], i: number, field: string, line: number): bigint | null => {
    const v = cellText(cells, i);
    return v === '' || v === '-/-' ? null : amount(cells, i, field, line);
  };
  const time = (cells: string[], i: number, field: string, line: number): number | null => {
    const v = cellText(cells, i);
    if (v === '' || v === '-/-') return null;
    const ms = parseShanghaiTime(v);
    return ms === null ? fail(line, field, 'invalid date-time (expected YYYY-MM-DD HH:mm:ss)', v) : ms;
  };
  const iChannel = at('channel');
  const channel = (cells: string[], line: number) => {
    const v = cellText(cells, iChannel);
    if (v === '' || v === '-/-') return null;
    return CHANNEL_TEXT[v] ?? fail(line, 'channel', 'unknown channel', v);
  };
  const [iOrder, iRef, iName, iBroker, iAmount, iChannelRef, iCreated, iFinished] =
    ['orderId', 'providerRef', 'name', 'brokerId', 'amount', 'channelRef', 'createdAt', 'finishedAt'].map(at) as number[];

  if (kind === 'order') {
    const [iBatch, iStatus, iAccount, iFee, iCredit, iFeeBill, iBalance] =
      ['batchId', 'statusText', 'account', 'fee', 'creditBillNo', 'feeBillNo', 'balanceBillNo'].map(at) as number[];
    return (cells, line): OrderRow => {
      const statusText = cellText(cells, iStatus!);
      const status = ORDER_STATUS_TEXT[statusText] ?? fail(line, 'statusText', 'unknown order status', statusText);
      return {
        line,
        orderId: required(cells, iOrder!, 'orderId', line),
        providerRef: required(cells, iRef!, 'providerRef', line),
        batchId: optional(cells, iBatch!),
        name: optional(cells, iName!),
        brokerId: optional(cells, iBroker!),
        statusText,
        status,
        account: optional(cells, iAccount!),
        channel: channel(cells, line),
        amountFen: amount(cells, iAmount!, 'amount', line),
        feeFen: optionalAmount(cells, iFee!, 'fee', line),
        channelRef: optional(cells, iChannelRef!),
        creditBillNo: optional(cells, iCredit!),
        feeBillNo: optional(cells, iFeeBill!),
        balanceBillNo: optional(cells, iBalance!),
        createdAt: time(cells, iCreated!, 'createdAt', line),
        finishedAt: time(cells, iFinished!, 'finishedAt', line),
      };
    };
  }
  const [iBillRef, iType, iBillStatus] = ['billRef', 'billType', 'billStatus'].map(at) as number[];
  return (cells, line): BillRow => {
    const typeText = cellText(cells, iType!);
    const statusText = cellText(cells, iBillStatus!);
    return {
      line,
      orderId: required(cells, iOrder!, 'orderId', line),
      providerRef: required(cells, iRef!, 'providerRef', line),
      billRef: required(cells, iBillRef!, 'billRef', line),
      billType: BILL_TYPE_TEXT[typeText] ?? fail(line, 'billType', 'unknown 流水类型', typeText),
      billStatus: BILL_STATUS_TEXT[statusText] ?? fail(line, 'billStatus', 'unknown 流水状态', statusText),
      channel: channel(cells, line),
      name: optional(cells, iName!),
      brokerId: optional(cells, iBroker!),
      amountFen: amount(cells, iAmount!, 'amount', line),
      channelRef: optional(cells, iChannelRef!),
      createdAt: time(cells, iCreated!, 'createdAt', line),
      finishedAt: time(cells, iFinished!, 'finishedAt', line),
    };
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
  const columns: ColumnMap = kind === 'order' ? ORDER_COLUMNS : BILL_COLUMNS;
  const push = parser.push.bind(parser);
  let convert: Converter | null = null;
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
      if (cells.length === 1 && cells[0] === '') return true;
      if (convert === null) {
        convert = makeConverter(kind, readHeader(cells, columns, label), label);
        width = cells.length;
        return true;
      }
      if (cells.length !== width) {
        throw formatError(label, recordLine, null, `wrong number of fields (${cells.length}; the header has ${width})`);
      }
      return push(convert(cells, recordLine));
    } catch (err) {
      failed = true;
      parser.destroy(err as Error);
      return false;
    }
  };
}

function wrapStreamError(err: unknown, label: string): ReconError {
  if (err instanceof ReconError) return err;
  const e = err as NodeJS.ErrnoException & { lines?: number };
  if (e.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(e.message)) {
    return new ReconError('FILE_FORMAT', `${label}: the gzip stream is truncated (unexpected end of file)`, { cause: err, facts: { file: label } });
  }
  if (e.code === 'Z_DATA_ERROR') {
    return new ReconError('FILE_FORMAT', `${label}: not a valid gzip file (${e.message})`, { cause: err, facts: { file: label } });
  }
  if (typeof e.code === 'string' && e.code.startsWith('CSV_')) {
    return formatError(label, e.lines ?? 0, null, `malformed CSV (${e.code}: ${e.message.split(':')[0]})`);
  }
  return new ReconError('FILE_FORMAT', `${label}: ${e.message}`, { cause: err, facts: { file: label } });
}

/**
 * Streams a gzip CSV provider file as typed rows (an object-mode Readable). Every error names
 * the file (`label`), the line and, where it applies, the column. Backpressure flows through:
 * nothing is read from `source` faster than the consumer takes rows.
 */
export function readProviderFile(source: Readable, kind: 'order', label: string): Readable;
export function readProviderFile(source: Readable, kind: 'bill', label: string): Readable;
export function readProviderFile(source: Readable, kind: FileKind, label: string): Readable {
  const facts: TextFacts = { quoted: false };
  // Blank lines come through as [''] so that the line count includes them.
  const rows = parse({ bom: true, relax_column_count: true, skip_empty_lines: false });
  convertOnPush(rows, kind, label, facts);
  // pipeline() destroys every stage with the raw error (zlib's, csv-parse's) before its
  // callback runs, so the mapping to a message that names the file happens here.
  const destroy = rows.destroy.bind(rows);
  rows.destroy = (err?: Error) => destroy(err === undefined || err === null ? err : wrapStreamError(err, label));
  pipeline(source, createGunzip(), textStage(label, facts), rows, () => {});
  return rows;
}
