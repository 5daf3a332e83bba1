import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/**
 * Kysely's view of the `recon` schema; kept in step with sql/*.sql by test/db/schema.test.ts.
 *
 * Values as both engines return them (src/db/connection.ts sets the parsers): bigint a number,
 * numeric and date their exact text, timestamptz a Date, jsonb parsed.
 *
 * Which idiom reads and writes each table. Plain reads and writes go through Kysely
 * (`session.db`, the session's own connection, so inside its transaction); set-based
 * statements stay SQL, where the statement is the rule:
 *
 * - recon.runs, recon.run_findings: Kysely (runs, audit, verify, reports, metrics, notify);
 *   advisory locks and pg_locks through the `sql` template.
 * - recon.discrepancies: written set-based by the lifecycle (src/recon/lifecycle/discrepancies.ts)
 *   and read by the matching as SQL; acknowledgements and every report, notify, metrics and
 *   verify read are Kysely.
 * - recon.ledger_payouts, recon.broker_fee_rates: read by the matching as SQL; seeded with Kysely.
 * - recon.provider_order_checks: inserted with Kysely; read by the follow-up's candidate query and
 *   the matching as SQL.
 * - recon.provider_files: written and read as SQL by the load (src/recon/load/*) and the
 *   retention of provider rows (src/recon/lifecycle/prune/, with the day partitions and
 *   recon.provider_row_tables); the archive's reads, the prune mark, verify and the report page use Kysely.
 * - recon.balance_snapshots: inserted with Kysely by the balance check (src/recon/live/balances.ts).
 * - recon.provider_orders/provider_bills (per-dealer day partitions), provider_row_tables,
 *   provider_day_payouts, provider_days: SQL only (COPY, staging, partition functions); not typed here.
 */

/** timestamptz: a Date on both engines (pg's and PGlite's default parsers). */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamptz with a default: `Generated<Timestamp>` would select as the ColumnType itself, not a Date. */
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** numeric(16,2) travels as its exact decimal text, never a float. */
type Numeric = ColumnType<string, string, string>;
/** date travels as `YYYY-MM-DD` text, so that no zone ever shifts it. */
type DateText = ColumnType<string, string, string>;
type Json = ColumnType<unknown, string, string>;

export interface LedgerPayoutTable {
  order_id: string;
  dealer_id: string;
  broker_id: string | null;
  channel: 'bankcard' | 'alipay' | 'wxpay' | null;
  amount: Numeric;
  status: 'submitted' | 'paid' | 'failed' | 'refunded' | 'cancelled';
  created_at: Timestamp;
}

export interface BrokerFeeRateTable {
  broker_id: string;
  rate: Numeric;
  valid_from: DateText;
}

export type RunStatus = 'running' | 'succeeded' | 'failed';
export type RunTrigger = 'schedule' | 'manual';

export interface RunTable {
  id: Generated<number>;
  dealer_id: string;
  business_date: DateText;
  trigger: RunTrigger;
  status: RunStatus;
  started_at: DefaultTimestamp;
  finished_at: Timestamp | null;
  order_file_sha256: string | null;
  bill_file_sha256: string | null;
  order_rows: number | null;
  bill_rows: number | null;
  error: string | null;
  summary: Json | null;
  /** The run's link in its dealer's audit chain (src/recon/runs/audit.ts); null before it. */
  audit_previous_run_id: number | null;
  audit_seq: number | null;
  audit_findings_digest: string | null;
  audit_hash: string | null;
}

export type Severity = 'critical' | 'warning' | 'info';

export interface DiscrepancyTable {
  id: Generated<number>;
  dealer_id: string;
  business_date: DateText;
  kind: string;
  severity: Severity;
  order_id: string | null;
  provider_ref: string | null;
  ledger_amount: Numeric | null;
  provider_amount: Numeric | null;
  details: Json;
  status: Generated<'open' | 'resolved'>;
  first_seen_run_id: number;
  last_seen_run_id: number;
  resolved_run_id: number | null;
  resolved_at: Timestamp | null;
  ack_by: string | null;
  ack_note: string | null;
  ack_at: Timestamp | null;
}

