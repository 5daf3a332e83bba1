import type { Session } from '../../db/connection.js';
import { ReconError } from '../../errors.js';
import {
  BILL_COLUMNS, BILL_STATUS_TEXT, BILL_TYPE_TEXT, CHANNEL_TEXT, ORDER_COLUMNS, ORDER_STATUS_TEXT, PROVIDER_ZONE,
} from '../../provider/file-format.js';
import { ECHOABLE, formatError } from '../../provider/file-reader.js';
import type { FileKind } from '../../provider/protocol.js';
import { literal, qualified } from './day-tables.js';
import { ROW_COLUMNS } from './provider-rows.js';

/**
 * The server-side load's SQL: a provider file's records COPYed as text into a temporary
 * staging table (copy-csv.ts frames them), then converted into the day's load table by one
 * INSERT … SELECT, and, when that fails, one validating query that finds the first bad line
 * and column. The checks are the reader's (file-reader.ts makeConverter), one for one, so
 * that both engines accept and reject the same files with the same words.
 */

/** A staging column per file field: the field's name in snake case. */
const snake = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export const stagingTable = (kind: FileKind) => `recon_stage_${kind}`;

/** The COPY into staging, its columns in the file's order after the line number. */
export function stagingCopySql(kind: FileKind, fields: readonly string[]): string {
  return `copy ${stagingTable(kind)} (line, ${fields.map(snake).join(', ')}) from stdin with (format csv)`;
}

/** Load table columns by file field (the others are the table's own names). */
const COLUMN_OF: Record<string, string> = { name: 'name_masked', account: 'account_masked' };
/** Columns that hold null for an absent value; the others are required (or, 订单状态, keep the text). */
const NULLABLE = new Set([
  'batch_id', 'name_masked', 'broker_id', 'account_masked', 'channel', 'fee', 'channel_ref', 'credit_bill_no', 'fee_bill_no',
  'balance_bill_no', 'created_at', 'finished_at',
]);

/**
 * The typed COPY straight into the load table (copy-csv.ts typed framing): the line first,
 * then the file's fields in its order, 订单状态 as its text and its code; the dealer and the
 * day are the table's column defaults (migration 0007). `-/-` is the null string, quoted or
 * not (FORCE_NULL), in the columns that may be null.
 */
export function typedCopySql(table: string, fields: readonly string[]): string {
  const columns = fields.flatMap((f) => (f === 'statusText' ? ['status_text', 'status'] : [COLUMN_OF[f] ?? snake(f)]));
  const nullable = columns.filter((c) => NULLABLE.has(c));
  return `copy ${qualified(table)} (line, ${columns.join(', ')}) from stdin
    with (format csv, null '-/-'${nullable.length > 0 ? `, force_null (${nullable.join(', ')})` : ''})`;
}

/**
 * A temporary table of text columns, dropped at commit (or sooner, once converted). Nothing
 * in it is WAL-logged, and its rows never outlive the load.
 */
export async function createStagingTable(session: Session, kind: FileKind): Promise<void> {
  const fields = Object.values(kind === 'order' ? ORDER_COLUMNS : BILL_COLUMNS);
  await session.exec(`drop table if exists ${stagingTable(kind)};
    create temp table ${stagingTable(kind)} (line integer not null, ${fields.map((f) => `${snake(f)} text`).join(', ')}) on commit drop`);
}

export async function dropStagingTable(session: Session, kind: FileKind): Promise<void> {
  await session.exec(`drop table if exists ${stagingTable(kind)}`);
}

/**
 * Bytes the reader trims from either end of a field (cellText): space and the control
 * characters below it. NUL never reaches here (copy-csv.ts rejects it).
 */
const TRIMMED = `E'${Array.from({ length: 32 }, (_, i) => `\\x${(i + 1).toString(16).padStart(2, '0')}`).join('')}'`;

const AMOUNT_RE = `'^-?[0-9]{1,14}(\\.[0-9]{1,2})?$'`;
/** The reader's time shape, with month 01-12, day 01-31 and a valid clock time. */
const TIME_RE = `'^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$'`;

const absent = (v: string) => `(${v} is null or ${v} = '' or ${v} = '-/-')`;

