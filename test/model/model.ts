import { ORDER_STATUS_TEXT, type OrderStatus } from '../../src/provider/file-format.js';

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

export interface OrderFileRow {
  orderId: string;
  ref: string;
  statusText: string;
  amountFen: number;
  feeFen: number | null;
  /** 创建时间 and 完成时间 ('-/-' when the file has none). */
  created: string;
  finished: string;
  channel: '银行卡' | '支付宝' | '微信';
}

export interface BillFileRow {
  orderId: string;
  ref: string;
  billRef: string;
  type: '经纪公司打款' | '经纪公司打款服务费' | '经纪公司退汇' | '经纪公司退汇手续费';
  statusText: '成功' | '失败' | '状态未知';
  amountFen: number;
}

export interface DayFiles {
  orders: OrderFileRow[];
  bills: BillFileRow[];
}

export type LedgerStatus = 'submitted' | 'paid' | 'failed' | 'refunded' | 'cancelled';

export interface LedgerEntry {
  orderId: string;
  amountFen: number;
  status: LedgerStatus;
  created: string;
}

/** What the provider answers when asked about an order live (CONTRACT: 1/0 claimed, 9/213 returned, 2011/2018 not found). */
export type LiveAnswer = 'claimed' | 'returned' | 'not_found';

/** A live answer and the amount (pay) it gives. */
export interface LiveReply { answer: LiveAnswer; amountFen: number }

/** An answer recorded by a run (its step, counted from 1). */
interface LiveCheck extends LiveReply { step: number }

/** recon.broker_fee_rates: one broker (the dealer's), a rate in 1/100000 from a day on. */
export interface FeeRate {
  rate100k: number;
  validFrom: string;
}

export type Kind =
  | 'missing_in_ledger' | 'missing_at_provider' | 'amount_mismatch' | 'status_mismatch' | 'refund_unrecorded'
  | 'duplicate_provider_order' | 'fee_mismatch' | 'bill_without_order' | 'bill_amount_mismatch' | 'order_without_bill'
  | 'stale_pending_claim' | 'unresolved_provider_status' | 'systemic_mismatch';

export const MODELLED_KINDS: readonly Kind[] = [
  'missing_in_ledger', 'missing_at_provider', 'amount_mismatch', 'status_mismatch', 'refund_unrecorded',
  'duplicate_provider_order', 'fee_mismatch', 'bill_without_order', 'bill_amount_mismatch', 'order_without_bill',
  'stale_pending_claim', 'unresolved_provider_status', 'systemic_mismatch',
];

export type Severity = 'critical' | 'warning' | 'info';

/** One finding as a rule states it (before the lifecycle). */
export interface Finding {
  kind: Kind;
  severity: Severity;
  businessDate: string;
  /** null for the file-level systemic_mismatch. */
  orderId: string | null;
  providerRef: string | null;
  ledgerFen: number | null;
  providerFen: number | null;
}

/** One row of recon.discrepancies, as the model keeps it. */
export interface ModelRow extends Finding {
  status: 'open' | 'resolved';
}

// ---------------------------------------------------------------------------------------------
// Evidence

interface DatedOrderRow extends OrderFileRow { day: string; line: number }
interface DatedBillRow extends BillFileRow { day: string; line: number }

/** What a ref (订单流水号) of an order says, from every ingested order row that carries it. */
interface RefState {
  ref: string;
  /** The day of its first order row. */
  firstDay: string;
  /** Its latest row that is not a 退汇 row (else its latest row). */
  latest: DatedOrderRow;
  /** paid / paid_pending_claim / failed / deleted / unresolved, or returned once a 退汇 came back for it. */
  status: OrderStatus;
  /** The newest live answer speaks for it. */
  live: boolean;
  /** An order row gives it (false: known from a live answer only, which has no 服务费). */
  inFile: boolean;
}

const PAID: readonly OrderStatus[] = ['paid', 'paid_pending_claim'];

