import { sql } from 'kysely';
import { Archive } from '../../../provider/file-archive.js';
import type { Pruner } from './pruner.js';

/**
 * The dealer's archive objects of business days older than YZH_ARCHIVE_RETAIN_DAYS. Their records in
 * recon.provider_files stay, marked archive_pruned_at, so that `verify` tells a pruned object
 * from a missing one; findings, runs and the audit chain are never pruned.
 */
export const archivePruner: Pruner = {
  name: 'archive',
  variable: 'YZH_ARCHIVE_RETAIN_DAYS',
  retentionDays: (config) => config.archiveRetainDays,
  async prune({ session, dealerId, config, dryRun, now, log }, days) {
    const keptFrom = now.minus({ days }).toISODate()!;
    const archive = new Archive(config.archiveDir);
    const old = (await archive.list()).filter((o) => o.dealerId === dealerId && o.businessDate < keptFrom);
    const bytes = old.reduce((n, o) => n + o.bytes, 0);
    if (dryRun || old.length === 0) return { removed: old.length, bytes, keptFrom };
    for (const object of old) {
      // Marked first, in a transaction that commits only once the object is gone: a failure
      // in between leaves the record unmarked, and verify names the object as missing.
      await session.exec('begin');
      try {
        await session.db
          .updateTable('recon.provider_files')
          .set({ archive_pruned_at: sql`now()` })
          .where('dealer_id', '=', dealerId)
          .where('archive_key', '=', object.key)
          .where('archive_pruned_at', 'is', null)
          .execute();
        await archive.remove(object.key);
        await session.exec('commit');
      } catch (err) {
        await session.exec('rollback').catch(() => {});
        throw err;
      }
      log.info({ key: object.key, bytes: object.bytes }, 'archive object pruned');
    }
    return { removed: old.length, bytes, keptFrom };
  },
};
