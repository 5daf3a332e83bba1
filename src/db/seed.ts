import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import type { Session } from './connection.js';

/**
 * Loads a ledger CSV (the columns of recon.ledger_payouts) and a fee-rate CSV into the input
 * tables, replacing rows with the same keys. For the demo and for tests; a merchant's real
 * ledger is its own table or a view.
 */
export async function seedLedger(session: Session, csvPath: string): Promise<number> {
  const rows = parse<Record<string, string>>(readFileSync(csvPath), { columns: true, skip_empty_lines: true, bom: true });
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    await session.query(
      `insert into recon.ledger_payouts (order_id, dealer_id, broker_id, channel, amount, status, created_at)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::text[], $7::timestamptz[])
       on conflict (order_id) do update set dealer_id = excluded.dealer_id, broker_id = excluded.broker_id,
         channel = excluded.channel, amount = excluded.amount, status = excluded.status, created_at = excluded.created_at`,
      ['order_id', 'dealer_id', 'broker_id', 'channel', 'amount', 'status', 'created_at'].map((c) => chunk.map((r) => r[c] || null)),
    );
  }
  return rows.length;
}

export async function seedFeeRates(session: Session, csvPath: string): Promise<number> {
  const rows = parse<Record<string, string>>(readFileSync(csvPath), { columns: true, skip_empty_lines: true, bom: true });
  for (const r of rows) {
    await session.query(
      `insert into recon.broker_fee_rates (broker_id, rate, valid_from) values ($1, $2, $3)
       on conflict (broker_id, valid_from) do update set rate = excluded.rate`,
      [r.broker_id, r.rate, r.valid_from],
    );
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