/** What is known about one order after a step. */
interface OrderView {
  orderId: string;
  orderRows: DatedOrderRow[];
  /** Bill rows that count: 流水状态 成功 (CONTRACT section 6). */
  bills: DatedBillRow[];
  ledger: LedgerEntry | undefined;
  refs: RefState[];
  /** null when no order row and no 退汇 bill row speaks for it. */
  status: OrderStatus | null;
  paidRefs: RefState[];
  home: string;
  /** The newest live answer, when it is the newest evidence (no file ingested since gives a row of the order) and not "not found". */
  live: LiveCheck | undefined;
}

const dayOf = (time: string): string => time.slice(0, 10);

/** Epoch ms of a Shanghai wall time. */
export function shanghaiMs(time: string): number {
  const [d, t = '00:00:00'] = time.split(' ');
  const [y, m, day] = d!.split('-').map(Number);
  const [h, mi, s] = t.split(':').map(Number);
  return Date.UTC(y!, m! - 1, day, h! - 8, mi, s);
}

export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** round-half-up(金额 × rate, 2), in fen (CONTRACT section 4, fee_mismatch). */
export function expectedFeeFen(amountFen: number, rate100k: number): number {
  return Math.floor((amountFen * rate100k * 2 + 100_000) / 200_000);
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

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

/**
 * Section 6, "Per 订单流水号 first": each ref's latest status, and whether a 退汇 came back for it
 * (a 退汇 order row under it, a 经纪公司退汇 bill row under it, or a 经纪公司退汇 bill row
 * under a ref of its own, PROTOCOL-NOTES: "a new 订单流水号").
 * READING (contract silent): a 经纪公司退汇 row under a ref of its own brings back a paid ref
 * of the same amount (the earliest first), else the earliest paid ref left.
 */
function refStates(orderRows: DatedOrderRow[], bills: DatedBillRow[], live: LiveCheck | undefined): RefState[] {
  const byRef = new Map<string, DatedOrderRow[]>();
  for (const o of orderRows) byRef.set(o.ref, [...(byRef.get(o.ref) ?? []), o]);
  const refs: RefState[] = [...byRef].map(([ref, rows]) => {
    const notReturn = rows.filter((r) => ORDER_STATUS_TEXT[r.statusText] !== 'returned');
    const latest = (notReturn.length > 0 ? notReturn : rows).at(-1)!;
    const cameBack = rows.length > notReturn.length
      || bills.some((b) => b.type === '经纪公司退汇' && b.ref === ref);
    return { ref, firstDay: rows[0]!.day, latest, status: cameBack ? 'returned' : ORDER_STATUS_TEXT[latest.statusText]!, live: false, inFile: true };
  });
  // CONTRACT section 6: a live answer newer than the files is the newest evidence, read as the
  // latest file row would be (1/0 paid, 9/213 a 退汇); it speaks for the ref of the order's
  // latest row (the ref it gives), or is a ref of its own for an order no file has yet.
  if (live) {
    const state: OrderStatus = live.answer === 'claimed' ? 'paid' : 'returned';
    const lastRef = orderRows.at(-1)?.ref ?? '';
    const r = refs.find((x) => x.ref === lastRef);
    if (r) {
      r.latest = { ...r.latest, amountFen: live.amountFen };
      r.live = true;
      if (!cameBackRef(r.ref, orderRows, bills)) r.status = state;
    } else {
      refs.push({ ref: lastRef, firstDay: '9999-12-31', status: state, live: true, inFile: false, latest: {
        orderId: '', ref: lastRef, statusText: '', amountFen: live.amountFen, feeFen: null, created: '', finished: '-/-', channel: '银行卡', day: '9999-12-31', line: 0 } });
    }
  }
  const byFirst = (a: RefState, b: RefState) => compare(a.firstDay, b.firstDay) || compare(a.ref, b.ref);
  const floating = bills.filter((b) => b.type === '经纪公司退汇' && !byRef.has(b.ref));
  const unmatched: DatedBillRow[] = [];
  for (const ret of floating) {
    const same = refs.filter((r) => PAID.includes(r.status) && r.latest.amountFen === ret.amountFen).sort(byFirst)[0];
    if (same) same.status = 'returned';
    else unmatched.push(ret);
  }
  for (const _ of unmatched) {
    const earliest = refs.filter((r) => PAID.includes(r.status)).sort(byFirst)[0];
    if (earliest) earliest.status = 'returned';
  }
  return refs;
}

/** A 退汇 came back for the ref in the files: a 退汇 order row under it, or a 经纪公司退汇 bill row under it. */
function cameBackRef(ref: string, orderRows: DatedOrderRow[], bills: DatedBillRow[]): boolean {
  return orderRows.some((o) => o.ref === ref && ORDER_STATUS_TEXT[o.statusText] === 'returned')
    || bills.some((b) => b.type === '经纪公司退汇' && b.ref === ref);
}

/**
 * Section 6, "The order's provider status": paid if any ref is paid (pending claim if that is
 * the best any reached); returned if a ref came back and no other is paid; failed or deleted
 * only when every ref is (READING: deleted when all are deleted, failed when all are failed or
 * deleted); else unresolved. Section 4: a 经纪公司退汇 bill row also makes its order returned
 * (an order no order file has yet).
 */
function orderStatus(refs: RefState[], bills: DatedBillRow[]): OrderStatus | null {
  if (refs.length === 0) return bills.some((b) => b.type === '经纪公司退汇') ? 'returned' : null;
  const has = (s: OrderStatus) => refs.some((r) => r.status === s);
  if (has('paid')) return 'paid';
  if (has('paid_pending_claim')) return 'paid_pending_claim';
  if (has('returned')) return 'returned';
  if (refs.every((r) => r.status === 'deleted')) return 'deleted';
  if (refs.every((r) => r.status === 'failed' || r.status === 'deleted')) return 'failed';
  return 'unresolved';
}

// ---------------------------------------------------------------------------------------------
// The rules: one function per kind

interface Judged {
  v: OrderView;
  atProvider: boolean;
  /** Section 3 "provider_ref: 订单流水号 ... involved"; READING: the paid refs' list when two or more are paid, else the paid ref, else the ref of the order's latest row. */
  providerRef: string | null;
  /** READING: the paid refs' sum (section 6 for a duplicate), else that ref's 金额. */
  providerFen: number | null;
  ledgerFen: number | null;
}

type Rule = (j: Judged, ctx: { asOf: number; rates: readonly FeeRate[]; orderFileIn: (day: string) => boolean }) => Finding | null;

const finding = (j: Judged, kind: Kind, severity: Severity, extra: Partial<Finding> = {}): Finding => ({
  kind, severity, businessDate: j.v.home, orderId: j.v.orderId, providerRef: j.providerRef,
  ledgerFen: j.ledgerFen, providerFen: j.providerFen, ...extra,
});

const isPaid = (s: OrderStatus | null): boolean => s !== null && PAID.includes(s);

/** §4 missing_in_ledger: "an order row in the provider's file whose 商户订单号 is not in the ledger | critical if the provider paid it (pending claim included), else warning". */
const missingInLedger: Rule = (j) =>
  j.atProvider && !j.v.ledger ? finding(j, 'missing_in_ledger', isPaid(j.v.status) ? 'critical' : 'warning') : null;

/**
 * §4 missing_at_provider: "a ledger row created on D with status submitted, paid or refunded
 * that no ingested order file contains | critical if the ledger says paid, else warning; info
 * with details.reason = "cutoff" when created in the last 10 minutes of D and the file of D+1
 * is not in yet". Filed on the ledger's day, with no provider side.
 */
const missingAtProvider: Rule = (j, ctx) => {
  const l = j.v.ledger;
  if (!l || j.atProvider || !['submitted', 'paid', 'refunded'].includes(l.status)) return null;
  const day = dayOf(l.created);
  const cutoff = shanghaiMs(l.created) >= shanghaiMs(`${addDays(day, 1)} 00:00:00`) - 10 * 60_000 && !ctx.orderFileIn(addDays(day, 1));
  return finding(j, 'missing_at_provider', cutoff ? 'info' : l.status === 'paid' ? 'critical' : 'warning',
    { businessDate: day, providerRef: null, providerFen: null });
};

/** §4 amount_mismatch: "ledger amount differs from the file's 金额"; §6: "no amount_mismatch is written beside a duplicate". */
const amountMismatch: Rule = (j) =>
  j.atProvider && j.v.ledger && j.v.paidRefs.length <= 1 && j.providerFen !== j.v.ledger.amountFen
    ? finding(j, 'amount_mismatch', 'critical') : null;

/**
 * §4 status_mismatch: "provider paid and ledger failed/cancelled/refunded; provider failed or
 * deleted and ledger paid | critical"; "provider paid, failed or deleted and ledger still
 * submitted | warning".
 */
const statusMismatch: Rule = (j) => {
  const l = j.v.ledger;
  const s = j.v.status;
  if (!j.atProvider || !l || s === null) return null;
  const paid = isPaid(s);
  const failed = s === 'failed' || s === 'deleted';
  if ((paid && ['failed', 'cancelled', 'refunded'].includes(l.status)) || (failed && l.status === 'paid')) return finding(j, 'status_mismatch', 'critical');
  if ((paid || failed) && l.status === 'submitted') return finding(j, 'status_mismatch', 'warning');
  return null;
};

/** §4 refund_unrecorded: "provider returned the payout and the ledger is not refunded | critical". */
const refundUnrecorded: Rule = (j) =>
  j.v.status === 'returned' && j.v.ledger && j.v.ledger.status !== 'refunded' ? finding(j, 'refund_unrecorded', 'critical') : null;

/** §6 duplicate_provider_order: "two or more refs paid at once ... provider_amount is the sum over paid refs". */
const duplicateProviderOrder: Rule = (j) =>
  j.v.paidRefs.length >= 2 ? finding(j, 'duplicate_provider_order', 'critical') : null;

/**
 * §4 fee_mismatch: "a rate is set for the broker on D and a paid order's 服务费 differs from
 * round-half-up(金额 × rate, 2) | warning"; §6: "judged only where an order file gave the 服务费".
 * D is the order's day (section 3). Each paid ref's 服务费 as its latest row gave it.
 */
const feeMismatch: Rule = (j, ctx) => {
  if (!j.atProvider || !isPaid(j.v.status)) return null;
  const rate = ctx.rates.filter((r) => r.validFrom <= j.v.home).sort((a, b) => compare(a.validFrom, b.validFrom)).at(-1);
  if (!rate) return null;
  const bad = j.v.paidRefs.some((r) => r.inFile && r.latest.feeFen !== expectedFeeFen(r.latest.amountFen, rate.rate100k));
  return bad ? finding(j, 'fee_mismatch', 'warning') : null;
};

/**
 * §4 bill_without_order: "a 经纪公司打款 bill row whose 商户订单号 no ingested order file has";
 * §6: "also covers a 经纪公司退汇 row for an order in no order file and not in the ledger".
 * READING: provider_ref the first payout row's 流水号, provider_amount the payouts' sum.
 */
const billWithoutOrder: Rule = (j) => {
  if (j.atProvider) return null;
  const payouts = j.v.bills.filter((b) => b.type === '经纪公司打款');
  const returns = j.v.bills.filter((b) => b.type === '经纪公司退汇');
  if (payouts.length === 0 && !(returns.length > 0 && !j.v.ledger)) return null;
  return finding(j, 'bill_without_order', 'critical', {
    providerRef: payouts.map((b) => b.billRef).sort(compare)[0] ?? null,
    providerFen: payouts.length > 0 ? payouts.reduce((s, b) => s + b.amountFen, 0) : null,
  });
};

/**
 * §4/§6 bill_amount_mismatch: "judged per ref: each paid ref's 经纪公司打款 rows add up to that
 * ref's 金额 and its 服务费 rows to its 服务费. A 经纪公司打款 row under a 订单流水号 that no
 * ingested order file gives for that 商户订单号 is a bill_amount_mismatch too."
 * READING: a paid ref with no payout row at all is order_without_bill's, not this rule's.
 */
const billAmountMismatch: Rule = (j) => {
  if (!j.atProvider) return null;
  const sum = (ref: string, type: BillFileRow['type']) => j.v.bills.filter((b) => b.ref === ref && b.type === type).reduce((s, b) => s + b.amountFen, 0);
  const hasPayout = (ref: string) => j.v.bills.some((b) => b.ref === ref && b.type === '经纪公司打款');
  const badRef = j.v.paidRefs.some((r) => hasPayout(r.ref)
    && (sum(r.ref, '经纪公司打款') !== r.latest.amountFen || sum(r.ref, '经纪公司打款服务费') !== (r.latest.feeFen ?? 0)));
  const known = new Set(j.v.refs.map((r) => r.ref));
  const unknown = j.v.bills.some((b) => b.type === '经纪公司打款' && !known.has(b.ref));
  return badRef || unknown ? finding(j, 'bill_amount_mismatch', 'critical') : null;
};

/** §4 order_without_bill: "a paid order with no 经纪公司打款 row in any ingested bill file | warning". */
const orderWithoutBill: Rule = (j) =>
  j.atProvider && isPaid(j.v.status) && !j.v.bills.some((b) => b.type === '经纪公司打款') ? finding(j, 'order_without_bill', 'warning') : null;

/**
 * §4 stale_pending_claim: "an order still 成功(待领取) more than 48 hours after its 完成时间,
 * judged on the files' clock (16:45 the day after the newest order file)"; §6: "counts from
 * 完成时间, or from 创建时间 where 完成时间 is -/-". Of several pending refs, the earliest.
 */
const stalePendingClaim: Rule = (j, ctx) => {
  if (j.v.status !== 'paid_pending_claim') return null;
  const since = Math.min(...j.v.paidRefs.map((r) => shanghaiMs(r.latest.finished === '-/-' ? r.latest.created : r.latest.finished)));
  return since < ctx.asOf - 48 * 3_600_000 ? finding(j, 'stale_pending_claim', 'warning') : null;
};

/** §4 unresolved_provider_status: "the latest known provider status is unresolved | warning". */
const unresolvedProviderStatus: Rule = (j) =>
  j.atProvider && j.v.status === 'unresolved' ? finding(j, 'unresolved_provider_status', 'warning') : null;

const RULES: readonly Rule[] = [
  missingInLedger, missingAtProvider, amountMismatch, statusMismatch, refundUnrecorded, duplicateProviderOrder,
  feeMismatch, billWithoutOrder, billAmountMismatch, orderWithoutBill, stalePendingClaim, unresolvedProviderStatus,
];

function judge(v: OrderView, asOf: number, rates: readonly FeeRate[], orderFileIn: (day: string) => boolean): Finding[] {
  // CONTRACT section 6: an order known only from a live answer is at the provider.
  const atProvider = v.orderRows.length > 0 || v.live !== undefined;
  let providerRef: string | null = null;
  let providerFen: number | null = null;
  if (v.paidRefs.length >= 2) {
    const paid = [...v.paidRefs].sort((a, b) => compare(a.firstDay, b.firstDay) || compare(a.ref, b.ref));
    providerRef = paid.map((r) => r.ref).join(',');
    providerFen = paid.reduce((s, r) => s + r.latest.amountFen, 0);
  } else if (v.refs.length > 0) {
    const lastRef = v.orderRows.at(-1)?.ref;
    const top = [...v.refs].sort((a, b) => Number(isPaid(b.status)) - Number(isPaid(a.status))
      || Number(b.live) - Number(a.live) || Number(b.ref === lastRef) - Number(a.ref === lastRef) || compare(a.firstDay, b.firstDay) || compare(a.ref, b.ref))[0]!;
    providerRef = top.ref;
    providerFen = top.latest.amountFen;
  }
  const j: Judged = { v, atProvider, providerRef, providerFen, ledgerFen: v.ledger?.amountFen ?? null };
  return RULES.map((rule) => rule(j, { asOf, rates, orderFileIn })).filter((f): f is Finding => f !== null);
}

/** Money as the numeric(16,2) column reads back. */
export function yuan(fen: number | null): string | null {
  if (fen === null) return null;
  const sign = fen < 0 ? '-' : '';
  const a = Math.abs(fen);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

