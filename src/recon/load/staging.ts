import type { Session } from '../../db/connection.js';
import { ReconError } from '../../errors.js';
import {
  AMOUNT_PATTERN, AMOUNT_SQL_TYPE, FILE_SPECS, NULL_TEXT, PROVIDER_ZONE, TIME_PATTERN, snakeCase as snake, type ColumnSpec,
} from '../../provider/file-format.js';
import { formatError } from '../../provider/file-reader.js';
import type { FileKind } from '../../provider/protocol.js';
import { literal, qualified } from './day-tables.js';
import { ROW_COLUMNS } from './row-columns.js';

/**
 * The server-side load's SQL: a provider file's records COPYed as text into a temporary
 * staging table (copy-framer.ts frames them), then converted into the day's load table by one
 * INSERT … SELECT, and, when that fails, one validating query that finds the first bad line
 * and column. Both come from the column spec (file-format.ts FILE_SPECS), as the reader's
 * converters do, so that both engines accept and reject the same files with the same words.
 * A staging column per file field: the field's name in snake case.
 */

export const stagingTable = (kind: FileKind) => `recon_stage_${kind}`;

/** The COPY into staging, its columns in the file's order after the line number. */
export function stagingCopySql(kind: FileKind, fields: readonly string[]): string {
  return `copy ${stagingTable(kind)} (line, ${fields.map(snake).join(', ')}) from stdin with (format csv)`;
}

/**
 * The typed COPY straight into the load table (copy-framer.ts typed framing): the line first,
 * then the file's fields in its order, a code that keeps its text (订单状态) as its text and its
 * code; the dealer and the day are the table's column defaults (migration 0007). NULL_TEXT
 * (`-/-`) is the null string, quoted or not (FORCE_NULL), in the columns that may be null.
 */
export function typedCopySql(kind: FileKind, table: string, fields: readonly string[]): string {
  const specs = fields.map((f) => FILE_SPECS[kind].byField.get(f)!);
  const columns = specs.flatMap((c) => (c.text === null ? [c.column] : [c.text.column, c.column]));
  const nullable = specs.filter((c) => c.nullable).map((c) => c.column);
  return `copy ${qualified(table)} (line, ${columns.join(', ')}) from stdin
    with (format csv, null ${literal(NULL_TEXT)}${nullable.length > 0 ? `, force_null (${nullable.join(', ')})` : ''})`;
}

/**
 * A temporary table of text columns, dropped at commit (or sooner, once converted). Nothing
 * in it is WAL-logged, and its rows never outlive the load.
 */
export async function createStagingTable(session: Session, kind: FileKind): Promise<void> {
  const fields = FILE_SPECS[kind].columns.map((c) => c.field);
  await session.exec(`drop table if exists ${stagingTable(kind)};
    create temp table ${stagingTable(kind)} (line integer not null, ${fields.map((f) => `${snake(f)} text`).join(', ')}) on commit drop`);
}

export async function dropStagingTable(session: Session, kind: FileKind): Promise<void> {
  await session.exec(`drop table if exists ${stagingTable(kind)}`);
}

/**
 * Bytes the reader trims from either end of a field (cellText): space and the control
 * characters below it. NUL never reaches here (copy-framer.ts rejects it).
 */
const TRIMMED = `E'${Array.from({ length: 32 }, (_, i) => `\\x${(i + 1).toString(16).padStart(2, '0')}`).join('')}'`;

const AMOUNT_RE = literal(AMOUNT_PATTERN);
const TIME_RE = literal(TIME_PATTERN);

const absent = (v: string) => `(${v} is null or ${v} = '' or ${v} = ${literal(NULL_TEXT)})`;

/**
 * Raises for a value that failed its check, whatever the value: 'x' never starts a number.
 * The INSERT then fails, and the validating query says where and why.
 */
const reject = (v: string, type: string) => `('x' || ${v})::numeric::text${type === 'text' ? '' : `::${type}`}`;

const mapping = (v: string, map: Readonly<Record<string, string>>) =>
  `case ${v} ${Object.entries(map).map(([k, to]) => `when ${literal(k)} then ${literal(to)}`).join(' ')} end`;

interface Check {
  column: ColumnSpec;
  /** True when the (trimmed) value is acceptable; never null. */
  ok: (v: string) => string;
  /** The column's value once `ok` holds. */
  value: (v: string) => string;
  type: string;
}

/** A nullable column's check and value: an absent value passes, as null. */
const orAbsent = (c: ColumnSpec, shape: (v: string) => string, value: (v: string) => string): Pick<Check, 'ok' | 'value'> => (c.nullable
  ? { ok: (v) => `(${absent(v)} or ${shape(v)})`, value: (v) => `case when ${absent(v)} then null else ${value(v)} end` }
  : { ok: (v) => `coalesce(${shape(v)}, false)`, value });

