import type { Session } from '../../../db/connection.js';
import type { Pruner } from './pruner.js';

export interface PrunedDays {
  /** Day partitions dropped (or that would be), each one file kind of one dealer's day. */
  tables: number;
  /** Their size on disk, indexes included. */
  bytes: number;
  /** Open findings newly marked provider_rows_pruned. */
  findingsMarked: number;
  /** Per dealer with files: the first business day kept. */
  keptFrom: Record<string, string>;
}

/**
 * Drops the provider rows of business days more than `retainDays` before the dealer's newest
 * day on file, a whole partition at a time (sql/0006), for one dealer or all. Counted from the
 * newest day rather than from today, so that a backfill or a re-run of an old day never drops
 * what it has just loaded while newer days are missing, and a dealer whose runs stopped keeps
 * its last days.
 *
 * Findings, runs and file records stay. An open finding of such a day stays open, its details
 * saying that its provider rows are gone (`provider_rows_pruned`: the first day still kept);
 * runs no longer judge it again (nothing is left to judge it by), so it stays open as it is.
 * One short transaction per dealer: dropping a partition locks the dealer's tables, for moments.
 */
export async function pruneProviderDays(session: Session, dealerId: string | null, retainDays: number, dryRun: boolean): Promise<PrunedDays> {
  const days = await session.query<{ dealer_id: string; kept_from: string; tables: number; bytes: string }>(
    `with newest as (
       select dealer_id, max(business_date) - $1::int as kept_from from recon.provider_files
        where $2::text is null or dealer_id = $2 group by dealer_id
     )
     select n.dealer_id, n.kept_from::text, count(d.table_name)::int as tables,
            coalesce(sum(case when d.table_name is not null
                              then pg_total_relation_size(format('recon.%I', d.table_name)::regclass) end), 0)::text as bytes
       from newest n left join recon.provider_days d on d.dealer_id = n.dealer_id and d.business_date < n.kept_from
      group by n.dealer_id, n.kept_from order by n.dealer_id`,
    [retainDays, dealerId],
  );
  const result: PrunedDays = { tables: 0, bytes: 0, findingsMarked: 0, keptFrom: {} };
  for (const day of days.rows) {
    result.tables += day.tables;
    result.bytes += Number(day.bytes);
    result.keptFrom[day.dealer_id] = day.kept_from;
    if (dryRun || day.tables === 0) continue;
    await session.exec('begin');
    try {
      const marked = await session.query(
        `update recon.discrepancies
            set details = details || jsonb_build_object('provider_rows_pruned', jsonb_build_object('kept_from', $2::date))
          where dealer_id = $1 and status = 'open' and order_id is not null and business_date < $2
            and not details ? 'provider_rows_pruned'`,
        [day.dealer_id, day.kept_from],
      );
      result.findingsMarked += marked.rowCount;
      await session.query('select * from recon.provider_drop_days($1, $2)', [day.dealer_id, day.kept_from]);
      await session.exec('commit');
    } catch (err) {
      await session.exec('rollback').catch(() => {});
      throw err;
    }
  }
  return result;
}

/** Provider rows past YZH_RETAIN_DAYS (default in config.ts), of every dealer. */
export const providerRowsPruner: Pruner = {
  name: 'rows',
  variable: 'YZH_RETAIN_DAYS',
  retentionDays: (config) => config.retainDays,
  async prune({ db, dryRun }, days) {
    const pruned = await db.withSession((s) => pruneProviderDays(s, null, days, dryRun));
    const kept = [...new Set(Object.values(pruned.keptFrom))].sort();
    return { removed: pruned.tables, bytes: pruned.bytes, keptFrom: kept.length === 0 ? '(no provider rows yet)' : kept.join(', ') };
  },
};
