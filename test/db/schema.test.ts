import { afterAll, describe, expect, it } from 'vitest';
import { migrate, readMigrations } from '../../src/db/migrator.js';
import type {
  BalanceSnapshotTable, BrokerFeeRateTable, DiscrepancyTable, LedgerPayoutTable, ProviderFileTable, ProviderOrderCheckTable, RunFindingTable, RunTable,
} from '../../src/db/schema.js';
import { ENGINES, freshDatabase, type TestDatabase } from '../helpers/db.js';
import { silentLog } from '../helpers/provider.js';

// `satisfies Record<keyof T, true>` fails to compile when the TypeScript interface gains or
// loses a column; the test below fails when the SQL does.
const COLUMNS = {
  'recon.ledger_payouts': { order_id: true, dealer_id: true, broker_id: true, channel: true, amount: true, status: true, created_at: true } satisfies Record<keyof LedgerPayoutTable, true>,
  'recon.broker_fee_rates': { broker_id: true, rate: true, valid_from: true } satisfies Record<keyof BrokerFeeRateTable, true>,
  'recon.runs': {
    id: true, dealer_id: true, business_date: true, trigger: true, status: true, started_at: true, finished_at: true,
    order_file_sha256: true, bill_file_sha256: true, order_rows: true, bill_rows: true, error: true, summary: true,
    audit_previous_run_id: true, audit_seq: true, audit_findings_digest: true, audit_hash: true,
  } satisfies Record<keyof RunTable, true>,
  'recon.discrepancies': {
    id: true, dealer_id: true, business_date: true, kind: true, severity: true, order_id: true, provider_ref: true,
    ledger_amount: true, provider_amount: true, details: true, status: true, first_seen_run_id: true, last_seen_run_id: true,
    resolved_run_id: true, resolved_at: true, ack_by: true, ack_note: true, ack_at: true,
  } satisfies Record<keyof DiscrepancyTable, true>,
  'recon.provider_files': {
    id: true, dealer_id: true, business_date: true, kind: true, sha256: true, bytes: true, row_count: true,
    generated_at: true, ingested_at: true, run_id: true, archive_key: true, archive_pruned_at: true, totals: true,
  } satisfies Record<keyof ProviderFileTable, true>,
  'recon.provider_order_checks': {
    id: true, run_id: true, dealer_id: true, order_id: true, channel: true, asked_at: true, code: true, state: true, status: true,
    status_detail: true, status_message: true, provider_ref: true, broker_id: true, amount: true, finished_at: true, request_id: true,
    answered_order_id: true, problem: true,
  } satisfies Record<keyof ProviderOrderCheckTable, true>,
  'recon.balance_snapshots': {
    id: true, run_id: true, dealer_id: true, asked_at: true, broker_id: true, bank_card_balance: true, alipay_balance: true,
    wxpay_balance: true, rebate_fee_balance: true, is_bank_card: true, is_alipay: true, is_wxpay: true, request_id: true,
  } satisfies Record<keyof BalanceSnapshotTable, true>,
  'recon.run_findings': {
    run_id: true, discrepancy_id: true, action: true, dealer_id: true, business_date: true, kind: true, order_id: true,
    severity: true, ledger_amount: true, provider_amount: true, status: true,
  } satisfies Record<keyof RunFindingTable, true>,
};

