import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Session } from '../../db/connection.js';
import type { RunTx } from './run-transaction.js';

/**
 * The runs' audit chain. Each succeeded run of a dealer records, in the same transaction as its
 * findings:
 *
 * - in recon.run_findings (append-only), every discrepancy it wrote, as it left it: the rows it
 *   opened (first_seen_run_id), saw again (last_seen_run_id) or resolved (resolved_run_id),
 *   with business_date, kind, order_id, severity, both amounts and status. Not details, not
 *   finance's ack_* columns;
 * - audit_findings_digest: sha256 of those rows, one line each in discrepancy id order (FINDING_LINE);
 * - audit_hash: sha256 of the previous link's audit_hash (the dealer's run audited just before,
 *   audit_previous_run_id) and of this run's row and digest (LINK).
 *
 * The chain follows the order runs committed in (they hold the dealer's lock), not run ids:
 * a run that waited for the lock has a smaller id than the one it waited for. audit_seq is the
 * link's position in it, so that "the last run that wrote a finding" is a query.
 *
 * `verify` recomputes both from the tables, and also checks that every discrepancy is as the
 * last run that recorded it left it (src/recon/runs/verify-checks.ts).
 */

export const AUDIT_VERSION = 'yzh-recon audit v1';

export interface FindingRecord {
  discrepancy_id: number;
  action: string;
  business_date: string;
  kind: string;
  order_id: string | null;
  severity: string;
  ledger_amount: string | null;
  provider_amount: string | null;
  status: string;
}

export interface AuditedRun {
  id: number;
  dealer_id: string;
  business_date: string;
  trigger: string;
  status: string;
  order_file_sha256: string | null;
  bill_file_sha256: string | null;
  order_rows: number | null;
  bill_rows: number | null;
  audit_previous_run_id: number | null;
  audit_seq: number | null;
  audit_findings_digest: string | null;
  audit_hash: string | null;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** One finding as hashed: a JSON array, so that no value can run into the next. */
const FINDING_LINE = (f: FindingRecord) => JSON.stringify([
  f.discrepancy_id, f.action, f.business_date, f.kind, f.order_id, f.severity, f.ledger_amount, f.provider_amount, f.status,
]);

/** The digest of a run's findings, in discrepancy id order; of no findings, sha256 of "". */
export function findingsDigest(findings: FindingRecord[]): string {
  const sorted = [...findings].sort((a, b) => a.discrepancy_id - b.discrepancy_id);
  return sha256(sorted.map((f) => `${FINDING_LINE(f)}\n`).join(''));
}

/** A run's link: over the previous link's hash ("" for the first), the run's row and its findings digest. */
export function linkHash(run: AuditedRun, previousHash: string | null, digest: string): string {
  return sha256(JSON.stringify([
    AUDIT_VERSION, previousHash ?? '', run.audit_previous_run_id, run.audit_seq, run.id, run.dealer_id, run.business_date, run.trigger, run.status,
    run.order_file_sha256, run.bill_file_sha256, run.order_rows, run.bill_rows, digest,
  ]));
}

/** The hashed columns; dates and amounts arrive as their text (src/db/connection.ts keeps them so). */
export const FINDING_COLUMNS = [
  'discrepancy_id', 'action', 'business_date', 'kind', 'order_id', 'severity', 'ledger_amount', 'provider_amount', 'status',
] as const;

export const RUN_COLUMNS = [
  'id', 'dealer_id', 'business_date', 'trigger', 'status', 'order_file_sha256', 'bill_file_sha256',
  'order_rows', 'bill_rows', 'audit_previous_run_id', 'audit_seq', 'audit_findings_digest', 'audit_hash',
] as const;

export async function runFindings(session: Session, runId: number): Promise<FindingRecord[]> {
  return session.db.selectFrom('recon.run_findings').select(FINDING_COLUMNS).where('run_id', '=', runId).orderBy('discrepancy_id').execute();
}

export async function auditedRun(session: Session, runId: number): Promise<AuditedRun | undefined> {
  return session.db.selectFrom('recon.runs').select(RUN_COLUMNS).where('id', '=', runId).executeTakeFirst();
}

/**
 * Records the run's findings and its link, after its findings
 * are written and its row is marked succeeded. The caller holds the dealer's run lock, so the
 * dealer's chain has one head: its audited run with the highest audit_seq.
 */
export async function recordAudit(session: RunTx, runId: number, dealerId: string): Promise<string> {
  await session.db
    .insertInto('recon.run_findings')
    .columns(['run_id', 'discrepancy_id', 'action', 'dealer_id', 'business_date', 'kind', 'order_id', 'severity', 'ledger_amount', 'provider_amount', 'status'])
    .expression((eb) => eb
      .selectFrom('recon.discrepancies as d')
      .select((eb) => [
        sql<number>`${runId}::bigint`.as('run_id'),
        'd.id',
        eb.case().when('d.resolved_run_id', '=', runId).then('resolved' as const)
          .when('d.first_seen_run_id', '=', runId).then('opened' as const)
          .else('seen' as const).end().as('action'),
        'd.dealer_id', 'd.business_date', 'd.kind', 'd.order_id', 'd.severity', 'd.ledger_amount', 'd.provider_amount', 'd.status',
      ])
      .where('d.dealer_id', '=', dealerId)
      .where((eb) => eb.or([eb('d.last_seen_run_id', '=', runId), eb('d.resolved_run_id', '=', runId)])))
    .execute();
  const previous = await session.db
    .selectFrom('recon.runs')
    .select(['id', 'audit_seq', 'audit_hash'])
    .where('dealer_id', '=', dealerId)
    .where('audit_hash', 'is not', null)
    .where('id', '<>', runId)
    .orderBy('audit_seq', 'desc')
    .limit(1)
    .executeTakeFirst() ?? null;
  await session.db
    .updateTable('recon.runs')
    .set({ audit_previous_run_id: previous?.id ?? null, audit_seq: (previous?.audit_seq ?? 0) + 1 })
    .where('id', '=', runId)
    .execute();
  const run = (await auditedRun(session, runId))!;
  const digest = findingsDigest(await runFindings(session, runId));
  const hash = linkHash(run, previous?.audit_hash ?? null, digest);
  await session.db.updateTable('recon.runs').set({ audit_findings_digest: digest, audit_hash: hash }).where('id', '=', runId).execute();
  return hash;
}
