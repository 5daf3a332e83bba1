import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Session } from '../../db/connection.js';
import { sqlState } from '../../errors.js';
import { providerFileAsCopyCsv, type CopyCsv } from './copy-framer.js';
import type { FileLoader, LoadJob } from './loader.js';
import type { FileKind } from '../../provider/protocol.js';
import {
  convertSql, createStagingTable, dropStagingTable, firstBadValue, inProviderZone, stagingCopySql, typedCopySql,
} from './staging.js';

/**
 * The Postgres server's loader: Node frames the file's records (copy-framer.ts) and streams them
 * into Postgres' own CSV parser; no record becomes a JavaScript value.
 *
 * Nearly every file goes straight into the load table, typed (`COPY … (FORMAT csv, NULL '-/-')`
 * with the session in the provider's time zone; the dealer and day are the load table's
 * column defaults): the framer has written statuses and channels
 * as their codes and seen every amount, time and id in the reader's shape. A file the framer
 * finds suspect (a value the reader would refuse or trim), or one Postgres refuses a value of,
 * is loaded again through staging instead (staging.ts): text columns, one INSERT … SELECT that
 * checks and converts every value, and the validating query that names the first bad line and
 * column as the reader would.
 */
export const loadOnServer: FileLoader = async (session, job, onRows, signal) =>
  (await loadTyped(session, job, onRows, signal)) ?? loadThroughStaging(session, job, onRows, signal);

const MULTI_TABLES: Record<FileKind, string> = { order: 'recon_order_multi', bill: 'recon_bill_multi' };

/** The temp table of the ids of `kind`'s file that the states aggregate (match-state.ts). */
export async function createMultiTable(session: Session, kind: FileKind, ids: string[]): Promise<void> {
  await session.query(`create temp table ${MULTI_TABLES[kind]} on commit drop as select distinct unnest($1::text[]) as order_id`, [ids]);
}

/** A pass-through that reports the rows framed so far now and then. */
function counting(csv: CopyCsv, onRows: (rows: number) => void): Transform {
  let chunks = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (++chunks % 16 === 0) onRows(csv.rows());
      done(null, chunk);
    },
  });
}

/** A value Postgres refused: a data exception (22) or a constraint (23), not a cancel or a lost connection. */
const refused = (err: unknown) => /^2[23]/.test(sqlState(err) ?? '');

/** The typed load, in a savepoint; the rows loaded, or null when the file must go through staging. */
async function loadTyped(session: Session, job: LoadJob, onRows: (rows: number) => void, signal?: AbortSignal): Promise<number | null> {
  const csv = providerFileAsCopyCsv(createReadStream(job.path), job.kind, job.label, { typed: true });
  try {
    const fields = await csv.header;
    await session.exec('savepoint recon_typed');
    try {
      await inProviderZone(session, () => pipeline(
        csv.stream, counting(csv, onRows), session.copyFrom(typedCopySql(job.kind, job.table, fields))!, signal ? { signal } : {}));
    } catch (err) {
      if (!refused(err)) throw err;
      await session.exec('rollback to savepoint recon_typed').catch(() => { throw err; });
      return null;
    }
    if (csv.suspect()) {
      await session.exec('rollback to savepoint recon_typed');
      return null;
    }
    await session.exec('release savepoint recon_typed');
    const repeats = csv.repeats();
    if (repeats !== null) {
      // The states' orders that need an aggregate (match-state.ts), known from the framing.
      if (job.onRepeats) job.onRepeats(repeats);
      else await createMultiTable(session, job.kind, repeats);
    }
    onRows(csv.rows());
    return csv.rows();
  } finally {
    if (!csv.stream.destroyed) csv.stream.destroy();
  }
}

async function loadThroughStaging(session: Session, job: LoadJob, onRows: (rows: number) => void, signal?: AbortSignal): Promise<number> {
  const csv = providerFileAsCopyCsv(createReadStream(job.path), job.kind, job.label);
  try {
    const fields = await csv.header;
    await createStagingTable(session, job.kind);
    await pipeline(csv.stream, counting(csv, onRows), session.copyFrom(stagingCopySql(job.kind, fields))!, signal ? { signal } : {});
    onRows(csv.rows());
    const deferred = csv.deferred();
    // A malformed record after a bad value: the reader reports whichever comes first.
    if (deferred !== null) throw (await firstBadValue(session, job.kind, job.label)) ?? deferred;
    await convert(session, job, csv.suspect());
    await dropStagingTable(session, job.kind);
    return csv.rows();
  } finally {
    if (!csv.stream.destroyed) csv.stream.destroy();
  }
}

/**
 * The conversion, in a savepoint: when a value fails its check the statement fails, and the
 * validating query (which must then see staging) names the first bad line and column.
 */
async function convert(session: Session, job: LoadJob, suspect: boolean): Promise<void> {
  // A file the framer found suspect is checked whole first: most such files are bad.
  if (suspect) {
    const bad = await firstBadValue(session, job.kind, job.label);
    if (bad !== null) throw bad;
  }
  await session.exec('savepoint recon_convert');
  try {
    await inProviderZone(session, () => session.query(convertSql(job.kind, job.table, job.dealerId, job.date)));
    await session.exec('release savepoint recon_convert');
  } catch (err) {
    if (!refused(err)) throw err;
    await session.exec('rollback to savepoint recon_convert').catch(() => { throw err; });
    throw (await firstBadValue(session, job.kind, job.label)) ?? err;
  }
}
