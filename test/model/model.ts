import { ORDER_STATUS_TEXT } from '../../src/provider/file-format.js';
import { orderStatus, refStates, type DatedBillRow, type DatedOrderRow, type OrderView } from './evidence.js';
import { judge } from './rules.js';
import { PAID, addDays, dayOf, shanghaiMs, type DayFiles, type FeeRate, type Finding, type LedgerEntry, type LiveCheck, type LiveReply, type ModelRow } from './vocabulary.js';

export * from './vocabulary.js';

/**
 * A reference model of the matching rules: CONTRACT.md sections 3, 4 and 6 written as plain
 * TypeScript, for reading, not for speed. It knows nothing of the SQL in src/recon/match or
 * src/recon/lifecycle; it shares only the files' vocabulary (statuses, row types).
 *
 * Money is integer fen throughout. Times are Asia/Shanghai wall times, 'YYYY-MM-DD HH:mm:ss'.
 *
 * Where the contract leaves a choice, the reading taken is marked READING and is the one the
 * docs/design.md states (its "How the rules read the files where the contract leaves a choice"), so
 * that a disagreement is a disagreement about the contract, not about presentation.
 */

// ---------------------------------------------------------------------------------------------
// The model

export class ReferenceModel {
  /** Each day's files as last ingested (a regenerated file replaces its day). */
  private readonly ingested = new Map<string, DayFiles>();
  readonly rows: ModelRow[] = [];
  private step = 0;
  /** The run (step) that last ingested each day's order file as it is now (an unchanged file is not ingested again). */
  private readonly fileStep = new Map<string, number>();
  /** Each order's newest recorded live answer. */
  private readonly checks = new Map<string, LiveCheck>();

  constructor(private readonly ledger: readonly LedgerEntry[], private readonly rates: readonly FeeRate[]) {}

  /**
   * A `run --date day` that ingests these files: judges its scope, asks the provider live about
   * the orders follow-up picks (`live`: what the provider answers for each order; an order it
   * does not name is not found), judges those again, and updates the rows.
   */
  run(day: string, files: DayFiles, live: ReadonlyMap<string, LiveReply> = new Map()): void {
    this.step++;
    const before = this.ingested.get(day);
    if (!before || JSON.stringify(before.orders) !== JSON.stringify(files.orders)) this.fileStep.set(day, this.step);
    this.ingested.set(day, files);
    const scope = this.scope(day);
    const asOf = this.asOf(day);
    const judgeScope = () => {
      const found = new Map<string, Finding>();
      for (const orderId of scope) {
        for (const f of judge(this.view(orderId), asOf, this.rates, (d) => this.ingested.has(d))) found.set(`${f.kind}|${f.orderId}`, f);
      }
      return found;
    };
    let found = judgeScope();
    const asked = this.followUp(scope, found);
    for (const orderId of asked) this.checks.set(orderId, { step: this.step, ...(live.get(orderId) ?? { answer: 'not_found', amountFen: 0 }) });
    if (asked.size > 0) found = judgeScope();
    for (const f of this.systemic(day, found)) found.set(`${f.kind}|${f.businessDate}`, f);
    this.lifecycle(found);
  }

  /**
   * The orders a run asks about (src/recon/lifecycle/followup/checks.ts; every one, every run:
   * the driver sets no limit and no re-ask pause): those of the run's findings of the kinds the
   * files cannot settle (FOLLOW_UP_KINDS; missing_at_provider not at the cut-off), and the
   * orders in scope still 成功(待领取) in their order rows (none paid, failed or deleted, none
   * a 退汇) that no 经纪公司退汇 settled and whose newest live answer, if any, is not newer.
   */
  private followUp(scope: Set<string>, found: Map<string, Finding>): Set<string> {
    const asked = new Set<string>();
    for (const f of found.values()) {
      if (f.orderId === null) continue;
      if (['stale_pending_claim', 'unresolved_provider_status', 'order_without_bill'].includes(f.kind)
        || (f.kind === 'missing_at_provider' && f.severity !== 'info')) asked.add(f.orderId);
    }
    for (const orderId of scope) {
      const v = this.view(orderId);
      const statuses = v.orderRows.map((o) => ORDER_STATUS_TEXT[o.statusText]!).sort();
      if (statuses[0] !== 'paid_pending_claim' || statuses.includes('returned')) continue;
      if (v.bills.some((b) => b.type === '经纪公司退汇')) continue;
      const check = this.checks.get(orderId);
      if (check && this.newest(orderId, check)) continue;
      asked.add(orderId);
    }
    return asked;
  }

  /** An answer is the newest evidence when no order file holding a row of the order was ingested by a later run. */
  private newest(orderId: string, check: LiveCheck): boolean {
    for (const [day, f] of this.ingested) {
      if ((this.fileStep.get(day) ?? 0) > check.step && f.orders.some((o) => o.orderId === orderId)) return false;
    }
    return true;
  }

