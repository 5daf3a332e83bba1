import type { DateTime } from 'luxon';
import type { Session } from '../../db/connection.js';
import { Archive, hashFile, parseArchiveKey } from '../../provider/file-archive.js';
import { PROVIDER_ZONE } from '../../provider/file-format.js';
import { FILE_LABELS } from '../load/ingest.js';
import { findingsDigest, linkHash, RUN_COLUMNS, runFindings, type AuditedRun, type FindingRecord } from './audit.js';

/** What `verify` looks at: one dealer or all, and business days from..to (inclusive) or all. */
export interface VerifyScope {
  dealerId?: string;
  from?: string;
  to?: string;
}

export interface VerifyCheck {
  name: string;
  ok: boolean;
  /** What was verified, or the first mismatch. */
  detail: string;
  /** Items verified. */
  count: number;
  /** Every mismatch found, the first one first. */
  mismatches: string[];
}

function scopeSql(scope: VerifyScope, params: unknown[], alias: string): string {
  const where: string[] = [];
  if (scope.dealerId !== undefined) {
    params.push(scope.dealerId);
    where.push(`${alias}.dealer_id = $${params.length}`);
  }
  if (scope.from !== undefined) {
    params.push(scope.from);
    where.push(`${alias}.business_date >= $${params.length}`);
  }
  if (scope.to !== undefined) {
    params.push(scope.to);
    where.push(`${alias}.business_date <= $${params.length}`);
  }
  return where.length === 0 ? 'true' : where.join(' and ');
}

interface FileRecord {
  id: number;
  dealer_id: string;
  business_date: string;
  kind: 'order' | 'bill';
  sha256: string;
  bytes: number;
  run_id: number;
  archive_key: string | null;
  archive_pruned_at: Date | null;
  /** The sha256 the ingesting run recorded for this kind (its audit link covers it); null when none did. */
  run_sha256: string | null;
}

interface RecordedFile {
  run_id: number;
  dealer_id: string;
  business_date: string;
  kind: 'order' | 'bill';
  sha256: string;
}

/** The archive retention verify judges prune marks by: YZH_ARCHIVE_RETAIN_DAYS (null: kept forever) at `now`. */
export interface ArchiveRetention {
  days: number | null;
  now: DateTime;
}

/**
 * Checks that the runs' recorded file hashes, recon.provider_files and the archive objects
 * agree, in scope:
 *
 * - each file record's sha256 is the one the run that ingested it recorded (recon.runs, in the
 *   audit chain), and each file a succeeded run recorded has a record: a record repointed at
 *   another file is named, whatever the archive holds;
 * - each record's archive key names that file, and the object there hashes to its sha256 and
 *   size;
 * - an object that is gone is accounted for only by a prune mark on a day the archive retention
 *   no longer keeps (the job can write a mark, so the mark alone proves nothing).
 *
 * Files ingested before the archive existed are counted, not failed.
 */
