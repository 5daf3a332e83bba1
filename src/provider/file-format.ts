import { DateTime } from 'luxon';
import type { Channel, FileKind } from './protocol.js';

/**
 * A lookup table of file texts without Object.prototype, so that a text such as `constructor`
 * or `toString` finds nothing, as any other unknown text.
 */
function table<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}

/** docs/contract.md section 4: provider order statuses, normalized. */
export type OrderStatus = 'paid' | 'paid_pending_claim' | 'failed' | 'returned' | 'deleted' | 'unresolved';

export const ORDER_STATUS_TEXT: Readonly<Record<string, OrderStatus>> = table({
  成功: 'paid',
  '成功(待领取)': 'paid_pending_claim',
  '成功（待领取）': 'paid_pending_claim',
  失败: 'failed',
  退汇: 'returned',
  删除: 'deleted',
  挂单: 'unresolved',
  打款中: 'unresolved',
  '-/-': 'unresolved',
  未知: 'unresolved',
  '': 'unresolved',
});

export type BillType = 'payout' | 'payout_fee' | 'return' | 'return_fee';

export const BILL_TYPE_TEXT: Readonly<Record<string, BillType>> = table({
  经纪公司打款: 'payout',
  经纪公司打款服务费: 'payout_fee',
  经纪公司退汇: 'return',
  经纪公司退汇手续费: 'return_fee',
});

export type BillStatus = 'succeeded' | 'pending_claim' | 'failed' | 'unknown';

export const BILL_STATUS_TEXT: Readonly<Record<string, BillStatus>> = table({
  成功: 'succeeded',
  '成功(待领取)': 'pending_claim',
  '成功（待领取）': 'pending_claim',
  失败: 'failed',
  状态未知: 'unknown',
  未知: 'unknown',
});

export const CHANNEL_TEXT: Readonly<Record<string, Channel>> = table({
  银行卡: 'bankcard',
  支付宝: 'alipay',
  微信: 'wxpay',
});

/**
 * The text that stands for "no value" in the files, beside an empty field: a nullable column
 * reads either as null, a required one refuses both. The typed COPY uses it as its null string.
 */
export const NULL_TEXT = '-/-';

/**
 * An amount: yuan with at most this many whole digits and at most two decimals (fen), what
 * numeric(16,2) holds. The reader (parseFen), the framer's amount automaton (field-check.ts)
 * and staging's pattern (AMOUNT_PATTERN) all take their bound from here.
 */
export const AMOUNT_WHOLE_DIGITS = 14;
export const AMOUNT_SQL_TYPE = `numeric(${AMOUNT_WHOLE_DIGITS + 2},2)`;
/** An amount's shape as a regular expression, for SQL (staging.ts). */
export const AMOUNT_PATTERN = `^-?[0-9]{1,${AMOUNT_WHOLE_DIGITS}}(\\.[0-9]{1,2})?$`;
/**
 * A time's shape, Beijing wall time `YYYY-MM-DD HH:mm:ss` (or `T` between), with month 01-12,
 * day 01-31 and a valid clock time, as a regular expression for SQL (staging.ts). The reader
 * (parseShanghaiTime) and the framer's time automaton check the same shape byte by byte.
 */
export const TIME_PATTERN = '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$';

/**
 * What a column holds: free text (ids, names, accounts), an amount (yuan text, read as fen),
 * a time (Beijing wall time), or a code (a text from the column's code table, loaded as its
 * code). Each kind has one reader converter (file-reader.ts), one framer automaton
 * (field-check.ts) and one SQL check (staging.ts).
 */
export type ValueKind = 'text' | 'amount' | 'time' | 'code';

/** One column of a provider file: everything the reader, the framer and the load derive from. */
export interface ColumnSpec {
  /** The field's name in code ('orderId'); staging's text column is its snake case. */
  readonly field: string;
  /** The header text(s) naming the column; errors name it by the first. */
  readonly headers: readonly string[];
  readonly kind: ValueKind;
  /**
   * True: an absent value (empty, or NULL_TEXT) is null. False: the column is required: text
   * and amounts refuse an absent value; a code looks it up like any other text.
   */
  readonly nullable: boolean;
  /** Space and control characters at either end are not part of the value (trimmed). */
  readonly trim: boolean;
  /** kind 'code': the file's texts and what each stands for. */
  readonly codes: Readonly<Record<string, string>> | null;
  /** What the error says of a value that fails (null: none can, a nullable text). */
  readonly what: string | null;
  /** Whether the error may quote the value: not for free text, which may be personal data. */
  readonly echo: boolean;
  /** The load table's column (a code's, for a column that keeps its text too). */
  readonly column: string;
  /** The property of the reader's row (OrderRow, BillRow). */
  readonly prop: keyof OrderRow | keyof BillRow;
  /** A code column whose text is kept too, in a column and property of its own, before the code. */
  readonly text: { readonly column: string; readonly prop: keyof OrderRow | keyof BillRow } | null;
  /** Checked before the other columns of its row (the reader has always checked 订单状态 first). */
  readonly first: boolean;
}

