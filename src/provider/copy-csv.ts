import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { ReconError } from '../errors.js';
import {
  CSV_FAULTS, MAX_RECORD_BYTES, formatError, readHeader, textStage, wrapStreamError, type ColumnMap, type TextFacts,
} from './file-reader.js';
import { BILL_COLUMNS, ORDER_COLUMNS } from './file-format.js';
import type { FileKind } from './protocol.js';

/** A provider file framed for Postgres' own CSV parser (COPY … (FORMAT csv)). */
export interface CopyCsv {
  /**
   * The file's data records as UTF-8 CSV: each one prefixed with the line it starts on as a
   * first field, blank lines left out, CRLF made LF, the header line taken off. Ends with an
   * error naming the file and line (and column, where there is one) when the file is bad.
   */
  stream: Readable;
  /**
   * The header's fields in file order ('orderId', 'amount', …), once line 1 is read and
   * checked: every expected column once, nothing else. Rejects with the file's error.
   */
  header: Promise<string[]>;
  /** Data records framed so far (all of them once the stream has ended). */
  rows: () => number;
  /**
   * Once the stream has ended: whether some field has space at an end, or an amount or time
   * not of the reader's shape, so that the conversion must trim and check every value.
   */
  suspect: () => boolean;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

// Where the framer stands inside a record.
const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
/** A quote seen inside a quoted field: the next byte says whether it closed the field or was doubled. */
const QUOTE_IN_QUOTED = 3;
/** A CR seen outside quotes: it must be the first half of CRLF. */
const AFTER_CR = 4;

/**
 * Node's part of the server-side load: gunzip, the encoding check (file-reader.ts textStage:
 * GB18030 becomes UTF-8, a byte that does not decode is an error), the header read by name
 * with csv-parse, and then a byte-level pass that frames the records for COPY without making
 * a JavaScript value of any field. It holds no more than a record's worth of state, so memory
 * is flat whatever the file holds, and it stops the file, not Postgres, at anything COPY
 * would accept while the reader (readProviderFile) would not, with the reader's words:
 *
 * - a record longer than MAX_RECORD_BYTES (a stray quote swallowing the file) fails on the
 *   line where it starts, before Postgres is handed a runaway field;
 * - a quote never closed, a quote inside an unquoted field, text after a closing quote;
 * - a record whose field count differs from the header's;
 * - a NUL byte (Postgres text cannot hold one), named by line and column.
 *
 * Line numbers are counted here, as the reader counts them (a quoted field's newlines count),
 * and travel with each record as its first field, so that every later error, including
 * the conversion's validating query, names the file's own line.
 */
export function providerFileAsCopyCsv(source: Readable, kind: FileKind, label: string): CopyCsv {
  const columns: ColumnMap = kind === 'order' ? ORDER_COLUMNS : BILL_COLUMNS;
  const facts: TextFacts = { quoted: false, nul: false, lines: 0 };
  const framer = new CsvFramer(columns, label);
  const destroy = framer.destroy.bind(framer);
  // pipeline() destroys every stage with the raw error (zlib's) before its callback runs.
  framer.destroy = (err?: Error) => destroy(err === undefined ? err : wrapStreamError(err, label, facts, false));
  pipeline(source, createGunzip({ chunkSize: 1 << 16 }), textStage(label, columns, facts), framer, () => {});
  return { stream: framer, header: framer.header, rows: () => framer.rows, suspect: () => framer.check.suspect };
}

export class CsvFramer extends Transform {
  readonly header: Promise<string[]>;
  rows = 0;
  private resolveHeader!: (fields: string[]) => void;
  private rejectHeader!: (err: Error) => void;
  private headerParts: Buffer[] | null = [];
  private headerNames: string[] = [];
  private width = 0;
  private first = true;
  private state = FIELD_START;
  /** The line the byte being read is on. */
  private line = 1;
  /** The line the current record starts on. */
  private start = 1;
  /** Bytes of the current record so far; 0 between records. */
  private bytes = 0;
  /** Fields of the current record before the one being read. */
  private fields = 0;
  /** The current record's line prefix has been written. */
  private open = false;
  readonly check = new FieldCheck();

  constructor(private readonly columns: ColumnMap, private readonly label: string) {
    super({ readableHighWaterMark: 1 << 18, writableHighWaterMark: 1 << 18 });
    this.header = new Promise((resolve, reject) => {
      this.resolveHeader = resolve;
      this.rejectHeader = reject;
    });
    // Whoever awaits the header learns of a failure there; nobody may be waiting yet.
    this.header.catch(() => {});
    this.on('error', (err) => this.rejectHeader(err));
  }

