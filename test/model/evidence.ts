import { ORDER_STATUS_TEXT, type OrderStatus } from '../../src/provider/file-format.js';
import { PAID, compare, type BillFileRow, type LedgerEntry, type LiveCheck, type OrderFileRow } from './vocabulary.js';

/**
 * What the model knows of one order: its rows from the files, read per 订单流水号 (CONTRACT.md
 * section 6), and the order's provider status.
 */

export interface DatedOrderRow extends OrderFileRow { day: string; line: number }
export interface DatedBillRow extends BillFileRow { day: string; line: number }

/** What a ref (订单流水号) of an order says, from every ingested order row that carries it. */
export interface RefState {
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


/** What is known about one order after a step. */
export interface OrderView {
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
  /** Its home is a pruned day on or after the ledger's day, before any order file left: only the rules that do not ask whether something is absent apply. */
  prunedHome: boolean;
}

/**
 * Section 6, "Per 订单流水号 first": each ref's latest status, and whether a 退汇 came back for it
 * (a 退汇 order row under it, a 经纪公司退汇 bill row under it, or a 经纪公司退汇 bill row
 * under a ref of its own, PROTOCOL-NOTES: "a new 订单流水号").
 * READING (contract silent): a 经纪公司退汇 row under a ref of its own brings back a paid ref
 * of the same amount (the earliest first), else the earliest paid ref left.
 */
export function refStates(orderRows: DatedOrderRow[], bills: DatedBillRow[], live: LiveCheck | undefined): RefState[] {
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
    const lastRef = live.ref !== '' ? live.ref : orderRows.at(-1)?.ref ?? '';
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
export function orderStatus(refs: RefState[], bills: DatedBillRow[]): OrderStatus | null {
  if (refs.length === 0) return bills.some((b) => b.type === '经纪公司退汇') ? 'returned' : null;
  const has = (s: OrderStatus) => refs.some((r) => r.status === s);
  if (has('paid')) return 'paid';
  if (has('paid_pending_claim')) return 'paid_pending_claim';
  if (has('returned')) return 'returned';
  if (refs.every((r) => r.status === 'deleted')) return 'deleted';
  if (refs.every((r) => r.status === 'failed' || r.status === 'deleted')) return 'failed';
  return 'unresolved';
}