export interface ProviderFileTable {
  id: Generated<number>;
  dealer_id: string;
  business_date: DateText;
  kind: 'order' | 'bill';
  sha256: string;
  bytes: number;
  row_count: number;
  generated_at: Timestamp | null;
  ingested_at: DefaultTimestamp;
  run_id: number;
  /** `<dealer>/<business date>/<kind>/<sha256>.csv.gz` under YZH_ARCHIVE_DIR; null before the archive. */
  archive_key: string | null;
  archive_pruned_at: Timestamp | null;
  /** The file's totals when it was loaded (src/recon/load/file-totals.ts); null for older files not yet pruned. */
  totals: Record<string, number | string> | null;
}

/** One finding as a run wrote it; append-only, the input of the run's findings digest. */
export interface RunFindingTable {
  run_id: number;
  discrepancy_id: number;
  action: 'opened' | 'seen' | 'resolved';
  dealer_id: string;
  business_date: DateText;
  kind: string;
  order_id: string | null;
  severity: Severity;
  ledger_amount: Numeric | null;
  provider_amount: Numeric | null;
  status: 'open' | 'resolved';
}

/** One answer of the real-time order query (sql/0005). */
export interface ProviderOrderCheckTable {
  id: Generated<number>;
  run_id: number;
  dealer_id: string;
  order_id: string;
  channel: 'bankcard' | 'alipay' | 'wxpay' | null;
  asked_at: Timestamp;
  code: string;
  /** The answer in the order files' status vocabulary, not_found for 2011/2018; null: no evidence. */
  state: LiveState | null;
  status: number | null;
  status_detail: number | null;
  status_message: string | null;
  provider_ref: string | null;
  broker_id: string | null;
  amount: Numeric | null;
  finished_at: Timestamp | null;
  request_id: string;
  /** The answer's `order_id` as given (sql/0009); null when it had none or said nothing of an order. */
  answered_order_id: string | null;
  /** Why the answer is no evidence when it could not be read (sql/0009); null otherwise. */
  problem: string | null;
}

export type LiveState = 'paid' | 'paid_pending_claim' | 'failed' | 'returned' | 'deleted' | 'unresolved' | 'not_found';

/** One broker's balances as query-accounts gave them to a run (sql/0005). */
export interface BalanceSnapshotTable {
  id: Generated<number>;
  run_id: number;
  dealer_id: string;
  asked_at: Timestamp;
  broker_id: string;
  bank_card_balance: Numeric;
  alipay_balance: Numeric;
  wxpay_balance: Numeric;
  rebate_fee_balance: Numeric;
  is_bank_card: boolean;
  is_alipay: boolean;
  is_wxpay: boolean;
  request_id: string;
}

export interface OpenDiscrepancyView extends DiscrepancyTable {
  age_days: number;
  first_seen_at: Timestamp;
  live_state: LiveState | null;
  live_status: number | null;
  live_status_detail: number | null;
  live_status_message: string | null;
  live_code: string | null;
  live_asked_at: Timestamp | null;
}

export interface Database {
  'recon.ledger_payouts': LedgerPayoutTable;
  'recon.broker_fee_rates': BrokerFeeRateTable;
  'recon.runs': RunTable;
  'recon.discrepancies': DiscrepancyTable;
  'recon.provider_files': ProviderFileTable;
  'recon.provider_order_checks': ProviderOrderCheckTable;
  'recon.balance_snapshots': BalanceSnapshotTable;
  'recon.run_findings': RunFindingTable;
  'recon.open_discrepancies': OpenDiscrepancyView;
}

export type Run = Selectable<RunTable>;
export type NewRun = Insertable<RunTable>;
export type Discrepancy = Selectable<DiscrepancyTable>;
export type LedgerPayout = Selectable<LedgerPayoutTable>;