  override _transform(chunk: Buffer | string, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      let b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (this.first) {
        this.first = false;
        if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
      }
      const out = this.frame(b);
      if (out.length > 0) this.push(out);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      const state = this.state;
      if (state === QUOTED) throw this.fail(this.start, null, CSV_FAULTS.unclosedQuote);
      if (this.bytes > 0 && this.headerParts === null) this.check.end();
      if (this.bytes > 0 || this.headerParts !== null) {
        const out = Buffer.allocUnsafe(1);
        const end = this.endRecord(out, 0);
        if (end > 0) this.push(out.subarray(0, end));
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private fail(line: number, column: string | null, what: string): ReconError {
    return formatError(this.label, line, column, what);
  }

  /** Ends the current record: checks its width (or reads it as the header); returns the new output length. */
  private endRecord(out: Buffer, o: number): number {
    if (this.headerParts !== null) {
      this.readHeaderRecord();
    } else if (this.open) {
      if (this.fields + 1 !== this.width) throw this.fail(this.start, null, CSV_FAULTS.width(this.fields + 1, this.width));
      out[o++] = LF;
      this.rows++;
    }
    this.state = FIELD_START;
    this.bytes = 0;
    this.fields = 0;
    this.open = false;
    return o;
  }

  private readHeaderRecord(): void {
    const text = Buffer.concat(this.headerParts!).toString('utf8');
    this.headerParts = null;
    const records: string[][] = text === '' ? [] : parse(text, { relax_column_count: true });
    const cells = records[0] ?? [''];
    const index = readHeader(cells, this.columns, this.label);
    this.headerNames = cells.map((c) => c.replace(/^\uFEFF/, '').trim());
    this.width = cells.length;
    const fields: string[] = [];
    for (const [field, i] of Object.entries(index)) fields[i] = field;
    this.check.suspect = false;
    this.check.kinds = Uint8Array.from(fields, (f) => KIND_OF[f] ?? TEXT);
    this.check.start(0);
    this.resolveHeader(fields);
  }

  /** Frames one chunk: the loop every byte of the file goes through, so it keeps its state in locals. */
  private frame(b: Buffer): Buffer {
    const n = b.length;
    let lines = 0;
    for (let i = b.indexOf(LF); i !== -1; i = b.indexOf(LF, i + 1)) lines++;
    // Each record gains at most 11 bytes of prefix ("4294967295,") and its LF.
    const out = Buffer.allocUnsafe(n + 12 * (lines + 1));
    let o = 0;
    let state = this.state;
    let line = this.line;
    let bytes = this.bytes;
    let fields = this.fields;
    const header = this.headerParts !== null;
    const check = this.check;
    /** Where the bytes not yet copied out begin. */
    let seg = 0;
    const copy = (end: number) => {
      if (end <= seg) return;
      if (header) this.headerParts!.push(Buffer.from(b.subarray(seg, end)));
      else o += b.copy(out, o, seg, end);
    };
    const save = () => {
      this.state = state;
      this.line = line;
      this.bytes = bytes;
      this.fields = fields;
    };
    try {
      for (let i = 0; i < n; i++) {
        const c = b[i]!;
        if (bytes === 0) {
          // A record starts here, unless the line is blank (LF or CRLF).
          if (c === LF) {
            state = FIELD_START;
            line++;
            seg = i + 1;
            if (header) {
              this.start = line - 1;
              save();
              this.endRecord(out, o);
              return this.frame(b.subarray(i + 1));
            }
            continue;
          }
          if (state === AFTER_CR) throw this.fail(line, null, CSV_FAULTS.loneCr);
          if (c === CR) {
            state = AFTER_CR;
            seg = i + 1;
            continue;
          }
          this.start = line;
          if (!header) {
            o = writeLinePrefix(out, o, line);
            this.open = true;
          }
        }
        if (++bytes > MAX_RECORD_BYTES) {
          throw this.fail(this.start, null, CSV_FAULTS.recordTooLong(state === QUOTED || state === QUOTE_IN_QUOTED));
        }
        switch (state) {
          case UNQUOTED:
          case FIELD_START:
            if (c === COMMA) {
              check.end();
              check.start(++fields);
              state = FIELD_START;
            } else if (c === LF) {
              check.end();
              check.start(0);
              copy(i + 1);
              seg = i + 1;
              line++;
              if (header) {
                save();
                this.endRecord(out, o);
                return this.frame(b.subarray(i + 1));
              }
              if (fields + 1 !== this.width) throw this.fail(this.start, null, CSV_FAULTS.width(fields + 1, this.width));
              this.rows++;
              this.open = false;
              bytes = 0;
              fields = 0;
              state = FIELD_START;
            } else if (c === CR) {
              copy(i);
              seg = i + 1;
              // The field ends at the LF that must follow (AFTER_CR reads it again here).
              state = AFTER_CR;
              bytes--;
            } else if (c === QUOTE) {
              if (state === UNQUOTED) throw this.fail(this.start, null, CSV_FAULTS.openingQuote(line, this.start));
              state = QUOTED;
            } else if (c === 0) {
              throw this.fail(this.start, header ? null : this.headerNames[fields] ?? null, CSV_FAULTS.nul);
            } else {
              check.byte(c);
              state = UNQUOTED;
            }
            break;
          case QUOTED:
            if (c === QUOTE) state = QUOTE_IN_QUOTED;
            else if (c === 0) throw this.fail(this.start, header ? null : this.headerNames[fields] ?? null, CSV_FAULTS.nul);
            else {
              if (c === LF) line++;
              check.byte(c);
            }
            break;
          case QUOTE_IN_QUOTED:
            if (c === QUOTE) {
              check.byte(c);
              state = QUOTED;
            } else if (c === COMMA) {
              check.end();
              check.start(++fields);
              state = FIELD_START;
            } else if (c === LF || c === CR) {
              state = FIELD_START;
              i--; // the line end is read again, outside the field
              bytes--;
            } else throw this.fail(this.start, null, CSV_FAULTS.closingQuote(line, this.start));
            break;
          case AFTER_CR:
            if (c !== LF) throw this.fail(this.start, null, CSV_FAULTS.loneCr);
            state = FIELD_START;
            i--; // the LF ends the record as usual
            bytes--;
            break;
        }
      }
      copy(n);
      save();
      return out.subarray(0, o);
    } catch (err) {
      save();
      throw err;
    }
  }
}

/** What a field must hold, by file column (FieldCheck). */
const TEXT = 0;
const AMOUNT = 1;
const OPTIONAL_AMOUNT = 2;
const TIME = 3;
const KIND_OF: Record<string, number> = { amount: AMOUNT, fee: OPTIONAL_AMOUNT, createdAt: TIME, finishedAt: TIME };

/**
 * Watches every field's content bytes for what would need the conversion's slow path: space
 * or a control byte at either end of a field (which the reader trims), and an amount or a
 * time not of the reader's shape. Nothing is rejected here: a `suspect` file is checked in
 * full by the validating query (staging.ts), which names the line and column as the reader
 * would; a file that is not suspect is converted with bare casts.
 */
class FieldCheck {
  suspect = false;
  kinds: Uint8Array = new Uint8Array(0);
  private kind = TEXT;
  private length = 0;
  private last = 0;
  /** Shape state: an amount's automaton, or a time's position check. */
  private shape = 0;
  private bad = false;
  private pair = 0;
  /** 3 once the content so far is exactly "-/-". */
  private dash = 0;

  /** A new field, the `index`th of its record. */
  start(index: number): void {
    this.kind = this.kinds[index] ?? TEXT;
    this.length = 0;
    this.shape = 0;
    this.bad = false;
    this.dash = 0;
  }

  byte(c: number): void {
    const at = this.length++;
    if (at === 0 && c <= 0x20) this.suspect = true;
    this.last = c;
    if (this.kind === TEXT) return;
    if (at < 3) this.dash = (at === 0 ? c === 45 : at === 1 ? this.dash === 1 && c === 47 : this.dash === 2 && c === 45) ? at + 1 : 0;
    if (this.bad) return;
    const d = c - 48;
    const digit = d >= 0 && d <= 9;
    if (this.kind === TIME) {
      // YYYY-MM-DD HH:mm:ss (or T), month 01-12, day 01-31, hour 00-23, minute and second 00-59.
      if (at === 4 || at === 7) this.bad = c !== 45;
      else if (at === 10) this.bad = c !== 32 && c !== 84;
      else if (at === 13 || at === 16) this.bad = c !== 58;
      else if (!digit || at > 18) this.bad = true;
      else if (at === 5 || at === 8 || at === 11 || at === 14 || at === 17) this.pair = d;
      else if (at >= 6) {
        const v = this.pair * 10 + d;
        this.bad = at === 6 ? v < 1 || v > 12 : at === 9 ? v < 1 || v > 31 : at === 12 ? v > 23 : v > 59;
      }
      return;
    }
    // -?digits{1,14}(.digits{1,2})?: shape counts whole digits as 10-24, decimals as 31-32.
    const shape = this.shape;
    if (shape === 0 && c === 45) this.shape = 1;
    else if (shape <= 1 && digit) this.shape = 11;
    else if (shape >= 11 && shape < 24 && digit) this.shape = shape + 1;
    else if (shape >= 11 && shape <= 24 && c === 46) this.shape = 30;
    else if (shape >= 30 && shape < 32 && digit) this.shape = shape + 1;
    else this.bad = true;
  }

  end(): void {
    if (this.length > 0 && this.last <= 0x20) this.suspect = true;
    if (this.kind === TEXT) return;
    const absent = this.length === 0 || (this.dash === 3 && this.length === 3);
    if (absent && this.kind !== AMOUNT) return;
    const shaped = this.kind === TIME ? this.length === 19 : (this.shape >= 11 && this.shape <= 24) || this.shape >= 31;
    if (this.bad || !shaped) this.suspect = true;
  }
}

/** Writes `line,` at `o`; returns the new offset. */
function writeLinePrefix(out: Buffer, o: number, line: number): number {
  let digits = 1;
  for (let v = line; v >= 10; v = Math.floor(v / 10)) digits++;
  let at = o + digits;
  for (let v = line; at > o; v = Math.floor(v / 10)) out[--at] = 48 + (v % 10);
  out[o + digits] = COMMA;
  return o + digits + 1;
}
