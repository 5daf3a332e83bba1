/**
 * Money on the finance page and in its tests: amounts arrive from Postgres as numeric text
 * ("1234.5", "-0.70") and are carried as integer fen (bigint), never as a float, so that a
 * total shown is the database's total to the fen.
 */

const DECIMAL = /^(-?)(\d+)(?:\.(\d{1,2})0*)?$/;

/** Numeric text with at most two significant decimals into fen. */
export function toFen(text: string): bigint {
  const m = DECIMAL.exec(text.trim());
  if (m === null) throw new Error(`not an amount with at most two decimals: "${text}"`);
  const fen = BigInt(m[2]!) * 100n + BigInt((m[3] ?? '').padEnd(2, '0'));
  return m[1] === '-' ? -fen : fen;
}

/** Fen as yuan with two decimals and thousands separators: 123456789n → "1,234,567.89". */
export function formatYuan(fen: bigint): string {
  const negative = fen < 0n;
  const abs = negative ? -fen : fen;
  const yuan = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${yuan}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** Numeric text (or null) as it is shown: yuan with two decimals, or empty. */
export function formatAmount(text: string | null | undefined): string {
  return text === null || text === undefined || text === '' ? '' : formatYuan(toFen(text));
}

/** A whole count with thousands separators. */
export function formatCount(n: number | bigint): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
