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
}

/** Discrepancies for finance, most severe first. */
export async function selectDiscrepancies(session: Session, filter: ReportFilter): Promise<ReportRow[]> {
  let q = session.db
    .selectFrom('recon.discrepancies')
    .select([
      'id', 'dealer_id', 'business_date', 'kind', 'severity', 'status', 'order_id', 'provider_ref', 'ledger_amount',
      'provider_amount', 'details', 'first_seen_run_id', 'last_seen_run_id', 'resolved_at', 'ack_by', 'ack_note',
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
