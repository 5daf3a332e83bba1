import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import type { ReconError } from '../../errors.js';
import { FILE_SPECS } from '../../provider/file-format.js';
import {
  CSV_FAULTS, MAX_RECORD_BYTES, formatError, readHeader, textStage, wrapStreamError, type TextFacts,
} from '../../provider/file-reader.js';
import type { FileKind } from '../../provider/protocol.js';
import { FieldCheck, REQUIRED } from './field-check.js';
import { RepeatedIds } from './repeated-ids.js';

/** A provider file framed for Postgres' own CSV parser (COPY … (FORMAT csv)). */
export interface CopyCsv {
  /**
   * The file's data records as UTF-8 CSV, blank lines left out, CRLF made LF, the header line
   * taken off (see FrameMode for what each record holds). Ends with an error naming the file
   * and line (and column, where there is one) when the file is malformed.
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
   * Once the stream has ended: whether some field has space at an end, or a value not of the
   * reader's shape (an amount, a time, an empty id, an unknown status or channel). Typed
   * framing stops at the first such record; staging then runs its validating query first.
   */
  suspect: () => boolean;
  /**
   * Staging only: a malformed record met after a suspect value, held back rather than thrown,
   * since the suspect value comes first in the file and may be the error the reader reports.
   * The stream then ends early, cleanly.
   */
  deferred: () => ReconError | null;
  /**
   * Typed framing of an order file, once the stream has ended: the 商户订单号 seen more than
   * once (and possibly a few seen once: see RepeatedIds), or null when they were not followed.
   */
  repeats: () => string[] | null;
}

/**
 * `typed: false` (staging): each record is its line number and then the file's own fields,
 * as read, for a table of text columns. `typed: true`: each record is its line number and the
 * load table's columns in file order, statuses and channels as their codes (订单状态 as its
 * text and then its code), an empty field as the null string `-/-`: ready for `COPY …
 * (FORMAT csv, NULL '-/-', FORCE_NULL …)` straight into the load table.
 */
