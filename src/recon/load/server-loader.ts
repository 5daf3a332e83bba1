import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Session } from '../../db/connection.js';
import { sqlState } from '../../errors.js';
import { providerFileAsCopyCsv } from '../../provider/copy-csv.js';
import type { FileLoader, LoadJob } from './loader.js';
import { convertSql, createStagingTable, dropStagingTable, firstBadValue, inProviderZone, stagingCopySql } from './staging.js';

/**
 * The Postgres server's loader: Node frames the file's records (copy-csv.ts) and streams them
 * into `COPY … (FORMAT csv)` of a temporary staging table, Postgres' parser doing the parsing;
 * one INSERT … SELECT converts them into the load table (staging.ts). No record becomes a
 * JavaScript value.
 */
export const loadOnServer: FileLoader = async (session, job, onRows, signal) => {
  const csv = providerFileAsCopyCsv(createReadStream(job.path), job.kind, job.label);
  try {
    const fields = await csv.header;
    await createStagingTable(session, job.kind);
    let chunks = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _enc, done) {
        if (++chunks % 16 === 0) onRows(csv.rows());
        done(null, chunk);
      },
    });
    await pipeline(csv.stream, counted, session.copyFrom(stagingCopySql(job.kind, fields))!, signal ? { signal } : {});
    onRows(csv.rows());
    await convert(session, job, csv.suspect());
    await dropStagingTable(session, job.kind);
    return csv.rows();
  } finally {
    if (!csv.stream.destroyed) csv.stream.destroy();
  }
};

/**
 * The conversion, in a savepoint: when a value fails its check the statement fails, and the
 * validating query (which must then see staging) names the first bad line and column.
 */
async function convert(session: Session, job: LoadJob, careful: boolean): Promise<void> {
  // A file the framer found suspect is checked whole first: most such files are bad.
  if (careful) {
    const bad = await firstBadValue(session, job.kind, job.label);
    if (bad !== null) throw bad;
  }
  await session.exec('savepoint recon_convert');
  try {
    await inProviderZone(session, () => session.query(convertSql(job.kind, job.table, job.dealerId, job.date, careful)));
    await session.exec('release savepoint recon_convert');
  } catch (err) {
    // A data exception (22) or a NOT NULL violation (23) is a value's fault; anything else
    // (a cancel, a lost connection) is reported as it is.
    const state = sqlState(err);
    if (state === null || !/^2[23]/.test(state)) throw err;
    await session.exec('rollback to savepoint recon_convert').catch(() => { throw err; });
    throw (await firstBadValue(session, job.kind, job.label)) ?? err;
  }
}
