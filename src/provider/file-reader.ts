import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { TextDecoder } from 'node:util';
import { parse, type InfoRecord, type Options } from 'csv-parse';
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

/**
 * Decodes the decompressed bytes to text: strips a UTF-8 BOM, and when the first bytes are not
 * valid UTF-8 (a Chinese header in GB18030 never is) decodes the whole file as GB18030. UTF-8
 * is decoded strictly, so a bad byte later in the file is an error, not a silent U+FFFD.
 */
function decoder(label: string): Transform {
  let text: TextDecoder | null = null;
  let blank = true;
  let head: Buffer | null = Buffer.alloc(0);
  const SNIFF = 4096;
  const decide = (bytes: Buffer, final: boolean): TextDecoder => {
    const probe = bytes.subarray(0, SNIFF);
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(probe, { stream: !final });
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
    } catch {
      return new TextDecoder('gb18030');
    }
  };
  const decode = (bytes: Buffer, final: boolean): string => {
    try {
      const out = text!.decode(bytes, { stream: !final });
      if (blank && out.trim() !== '') blank = false;
      // An empty file is an error: a real day with no orders still has its header row.
      if (final && blank) {
        throw new ReconError('FILE_FORMAT', `${label}: the file is empty (no header row)`, { facts: { file: label } });
      }
      return out;
    } catch (err) {
      if (err instanceof ReconError) throw err;
      throw new ReconError('FILE_FORMAT', `${label}: the text is neither valid UTF-8 nor GB18030`, { facts: { file: label } });
    }
  };
  return new Transform({
    readableObjectMode: false,
    decodeStrings: true,
    transform(chunk: Buffer, _enc, done) {
      try {
        if (head !== null) {
          head = Buffer.concat([head, chunk]);
          if (head.length < SNIFF) return done();
          text = decide(head, false);
          const bytes = head;
          head = null;
          return done(null, decode(bytes, false));
        }
        done(null, decode(chunk, false));
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done) {
      try {
        if (head !== null) {
          text = decide(head, true);
          const out = decode(head, true);
          head = null;
          return done(null, out);
        }
        done(null, decode(Buffer.alloc(0), true));
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

function makeConverter(kind: FileKind, index: Record<string, number>, label: string): Converter {
  const names = Object.fromEntries(Object.entries(kind === 'order' ? ORDER_COLUMNS : BILL_COLUMNS).map(([n, f]) => [f, n]));
  const fail = (line: number, field: string, what: string, value: string): never => {
    throw formatError(label, line, names[field]!, ECHOABLE.has(field) ? `${what} "${value}"` : what);
  };
  const text = (cells: string[], field: string): string => (cells[index[field]!] ?? '').trim();
  const optional = (cells: string[], field: string): string | null => {
    const v = text(cells, field);
    return v === '' || v === '-/-' ? null : v;
  };
  const required = (cells: string[], field: string, line: number): string => {
    const v = optional(cells, field);
    return v === null ? fail(line, field, 'is empty', '') : v;
  };
  const amount = (cells: string[], field: string, line: number): bigint => {
    const v = text(cells, field);
    const fen = parseFen(v);
    return fen === null ? fail(line, field, 'malformed amount', v) : fen;
  };
  const optionalAmount = (cells: string[], field: string, line: number): bigint | null => {
    const v = text(cells, field);
    return v === '' || v === '-/-' ? null : amount(cells, field, line);
  };
  const time = (cells: string[], field: string, line: number): number | null => {
    const v = text(cells, field);
    if (v === '' || v === '-/-') return null;
    const ms = parseShanghaiTime(v);
    return ms === null ? fail(line, field, 'invalid date-time (expected YYYY-MM-DD HH:mm:ss)', v) : ms;
  };
  const channel = (cells: string[], line: number) => {
    const v = text(cells, 'channel');
    if (v === '' || v === '-/-') return null;
    return CHANNEL_TEXT[v] ?? fail(line, 'channel', 'unknown channel', v);
  };

  if (kind === 'order') {
    return (cells, line): OrderRow => {
      const statusText = text(cells, 'statusText');
      const status = ORDER_STATUS_TEXT[statusText] ?? fail(line, 'statusText', 'unknown order status', statusText);
      return {
        line,
        orderId: required(cells, 'orderId', line),
        providerRef: required(cells, 'providerRef', line),
        batchId: optional(cells, 'batchId'),
        name: optional(cells, 'name'),
        brokerId: optional(cells, 'brokerId'),
        statusText,
        status,
        account: optional(cells, 'account'),
        channel: channel(cells, line),
        amountFen: amount(cells, 'amount', line),
        feeFen: optionalAmount(cells, 'fee', line),
        channelRef: optional(cells, 'channelRef'),
        creditBillNo: optional(cells, 'creditBillNo'),
        feeBillNo: optional(cells, 'feeBillNo'),
        balanceBillNo: optional(cells, 'balanceBillNo'),
        createdAt: time(cells, 'createdAt', line),
        finishedAt: time(cells, 'finishedAt', line),
      };
    };
  }
  return (cells, line): BillRow => {
    const typeText = text(cells, 'billType');
    const statusText = text(cells, 'billStatus');
    return {
      line,
      orderId: required(cells, 'orderId', line),
      providerRef: required(cells, 'providerRef', line),
      billRef: required(cells, 'billRef', line),
      billType: BILL_TYPE_TEXT[typeText] ?? fail(line, 'billType', 'unknown 流水类型', typeText),
      billStatus: BILL_STATUS_TEXT[statusText] ?? fail(line, 'billStatus', 'unknown 流水状态', statusText),
      channel: channel(cells, line),
      name: optional(cells, 'name'),
      brokerId: optional(cells, 'brokerId'),
      amountFen: amount(cells, 'amount', line),
      channelRef: optional(cells, 'channelRef'),
      createdAt: time(cells, 'createdAt', line),
      finishedAt: time(cells, 'finishedAt', line),
    };
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
    const line = e.lines ?? 0;
    const what = e.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH'
      ? 'wrong number of fields (a row must have one field per header column)'
      : `malformed CSV (${e.code})`;
    return formatError(label, line, null, what);
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
  const columns: ColumnMap = kind === 'order' ? ORDER_COLUMNS : BILL_COLUMNS;
  let convert: Converter | null = null;
  let sawHeader = false;
  const options: Options<OrderRow | BillRow, string[]> = {
    delimiter: ',',
    relax_column_count: false,
    skip_empty_lines: true,
    on_record: (cells: string[], context: InfoRecord) => {
      if (!sawHeader) {
        sawHeader = true;
        convert = makeConverter(kind, readHeader(cells, columns, label), label);
        return null;
      }
      return convert!(cells, context.lines);
    },
  };
  const parser = parse(options as unknown as Options);
  // pipeline() destroys every stage with the raw error (zlib's, csv-parse's) before its
  // callback runs, so the mapping to a message that names the file happens here.
  const destroy = parser.destroy.bind(parser);
  parser.destroy = (err?: Error) => destroy(err === undefined || err === null ? err : wrapStreamError(err, label));
  pipeline(source, createGunzip(), decoder(label), parser, () => {});
  return parser;
}