export interface FrameMode { typed: boolean }

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
 * The fields' values are watched byte by byte (field-check.ts, by the column spec's kind), and
 * typed framing writes codes for coded fields there.
 *
 * Line numbers are counted here, as the reader counts them (a quoted field's newlines count),
 * and travel with each record, so that every later error, including the conversion's
 * validating query, names the file's own line.
 */
export function providerFileAsCopyCsv(source: Readable, kind: FileKind, label: string, mode: FrameMode = { typed: false }): CopyCsv {
  const facts: TextFacts = { quoted: false, nul: false, lines: 0 };
  const framer = new CsvFramer(kind, label, mode);
  const destroy = framer.destroy.bind(framer);
  // pipeline() destroys every stage with the raw error (zlib's) before its callback runs.
  framer.destroy = (err?: Error) => destroy(err === undefined ? err : wrapStreamError(err, label, facts, false));
  pipeline(source, createGunzip({ chunkSize: 1 << 16 }), textStage(label, FILE_SPECS[kind].byHeader, facts), framer, () => {});
  return {
    stream: framer, header: framer.header, rows: () => framer.rows, suspect: () => framer.check.suspect, deferred: () => framer.deferred,
    repeats: () => framer.ids?.repeats() ?? null,
  };
}

export class CsvFramer extends Transform {
  readonly header: Promise<string[]>;
  rows = 0;
  deferred: ReconError | null = null;
  readonly check = new FieldCheck();
  /**
   * Typed framing: the 商户订单号 followed (RepeatedIds), and that column's index. Of an order
   * file, the ids of two or more rows; of a bill file, the ids of the orders whose rows are
   * not one 成功 经纪公司打款 and one 成功 服务费 row at most (see BILL_STATE_SQL).
   */
  ids: RepeatedIds | null = null;
  private idColumn = -1;
  private billTypeColumn = -1;
  private billStatusColumn = -1;
  /** A bill record's id (offsets in the output) and codes, until the record ends. */
  private idFrom = 0;
  private idTo = 0;
  private idQuoted = false;
  private billType: Buffer | null = null;
  private billStatus: Buffer | null = null;
  private resolveHeader!: (fields: string[]) => void;
  private rejectHeader!: (err: Error) => void;
  /** The header record's bytes until it is read; null after. */
  private headerParts: Buffer[] | null = [];
  private headerBytes = 0;
  private headerQuoted = false;
  private headerNames: string[] = [];
  private width = 0;
  private first = true;
  /** Typed framing met a suspect record, or staging deferred an error: the rest is not framed. */
  private stopped = false;
  private state = FIELD_START;
  /** The line the byte being read is on. */
  private line = 1;
  /** The line the current record starts on. */
  private start = 1;
  /** Bytes of the current record so far; 0 between records. */
  private bytes = 0;
  /** Fields of the current record before the one being read. */
  private fields = 0;
  /** The current quoted field's opening quote is not written yet (an empty one never is). */
  private pendingOpen = false;
  /** Output of the current record not pushed yet (it is pushed whole, or dropped). */
  private carry: Buffer = Buffer.alloc(0);
  private fstart = 0;

  constructor(private readonly kind: FileKind, private readonly label: string, private readonly mode: FrameMode) {
    super({ readableHighWaterMark: 1 << 18, writableHighWaterMark: 1 << 18 });
    this.check.typed = mode.typed;
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
      if (this.stopped) return done();
      let b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (this.first) {
        this.first = false;
        if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
      }
      if (this.headerParts !== null) b = this.readHeaderBytes(b);
      if (b.length > 0 && this.headerParts === null) {
        const out = this.frame(b);
        if (out.length > 0) this.push(out);
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (this.stopped) return done();
      if (this.headerParts !== null) {
        this.readHeaderRecord(Buffer.concat(this.headerParts));
        return done();
      }
      if (this.state === QUOTED) this.fault(this.start, null, CSV_FAULTS.unclosedQuote);
      else if (this.bytes > 0) {
        // The last record, without a line end: framed as if it had one.
        const out = this.frame(Buffer.from([LF]), false);
        if (out.length > 0) this.push(out);
      }
      done();
    } catch (err) {
      done(this.deferred === null ? err as Error : null);
    }
  }

  /**
   * A malformed record: thrown, or, in staging after a suspect value, held back (`deferred`)
   * and the stream ended at the last whole record.
   */
  private fault(line: number, column: string | null, what: string): never {
    const err = formatError(this.label, line, column, what);
    if (!this.mode.typed && this.check.suspect) {
      this.deferred = err;
      this.stopped = true;
    }
    throw err;
  }

  /** Takes the header record's bytes from the front of `b`; returns the rest. */
  private readHeaderBytes(b: Buffer): Buffer {
    let end = -1;
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      if (c === QUOTE) this.headerQuoted = !this.headerQuoted;
      else if (c === 0) throw formatError(this.label, 1, null, CSV_FAULTS.nul);
      else if (c === LF) {
        if (!this.headerQuoted) {
          end = i;
          break;
        }
        this.line++;
      }
    }
    const taken = end === -1 ? b : b.subarray(0, end);
    this.headerBytes += taken.length;
    if (this.headerBytes > MAX_RECORD_BYTES) throw formatError(this.label, 1, null, CSV_FAULTS.recordTooLong(this.headerQuoted));
    this.headerParts!.push(Buffer.from(taken));
    if (end === -1) return Buffer.alloc(0);
    this.readHeaderRecord(Buffer.concat(this.headerParts!));
    this.line++;
    return b.subarray(end + 1);
  }

  private readHeaderRecord(bytes: Buffer): void {
    this.headerParts = null;
    const text = bytes.toString('utf8').replace(/\r$/, '');
    const records: string[][] = text === '' ? [] : parse(text, { relax_column_count: true });
    const cells = records[0] ?? [''];
    const index = readHeader(cells, FILE_SPECS[this.kind].byHeader, this.label);
    this.headerNames = cells.map((c) => c.replace(/^\uFEFF/, '').trim());
    this.width = cells.length;
    const fields: string[] = [];
    for (const [field, i] of Object.entries(index)) fields[i] = field;
    this.check.setColumns(this.kind, fields);
    if (this.mode.typed) {
      this.ids = new RepeatedIds();
      this.idColumn = fields.indexOf('orderId');
      this.billTypeColumn = this.kind === 'bill' ? fields.indexOf('billType') : -1;
      this.billStatusColumn = this.kind === 'bill' ? fields.indexOf('billStatus') : -1;
    }
    this.check.start(0);
    this.resolveHeader(fields);
  }

  /**
   * Frames one chunk: the loop every byte of the file goes through, so it keeps its state in
   * locals. Returns the whole records it completed (with the carry of an earlier chunk); a
   * record still open is carried to the next chunk.
   */
  private frame(b: Buffer, saveState = true): Buffer {
    const n = b.length;
    let lines = 0;
    for (let i = b.indexOf(LF); i !== -1; i = b.indexOf(LF, i + 1)) lines++;
    // A field's output is at most four times its bytes with its delimiter ("," becomes
    // "-/-,"; "成功," becomes "\"成功\",paid,"), and each record gains its line number.
    const out = Buffer.allocUnsafe(this.carry.length + 4 * n + (lines + 1) * 16 + 64);
    let o = this.carry.copy(out, 0);
    /** Where the output of the records completed in this chunk ends. */
    let done = 0;
    let state = this.state;
    let line = this.line;
    let bytes = this.bytes;
    let fields = this.fields;
    let pendingOpen = this.pendingOpen;
    const check = this.check;
    // The current field's kind, bytes of content so far and last content byte: kept here for
    // free text (most bytes of a file); the other kinds are followed by check.byte.
    let kind = check.kind;
    let flen = check.length;
    let last = check.last;
    let raw = check.raw;
    let quoted = check.quoted;
    const typed = this.mode.typed;
    const save = () => {
      this.state = state;
      this.line = line;
      this.bytes = bytes;
      this.fields = fields;
      this.pendingOpen = pendingOpen;
      check.length = flen;
      check.last = last;
      check.quoted = quoted;
      this.fstart = fstart;
    };
    const column = () => this.headerNames[fields] ?? null;
    const ids = this.ids;
    const idColumn = this.idColumn;
    const bills = ids !== null && this.kind === 'bill';
    /** Where the current field's output begins (its whole record is still in `out`). */
    let fstart = this.fstart;
    try {
      for (let i = 0; i < n; i++) {
        const c = b[i]!;
        if (bytes === 0) {
          // A record starts here, unless the line is blank (LF or CRLF).
          if (c === LF) {
            state = FIELD_START;
            line++;
            continue;
          }
          if (state === AFTER_CR) this.fault(line, null, CSV_FAULTS.loneCr);
          if (c === CR) {
            state = AFTER_CR;
            continue;
          }
          this.start = line;
          o = writeNumber(out, o, line);
          out[o++] = COMMA;
          kind = check.start(0);
          fstart = o;
          raw = check.raw;
          flen = 0;
          quoted = false;
        }
        if (++bytes > MAX_RECORD_BYTES) {
          this.fault(this.start, null, CSV_FAULTS.recordTooLong(state === QUOTED || state === QUOTE_IN_QUOTED));
        }
        switch (state) {
          case UNQUOTED:
          case FIELD_START:
            if (c === COMMA || c === LF) {
              if (fields === idColumn) {
                if (bills) {
                  this.idFrom = fstart;
                  this.idTo = o;
                  this.idQuoted = quoted;
                } else ids!.add(out, fstart, o, quoted);
              }
              o = check.end(out, o, flen, last, quoted);
              if (bills) {
                if (fields === this.billTypeColumn) this.billType = check.lastCode;
                else if (fields === this.billStatusColumn) this.billStatus = check.lastCode;
              }
              if (check.suspect && typed) {
                // Typed framing ends before this record; the loader starts over on staging.
                o = done;
                this.stopped = true;
                this.push(out.subarray(0, o));
                this.carry = Buffer.alloc(0);
                save();
                return Buffer.alloc(0);
              }
              out[o++] = c;
              if (c === COMMA) {
                kind = check.start(++fields);
                fstart = o;
                raw = check.raw;
                flen = 0;
                quoted = false;
                state = FIELD_START;
                break;
              }
              line++;
              if (fields + 1 !== this.width) this.fault(this.start, null, CSV_FAULTS.width(fields + 1, this.width));
              if (bills) {
                ids.addBillRow(out, this.idFrom, this.idTo, this.idQuoted, this.billType, this.billStatus);
                this.billType = null;
                this.billStatus = null;
              }
              this.rows++;
              done = o;
              bytes = 0;
              fields = 0;
              state = FIELD_START;
            } else if (c === CR) {
              // The field ends at the LF that must follow (AFTER_CR reads it again here).
              state = AFTER_CR;
              bytes--;
            } else if (c === QUOTE) {
              if (state === UNQUOTED) this.fault(this.start, null, CSV_FAULTS.openingQuote(line, this.start));
              state = QUOTED;
              pendingOpen = true;
              quoted = true;
            } else if (c === 0) {
              this.fault(this.start, column(), CSV_FAULTS.nul);
            } else {
              if (raw) out[o++] = c;
              if (flen++ === 0 && c <= 0x20) check.suspect = true;
              if (kind <= REQUIRED) {
                // Free text and ids: the rest of the field up to its delimiter in one tight loop.
                let j = i + 1;
                for (; j < n; j++) {
                  const d = b[j]!;
                  if (d === COMMA || d === LF || d === CR || d === QUOTE || d === 0) break;
                  out[o++] = d;
                }
                flen += j - i - 1;
                bytes += j - i - 1;
                i = j - 1;
                last = b[i]!;
                if (bytes > MAX_RECORD_BYTES) this.fault(this.start, null, CSV_FAULTS.recordTooLong(false));
              } else {
                last = c;
                check.byte(c, flen - 1);
              }
              state = UNQUOTED;
            }
            break;
          case QUOTED:
            if (c === QUOTE) state = QUOTE_IN_QUOTED;
            else if (c === 0) this.fault(this.start, column(), CSV_FAULTS.nul);
            else {
              if (c === LF) line++;
              if (raw) {
                if (pendingOpen) {
                  out[o++] = QUOTE;
                  pendingOpen = false;
                }
                out[o++] = c;
              }
              if (flen++ === 0 && c <= 0x20) check.suspect = true;
              last = c;
              if (kind > REQUIRED) check.byte(c, flen - 1);
            }
            break;
          case QUOTE_IN_QUOTED:
            if (c === QUOTE) {
              // A doubled quote: one quote of content.
              if (raw) {
                if (pendingOpen) {
                  out[o++] = QUOTE;
                  pendingOpen = false;
                }
                out[o++] = QUOTE;
                out[o++] = QUOTE;
              }
              flen++;
              last = c;
              if (kind > REQUIRED) check.byte(c, flen - 1);
              state = QUOTED;
            } else if (c === COMMA || c === LF || c === CR) {
              // The field closed; an empty one ("") wrote nothing and is empty.
              if (raw && !pendingOpen) out[o++] = QUOTE;
              pendingOpen = false;
              state = FIELD_START;
              i--; // the delimiter is read again, outside the field
              bytes--;
            } else this.fault(this.start, null, CSV_FAULTS.closingQuote(line, this.start));
            break;
          case AFTER_CR:
            if (c !== LF) this.fault(this.start, null, CSV_FAULTS.loneCr);
            state = FIELD_START;
            i--; // the LF ends the record as usual
            bytes--;
            break;
        }
      }
      if (saveState) save();
      this.carry = Buffer.from(out.subarray(done, o));
      // The open record's output moves to the front of the next chunk's.
      this.fstart = fstart - done;
      this.idFrom -= done;
      this.idTo -= done;
      return out.subarray(0, done);
    } catch (err) {
      save();
      if (this.deferred !== null) {
        // Staging after a suspect value: the records before this one go to COPY, the error waits.
        this.push(out.subarray(0, done));
        this.carry = Buffer.alloc(0);
        return Buffer.alloc(0);
      }
      throw err;
    }
  }
}

/** Writes the decimal digits of `v` at `o`; returns the new offset. */
function writeNumber(out: Buffer, o: number, v: number): number {
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
  let at = o + digits;
  for (let x = v; at > o; x = Math.floor(x / 10)) out[--at] = 48 + (x % 10);
  return o + digits;
}
