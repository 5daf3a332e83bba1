import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import type { Insertable } from 'kysely';
import type { Session } from './connection.js';
import type { LedgerPayoutTable } from './schema.js';

/**
 * Loads a ledger CSV (the columns of recon.ledger_payouts) and a fee-rate CSV into the input
 * tables, replacing rows with the same keys. For the demo and for tests; a merchant's real
 * ledger is its own table or a view.
 */
export async function seedLedger(session: Session, csvPath: string): Promise<number> {
  const rows = parse<Record<string, string>>(readFileSync(csvPath), { columns: true, skip_empty_lines: true, bom: true });
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    // Blank cells are null; the database checks the rest (channel and status against their lists).
    const values = chunk.map((r) => Object.fromEntries(
      ['order_id', 'dealer_id', 'broker_id', 'channel', 'amount', 'status', 'created_at'].map((c) => [c, r[c] || null]),
    ) as unknown as Insertable<LedgerPayoutTable>);
    await session.db
      .insertInto('recon.ledger_payouts')
      .values(values)
      .onConflict((oc) => oc.column('order_id').doUpdateSet((eb) => ({
        dealer_id: eb.ref('excluded.dealer_id'), broker_id: eb.ref('excluded.broker_id'), channel: eb.ref('excluded.channel'),
        amount: eb.ref('excluded.amount'), status: eb.ref('excluded.status'), created_at: eb.ref('excluded.created_at'),
      })))
      .execute();
  }
  return rows.length;
}

export async function seedFeeRates(session: Session, csvPath: string): Promise<number> {
  const rows = parse<Record<string, string>>(readFileSync(csvPath), { columns: true, skip_empty_lines: true, bom: true });
  for (const r of rows) {
    await session.db
      .insertInto('recon.broker_fee_rates')
      .values({ broker_id: r.broker_id!, rate: r.rate!, valid_from: r.valid_from! })
      .onConflict((oc) => oc.columns(['broker_id', 'valid_from']).doUpdateSet((eb) => ({ rate: eb.ref('excluded.rate') })))
      .execute();
  }
  return rows.length;
}

/** The fixture day's ledger and fee rates (fixtures/README.md), for the demo and the tests. */
export const FIXTURES_DIR = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export async function seedFixtureLedger(session: Session): Promise<number> {
  const rows = await seedLedger(session, `${FIXTURES_DIR}ledger.csv`);
  await seedFeeRates(session, `${FIXTURES_DIR}broker_fee_rates.csv`);
  return rows;
}
