import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Session } from '../../db/connection.js';
import { ReconError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { Archive, archiveKey, hashFile } from '../../provider/file-archive.js';
import { isExpired, type DownloadResult, type ProviderClient } from '../../provider/client.js';
import type { FileKind } from '../../provider/protocol.js';
import { discard, fetchProviderFile, FILE_LABELS, tempFileName } from '../load/ingest.js';

/** Where a run takes its files: the provider (the archive when it has expired them), or the archive alone. */
export type FileSource = 'provider' | 'archive';

export interface DayFile {
  kind: FileKind;
  /** A temporary copy to load from; removed with `discard`. */
  download: DownloadResult;
  archiveKey: string;
  /** Where this file came from in the end. */
  source: FileSource;
}

export interface DayFileRequest {
  session: Session;
  client: ProviderClient;
  archive: Archive;
  dealerId: string;
  date: string;
  kind: FileKind;
  tmpDir: string;
  source: FileSource;
  log: Logger;
  signal?: AbortSignal;
}

/**
 * One of the day's files, ready to load. From the provider, it is kept in the archive before
 * the run goes on (a failure to archive fails the run before anything is written). Past the
 * provider's retention (an empty URL), or with `--from-archive`, it is the archived copy of
 * the file last ingested for the day, checked against its recorded sha256.
 */
export async function obtainDayFile(request: DayFileRequest): Promise<DayFile> {
  const { kind, date, log } = request;
  if (request.source === 'archive') return fromArchive(request, null);
  let download: DownloadResult;
  try {
    download = await fetchProviderFile(request.client, kind, date, request.dealerId, request.tmpDir, log, request.signal);
  } catch (err) {
    if (!isExpired(err)) throw err;
    const file = await fromArchive(request, (err as ReconError).message);
    log.warn({ kind, archiveKey: file.archiveKey, sha256: file.download.sha256 },
      `the provider no longer has the ${FILE_LABELS[kind](date)} (past its 90-day retention); using the archived copy`);
    return file;
  }
  try {
    const { key, created, replaced } = await request.archive.put(download.path, {
      dealerId: request.dealerId, businessDate: date, kind, sha256: download.sha256, bytes: download.bytes,
    });
    if (replaced !== undefined) {
      log.warn({ kind, archiveKey: key, found: replaced, bytes: download.bytes },
        `the archived copy of the ${FILE_LABELS[kind](date)} was not the file its key names (${replaced}, expected ${download.bytes} bytes): written again`);
    } else {
      log.info({ kind, archiveKey: key, created }, created ? `${kind} file archived` : `${kind} file already in the archive`);
    }
    return { kind, download, archiveKey: key, source: 'provider' };
  } catch (err) {
    await discard(download);
    throw err;
  }
}

interface IngestedFile {
  sha256: string;
  bytes: number;
  generated_at: Date | null;
  archive_key: string | null;
  run_id: number;
}

/**
 * The file last ingested for the day, as its run recorded it: the sha256 comes from the newest
 * succeeded run of the day that recorded one for this kind (recon.runs, in the audit chain),
 * and recon.provider_files must hold a record of that very file, whose archive key names it.
 * A record the job could have repointed is never what decides which bytes are loaded.
 */
async function fromArchive(request: DayFileRequest, providerAnswer: string | null): Promise<DayFile> {
  const { session, archive, dealerId, date, kind } = request;
  const label = FILE_LABELS[kind](date);
  const both = (what: string) => providerAnswer === null ? `${label}: ${what}` : `${providerAnswer}; and ${what}`;
  const recordedSha256 = kind === 'order' ? 'order_file_sha256' : 'bill_file_sha256';
  const run = await session.db
    .selectFrom('recon.runs')
    .select((eb) => ['id as run_id', eb.ref(recordedSha256).as('sha256')])
    .where('dealer_id', '=', dealerId)
    .where('business_date', '=', date)
    .where('status', '=', 'succeeded')
    .where(recordedSha256, 'is not', null)
    .orderBy('audit_seq', (ob) => ob.desc().nullsLast())
    .orderBy('id', 'desc')
    .limit(1)
    .$narrowType<{ sha256: string }>()
    .executeTakeFirst();
  if (run === undefined) {
    throw new ReconError('ARCHIVE', both(`the archive has no ${label}: no run of dealer ${dealerId} ever ingested it`), {
      facts: { kind, date, archiveDir: archive.root },
    });
  }
  const file: IngestedFile | undefined = await session.db
    .selectFrom('recon.provider_files')
    .select(['sha256', 'bytes', 'generated_at', 'archive_key', 'run_id'])
    .where('dealer_id', '=', dealerId)
    .where('business_date', '=', date)
    .where('kind', '=', kind)
    .where('sha256', '=', run.sha256)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  const refuse = (what: string) => new ReconError('ARCHIVE', both(`run ${run.run_id} recorded sha256 ${run.sha256.slice(0, 12)} for it, but ${what}: run yzh-recon verify`), {
    facts: { kind, date, archiveDir: archive.root },
  });
  if (file === undefined) throw refuse('recon.provider_files has no record of that file');
  // A file ingested before the archive existed has no key recorded, but may be there all the same.
  const key = archiveKey(dealerId, date, kind, run.sha256);
  if (file.archive_key !== null && file.archive_key !== key) throw refuse(`its record names the archive key ${file.archive_key}, not ${key}`);
  if (await archive.size(key) === null) {
    throw new ReconError('ARCHIVE', both(`the archive has no copy of the ${label} last ingested (run ${file.run_id}, sha256 ${file.sha256.slice(0, 12)}): ${archive.path(key)} is missing`), {
      facts: { kind, date, key },
    });
  }
  // Loaded from a temporary copy, as a download is: the archive is only ever read here, and
  // written by put().
  const path = join(request.tmpDir, tempFileName(dealerId, date, kind, '-archived.csv.gz'));
  try {
    await copyFile(archive.path(key), path);
    const copy = await hashFile(path);
    if (copy.sha256 !== file.sha256) {
      throw new ReconError('ARCHIVE', `${label}: the archived copy ${key} does not match the sha256 recorded when run ${file.run_id} ingested it (now ${copy.sha256.slice(0, 12)}): run yzh-recon verify`, {
        facts: { kind, date, key },
      });
    }
    return { kind, download: { path, sha256: copy.sha256, bytes: copy.bytes, lastModified: file.generated_at }, archiveKey: key, source: 'archive' };
  } catch (err) {
    await rm(path, { force: true });
    if (err instanceof ReconError) throw err;
    throw new ReconError('ARCHIVE', `${label}: cannot read ${archive.path(key)}: ${(err as Error).message}`, { cause: err });
  }
}