export type ColumnMap = Readonly<Record<string, string>>;

export interface FileSpec {
  /** The columns as the documentation lists them: the load table's order. */
  readonly columns: readonly ColumnSpec[];
  /** The same columns in the order a row's values are checked: the first failure is the one reported. */
  readonly checkOrder: readonly ColumnSpec[];
  /** Header text to field. */
  readonly byHeader: ColumnMap;
  /** Field to its column. */
  readonly byField: ReadonlyMap<string, ColumnSpec>;
}

/** `orderId` to `order_id`. */
export const snakeCase = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

interface ColumnOptions {
  column?: string;
  prop?: ColumnSpec['prop'];
  nullable?: boolean;
  text?: ColumnSpec['text'];
  first?: boolean;
}

const TIME_WHAT = 'invalid date-time (expected YYYY-MM-DD HH:mm:ss)';

function col(field: string, header: string, kind: ValueKind, nullable: boolean, what: string | null, o: ColumnOptions, codes: ColumnSpec['codes'] = null): ColumnSpec {
  return {
    field, headers: [header], kind, nullable, trim: true, codes, what, echo: kind !== 'text', column: o.column ?? snakeCase(field),
    prop: o.prop ?? (field as ColumnSpec['prop']), text: o.text ?? null, first: o.first ?? false,
  };
}
/** Free text, null when absent. */
const text = (field: string, header: string, o: ColumnOptions = {}) => col(field, header, 'text', true, null, o);
/** An id: free text that must be there. */
const id = (field: string, header: string) => col(field, header, 'text', false, 'is empty', {});
const amount = (field: string, header: string, o: ColumnOptions) => col(field, header, 'amount', o.nullable ?? false, 'malformed amount', o);
const time = (field: string, header: string) => col(field, header, 'time', true, TIME_WHAT, {});
const code = (field: string, header: string, codes: Readonly<Record<string, string>>, what: string, o: ColumnOptions = {}) =>
  col(field, header, 'code', o.nullable ?? false, what, o, codes);
const channel = () => code('channel', '支付渠道', CHANNEL_TEXT, 'unknown channel', { nullable: true });

function fileSpec(columns: ColumnSpec[]): FileSpec {
  const byHeader: Record<string, string> = {};
  for (const c of columns) for (const h of c.headers) byHeader[h] = c.field;
  return {
    columns,
    checkOrder: [...columns.filter((c) => c.first), ...columns.filter((c) => !c.first)],
    byHeader: table(byHeader),
    byField: new Map(columns.map((c) => [c.field, c])),
  };
}

/**
 * The order file (订单文件) and the bill file (流水文件), column by column. A column is found by
 * its header text, wherever the file puts it. Adding a column, a code or an amount shape here
 * is all the reader, the framer, staging and the load tables' column lists need.
 */
export const FILE_SPECS: Readonly<Record<FileKind, FileSpec>> = {
  order: fileSpec([
    id('orderId', '商户订单号'),
    id('providerRef', '订单流水号'),
    text('batchId', '商户批次号'),
    text('name', '姓名', { column: 'name_masked' }),
    text('brokerId', '经纪公司ID'),
    // The text as read ('' for an empty cell) in status_text, its code in status.
    code('statusText', '订单状态', ORDER_STATUS_TEXT, 'unknown order status', {
      column: 'status', prop: 'status', text: { column: 'status_text', prop: 'statusText' }, first: true,
    }),
    text('account', '收款账号', { column: 'account_masked' }),
    channel(),
    amount('amount', '金额', { prop: 'amountFen' }),
    amount('fee', '服务费', { prop: 'feeFen', nullable: true }),
    text('channelRef', '渠道流水号'),
    text('creditBillNo', '短周期授信账单号'),
    text('feeBillNo', '服务费账单号'),
    text('balanceBillNo', '余额账单号'),
    time('createdAt', '创建时间'),
    time('finishedAt', '完成时间'),
  ]),
  bill: fileSpec([
    id('orderId', '商户订单号'),
    id('providerRef', '订单流水号'),
    id('billRef', '流水号'),
    code('billType', '流水类型', BILL_TYPE_TEXT, 'unknown 流水类型'),
    code('billStatus', '流水状态', BILL_STATUS_TEXT, 'unknown 流水状态'),
    channel(),
    text('name', '姓名', { column: 'name_masked' }),
    text('brokerId', '经纪公司ID'),
    amount('amount', '金额', { prop: 'amountFen' }),
    text('channelRef', '渠道流水号'),
    time('createdAt', '创建时间'),
    time('finishedAt', '完成时间'),
  ]),
};

/** Order file columns by header text (订单文件). */
export const ORDER_COLUMNS: ColumnMap = FILE_SPECS.order.byHeader;
/** Bill file columns by header text (流水文件). */
export const BILL_COLUMNS: ColumnMap = FILE_SPECS.bill.byHeader;

