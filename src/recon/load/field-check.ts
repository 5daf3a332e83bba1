import { AMOUNT_WHOLE_DIGITS, FILE_SPECS, NULL_TEXT, type ColumnSpec } from '../../provider/file-format.js';
import type { FileKind } from '../../provider/protocol.js';

/**
 * The automata a field can get, by its column's spec (file-format.ts): which one is derived
 * from the column's kind and nullability (automatonOf); what each checks is written here, byte
 * by byte, to the same shapes as the reader and staging's SQL.
 */
/** Free text that may be absent: written as read (typed: `-/-` when empty). */
const TEXT = 0;
/** Free text that must be there (an id): written as read; empty or `-/-` is suspect. */
export const REQUIRED = 1;
const AMOUNT = 2;
const OPTIONAL_AMOUNT = 3;
const TIME = 4;
/** A code whose text is kept too (订单状态): typed framing writes the text, then its code. */
const TEXT_AND_CODE = 5;
/** A required code (流水类型, 流水状态): typed framing writes the code. */
const CODE = 6;
/** A code that may be absent (支付渠道): typed framing writes the code, or null. */
const OPTIONAL_CODE = 7;

/** The automaton a column gets; throws for a column the framer has none for. */
function automatonOf(c: ColumnSpec): number {
  switch (c.kind) {
    case 'text': return c.nullable ? TEXT : REQUIRED;
    case 'amount': return c.nullable ? OPTIONAL_AMOUNT : AMOUNT;
    case 'time':
      if (c.nullable) return TIME;
      break;
    case 'code':
      if (c.text === null) return c.nullable ? OPTIONAL_CODE : CODE;
      // 订单状态's texts are written quoted, as they are: none may hold a quote.
      if (!c.nullable && !Object.keys(c.codes!).some((t) => t.includes('"'))) return TEXT_AND_CODE;
      break;
  }
  throw new Error(`column ${c.field}: the framer has no automaton for a ${c.nullable ? 'nullable' : 'required'} ${c.kind} column${c.text === null ? '' : ' that keeps its text'}`);
}

/** Per file kind, per field: its automaton and, for a code, its texts' bytes and what typed framing writes for each. */
const FRAMING: Record<FileKind, ReadonlyMap<string, { kind: number; codes: Map<Buffer, Buffer> | null }>> = {
  order: framingOf(FILE_SPECS.order.columns),
  bill: framingOf(FILE_SPECS.bill.columns),
};

function framingOf(columns: readonly ColumnSpec[]): ReadonlyMap<string, { kind: number; codes: Map<Buffer, Buffer> | null }> {
  return new Map(columns.map((c) => {
    const kind = automatonOf(c);
    const codes = c.codes === null ? null : new Map(Object.entries(c.codes).map(([text, code]) =>
      [Buffer.from(text), Buffer.from(kind === TEXT_AND_CODE ? `"${text}",${code}` : code)]));
    return [c.field, { kind, codes }];
  }));
}

/** The null string of typed framing (NULL_TEXT) as bytes. */
const NULL_BYTES = Buffer.from(NULL_TEXT);
/** The amount automaton's states: whole digits count 11 up to this, decimals 31-32. */
const LAST_WHOLE = 10 + AMOUNT_WHOLE_DIGITS;
/** The longest coded text taken (bytes); anything longer is unknown. */
const CODED_MAX = 64;
const DAYS_IN_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Watches every field's content bytes: space or a control byte at either end (which the
 * reader trims), and a value not of the reader's shape: an empty id or amount, an amount or
 * time malformed (or a day the month does not have), an unknown status, type or channel.
 * Nothing is rejected here: such a file is `suspect`, and is checked in full by the validating
 * query (staging.ts), which names the line and column as the reader would. In typed framing it
 * also writes what a field becomes at its end: codes for coded fields, `-/-` for empty ones.
 */
export class FieldCheck {
  suspect = false;
  typed = false;
  /** The current field's bytes are written as read (false: typed framing writes its code at the end). */
  raw = true;
  private kinds: Uint8Array = new Uint8Array(0);
  private codes: (Map<Buffer, Buffer> | null)[] = [];
  kind = TEXT;
  private map: Map<Buffer, Buffer> | null = null;
  /** Content bytes and the last of them, where a field ends in another chunk than it began (the framer keeps them meanwhile). */
  length = 0;
  last = 0;
  quoted = false;
  /** Shape state: an amount's automaton, or a time's position check. */
  private shape = 0;
  private bad = false;
  private pair = 0;
  private year = 0;
  private month = 0;
  /** NULL_BYTES.length once the content so far is exactly the null text `-/-`. */
  private dash = 0;
  /** A coded field's bytes. */
  private readonly coded = Buffer.alloc(CODED_MAX);
  /** The code the last coded field to end was written as (null: unknown or absent). */
  lastCode: Buffer | null = null;