/**
 * Raises for a value that failed its check, whatever the value: 'x' never starts a number.
 * The INSERT then fails, and the validating query says where and why.
 */
const reject = (v: string, type: string) => `('x' || ${v})::numeric::text${type === 'text' ? '' : `::${type}`}`;

const mapping = (v: string, map: Readonly<Record<string, string>>) =>
  `case ${v} ${Object.entries(map).map(([k, to]) => `when ${literal(k)} then ${literal(to)}`).join(' ')} end`;

interface Check {
  field: string;
  /** True when the (trimmed) value is acceptable; never null. */
  ok: (v: string) => string;
  /** The column's value once `ok` holds. */
  value: (v: string) => string;
  type: string;
  what: string;
}

const required = (field: string): Check => ({
  field, ok: (v) => `not ${absent(v)}`, value: (v) => v, type: 'text', what: 'is empty',
});
const amount = (field: string): Check => ({
  field, ok: (v) => `coalesce(${v} ~ ${AMOUNT_RE}, false)`, value: (v) => `${v}::numeric(16,2)`, type: 'numeric', what: 'malformed amount',
});
const optionalAmount = (field: string): Check => ({
  field, ok: (v) => `(${absent(v)} or ${v} ~ ${AMOUNT_RE})`, value: (v) => `case when ${absent(v)} then null else ${v}::numeric(16,2) end`,
  type: 'numeric', what: 'malformed amount',
});
/**
 * A Beijing wall time. The conversion's pattern lets through a day past the month's end
 * (2017-11-31), which the cast itself refuses; `strict` adds the day count for the validating
 * query, which must not fail.
 */
const time = (field: string, strict = false): Check => ({
  field,
  ok: (v) => (strict
    // A CASE, because only it fixes the order in which the parts are evaluated.
    ? `(${absent(v)} or case when ${v} ~ ${TIME_RE} and substr(${v}, 1, 4) <> '0000'
         then substr(${v}, 9, 2)::int <= extract(day from (substr(${v}, 1, 7) || '-01')::date + interval '1 month - 1 day') else false end)`
    : `(${absent(v)} or ${v} ~ ${TIME_RE})`),
  // Read in the session's time zone, which the conversion sets to the provider's (convertSql).
  value: (v) => `case when ${absent(v)} then null else ${v}::timestamptz end`,
  type: 'timestamptz',
  what: 'invalid date-time (expected YYYY-MM-DD HH:mm:ss)',
});
const channel: Check = {
  field: 'channel',
  ok: (v) => `(${absent(v)} or ${v} in (${Object.keys(CHANNEL_TEXT).map(literal).join(', ')}))`,
  value: (v) => `case when ${absent(v)} then null else ${mapping(v, CHANNEL_TEXT)} end`,
  type: 'text',
  what: 'unknown channel',
};
const mapped = (field: string, map: Readonly<Record<string, string>>, what: string): Check => ({
  field, ok: (v) => `coalesce(${v}, '') in (${Object.keys(map).map(literal).join(', ')})`, value: (v) => mapping(`coalesce(${v}, '')`, map), type: 'text', what,
});

/** The reader's checks in the reader's order: the first that fails on a line is the one reported. */
const CHECKS: Record<FileKind, (strict: boolean) => Check[]> = {
  order: (strict) => [
    mapped('statusText', ORDER_STATUS_TEXT, 'unknown order status'), required('orderId'), required('providerRef'), channel,
    amount('amount'), optionalAmount('fee'), time('createdAt', strict), time('finishedAt', strict),
  ],
  bill: (strict) => [
    required('orderId'), required('providerRef'), required('billRef'), mapped('billType', BILL_TYPE_TEXT, 'unknown 流水类型'),
    mapped('billStatus', BILL_STATUS_TEXT, 'unknown 流水状态'), channel, amount('amount'), time('createdAt', strict), time('finishedAt', strict),
  ],
};