describe.each(ENGINES)('schema on %s', (engine) => {
  const dbs: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.drop()));
  });

  it('the Kysely table types match the SQL', async () => {
    const db = await freshDatabase(engine);
    dbs.push(db);
    for (const [qualified, columns] of Object.entries(COLUMNS)) {
      const [schema, table] = qualified.split('.');
      const r = await db.handle.withSession((s) => s.query<{ column_name: string }>(
        'select column_name from information_schema.columns where table_schema = $1 and table_name = $2 order by column_name', [schema, table]));
      expect(r.rows.map((c) => c.column_name), qualified).toEqual(Object.keys(columns).sort());
    }
  });

  it('migrate is safe to run again, and two at once apply each migration once', async () => {
    const db = await freshDatabase(engine, { migrated: false });
    dbs.push(db);
    const results = await Promise.all([
      db.handle.withSession((s) => migrate(s, silentLog)),
      db.handle.withSession((s) => migrate(s, silentLog)),
    ]);
    expect(results.flat().sort()).toEqual(readMigrations().map((m) => m.name).sort());
    expect(await db.handle.withSession((s) => migrate(s, silentLog))).toEqual([]);
    const rows = await db.handle.withSession((s) => s.query<{ n: number }>('select count(*)::int as n from recon.migrations'));
    expect(rows.rows[0]!.n).toBe(readMigrations().length);
  });

  it('the finance views answer: open findings with their age, and counts and amounts by day, kind, severity and status', async () => {
    const db = await freshDatabase(engine);
    dbs.push(db);
    await db.handle.withSession(async (s) => {
      const run = (await s.query<{ id: number }>(
        `insert into recon.runs (dealer_id, business_date, trigger, status, started_at)
         values ('dv', '2024-06-30', 'manual', 'succeeded', '2024-06-30 20:00:00+00') returning id`)).rows[0]!.id;
      const rows: [string, string, string, string | null, string | null, string | null, 'open' | 'resolved'][] = [
        ['2024-06-30', 'amount_mismatch', 'critical', 'A', '100.00', '90.00', 'open'],
        ['2024-06-30', 'amount_mismatch', 'critical', 'B', '50.00', '45.50', 'open'],
        ['2024-06-30', 'missing_at_provider', 'critical', 'C', '20.00', null, 'open'],
        ['2024-06-30', 'missing_in_ledger', 'warning', 'D', null, '12.34', 'resolved'],
        ['2024-06-30', 'missing_in_ledger', 'warning', 'E', null, '0.66', 'open'],
        ['2024-07-01', 'systemic_mismatch', 'critical', null, null, null, 'open'],
      ];
      for (const [day, kind, severity, order, ledger, provider, status] of rows) {
        await s.query(
          `insert into recon.discrepancies (dealer_id, business_date, kind, severity, order_id, ledger_amount, provider_amount, status,
             first_seen_run_id, last_seen_run_id, resolved_run_id)
           values ('dv', $1, $2, $3, $4, $5, $6, $7, $8, $8, case when $7 = 'resolved' then $8::bigint end)`,
          [day, kind, severity, order, ledger, provider, status, run]);
      }
      const today = (await s.query<{ today: string }>('select current_date::text as today')).rows[0]!.today;
      const age = (day: string) => Math.round((Date.parse(today) - Date.parse(day)) / 86_400_000);

      const open = await s.query(
        `select business_date, kind, severity, order_id, ledger_amount, provider_amount, status, age_days,
                extract(epoch from first_seen_at)::int8 as first_seen_epoch
           from recon.open_discrepancies order by business_date, kind, order_id`);
      const seen = Date.parse('2024-06-30T20:00:00Z') / 1000;
      expect(open.rows).toEqual([
        { business_date: '2024-06-30', kind: 'amount_mismatch', severity: 'critical', order_id: 'A', ledger_amount: '100.00', provider_amount: '90.00', status: 'open', age_days: age('2024-06-30'), first_seen_epoch: seen },
        { business_date: '2024-06-30', kind: 'amount_mismatch', severity: 'critical', order_id: 'B', ledger_amount: '50.00', provider_amount: '45.50', status: 'open', age_days: age('2024-06-30'), first_seen_epoch: seen },
        { business_date: '2024-06-30', kind: 'missing_at_provider', severity: 'critical', order_id: 'C', ledger_amount: '20.00', provider_amount: null, status: 'open', age_days: age('2024-06-30'), first_seen_epoch: seen },
        { business_date: '2024-06-30', kind: 'missing_in_ledger', severity: 'warning', order_id: 'E', ledger_amount: null, provider_amount: '0.66', status: 'open', age_days: age('2024-06-30'), first_seen_epoch: seen },
        { business_date: '2024-07-01', kind: 'systemic_mismatch', severity: 'critical', order_id: null, ledger_amount: null, provider_amount: null, status: 'open', age_days: age('2024-07-01'), first_seen_epoch: seen },
      ]);

      // The amount is the provider's where there is one, else the ledger's.
      const summary = await s.query('select * from recon.daily_summary order by business_date, kind, status');
      expect(summary.rows).toEqual([
        { dealer_id: 'dv', business_date: '2024-06-30', kind: 'amount_mismatch', severity: 'critical', status: 'open', findings: 2, amount: '135.50' },
        { dealer_id: 'dv', business_date: '2024-06-30', kind: 'missing_at_provider', severity: 'critical', status: 'open', findings: 1, amount: '20.00' },
        { dealer_id: 'dv', business_date: '2024-06-30', kind: 'missing_in_ledger', severity: 'warning', status: 'open', findings: 1, amount: '0.66' },
        { dealer_id: 'dv', business_date: '2024-06-30', kind: 'missing_in_ledger', severity: 'warning', status: 'resolved', findings: 1, amount: '12.34' },
        { dealer_id: 'dv', business_date: '2024-07-01', kind: 'systemic_mismatch', severity: 'critical', status: 'open', findings: 1, amount: '0.00' },
      ]);

      // Two findings without an order on one day, told apart by provider_ref (balance_low of two channels).
      const balanceRun = await s.query<{ id: number }>(`insert into recon.runs (dealer_id, business_date, trigger, status) values ('d', '2024-01-01', 'manual', 'running') returning id`);
      for (const ref of ['b/bankcard', 'b/wxpay']) {
        await s.query(`insert into recon.discrepancies (dealer_id, business_date, kind, severity, provider_ref, first_seen_run_id, last_seen_run_id)
                       values ('d', '2024-01-01', 'balance_low', 'warning', $1, $2, $2)`, [ref, balanceRun.rows[0]!.id]);
      }
      const dup = await s.query(`insert into recon.discrepancies (dealer_id, business_date, kind, severity, provider_ref, first_seen_run_id, last_seen_run_id)
                                 values ('d', '2024-01-01', 'balance_low', 'warning', 'b/wxpay', $1, $1)`, [balanceRun.rows[0]!.id]).then(() => null, (e: { code?: string }) => e.code);
      expect(dup).toBe('23505');
      expect((await s.query("select * from recon.open_discrepancies where dealer_id = 'd'")).rows).toHaveLength(2);
    });
  });
});