  /**
   * §4 systemic_mismatch: "one file-level row (order_id null) when a run would open new
   * critical findings for more than 20% of the day's orders". The day's orders: those in its
   * order file or created on it in the ledger. READING (docs/design.md, "How a run works"): once open,
   * the row holds while the day's critical orders stay above 20% (so that a re-run, whose
   * criticals are no longer new, leaves it), and every run judges the open rows of every day.
   */
  private systemic(day: string, found: Map<string, Finding>): Finding[] {
    const openBefore = this.rows.filter((r) => r.status === 'open');
    const openSystemic = new Set(openBefore.filter((r) => r.kind === 'systemic_mismatch').map((r) => r.businessDate));
    const out: Finding[] = [];
    for (const d of new Set([day, ...openSystemic])) {
      const orders = new Set([...(this.ingested.get(d)?.orders ?? []).map((o) => o.orderId),
        ...this.ledger.filter((l) => dayOf(l.created) === d).map((l) => l.orderId)]);
      const criticals = [...found.values()].filter((f) => f.severity === 'critical' && f.businessDate === d);
      const critical = new Set(criticals.map((f) => f.orderId)).size;
      const fresh = new Set(criticals.filter((f) => !openBefore.some((r) => r.kind === f.kind && r.orderId === f.orderId)).map((f) => f.orderId)).size;
      const over = (k: number) => 5 * k > orders.size;
      const holds = orders.size > 0 && (d === day ? over(fresh) || (over(critical) && openSystemic.has(d)) : over(critical));
      if (holds) {
        out.push({ kind: 'systemic_mismatch', severity: 'critical', businessDate: d, orderId: null, providerRef: null, ledgerFen: null, providerFen: null });
      }
    }
    return out;
  }

  /**
   * Section 3: a run upserts what it finds, never duplicates it (one open row per kind and
   * order; an order's finding follows the order when its day moves), marks resolved what no
   * longer holds, and re-checks every finding still open from earlier days.
   */
  private lifecycle(found: Map<string, Finding>): void {
    const open = new Map(this.rows.filter((r) => r.status === 'open').map((r) => [`${r.kind}|${r.orderId ?? r.businessDate}`, r]));
    for (const [key, f] of found) {
      const row = open.get(key);
      if (row) Object.assign(row, f);
      else this.rows.push({ ...f, status: 'open' });
    }
    for (const [key, row] of open) if (!found.has(key)) row.status = 'resolved';
  }

  /**
   * The orders a run of `day` decides (docs/design.md "How a run works"; the contract's "each run
   * re-checks the discrepancies still open"): those in the day's order or bill file, the ledger
   * rows created on the day, those with an open finding, and the week's unclaimed red packets.
   */
  private scope(day: string): Set<string> {
    const ids = new Set<string>();
    const files = this.ingested.get(day)!;
    for (const o of files.orders) ids.add(o.orderId);
    for (const b of files.bills) if (b.statusText === '成功') ids.add(b.orderId);
    for (const l of this.ledger) if (dayOf(l.created) === day) ids.add(l.orderId);
    for (const r of this.rows) if (r.status === 'open' && r.orderId !== null) ids.add(r.orderId);
    for (const [d, f] of this.ingested) {
      if (d >= addDays(day, -7) && d <= addDays(day, -1)) {
        for (const o of f.orders) if (ORDER_STATUS_TEXT[o.statusText] === 'paid_pending_claim') ids.add(o.orderId);
      }
    }
    return ids;
  }

  /** stale_pending_claim's clock: 16:45 the day after the newest order file (or the run's day). */
  private asOf(day: string): number {
    const newest = [...this.ingested.keys(), day].sort().at(-1)!;
    return shanghaiMs(`${addDays(newest, 1)} 16:45:00`);
  }

  private view(orderId: string): OrderView {
    const days = [...this.ingested.keys()].sort();
    const orderRows: DatedOrderRow[] = [];
    const bills: DatedBillRow[] = [];
    for (const day of days) {
      const f = this.ingested.get(day)!;
      f.orders.forEach((o, line) => { if (o.orderId === orderId) orderRows.push({ ...o, day, line }); });
      f.bills.forEach((b, line) => { if (b.orderId === orderId && b.statusText === '成功') bills.push({ ...b, day, line }); });
    }
    const ledger = this.ledger.find((l) => l.orderId === orderId);
    const check = this.checks.get(orderId);
    const live = check && check.answer !== 'not_found' && this.newest(orderId, check) ? check : undefined;
    const refs = refStates(orderRows, bills, live);
    const paidRefs = refs.filter((r) => PAID.includes(r.status));
    // Section 3: the order's first order file, else the ledger's creation day, else its first bill file.
    const home = orderRows[0]?.day ?? (ledger ? dayOf(ledger.created) : undefined) ?? bills[0]!.day;
    return { orderId, orderRows, bills, ledger, refs, status: orderStatus(refs, bills), paidRefs, home, live };
  }
}
