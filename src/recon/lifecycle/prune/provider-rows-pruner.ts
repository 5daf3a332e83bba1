import type { Session } from '../../../db/connection.js';
import type { FileKind } from '../../../provider/protocol.js';
import { qualified } from '../../load/day-tables.js';
import { recordFileTotals } from '../../load/file-totals.js';
import type { Pruner } from './pruner.js';

export interface PrunedDays {
  /** Day partitions dropped (or that would be), each one file kind of one dealer's day. */
  tables: number;
  /** Their size on disk, indexes included. */
  bytes: number;
  /** Open findings newly marked provider_rows_pruned. */
  findingsMarked: number;
  /** The first business day kept; null when the dealer has no file yet. */
  keptFrom: string | null;
}

/**
 * Drops the provider rows of business days more than `retainDays` before the dealer's newest
 * day on file, a whole partition at a time (sql/0006), of that dealer only. Counted from the
 * newest day rather than from today, so that a backfill or a re-run of an old day never drops
 * what it has just loaded while newer days are missing, and a dealer whose runs stopped keeps
 * its last days.
 *
 * Findings, runs and file records stay. An open finding of such a day stays open, its details
 * saying that its provider rows are gone (`provider_rows_pruned`: the first day still kept);
 * runs no longer judge it again (nothing is left to judge it by), so it stays open as it is.
 *
 * The caller holds the dealer's run lock: no run of the dealer is under way, so nothing this
 * transaction locks (the dealer's open findings, then its day partitions and, for the DROP, the
 * dealer's own table of each kind) is held by anyone who would wait for it in turn. Another
 * dealer's run locks neither: its rows, partitions and table are its own.
 */
export async function pruneProviderDays(session: Session, dealerId: string, retainDays: number, dryRun: boolean): Promise<PrunedDays> {
  const days = await session.query<{ dealer_id: string; kept_from: string; tables: number; bytes: string }>(
    `with newest as (
       select dealer_id, max(business_date) - $1::int as kept_from from recon.provider_files
        where dealer_id = $2 group by dealer_id
     )
     select n.dealer_id, n.kept_from::text, count(d.table_name)::int as tables,
            coalesce(sum(case when d.table_name is not null
                              then pg_total_relation_size(format('recon.%I', d.table_name)::regclass) end), 0)::text as bytes
       from newest n left join recon.provider_days d on d.dealer_id = $2 and d.business_date < n.kept_from
      group by n.dealer_id, n.kept_from order by n.dealer_id`,
    [retainDays, dealerId],
  );
  const result: PrunedDays = { tables: 0, bytes: 0, findingsMarked: 0, keptFrom: null };
  for (const day of days.rows) {
    result.tables += day.tables;
    result.bytes += Number(day.bytes);
    result.keptFrom = day.kept_from;
    if (dryRun || day.tables === 0) continue;
    await session.exec('begin');
    try {
      const marked = await session.query(
        `update recon.discrepancies
            set details = details || jsonb_build_object('provider_rows_pruned', jsonb_build_object('kept_from', $2::date))
          where dealer_id = $1 and status = 'open' and (order_id is not null or kind = 'systemic_mismatch') and business_date < $2
            and not details ? 'provider_rows_pruned'`,
        [day.dealer_id, day.kept_from],
      );
      result.findingsMarked += marked.rowCount;
      // A file loaded before totals were recorded at load gets them now, from the rows about to go.
      const dropping = await session.query<{ kind: FileKind; business_date: string; table_name: string }>(
        `select kind, business_date::text as business_date, table_name from recon.provider_days
          where dealer_id = $1 and business_date < $2 order by business_date, kind`,
        [day.dealer_id, day.kept_from],
      );
      for (const d of dropping.rows) await recordFileTotals(session, d.kind, day.dealer_id, d.business_date, qualified(d.table_name));
      await session.query('select * from recon.provider_drop_days($1, $2)', [day.dealer_id, day.kept_from]);
      await session.exec('commit');
    } catch (err) {
      await session.exec('rollback').catch(() => {});
      throw err;
    }
  }
  return result;
}

/** The dealer's provider rows past YZH_RETAIN_DAYS (default in config.ts). */
export const providerRowsPruner: Pruner = {
  name: 'rows',
  variable: 'YZH_RETAIN_DAYS',
  retentionDays: (config) => config.retainDays,
  async prune({ session, dealerId, dryRun }, days) {
    const pruned = await pruneProviderDays(session, dealerId, days, dryRun);
    return { removed: pruned.tables, bytes: pruned.bytes, keptFrom: pruned.keptFrom ?? '(no provider rows yet)' };
  },
};
