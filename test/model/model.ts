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
  /** Each day's files as last ingested (a regenerated file replaces its day); a pruned day's stay here, as its record and archived copy do. */
  private readonly ingested = new Map<string, DayFiles>();
  /** The days whose provider rows retention dropped (and no run has loaded again since). */
  private readonly pruned = new Set<string>();
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
   * does not name is not found), judges those again, and updates the rows. A pruned day is
   * loaded again, even from unchanged files (section 6, Retention).
   */
  run(day: string, files: DayFiles, live: ReadonlyMap<string, LiveReply> = new Map()): void {
    this.step++;
    const before = this.ingested.get(day);
    if (!before || JSON.stringify(before.orders) !== JSON.stringify(files.orders)) this.fileStep.set(day, this.step);
    this.ingested.set(day, files);
    this.pruned.delete(day);
    this.judgeDay(day, live, true);
  }

  /**
   * `run --from-archive --date day`: the files last ingested for the day, read again (a pruned
   * day is loaded again); the provider is not asked, so no live answer is recorded. False when
   * no run ever ingested the day (the run fails and changes nothing).
   */
  runFromArchive(day: string): boolean {
    const files = this.ingested.get(day);
    if (!files) return false;
    this.step++;
    this.pruned.delete(day);
    this.judgeDay(day, new Map(), false);
    return true;
  }

  /**
   * `follow-up --date day` (RunRequest.mode 'follow-up'): no files; the day judged on what is
   * ingested, with fresh live answers. Refused (false, nothing changes) for a day never
   * ingested or one whose provider rows were pruned (section 6, Retention).
   */
  followUpRun(day: string, live: ReadonlyMap<string, LiveReply> = new Map()): boolean {
    if (!this.ingested.has(day) || this.pruned.has(day)) return false;
    this.step++;
    this.judgeDay(day, live, true);
    return true;
  }

  /**
   * `prune` with YZH_RETAIN_DAYS = retainDays (also what a run does after it succeeds): the
   * provider rows of the days more than retainDays before the newest day on file are dropped;
   * findings, runs and file records stay. The open findings of the days before the first day
   * kept are marked (details.provider_rows_pruned) when a day was dropped; a marked finding of
   * a pruned day is no longer judged again until its day is loaded again (docs/design.md,
   * Retention).
   */
  prune(retainDays: number): void {
    if (this.ingested.size === 0) return;
    const keptFrom = addDays([...this.ingested.keys()].sort().at(-1)!, -retainDays);
    const dropped = [...this.ingested.keys()].filter((d) => d < keptFrom && !this.pruned.has(d));
    if (dropped.length === 0) return;
    for (const d of dropped) this.pruned.add(d);
    for (const r of this.rows) {
      if (r.status === 'open' && (r.orderId !== null || r.kind === 'systemic_mismatch') && r.businessDate < keptFrom) r.prunedMark = true;
    }
  }

  /** A marked finding of a day whose rows are gone: nothing is left to judge it by. */
  private frozen(r: ModelRow): boolean {
    return r.prunedMark === true && this.pruned.has(r.businessDate);
  }

  /** The days whose rows are there to read: ingested and not pruned. */
  private available(): [string, DayFiles][] {
    return [...this.ingested].filter(([d]) => !this.pruned.has(d)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  private judgeDay(day: string, live: ReadonlyMap<string, LiveReply>, ask: boolean): void {
    const scope = this.scope(day);
    const asOf = this.asOf(day);
    const judgeScope = () => {
      const found = new Map<string, Finding>();
      for (const orderId of scope) {
        const v = this.view(orderId);
        if (!v) continue;
        for (const f of judge(v, asOf, this.rates, (d) => this.ingested.has(d))) found.set(`${f.kind}|${f.orderId}`, f);
      }
      return found;
    };
    let found = judgeScope();
    const asked = ask ? this.followUp(scope, found) : new Set<string>();
    for (const orderId of asked) {
      const served = [...this.ingested].sort(([a], [b]) => (a < b ? -1 : 1)).flatMap(([, f]) => f.orders).filter((o) => o.orderId === orderId);
      this.checks.set(orderId, { step: this.step, ref: served.at(-1)?.ref ?? '', ...(live.get(orderId) ?? { answer: 'not_found', amountFen: 0 }) });
    }
    if (asked.size > 0) found = judgeScope();
    for (const f of this.systemic(day, found)) found.set(`${f.kind}|${f.businessDate}`, f);
    this.lifecycle(found);
  }

  /**
   * The orders a run asks about (src/recon/live/order-checks.ts; every one, every run:
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
      if (!v) continue;
      const statuses = v.orderRows.map((o) => ORDER_STATUS_TEXT[o.statusText]!).sort();
      if (statuses[0] !== 'paid_pending_claim' || statuses.includes('returned')) continue;
      if (v.bills.some((b) => b.type === '经纪公司退汇')) continue;
      const check = this.checks.get(orderId);
      if (check && this.newest(orderId, check)) continue;
      asked.add(orderId);
    }
    return asked;
  }

  /**
   * An answer is the newest evidence when no order file holding a row of the order was
   * ingested by a later run. READING: a later file whose rows were pruned no longer speaks.
   */
  private newest(orderId: string, check: LiveCheck): boolean {
    for (const [day, f] of this.available()) {
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
    // READING: a pruned day's systemic row is kept as it was, like its criticals (frozen).
    const openSystemic = new Set(openBefore.filter((r) => r.kind === 'systemic_mismatch' && !this.frozen(r)).map((r) => r.businessDate));
    const out: Finding[] = [];
    for (const d of new Set([day, ...openSystemic])) {
      const files = this.pruned.has(d) ? undefined : this.ingested.get(d);
      const orders = new Set([...(files?.orders ?? []).map((o) => o.orderId),
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
   * longer holds, and re-checks every finding still open from earlier days. A frozen finding
   * (marked pruned, its day's rows gone) is never resolved; found again, it is written as
   * found, no longer marked.
   */
  private lifecycle(found: Map<string, Finding>): void {
    const open = new Map(this.rows.filter((r) => r.status === 'open').map((r) => [`${r.kind}|${r.orderId ?? r.businessDate}`, r]));
    const frozen = new Set([...open.values()].filter((r) => this.frozen(r)));
    for (const [key, f] of found) {
      const row = open.get(key);
      if (row) Object.assign(row, f, { prunedMark: false });
      else this.rows.push({ ...f, status: 'open' });
    }
    for (const [key, row] of open) if (!found.has(key) && !frozen.has(row)) row.status = 'resolved';
  }

  /**
   * The orders a run of `day` decides (docs/design.md "How a run works"; the contract's "each run
   * re-checks the discrepancies still open"): those in the day's order or bill file, the ledger
   * rows created on the day, those with an open finding (but a frozen one), and the week's
   * unclaimed red packets whose rows are still there.
   */
  private scope(day: string): Set<string> {
    const ids = new Set<string>();
    const files = this.ingested.get(day)!;
    for (const o of files.orders) ids.add(o.orderId);
    for (const b of files.bills) if (b.statusText === '成功') ids.add(b.orderId);
    for (const l of this.ledger) if (dayOf(l.created) === day) ids.add(l.orderId);
    for (const r of this.rows) if (r.status === 'open' && r.orderId !== null && !this.frozen(r)) ids.add(r.orderId);
    for (const [d, f] of this.available()) {
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

  /**
   * What is known of the order from the rows still there (a pruned day's are gone), the ledger
   * and its live answer; undefined when nothing is (no row, no ledger row).
   */
  private view(orderId: string): OrderView | undefined {
    const orderRows: DatedOrderRow[] = [];
    const bills: DatedBillRow[] = [];
    for (const [day, f] of this.available()) {
      f.orders.forEach((o, line) => { if (o.orderId === orderId) orderRows.push({ ...o, day, line }); });
      f.bills.forEach((b, line) => { if (b.orderId === orderId && b.statusText === '成功') bills.push({ ...b, day, line }); });
    }
    const ledger = this.ledger.find((l) => l.orderId === orderId);
    const check = this.checks.get(orderId);
    const live = check && check.answer !== 'not_found' && this.newest(orderId, check) ? check : undefined;
    const refs = refStates(orderRows, bills, live);
    const paidRefs = refs.filter((r) => PAID.includes(r.status));
    // Section 3: the order's first order file, else the ledger's creation day, else its first bill file.
    // READING (docs/design.md): a day pruned on or after the ledger's day, before the first order
    // file left (or with none left), may have held the order's first order file; the order keeps
    // the first such day and only the rules that do not ask whether something is absent apply.
    // What the pruned file said is gone, so the model, as the engine, does not read it.
    // READING: status_mismatch applies only where the provider paid (a failed or deleted order,
    // every ref unpaid, may owe that to its paid row being pruned: a retry rejected on a later
    // day would read as failed against a paid ledger row).
    const ledgerDay = ledger ? dayOf(ledger.created) : undefined;
    const firstLeft = orderRows[0]?.day;
    // READING: an order whose open findings are kept as they were on a pruned day keeps that day.
    const frozenDay = this.rows.filter((r) => r.orderId === orderId && r.status === 'open' && this.frozen(r)).map((r) => r.businessDate).sort()[0];
    const prunedDay = frozenDay ?? (ledgerDay === undefined ? undefined
      : [...this.pruned].filter((p) => p >= ledgerDay && (firstLeft === undefined || p < firstLeft)).sort()[0]);
    const home = prunedDay ?? firstLeft ?? ledgerDay ?? bills[0]?.day;
    if (home === undefined) return undefined;
    return { orderId, orderRows, bills, ledger, refs, status: orderStatus(refs, bills), paidRefs, home, live, prunedHome: prunedDay !== undefined };
  }
}