export interface OrderRow {
  line: number;
  orderId: string;
  providerRef: string;
  batchId: string | null;
  name: string | null;
  brokerId: string | null;
  statusText: string;
  status: OrderStatus;
  account: string | null;
  channel: Channel | null;
  amountFen: bigint;
  feeFen: bigint | null;
  channelRef: string | null;
  creditBillNo: string | null;
  feeBillNo: string | null;
  balanceBillNo: string | null;
  /** Instants as epoch milliseconds, read as Asia/Shanghai wall time. */
  createdAt: number | null;
  finishedAt: number | null;
}

export interface BillRow {
  line: number;
  orderId: string;
  providerRef: string;
  billRef: string;
  billType: BillType;
  billStatus: BillStatus;
  channel: Channel | null;
  name: string | null;
  brokerId: string | null;
  amountFen: bigint;
  channelRef: string | null;
  createdAt: number | null;
  finishedAt: number | null;
}

export const PROVIDER_ZONE = 'Asia/Shanghai';

/** Yuan text to integer fen; null when the text is not an amount of at most two decimals. */
export function parseFen(text: string): bigint | null {
  // A character loop: this runs for every amount of every row, and a regex plus BigInt(string)
  // cost more than the CSV parsing of the field itself.
  const n = text.length;
  let i = text.charCodeAt(0) === 45 ? 1 : 0; // '-'
  const negative = i === 1;
  let whole = 0;
  let wholeDigits = 0;
  for (; i < n; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    whole = whole * 10 + c;
    wholeDigits++;
  }
  // Beyond 13 whole digits, fen would pass 2^53 as a double (the BigInt path below).
  if (wholeDigits === 0 || wholeDigits > AMOUNT_WHOLE_DIGITS) return null;
  let cents = 0;
  if (i < n) {
    if (text.charCodeAt(i) !== 46 || n - i - 1 < 1 || n - i - 1 > 2) return null; // '.', then 1 or 2 digits
    for (let j = i + 1; j < n; j++) {
      const c = text.charCodeAt(j) - 48;
      if (c < 0 || c > 9) return null;
      cents = cents * 10 + c;
    }
    if (n - i - 1 === 1) cents *= 10;
  }
  const fen = wholeDigits <= 13 ? BigInt(whole * 100 + cents) : BigInt(text.slice(negative ? 1 : 0, negative ? wholeDigits + 1 : wholeDigits)) * 100n + BigInt(cents);
  return negative ? -fen : fen;
}

const SAFE_FEN = BigInt(Number.MAX_SAFE_INTEGER);

/** Integer fen to the canonical yuan text `123.45`, exact. */
export function formatFen(fen: bigint): string {
  const negative = fen < 0n;
  const abs = negative ? -fen : fen;
  if (abs <= SAFE_FEN) {
    // Number arithmetic is exact below 2^53 and several times faster than BigInt division.
    const n = Number(abs);
    const cents = n % 100;
    return `${negative ? '-' : ''}${(n - cents) / 100}.${cents < 10 ? '0' : ''}${cents}`;
  }
  const yuan = abs / 100n;
  const cents = abs % 100n;
  return `${negative ? '-' : ''}${yuan}.${cents < 10n ? '0' : ''}${cents}`;
}

const dayStartCache = new Map<string, number | null>();

const digit = (text: string, i: number): number => {
  const c = text.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : NaN;
};
const two = (text: string, i: number): number => digit(text, i) * 10 + digit(text, i + 1);

let lastText = '';
let lastMs: number | null = null;

/**
 * Beijing wall time `YYYY-MM-DD HH:mm:ss` to epoch ms. The zone offset is looked up once per
 * calendar day with luxon (Asia/Shanghai has had no DST since 1991, so a day has one offset);
 * a per-row luxon parse would cost more than the CSV parsing itself.
 */
export function parseShanghaiTime(text: string): number | null {
  // Busy days have many rows per second, and 创建时间 often equals 完成时间.
  if (text === lastText) return lastMs;
  lastMs = parseTime(text);
  lastText = text;
  return lastMs;
}

function parseTime(text: string): number | null {
  if (text.length !== 19 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45
      || (text.charCodeAt(10) !== 32 && text.charCodeAt(10) !== 84) || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) {
    return null;
  }
  const date = text.slice(0, 10);
  let dayStart = dayStartCache.get(date);
  if (dayStart === undefined) {
    const dt = /^\d{4}-\d{2}-\d{2}$/.test(date) ? DateTime.fromISO(date, { zone: PROVIDER_ZONE }) : null;
    dayStart = dt !== null && dt.isValid ? dt.toMillis() : null;
    if (dayStartCache.size > 10_000) dayStartCache.clear();
    dayStartCache.set(date, dayStart);
  }
  const h = two(text, 11);
  const min = two(text, 14);
  const s = two(text, 17);
  // NaN (a non-digit) fails every comparison below, and so returns null.
  if (dayStart === null || !(h <= 23 && min <= 59 && s <= 59)) return null;
  return dayStart + ((h * 60 + min) * 60 + s) * 1000;
}
