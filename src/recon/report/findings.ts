import { sql } from 'kysely';
import type { Session } from '../../db/connection.js';

export interface ReportFilter {
  dealerId?: string;
  /** Business days from `from` to `to`, inclusive; either may be open. */
  from?: string;
  to?: string;
  openOnly: boolean;
}

export interface ReportRow {
  id: number;
  dealer_id: string;
  business_date: string;
  kind: string;
  severity: string;
  status: string;
  order_id: string | null;
  provider_ref: string | null;
  ledger_amount: string | null;
  provider_amount: string | null;
  details: unknown;
  first_seen_run_id: number;
  last_seen_run_id: number;
  resolved_at: Date | null;
  ack_by: string | null;
  ack_note: string | null;
  /** The acknowledgement as this row shows it (ACK_VERSION_SQL): `yzh-recon ack` compares it. */
  ack_version: string;
}

/**
 * A finding's acknowledgement as one token, for the export to carry and the import to compare:
 * blank when there is none, else a hash of who, what and when (ack_at to the microsecond, in
 * UTC, so that the session's time zone does not change it). It starts with letters so that a
 * spreadsheet keeps it as text. Columns unqualified: used on recon.discrepancies alone.
 */
export const ACK_VERSION_SQL = `case when ack_by is null and ack_note is null and ack_at is null then ''
  else 'ack-' || left(md5(jsonb_build_array(ack_by, ack_note,
    to_char(ack_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'))::text), 16) end`;

/** Discrepancies for finance, most severe first. */
export async function selectDiscrepancies(session: Session, filter: ReportFilter): Promise<ReportRow[]> {
  let q = session.db
    .selectFrom('recon.discrepancies')
    .select([
      'id', 'dealer_id', 'business_date', 'kind', 'severity', 'status', 'order_id', 'provider_ref', 'ledger_amount',
      'provider_amount', 'details', 'first_seen_run_id', 'last_seen_run_id', 'resolved_at', 'ack_by', 'ack_note',
      sql<string>`${sql.raw(ACK_VERSION_SQL)}`.as('ack_version'),
    ]);
  if (filter.dealerId !== undefined) q = q.where('dealer_id', '=', filter.dealerId);
  if (filter.from !== undefined) q = q.where('business_date', '>=', filter.from);
  if (filter.to !== undefined) q = q.where('business_date', '<=', filter.to);
  if (filter.openOnly) q = q.where('status', '=', 'open');
  const rows = await q
    .orderBy('business_date', 'desc')
    .orderBy((eb) => eb.case().when('severity', '=', 'critical').then(0).when('severity', '=', 'warning').then(1).else(2).end())
    .orderBy('kind')
    .orderBy('order_id')
    .execute();
  return rows;
}