/** Table columns whose value comes from another field through a check (status from its text). */
const DERIVED: Record<string, string> = { status: 'statusText', bill_type: 'billType', bill_status: 'billStatus' };
/** Table columns named differently from their field. */
const FIELD_OF: Record<string, string> = {
  order_id: 'orderId', provider_ref: 'providerRef', batch_id: 'batchId', name_masked: 'name', broker_id: 'brokerId',
  status_text: 'statusText', account_masked: 'account', channel: 'channel', amount: 'amount', fee: 'fee', channel_ref: 'channelRef',
  credit_bill_no: 'creditBillNo', fee_bill_no: 'feeBillNo', balance_bill_no: 'balanceBillNo', created_at: 'createdAt',
  finished_at: 'finishedAt', bill_ref: 'billRef',
};

/** Every field trimmed once, in a subquery the planner keeps apart (offset 0) so that no trim is repeated. */
function trimmedStaging(kind: FileKind): string {
  const fields = Object.values(kind === 'order' ? ORDER_COLUMNS : BILL_COLUMNS);
  return `(select line, ${fields.map((f) => `btrim(${snake(f)}, ${TRIMMED}) as ${snake(f)}`).join(', ')} from ${stagingTable(kind)} offset 0) s`;
}

/**
 * The INSERT … SELECT that fills the load table from staging: every value trimmed, checked
 * and converted, or the statement fails. Staging only takes the files the typed COPY gave up
 * on (server-loader.ts), so it never assumes a value is in shape.
 */
export function convertSql(kind: FileKind, target: string, dealerId: string, date: string): string {
  const checks = new Map(CHECKS[kind](false).map((c) => [c.field, c]));
  const select = ROW_COLUMNS[kind].map((column) => {
    if (column === 'dealer_id') return literal(dealerId);
    if (column === 'business_date') return `${literal(date)}::date`;
    if (column === 'line') return 's.line';
    const derived = DERIVED[column];
    const field = derived ?? FIELD_OF[column]!;
    const v = `s.${snake(field)}`;
    const check = checks.get(field);
    if (check === undefined) return `case when ${absent(v)} then null else ${v} end`;
    if (derived === undefined && column === 'status_text') return `coalesce(${v}, '')`;
    return `case when ${check.ok(v)} then ${check.value(v)} else ${reject(v, check.type)} end`;
  });
  // status_text keeps the text as read ('' for an empty cell); its check is the status's.
  return `insert into ${qualified(target)} (${ROW_COLUMNS[kind].join(', ')}) select ${select.join(', ')} from ${trimmedStaging(kind)}`;
}

/**
 * Runs `work` with the session's TimeZone set to the provider's, then puts it back: a time
 * without an offset is then read as Beijing wall time by the plain timestamptz cast, which
 * costs half of `::timestamp at time zone '…'`.
 */
export async function inProviderZone<T>(session: Session, work: () => Promise<T>): Promise<T> {
  const r = await session.query<{ zone: string }>(`select current_setting('TimeZone') as zone, set_config('TimeZone', '${PROVIDER_ZONE}', true)`);
  try {
    return await work();
  } finally {
    await session.query(`select set_config('TimeZone', $1, true)`, [r.rows[0]!.zone]).catch(() => {});
  }
}

/**
 * The first line of staging whose value fails a check, as the reader would report it
 * (file, line, column, and the value where it may be echoed), or null when every value passes.
 */
export async function firstBadValue(session: Session, kind: FileKind, label: string): Promise<ReconError | null> {
  const checks = CHECKS[kind](true);
  const oks = checks.map((c) => c.ok(`s.${snake(c.field)}`));
  const r = await session.query<{ line: number; oks: boolean[]; vals: (string | null)[] }>(
    `select s.line, array[${oks.join(', ')}] as oks, array[${checks.map((c) => `s.${snake(c.field)}`).join(', ')}]::text[] as vals
       from ${trimmedStaging(kind)} where not (${oks.join(' and ')}) order by s.line limit 1`,
  );
  const row = r.rows[0];
  if (row === undefined) return null;
  const at = row.oks.indexOf(false);
  const check = checks[at]!;
  const names = Object.fromEntries(Object.entries(kind === 'order' ? ORDER_COLUMNS : BILL_COLUMNS).map(([n, f]) => [f, n]));
  const value = row.vals[at] ?? '';
  const what = check.what === 'is empty' || !ECHOABLE.has(check.field) ? check.what : `${check.what} "${value}"`;
  return formatError(label, row.line, names[check.field]!, what);
}
