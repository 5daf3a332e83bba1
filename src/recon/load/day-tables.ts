import { DateTime } from 'luxon';
import type { Session } from '../../db/connection.js';
import type { RunTx } from '../runs/run-transaction.js';
import type { FileKind } from '../../provider/protocol.js';

/**
 * A day's provider rows live in a partition of their own (sql/0006): each file is loaded into
 * a fresh table beside the dealer's table, indexed and analyzed after the load, and swapped in
 * for the day's old partition just before the run commits. The SQL functions do the DDL (the
 * job role may not), these wrappers only call them.
 */

/** A table name the functions made, quoted for SQL (they only ever contain [a-z0-9_]). */
export function qualified(name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unexpected provider table name: ${name}`);
  return `recon."${name}"`;
}

/** A text value as a SQL literal (standard_conforming_strings is on in every supported Postgres). */
export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * Creates the dealer's tables on first use, in a short transaction of its own: attaching them
 * locks the parents against other attaches, which must not wait for a whole run.
 */
export async function ensureDealerTables(session: Session, dealerId: string): Promise<void> {
  const r = await session.query<{ n: number }>('select count(*)::int as n from recon.provider_row_tables where dealer_id = $1', [dealerId]);
  if (r.rows[0]!.n === 2) return;
  await session.exec('begin');
  try {
    for (const kind of ['order', 'bill'] as const) await session.query('select recon.provider_dealer_table($1, $2)', [kind, dealerId]);
    await session.exec('commit');
  } catch (err) {
    await session.exec('rollback').catch(() => {});
    throw err;
  }
}

/**
 * The kinds of the dealer's day whose file was ingested but whose partition is gone: retention
 * dropped the day's provider rows (the file records stay). Such a day is loaded again, never
 * judged as if its files were empty.
 */
export async function prunedFileKinds(session: Session, dealerId: string, date: string): Promise<Set<FileKind>> {
  const r = await session.query<{ kind: FileKind }>(
    `select distinct f.kind from recon.provider_files f
      where f.dealer_id = $1 and f.business_date = $2
        and not exists (select 1 from recon.provider_days d where d.dealer_id = f.dealer_id and d.business_date = f.business_date and d.kind = f.kind)
      order by f.kind`,
    [dealerId, date],
  );
  return new Set(r.rows.map((x) => x.kind));
}

/** A fresh, empty table for the day's file of `kind`, named after the run; returns its name. */
export async function createLoadTable(session: Session, kind: FileKind, dealerId: string, date: string, runId: number): Promise<string> {
  const r = await session.query<{ name: string }>('select recon.provider_load_table($1, $2, $3, $4) as name', [kind, dealerId, date, runId]);
  return r.rows[0]!.name;
}

/**
 * After its load: the table's indexes, built in one pass each, and its statistics; for a bill
 * file, the day's payout totals per broker and channel (recon.provider_day_payouts, which the
 * balance check averages).
 */
export async function finishLoadTable(session: Session, kind: FileKind, name: string, dealerId: string, date: string): Promise<void> {
  await indexLoadTable(session, kind, name);
  if (kind === 'bill') await recordDayPayouts(session, name, dealerId, date);
}

/** A loaded table's indexes and statistics. */
export async function indexLoadTable(session: Session, kind: FileKind, name: string): Promise<void> {
  await session.query('select recon.provider_load_finish($1, $2)', [kind, name]);
}

/** A loaded table's statistics alone (its indexes come after, buildLoadTableIndexes). */
export async function analyzeLoadTable(session: Session, name: string): Promise<void> {
  await session.query('select recon.provider_load_analyze($1)', [name]);
}

/** A loaded table's indexes alone. */
export async function buildLoadTableIndexes(session: Session, kind: FileKind, name: string): Promise<void> {
  await session.query('select recon.provider_load_index($1, $2)', [kind, name]);
}

/** The day's payout totals per broker and channel, from the loaded bill table; in the run's transaction. */
export async function recordDayPayouts(session: Session, name: string, dealerId: string, date: string): Promise<void> {
  await session.query('delete from recon.provider_day_payouts where dealer_id = $1 and business_date = $2', [dealerId, date]);
  await session.query(
    `insert into recon.provider_day_payouts (dealer_id, business_date, broker_id, channel, amount)
     select $1, $2, broker_id, channel, sum(amount) from ${qualified(name)}
      where bill_type = 'payout' and channel is not null and broker_id is not null
      group by broker_id, channel`,
    [dealerId, date],
  );
}

/**
 * Drops the dealer's load tables that are not partitions: the one named, or (no name) every
 * one, which under the dealer's run lock are those a run that died left behind (sql/0012).
 * Returns the names dropped.
 */
export async function dropLoadTables(session: Session, dealerId: string, name: string | null = null): Promise<string[]> {
  const r = await session.query<{ name: string }>('select recon.provider_drop_load_tables($1, $2) as name', [dealerId, name]);
  return r.rows.map((x) => x.name);
}

/** The loaded table becomes the day's partition; the old one is dropped. Last before commit. */
export async function swapDay(session: RunTx, kind: FileKind, dealerId: string, date: string, name: string): Promise<void> {
  await session.query('select recon.provider_swap_day($1, $2, $3, $4)', [kind, dealerId, date, name]);
}

const PARENTS: Record<FileKind, string> = { order: 'recon.provider_orders', bill: 'recon.provider_bills' };

/**
 * The run's views of the provider rows, on its connection, inside its transaction:
 * recon_day_orders / recon_day_bills are day D's rows (the table loaded by this run, or the
 * day's partition when the file was unchanged), recon_orders / recon_bills every day of the
 * dealer as the run will leave them, recon_other_orders / recon_other_bills the days other
 * than D, and recon_window_orders the days within `duplicateWindowDays` of D, D left out.
 * Every statement of the run reads the rows through them.
 *
 * The dealer and the days are written into the views as literals: the planner prunes every
 * other dealer's tables without opening (or locking) them, so a run never waits on another
 * dealer's partition swap nor holds a lock that would make that swap wait; and it prunes the
 * days and estimates the rows it reads from each day's own statistics.
 */
export function rowViewsSql(dealerId: string, date: string, loaded: Partial<Record<FileKind, string>>, duplicateWindowDays: number): string[] {
  const dealer = literal(dealerId);
  const day = `${literal(date)}::date`;
  const views: string[] = [];
  // Two ranges rather than `<>`: the planner prunes D's own partition out of ranges, not out
  // of an inequality, and would otherwise read it (whole, for the duplicate window). The upper
  // range starts at D + 1: \`> D\` would not prune either (a range bound is not known to be
  // of whole days).
  const next = `${literal(DateTime.fromISO(date).plus({ days: 1 }).toISODate()!)}::date`;
  const notDay = `(business_date < ${day} or business_date >= ${next})`;
  for (const [kind, prefix] of [['order', 'orders'], ['bill', 'bills']] as const) {
    const table = loaded[kind];
    const parent = PARENTS[kind];
    const others = `select * from ${parent} where dealer_id = ${dealer} and ${notDay}`;
    views.push(`create or replace temp view recon_other_${prefix} as ${others}`);
    if (table === undefined) {
      views.push(`create or replace temp view recon_day_${prefix} as select * from ${parent} where dealer_id = ${dealer} and business_date = ${day}`);
      views.push(`create or replace temp view recon_${prefix} as select * from ${parent} where dealer_id = ${dealer}`);
    } else {
      views.push(`create or replace temp view recon_day_${prefix} as select * from ${qualified(table)}`);
      views.push(`create or replace temp view recon_${prefix} as ${others} union all select * from ${qualified(table)}`);
    }
  }
  const from = DateTime.fromISO(date).minus({ days: duplicateWindowDays }).toISODate()!;
  const to = DateTime.fromISO(date).plus({ days: duplicateWindowDays }).toISODate()!;
  views.push(`create or replace temp view recon_window_orders as
    select * from ${PARENTS.order} where dealer_id = ${dealer} and business_date between ${literal(from)}::date and ${literal(to)}::date
       and ${notDay}`);
  return views;
}


/** Dropped before the swap (a view would hold the loaded table) and before every commit. */
export const DROP_ROW_VIEWS_SQL = `drop view if exists recon_orders, recon_bills, recon_day_orders, recon_day_bills, recon_other_orders,
  recon_other_bills, recon_window_orders`;

export async function dropRowViews(session: RunTx): Promise<void> {
  await session.query(DROP_ROW_VIEWS_SQL);
}
