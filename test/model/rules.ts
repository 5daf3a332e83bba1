import type { OrderStatus } from '../../src/provider/file-format.js';
import type { OrderView } from './evidence.js';
import { PAID, addDays, compare, dayOf, expectedFeeFen, shanghaiMs, type BillFileRow, type FeeRate, type Finding, type Kind, type Severity } from './vocabulary.js';

/**
 * The rules of CONTRACT.md section 4 (with section 6's readings): one function per kind, each
 * over one order's view.
 */

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
  // READING: failed or deleted says no ref was paid, which an order whose home day was pruned
  // cannot tell (its paid row may be the one pruned).
  const failed = (s === 'failed' || s === 'deleted') && !j.v.prunedHome;
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

/** The rules that ask whether something is absent: not applied to an order whose home day's rows were pruned. */
const ASKS_ABSENCE: readonly Rule[] = [missingAtProvider, duplicateProviderOrder, billWithoutOrder, billAmountMismatch, orderWithoutBill];

const RULES: readonly Rule[] = [
  missingInLedger, missingAtProvider, amountMismatch, statusMismatch, refundUnrecorded, duplicateProviderOrder,
  feeMismatch, billWithoutOrder, billAmountMismatch, orderWithoutBill, stalePendingClaim, unresolvedProviderStatus,
];

export function judge(v: OrderView, asOf: number, rates: readonly FeeRate[], orderFileIn: (day: string) => boolean): Finding[] {
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
  return RULES.filter((rule) => !(v.prunedHome && ASKS_ABSENCE.includes(rule))).map((rule) => rule(j, { asOf, rates, orderFileIn })).filter((f): f is Finding => f !== null);
}