/**
 * A column's check, by its spec's kind, or null for a column nothing can fail (free text that
 * may be absent). A time's pattern lets through a day past the month's end (2017-11-31), which
 * the cast itself refuses; `strict` adds the day count for the validating query, which must
 * not fail.
 */
function checkOf(c: ColumnSpec, strict: boolean): Check | null {
  switch (c.kind) {
    case 'text':
      if (c.nullable) return null;
      return { column: c, ok: (v) => `not ${absent(v)}`, value: (v) => v, type: 'text' };
    case 'amount':
      return { column: c, ...orAbsent(c, (v) => `${v} ~ ${AMOUNT_RE}`, (v) => `${v}::${AMOUNT_SQL_TYPE}`), type: 'numeric' };
    case 'time':
      return {
        column: c,
        ...orAbsent(c, (v) => (strict
          // A CASE, because only it fixes the order in which the parts are evaluated.
          ? `case when ${v} ~ ${TIME_RE} and substr(${v}, 1, 4) <> '0000'
         then substr(${v}, 9, 2)::int <= extract(day from (substr(${v}, 1, 7) || '-01')::date + interval '1 month - 1 day') else false end`
          : `${v} ~ ${TIME_RE}`),
        // Read in the session's time zone, which the conversion sets to the provider's (convertSql).
        (v) => `${v}::timestamptz`),
        type: 'timestamptz',
      };
    case 'code': {
      const codes = c.codes!;
      const known = Object.keys(codes).map(literal).join(', ');
      // A required code is looked up as it is: its table may hold '' (an empty 订单状态).
      return c.nullable
        ? { column: c, ...orAbsent(c, (v) => `${v} in (${known})`, (v) => mapping(v, codes)), type: 'text' }
        : { column: c, ok: (v) => `coalesce(${v}, '') in (${known})`, value: (v) => mapping(`coalesce(${v}, '')`, codes), type: 'text' };
    }
  }
}

/** The reader's checks in the reader's order: the first that fails on a line is the one reported. */
const checks = (kind: FileKind, strict: boolean): Check[] =>
  FILE_SPECS[kind].checkOrder.map((c) => checkOf(c, strict)).filter((c): c is Check => c !== null);

/**
 * Every field trimmed once (the columns the spec trims), in a subquery the planner keeps apart
 * (offset 0) so that no trim is repeated.
 */
function trimmedStaging(kind: FileKind): string {
  const fields = FILE_SPECS[kind].columns.map((c) => (c.trim ? `btrim(${snake(c.field)}, ${TRIMMED}) as ${snake(c.field)}` : snake(c.field)));
  return `(select line, ${fields.join(', ')} from ${stagingTable(kind)} offset 0) s`;
}

/**
 * The INSERT … SELECT that fills the load table from staging: every value trimmed, checked
 * and converted, or the statement fails. Staging only takes the files the typed COPY gave up
 * on (server-loader.ts), so it never assumes a value is in shape. The values come in
 * ROW_COLUMNS order, which is the spec's.
 */
export function convertSql(kind: FileKind, target: string, dealerId: string, date: string): string {
  const values = FILE_SPECS[kind].columns.flatMap((c) => {
    const v = `s.${snake(c.field)}`;
    const check = checkOf(c, false);
    const value = check === null
      ? `case when ${absent(v)} then null else ${v} end`
      : `case when ${check.ok(v)} then ${check.value(v)} else ${reject(v, check.type)} end`;
    // A kept text is the text as read ('' for an empty cell); its check is the code's.
    return c.text === null ? [value] : [`coalesce(${v}, '')`, value];
  });
  const select = [literal(dealerId), `${literal(date)}::date`, 's.line', ...values];
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
  const all = checks(kind, true);
  const oks = all.map((c) => c.ok(`s.${snake(c.column.field)}`));
  const r = await session.query<{ line: number; oks: boolean[]; vals: (string | null)[] }>(
    `select s.line, array[${oks.join(', ')}] as oks, array[${all.map((c) => `s.${snake(c.column.field)}`).join(', ')}]::text[] as vals
       from ${trimmedStaging(kind)} where not (${oks.join(' and ')}) order by s.line limit 1`,
  );
  const row = r.rows[0];
  if (row === undefined) return null;
  const at = row.oks.indexOf(false);
  const { column } = all[at]!;
  const value = row.vals[at] ?? '';
  return formatError(label, row.line, column.headers[0]!, column.echo ? `${column.what} "${value}"` : column.what!);
}