  /** The file's fields in its order ('orderId', 'amount', …), as its header names them. */
  setColumns(kind: FileKind, fields: readonly string[]): void {
    this.suspect = false;
    const framing = fields.map((f) => FRAMING[kind].get(f));
    this.kinds = Uint8Array.from(framing, (f) => f?.kind ?? TEXT);
    this.codes = framing.map((f) => f?.codes ?? null);
  }

  /** A new field, the `index`th of its record; returns its kind. */
  start(index: number): number {
    this.kind = this.kinds[index] ?? TEXT;
    this.map = this.codes[index] ?? null;
    this.raw = !this.typed || this.map === null;
    this.shape = 0;
    this.bad = false;
    this.dash = 0;
    return this.kind;
  }

  /** Content byte `at` (from 0) of a field that is not free text. */
  byte(c: number, at: number): void {
    const kind = this.kind;
    if (at < NULL_BYTES.length) this.dash = this.dash === at && c === NULL_BYTES[at] ? at + 1 : 0;
    if (kind >= TEXT_AND_CODE) {
      if (at < CODED_MAX) this.coded[at] = c;
      return;
    }
    if (this.bad) return;
    const d = c - 48;
    const digit = d >= 0 && d <= 9;
    if (kind === TIME) {
      // YYYY-MM-DD HH:mm:ss (or T): a real day (not year 0000), hour 00-23, minute and second 00-59.
      if (at === 4 || at === 7) this.bad = c !== 45;
      else if (at === 10) this.bad = c !== 32 && c !== 84;
      else if (at === 13 || at === 16) this.bad = c !== 58;
      else if (!digit || at > 18) this.bad = true;
      else if (at < 4) {
        this.year = at === 0 ? d : this.year * 10 + d;
        if (at === 3) this.bad = this.year === 0;
      } else if (at === 5 || at === 8 || at === 11 || at === 14 || at === 17) this.pair = d;
      else {
        const v = this.pair * 10 + d;
        if (at === 6) {
          this.month = v;
          this.bad = v < 1 || v > 12;
        } else if (at === 9) {
          const leap = this.year % 4 === 0 && (this.year % 100 !== 0 || this.year % 400 === 0);
          this.bad = v < 1 || v > (this.month === 2 && !leap ? 28 : DAYS_IN_MONTH[this.month]!);
        } else this.bad = at === 12 ? v > 23 : v > 59;
      }
      return;
    }
    // -?digits{1,AMOUNT_WHOLE_DIGITS}(.digits{1,2})?: shape counts whole digits as 11 to
    // LAST_WHOLE, decimals as 31-32.
    const shape = this.shape;
    if (shape === 0 && c === 45) this.shape = 1;
    else if (shape <= 1 && digit) this.shape = 11;
    else if (shape >= 11 && shape < LAST_WHOLE && digit) this.shape = shape + 1;
    else if (shape >= 11 && shape <= LAST_WHOLE && c === 46) this.shape = 30;
    else if (shape >= 30 && shape < 32 && digit) this.shape = shape + 1;
    else this.bad = true;
  }

  /** The field ends: judges it, and in typed framing writes what it becomes at `o`. Returns the new offset. */
  end(out: Buffer, o: number, length: number, last: number, quoted: boolean): number {
    if (length > 0 && last <= 0x20) this.suspect = true;
    const kind = this.kind;
    if (kind === REQUIRED) {
      // Written as read, so the record's output (all of it still in `out`) ends with it.
      if (length === 0 || (length === NULL_BYTES.length && NULL_BYTES.equals(out.subarray(o - length - (quoted ? 1 : 0), o - (quoted ? 1 : 0))))) {
        this.suspect = true;
      }
      return o;
    }
    const absent = length === 0 || (this.dash === NULL_BYTES.length && length === NULL_BYTES.length);
    if (kind >= TEXT_AND_CODE) {
      this.lastCode = null;
      if (kind === OPTIONAL_CODE && absent) return this.typed ? writeNull(out, o) : o;
      const code = this.lookup(length);
      this.lastCode = code;
      if (code === null) this.suspect = true;
      else if (this.typed) o += code.copy(out, o);
      return o;
    }
    if (kind === TEXT) return this.typed && length === 0 ? writeNull(out, o) : o;
    if (absent) {
      if (kind === AMOUNT) this.suspect = true;
      return this.typed && length === 0 ? writeNull(out, o) : o;
    }
    const shaped = kind === TIME ? length === 19 : (this.shape >= 11 && this.shape <= LAST_WHOLE) || this.shape >= 31;
    if (this.bad || !shaped) this.suspect = true;
    return o;
  }

  /** The code of a coded field's text (the written form for 订单状态), or null when unknown. */
  private lookup(length: number): Buffer | null {
    // A byte comparison with each known text (a handful): no string is made per row.
    for (const [text, code] of this.map!) {
      if (text.length !== length) continue;
      let j = 0;
      while (j < length && text[j] === this.coded[j]) j++;
      if (j === length) return code;
    }
    return null;
  }
}

function writeNull(out: Buffer, o: number): number {
  return o + NULL_BYTES.copy(out, o);
}