export async function verifyFiles(session: Session, archive: Archive, scope: VerifyScope, retention: ArchiveRetention): Promise<VerifyCheck> {
  const files: FileRecord[] = await session.db
    .selectFrom('recon.provider_files as f')
    .select((eb) => [
      'f.id', 'f.dealer_id', 'f.business_date', 'f.kind', 'f.sha256', 'f.bytes', 'f.run_id', 'f.archive_key', 'f.archive_pruned_at',
      eb.selectFrom('recon.runs as r')
        .select((eb) => eb.case('f.kind').when('order').then(eb.ref('r.order_file_sha256')).else(eb.ref('r.bill_file_sha256')).end().as('sha256'))
        .whereRef('r.id', '=', 'f.run_id')
        .where('r.status', '=', 'succeeded')
        .whereRef('r.dealer_id', '=', 'f.dealer_id')
        .whereRef('r.business_date', '=', 'f.business_date')
        .as('run_sha256'),
    ])
    .$if(scope.dealerId !== undefined, (q) => q.where('f.dealer_id', '=', scope.dealerId!))
    .$if(scope.from !== undefined, (q) => q.where('f.business_date', '>=', scope.from!))
    .$if(scope.to !== undefined, (q) => q.where('f.business_date', '<=', scope.to!))
    .orderBy('f.business_date').orderBy('f.dealer_id').orderBy('f.kind').orderBy('f.id')
    .execute();
  // Each run's two recorded files as rows (a lateral values list) with no record: kept as SQL.
  const runParams: unknown[] = [];
  const unrecorded = await session.query<RecordedFile>(
    `select r.id as run_id, r.dealer_id, r.business_date::text as business_date, k.kind, k.sha256
       from recon.runs r
      cross join lateral (values ('order', r.order_file_sha256), ('bill', r.bill_file_sha256)) as k(kind, sha256)
      where ${scopeSql(scope, runParams, 'r')} and r.status = 'succeeded' and k.sha256 is not null
        and not exists (select 1 from recon.provider_files f
                         where f.dealer_id = r.dealer_id and f.business_date = r.business_date and f.kind = k.kind and f.sha256 = k.sha256)
      order by r.business_date, r.dealer_id, r.id, k.kind desc`,
    runParams,
  );
  const keptFrom = retention.days === null ? null : retention.now.setZone(PROVIDER_ZONE).minus({ days: retention.days }).toISODate()!;
  const mismatches: string[] = [];
  let checked = 0;
  let unarchived = 0;
  let pruned = 0;
  for (const f of files) {
    const where = f.archive_key === null ? 'not archived' : archive.path(f.archive_key);
    const what = `${FILE_LABELS[f.kind](f.business_date)} of dealer ${f.dealer_id} (ingested by run ${f.run_id}, ${where})`;
    if (f.run_sha256 !== f.sha256) {
      mismatches.push(`${what}: the record's sha256 ${f.sha256.slice(0, 12)} is not the one run ${f.run_id} recorded for it (${f.run_sha256 === null ? 'none' : f.run_sha256.slice(0, 12)})`);
      continue;
    }
    if (f.archive_key === null) {
      unarchived++;
      continue;
    }
    const named = parseArchiveKey(f.archive_key);
    if (named === null || named.sha256 !== f.sha256 || named.kind !== f.kind || named.businessDate !== f.business_date || named.dealerId !== f.dealer_id) {
      mismatches.push(`${what}: the archive key recorded does not name this file (sha256 ${f.sha256.slice(0, 12)})`);
      continue;
    }
    if (await archive.size(f.archive_key) === null) {
      if (f.archive_pruned_at === null) {
        mismatches.push(`${what}: the archived file is missing`);
      } else if (keptFrom === null || f.business_date >= keptFrom) {
        const mark = `marked pruned at ${f.archive_pruned_at.toISOString()}`;
        mismatches.push(`${what}: the archived file is missing, ${mark} although ${keptFrom === null
          ? 'YZH_ARCHIVE_RETAIN_DAYS is unset (archive objects are kept forever)'
          : `YZH_ARCHIVE_RETAIN_DAYS=${retention.days} keeps the days from ${keptFrom}`}`);
      } else {
        pruned++;
      }
      continue;
    }
    // Marked pruned but there (archived again since): checked like any other.
    checked++;
    const now = await hashFile(archive.path(f.archive_key));
    if (now.sha256 !== f.sha256 || now.bytes !== Number(f.bytes)) {
      mismatches.push(`${what}: sha256 is now ${now.sha256.slice(0, 12)} (${now.bytes} bytes), recorded ${f.sha256.slice(0, 12)} (${f.bytes} bytes)`);
    }
  }
  for (const r of unrecorded.rows) {
    mismatches.push(`run ${r.run_id} (dealer ${r.dealer_id}, business date ${r.business_date}): the ${r.kind} file it recorded (sha256 ${r.sha256.slice(0, 12)}) has no record in recon.provider_files`);
  }
  const notes = [unarchived > 0 ? `${unarchived} ingested before the archive` : '', pruned > 0 ? `${pruned} pruned by retention` : ''].filter((n) => n !== '');
  const detail = mismatches[0]
    ?? `${checked} archived file${checked === 1 ? '' : 's'} re-hashed, all as ingested${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
  return { name: 'files', ok: mismatches.length === 0, detail, count: checked, mismatches };
}

interface CurrentFinding extends Omit<FindingRecord, 'action'> {
  /** The run the row names as the last to write it (resolved_run_id, else last_seen_run_id). */
  owner: number;
  /** The last run, in chain order, that recorded the finding in recon.run_findings. */
  writer: number | null;
  recorded_action: string | null;
  recorded_business_date: string | null;
  recorded_kind: string | null;
  recorded_order_id: string | null;
  recorded_severity: string | null;
  recorded_ledger_amount: string | null;
  recorded_provider_amount: string | null;
  recorded_status: string | null;
}

const COMPARED = ['business_date', 'kind', 'order_id', 'severity', 'ledger_amount', 'provider_amount', 'status'] as const;

/**
 * Walks each dealer's audit chain in the order the links were made. For every run in scope:
 * its findings digest is recomputed from recon.run_findings, its link hash from its row and
 * its predecessor's hash, and every discrepancy it was the last to record must still be as it
 * recorded it, and name it as the last run to write it (last_seen_run_id, or resolved_run_id
 * once resolved). The first run that fails any of these is named.
 */
export async function verifyChain(session: Session, scope: VerifyScope): Promise<VerifyCheck> {
  const all: AuditedRun[] = await session.db
    .selectFrom('recon.runs')
    .select(RUN_COLUMNS)
    .$if(scope.dealerId !== undefined, (q) => q.where('dealer_id', '=', scope.dealerId!))
    .where((eb) => eb.or([eb('audit_hash', 'is not', null), eb('audit_previous_run_id', 'is not', null), eb('status', '=', 'succeeded')]))
    .orderBy('dealer_id').orderBy('id')
    .execute();
  const inScope = (run: AuditedRun) => (scope.from === undefined || run.business_date >= scope.from) && (scope.to === undefined || run.business_date <= scope.to);

  // Each discrepancy with the last run that recorded it (in chain order), and what it recorded.
  const current: CurrentFinding[] = await session.db
    .selectFrom('recon.discrepancies as d')
    .innerJoin('recon.runs as o', (join) => join.on((eb) => eb('o.id', '=', eb.fn.coalesce('d.resolved_run_id', 'd.last_seen_run_id'))))
    .leftJoinLateral(
      (eb) => eb.selectFrom('recon.run_findings as f')
        .innerJoin('recon.runs as r', 'r.id', 'f.run_id')
        .selectAll('f')
        .whereRef('f.discrepancy_id', '=', 'd.id')
        .orderBy('r.audit_seq', 'desc')
        .limit(1)
        .as('w'),
      (join) => join.onTrue(),
    )
    .select((eb) => [
      'd.id as discrepancy_id', 'd.business_date', 'd.kind', 'd.order_id', 'd.severity', 'd.ledger_amount', 'd.provider_amount', 'd.status',
      eb.fn.coalesce('d.resolved_run_id', 'd.last_seen_run_id').as('owner'),
      'w.run_id as writer', 'w.action as recorded_action', 'w.business_date as recorded_business_date', 'w.kind as recorded_kind',
      'w.order_id as recorded_order_id', 'w.severity as recorded_severity', 'w.ledger_amount as recorded_ledger_amount',
      'w.provider_amount as recorded_provider_amount', 'w.status as recorded_status',
    ])
    .$if(scope.dealerId !== undefined, (q) => q.where('d.dealer_id', '=', scope.dealerId!))
    .where((eb) => eb.or([eb('o.audit_hash', 'is not', null), eb('w.run_id', 'is not', null)]))
    .orderBy('d.id')
    .execute();
  const byOwner = new Map<number, CurrentFinding[]>();
  for (const f of current) {
    const accountable = f.writer ?? f.owner;
    byOwner.set(accountable, [...(byOwner.get(accountable) ?? []), f]);
  }

  const mismatches: string[] = [];
  let checked = 0;
  let head: AuditedRun | null = null;
  const dealers = new Set<string>();
  const byDealer = new Map<string, AuditedRun[]>();
  for (const run of all) byDealer.set(run.dealer_id, [...(byDealer.get(run.dealer_id) ?? []), run]);

  for (const [dealerId, runs] of byDealer) {
    const audited = runs.filter((r) => r.audit_hash !== null);
    if (audited.length === 0) continue;
    const byId = new Map(runs.map((r) => [r.id, r]));
    const next = new Map<number | null, AuditedRun[]>();
    for (const r of audited) next.set(r.audit_previous_run_id, [...(next.get(r.audit_previous_run_id) ?? []), r]);
    const name = (r: AuditedRun) => `run ${r.id} (dealer ${dealerId}, business date ${r.business_date})`;
    const problems: { run: AuditedRun; text: string }[] = [];

    // The walk from the first link, one successor at a time.
    const order: AuditedRun[] = [];
    const starts = next.get(null) ?? [];
    for (const extra of starts.slice(1)) problems.push({ run: extra, text: `${name(extra)}: a second start of the dealer's audit chain (it names no previous run)` });
    for (let at = starts[0]; at !== undefined;) {
      order.push(at);
      const successors = next.get(at.id) ?? [];
      for (const extra of successors.slice(1)) problems.push({ run: extra, text: `${name(extra)}: names run ${at.id} as its previous link, as run ${successors[0]!.id} does` });
      at = successors[0];
    }
    const reached = new Set(order.map((r) => r.id));
    for (const r of audited) {
      if (reached.has(r.id) || problems.some((p) => p.run === r)) continue;
      const previous = r.audit_previous_run_id === null ? undefined : byId.get(r.audit_previous_run_id);
      problems.push({ run: r, text: previous === undefined || previous.audit_hash === null
        ? `${name(r)}: names run ${r.audit_previous_run_id} as its previous link, which has no audit hash`
        : `${name(r)}: not reachable from the start of the dealer's audit chain` });
    }
    const first = order[0];
    for (const r of runs) {
      if (first !== undefined && r.status === 'succeeded' && r.audit_hash === null && r.id > first.id) {
        problems.push({ run: r, text: `${name(r)}: succeeded after the audit chain began, but has no audit hash` });
      }
    }

    let previousHash: string | null = null;
    for (const run of order) {
      const hashBefore = previousHash;
      previousHash = run.audit_hash;
      if (!inScope(run)) continue;
      checked++;
      dealers.add(dealerId);
      const digest = findingsDigest(await runFindings(session, run.id));
      if (digest !== run.audit_findings_digest) {
        problems.push({ run, text: `${name(run)}: the findings it recorded (recon.run_findings) no longer match its findings digest` });
        continue;
      }
      const hash = linkHash(run, hashBefore, digest);
      if (hash !== run.audit_hash) {
        problems.push({ run, text: `${name(run)}: its audit hash does not match its row in recon.runs and the previous link (recorded ${run.audit_hash!.slice(0, 12)}, recomputed ${hash.slice(0, 12)})` });
        continue;
      }
      const changed = (byOwner.get(run.id) ?? []).map((f) => findingChange(f)).find((c) => c !== null);
      if (changed !== undefined) problems.push({ run, text: `${name(run)}: ${changed}` });
    }
    if (order.length > 0) {
      const last = order[order.length - 1]!;
      if (head === null || last.id > head.id) head = last;
    }
    // In chain order, so that "first" is the earliest link that fails.
    const position = new Map(order.map((r, i) => [r.id, i]));
    problems.sort((a, b) => (position.get(a.run.id) ?? Number.MAX_SAFE_INTEGER) - (position.get(b.run.id) ?? Number.MAX_SAFE_INTEGER) || a.run.id - b.run.id);
    mismatches.push(...problems.filter((p) => inScope(p.run)).map((p) => p.text));
  }
  const headNote = head !== null && scope.dealerId !== undefined ? `; head run ${head.id} ${head.audit_hash}` : '';
  const detail = mismatches[0]
    ?? `${checked} run${checked === 1 ? '' : 's'} of ${dealers.size} dealer${dealers.size === 1 ? '' : 's'} linked, their findings as they wrote them${headNote}`;
  return { name: 'chain', ok: mismatches.length === 0, detail, count: checked, mismatches };
}

function findingChange(f: CurrentFinding): string | null {
  const label = `finding ${f.discrepancy_id} (${f.kind}${f.order_id === null ? '' : `, order ${f.order_id}`}, ${f.business_date})`;
  if (f.writer === null) return `${label} is not among the findings it recorded`;
  if (f.writer !== f.owner) return `${label} is not as the run left it: the table names run ${f.owner} as the last to write it`;
  for (const column of COMPARED) {
    const now = f[column];
    const then = f[`recorded_${column}`];
    if (now !== then) return `${label} is not as the run wrote it: ${column} ${then ?? 'null'}, now ${now ?? 'null'}`;
  }
  return null;
}
