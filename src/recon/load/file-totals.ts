import type { Session } from '../../db/connection.js';
import type { FileKind } from '../../provider/protocol.js';

/**
 * A file's totals as the finance page shows them (orders and amounts on the provider's side).
 * Counted from the day's rows while they are kept; recorded in recon.provider_files.totals when
 * the file is loaded (and, for a file loaded before that, just before retention drops its rows),
 * so that the page of a pruned day shows what the files held. Amounts are numeric text.
 */
export interface OrderFileTotals {
  rows: number;
  amount: string;
  paid: number;
  paidAmount: string;
  returned: number;
  returnedAmount: string;
  failed: number;
  failedAmount: string;
  fees: string;
}

export interface BillFileTotals {
  rows: number;
  payouts: number;
  payoutAmount: string;
  fees: string;
  returns: number;
  returnAmount: string;
}

type Measure = { sql: string; type: 'count' | 'amount' };
const count = (sql: string): Measure => ({ sql, type: 'count' });
const amount = (sql: string): Measure => ({ sql, type: 'amount' });
const PAID = "status in ('paid', 'paid_pending_claim')";

/** Each total once, as an aggregate over a kind's rows: the page and the recorded totals use these. */
export const FILE_TOTALS: { order: Record<keyof OrderFileTotals, Measure>; bill: Record<keyof BillFileTotals, Measure> } = {
  order: {
    rows: count('count(*)'),
    amount: amount('sum(amount)'),
    paid: count(`count(*) filter (where ${PAID})`),
    paidAmount: amount(`sum(amount) filter (where ${PAID})`),
    returned: count("count(*) filter (where status = 'returned')"),
    returnedAmount: amount("sum(amount) filter (where status = 'returned')"),
    failed: count("count(*) filter (where status = 'failed')"),
    failedAmount: amount("sum(amount) filter (where status = 'failed')"),
    fees: amount(`sum(fee) filter (where ${PAID})`),
  },
  bill: {
    rows: count('count(*)'),
    payouts: count("count(*) filter (where bill_type = 'payout')"),
    payoutAmount: amount("sum(amount) filter (where bill_type = 'payout')"),
    fees: amount("sum(amount) filter (where bill_type = 'payout_fee')"),
    returns: count("count(*) filter (where bill_type = 'return')"),
    returnAmount: amount("sum(amount) filter (where bill_type = 'return')"),
  },
};

/** An aggregate as its JSON value: counts as numbers, amounts as numeric text (never a float). */
const jsonValue = (m: Measure) => (m.type === 'count' ? `${m.sql}::int` : `coalesce(${m.sql}, 0)::text`);

/** `jsonb_build_object(...)` of the kind's totals over the rows in the FROM clause. */
export function totalsObjectSql(kind: FileKind): string {
  return `jsonb_build_object(${Object.entries(FILE_TOTALS[kind]).map(([k, m]) => `'${k}', ${jsonValue(m)}`).join(', ')})`;
}

/**
 * The page's totals of a kind over a period, one statement: the kept rows (`rows`, a FROM item
 * with the dealer's rows of the period, read once) plus the totals recorded for the files of the
 * period's pruned days (`recorded`, a FROM item with a `totals` jsonb column). Its columns have
 * the interface's names.
 */
export function periodTotalsSql(kind: FileKind, rows: string, recorded: string): string {
  const measures = Object.entries(FILE_TOTALS[kind]).map(([k, m]) => ({ k, m, cast: m.type === 'count' ? 'bigint' : 'numeric' }));
  return `with live as (select ${measures.map(({ k, m, cast }) => `coalesce(${m.sql}, 0)::${cast} as "${k}"`).join(', ')} from ${rows}),
     kept as (select ${measures.map(({ k, cast }) => `coalesce(sum((r.totals->>'${k}')::${cast}), 0) as "${k}"`).join(', ')} from ${recorded} r)
select ${measures.map(({ k, m }) => `(live."${k}" + kept."${k}")::${m.type === 'count' ? 'int' : 'text'} as "${k}"`).join(', ')}
  from live, kept`;
}

/**
 * Records the totals of a day's file from its rows in `table`, on the file's newest record
 * where none are recorded yet (a file loaded again, or one loaded before totals were kept).
 */
export async function recordFileTotals(session: Session, kind: FileKind, dealerId: string, date: string, table: string): Promise<void> {
  await session.query(
    `update recon.provider_files f set totals = (select ${totalsObjectSql(kind)} from ${table})
      where f.id = (select max(id) from recon.provider_files where dealer_id = $1 and business_date = $2 and kind = $3)
        and f.totals is null`,
    [dealerId, date, kind],
  );
}
