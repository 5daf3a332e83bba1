import { parse } from 'csv-parse/sync';

/**
 * The ids of one column seen more than once, followed in a table of 53-bit hashes (two 32-bit
 * hashes of the bytes: 16 MB for a million ids). A repeat is certain for equal ids; two ids
 * whose hashes collide (about one chance in 20,000 on a day of a million) both count as seen
 * once and the second as repeated, which only costs the order state an aggregate it did not
 * need. A quoted id is counted as repeated (its bytes as written are not its value). Past
 * 70% of MAX_SLOTS ids it gives up (null), and the state counts in SQL.
 */
const SUCCEEDED = Buffer.from('succeeded');
const PAYOUT = Buffer.from('payout');
const PAYOUT_FEE = Buffer.from('payout_fee');

export class RepeatedIds {
  private static readonly MAX_SLOTS = 1 << 23;
  private slots = new Float64Array(1 << 21);
  private count = 0;
  private found: string[] | null = [];

  repeats(): string[] | null {
    return this.found;
  }

  /**
   * The id in `out` from `from` to `to`. With `salt`, the pair (id, salt) is followed: the same
   * id under two salts is not a repeat. `always`: the id counts as repeated whatever it is.
   */
  add(out: Buffer, from: number, to: number, quoted: boolean, salt = 0, always = false): void {
    if (this.found === null) return;
    if (quoted) {
      this.found.push(parse(out.toString('utf8', from, to), { relax_column_count: true })[0]?.[0] as string);
      return;
    }
    if (always) {
      this.found.push(out.toString('utf8', from, to));
      return;
    }
    let h1 = 0x811c9dc5 ^ salt;
    let h2 = 0x9747b28c;
    for (let i = from; i < to; i++) {
      const c = out[i]!;
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    const key = (h1 >>> 0) * 2097152 + ((h2 >>> 0) & 0x1fffff) + 1;
    if (this.insert(key)) this.found.push(out.toString('utf8', from, to));
  }

  /**
   * A bill record's order id, followed with its type (codes as the framing writes them): an
   * order with two 成功 经纪公司打款 (or two 成功 服务费) rows counts as repeated, and a row of
   * any other type or status makes its order repeated at once.
   */
  addBillRow(out: Buffer, from: number, to: number, quoted: boolean, type: Buffer | null, status: Buffer | null): void {
    const simple = status !== null && status.equals(SUCCEEDED) && type !== null && (type.equals(PAYOUT) || type.equals(PAYOUT_FEE));
    this.add(out, from, to, quoted, simple && type.equals(PAYOUT) ? 1 : 2, !simple);
  }

  /** Where `key` is looked for first: its first hash (the key's high 32 bits), masked. */
  private static start(key: number, mask: number): number {
    return Math.floor((key - 1) / 2097152) & mask;
  }

  /** Adds `key`; true when it was there already. */
  private insert(key: number): boolean {
    const mask = this.slots.length - 1;
    for (let i = RepeatedIds.start(key, mask); ; i = (i + 1) & mask) {
      const v = this.slots[i]!;
      if (v === key) return true;
      if (v === 0) {
        this.slots[i] = key;
        // Up to 70% full: a bill file's two million (id, type) pairs fit in 4M slots (32 MB).
        if (++this.count * 10 > this.slots.length * 7) this.grow();
        return false;
      }
    }
  }

  private grow(): void {
    if (this.slots.length >= RepeatedIds.MAX_SLOTS) {
      this.found = null;
      this.slots = new Float64Array(0);
      return;
    }
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    const mask = this.slots.length - 1;
    for (const key of old) {
      if (key === 0) continue;
      let i = RepeatedIds.start(key, mask);
      while (this.slots[i] !== 0) i = (i + 1) & mask;
      this.slots[i] = key;
    }
  }
}
