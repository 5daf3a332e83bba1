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
  return { stream: framer, header: framer.header, rows: () => framer.rows };
}

class CsvFramer extends Transform {
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
              fields++;
              state = FIELD_START;
            } else if (c === LF) {
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
              state = AFTER_CR;
              bytes--;
            } else if (c === QUOTE) {
              if (state === UNQUOTED) throw this.fail(this.start, null, CSV_FAULTS.openingQuote(line, this.start));
              state = QUOTED;
            } else if (c === 0) {
              throw this.fail(this.start, header ? null : this.headerNames[fields] ?? null, CSV_FAULTS.nul);
            } else {
              state = UNQUOTED;
            }
            break;
          case QUOTED:
            if (c === QUOTE) state = QUOTE_IN_QUOTED;
            else if (c === LF) line++;
            else if (c === 0) throw this.fail(this.start, header ? null : this.headerNames[fields] ?? null, CSV_FAULTS.nul);
            break;
          case QUOTE_IN_QUOTED:
            if (c === QUOTE) state = QUOTED;
            else if (c === COMMA) {
              fields++;
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

/** Writes `line,` at `o`; returns the new offset. */
function writeLinePrefix(out: Buffer, o: number, line: number): number {
  let digits = 1;
  for (let v = line; v >= 10; v = Math.floor(v / 10)) digits++;
  let at = o + digits;
  for (let v = line; at > o; v = Math.floor(v / 10)) out[--at] = 48 + (v % 10);
  out[o + digits] = COMMA;
  return o + digits + 1;
}
