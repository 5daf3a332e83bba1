import fc from 'fast-check';
export type { LiveAnswer, LiveReply } from './model.js';
import { addDays, expectedFeeFen, yuan, type BillFileRow, type DayFiles, type FeeRate, type LedgerEntry, type LedgerStatus, type LiveAnswer, type LiveReply, type OrderFileRow } from './model.js';

/**
 * Generated multi-day histories of one dealer: what the provider's files say day by day (each
 * day's files possibly regenerated with more rows), what the ledger says, and in which order
 * the days are run. Order ids are local ('o3'); the driver prefixes them per dealer.
 */

export const FIRST_DAY = '2024-07-01';

export type Shape =
  | 'paid' | 'pending' | 'pendingClaimed' | 'failed' | 'deleted' | 'unresolved'
  | 'retryRejected' | 'retryPaid' | 'bothPaid' | 'unknownRef' | 'billOnly' | 'ledgerOnly';

export interface OrderPlan {
  shape: Shape;
  /** The day (index) of its first rows. */
  day: number;
  /** Its first day's rows are only in that day's regenerated files. */
  late: boolean;
  /** Days after the first row that the second ref's row comes (retries). */
  retryAfter: 0 | 1;
  amountFen: number;
  feeWrong: boolean;
  bills: 'ok' | 'missing' | 'wrongAmount' | 'wrongFee' | 'nextDay';
  /** A 退汇 some days later: as an order row under the paid ref, or as a 经纪公司退汇 bill row under a new ref. */
  ret: null | { after: 1 | 2; as: 'orderRow' | 'billRow' };
  unresolvedText: '挂单' | '打款中' | '未知';
  /**
   * 完成时间 of a pending claim: 10:00:05, 23:59:00, or '-/-' (then 创建时间 10:00:00 counts);
   * or at the 48-hour edge of the clock two days on (16:45 on the day after the newest file):
   * 16:45:00 (exactly 48 hours, not stale) and 17:00:00 (47 h 45 min).
   */
  finished: 'morning' | 'night' | 'none' | 'exact48' | 'under48';
  ledger: null | { status: LedgerStatus; deltaFen: number; time: '09:59:00' | '23:49:59' | '23:50:00' | '23:59:59'; dayShift: -1 | 0 | 1 };
}


/**
 * What a step does: `run --date` (the default), `run --from-archive --date` (the files last
 * ingested for the day; the provider is not asked), `follow-up --date` (no files; fresh live
 * answers), or `prune` (YZH_RETAIN_DAYS = retain; the step's day is not used).
 */
export type Action = 'run' | 'archive' | 'followUp' | 'prune';

export interface Step {
  action?: Action;
  /** prune's retention in days; for a run, the run's own YZH_RETAIN_DAYS (else the default, 120). */
  retain?: 1 | 2;
  day: number;
  /** The day's files are regenerated (version 1, with the late rows) before this run. */
  regenerate: boolean;
  /**
   * From this run on, the provider answers so when asked about order `order` (an index, taken
   * modulo the number of orders); an order never given an answer is not found (2018).
   */
  live?: { order: number; answer: LiveAnswer }[];
}

export interface History {
  days: number;
  rate: null | { rate100k: number; fromDay: 0 | 1 };
  orders: OrderPlan[];
  steps: Step[];
}

const amountFen = fc.oneof(
  fc.constantFrom(1, 50, 100, 150, 300, 700, 1000, 10_000, 99_999, 100_000, 12_345_678),
  fc.integer({ min: 1, max: 5_000_000 }),
);

const orderPlan = (days: number): fc.Arbitrary<OrderPlan> => fc.record({
  shape: fc.constantFrom<Shape>('paid', 'paid', 'paid', 'pending', 'pendingClaimed', 'failed', 'deleted', 'unresolved',
    'retryRejected', 'retryPaid', 'bothPaid', 'unknownRef', 'billOnly', 'ledgerOnly'),
  day: fc.integer({ min: 0, max: days - 1 }),
  late: fc.boolean(),
  retryAfter: fc.constantFrom<0 | 1>(0, 1),
  amountFen,
  feeWrong: fc.boolean(),
  bills: fc.constantFrom<OrderPlan['bills']>('ok', 'ok', 'ok', 'missing', 'wrongAmount', 'wrongFee', 'nextDay'),
  ret: fc.option(fc.record({ after: fc.constantFrom<1 | 2>(1, 2), as: fc.constantFrom<'orderRow' | 'billRow'>('orderRow', 'billRow') }), { freq: 3 }),
  unresolvedText: fc.constantFrom<OrderPlan['unresolvedText']>('挂单', '打款中', '未知'),
  finished: fc.constantFrom<OrderPlan['finished']>('morning', 'night', 'none', 'exact48', 'under48'),
  ledger: fc.option(fc.record({
    status: fc.constantFrom<LedgerStatus>('paid', 'paid', 'paid', 'submitted', 'failed', 'refunded', 'cancelled'),
    deltaFen: fc.constantFrom(0, 0, 0, 0, 1, -1, 10_000),
    time: fc.constantFrom<'09:59:00' | '23:49:59' | '23:50:00' | '23:59:59'>('09:59:00', '09:59:00', '09:59:00', '23:49:59', '23:50:00', '23:59:59'),
    dayShift: fc.constantFrom<-1 | 0 | 1>(0, 0, 0, 0, -1, 1),
  }), { freq: 6 }),
});

export const history: fc.Arbitrary<History> = fc.integer({ min: 1, max: 4 }).chain((days) => fc.record({
  days: fc.constant(days),
  rate: fc.option(fc.record({ rate100k: fc.constantFrom(7000, 6500, 6250, 5555), fromDay: fc.constantFrom<0 | 1>(0, 1) }), { freq: 3 }),
  orders: fc.array(orderPlan(days), { minLength: 1, maxLength: 10 }),
  steps: fc.array(fc.record({
    action: fc.constantFrom<Action>('run', 'run', 'run', 'run', 'run', 'archive', 'followUp', 'prune', 'prune'),
    retain: fc.constantFrom<0 | 1 | 2>(0, 0, 0, 1, 2),
    day: fc.integer({ min: 0, max: days - 1 }),
    regenerate: fc.boolean(),
    live: fc.array(fc.record({ order: fc.nat({ max: 9 }), answer: fc.constantFrom<LiveAnswer>('claimed', 'claimed', 'returned', 'not_found') }), { maxLength: 2 }),
  }).map(({ action, retain, ...step }): Step => {
    // A prune always has a retention (1 or 2 days: in histories of four days at most, it drops
    // something); a run has one of its own now and then.
    const r = action === 'prune' && retain === 0 ? 1 : retain;
    return { ...step, action, ...(r === 0 ? {} : { retain: r }) };
  }), { minLength: 1, maxLength: 7 }),
}));

export const dayDate = (i: number): string => addDays(FIRST_DAY, i);
export const ref = (order: number, k: number): string => `7${String(order * 10 + k).padStart(17, '0')}`;
const billRef = (order: number, k: number): string => `8${String(order * 100 + k).padStart(17, '0')}`;

const FINISHED = { morning: '10:00:05', night: '23:59:00', exact48: '16:45:00', under48: '17:00:00' } as const;

/** One order row or bill row of the history, on a day, in the day's first or regenerated files. */
interface Event { day: number; late: boolean; order?: OrderFileRow; bill?: BillFileRow }

/** The fee an order row carries: right for the contract rate (7% when none is set), or a fen off. */
function feeOf(h: History, p: OrderPlan): number {
  return expectedFeeFen(p.amountFen, h.rate?.rate100k ?? 7000) + (p.feeWrong ? 1 : 0);
}

function events(h: History, i: number): Event[] {
  const p = h.orders[i]!;
  const id = `o${i}`;
  const out: Event[] = [];
  const fee = feeOf(h, p);
  const d = dayDate(p.day);
  const row = (day: number, k: number, statusText: string, extra: Partial<OrderFileRow> = {}): void => {
    const date = dayDate(day);
    out.push({ day, late: p.late && day === p.day, order: {
      orderId: id, ref: ref(i, k), statusText, amountFen: p.amountFen, feeFen: fee, created: `${date} 10:00:00`,
      finished: `${date} 10:00:05`, channel: '银行卡', ...extra } });
  };
  let bills = 0;
  const bill = (day: number, r: string, type: BillFileRow['type'], amount: number, late = p.late && day === p.day): void => {
    out.push({ day, late, bill: { orderId: id, ref: r, billRef: billRef(i, bills++), type, statusText: '成功', amountFen: amount } });
  };
  /** The payout and fee rows of a paid ref, as the plan's bills say. */
  const paidBills = (day: number, k: number): void => {
    if (p.bills === 'missing') return;
    const on = p.bills === 'nextDay' ? day + 1 : day;
    bill(on, ref(i, k), '经纪公司打款', p.amountFen + (p.bills === 'wrongAmount' ? 1 : 0), p.late && on === p.day);
    bill(on, ref(i, k), '经纪公司打款服务费', fee + (p.bills === 'wrongFee' ? 1 : 0), p.late && on === p.day);
  };
  const second = p.day + p.retryAfter;
  /** The ref that a 退汇 brings back. */
  let paidRef: number | null = 0;
  switch (p.shape) {
    case 'paid': row(p.day, 0, '成功'); paidBills(p.day, 0); break;
    case 'pending': {
      const finished = p.finished === 'none' ? '-/-' : `${d} ${FINISHED[p.finished]}`;
      row(p.day, 0, '成功(待领取)', { channel: '微信', finished });
      paidBills(p.day, 0);
      break;
    }
    case 'pendingClaimed':
      row(p.day, 0, '成功(待领取)', { channel: '微信' });
      paidBills(p.day, 0);
      row(p.day + 1, 0, '成功', { channel: '微信' });
      break;
    case 'failed': row(p.day, 0, '失败'); paidRef = null; break;
    case 'deleted': row(p.day, 0, '删除'); paidRef = null; break;
    case 'unresolved': row(p.day, 0, p.unresolvedText); paidRef = null; break;
    case 'retryRejected': row(p.day, 0, '成功'); paidBills(p.day, 0); row(second, 1, '失败'); break;
    case 'retryPaid': row(p.day, 0, '失败'); row(second, 1, '成功'); paidBills(second, 1); paidRef = 1; break;
    case 'bothPaid': row(p.day, 0, '成功'); paidBills(p.day, 0); row(second, 1, '成功'); paidBills(second, 1); break;
    case 'unknownRef': row(p.day, 0, '成功'); paidBills(p.day, 0); bill(p.day, ref(i, 8), '经纪公司打款', p.amountFen); break;
    case 'billOnly': bill(p.day, ref(i, 0), '经纪公司打款', p.amountFen); bill(p.day, ref(i, 0), '经纪公司打款服务费', fee); break;
    case 'ledgerOnly': paidRef = null; break;
  }
  if (p.ret && paidRef !== null) {
    const on = (p.shape === 'retryPaid' ? second : p.day) + p.ret.after;
    if (p.ret.as === 'orderRow') row(on, paidRef, '退汇');
    else bill(on, ref(i, 9), '经纪公司退汇', p.amountFen, false);
  }
  return out.filter((e) => e.day < h.days);
}

/** The files of day `day` at version 0 (first) or 1 (regenerated: the late rows too). */
export function filesOf(h: History, day: number, version: 0 | 1): DayFiles {
  const all = h.orders.flatMap((_, i) => events(h, i)).filter((e) => e.day === day && (version === 1 || !e.late));
  return { orders: all.flatMap((e) => (e.order ? [e.order] : [])), bills: all.flatMap((e) => (e.bill ? [e.bill] : [])) };
}

export function ledgerOf(h: History): LedgerEntry[] {
  return h.orders.flatMap((p, i) => {
    if (!p.ledger) return [];
    const day = addDays(dayDate(p.day), p.ledger.dayShift);
    return [{ orderId: `o${i}`, amountFen: Math.max(1, p.amountFen + p.ledger.deltaFen), status: p.ledger.status, created: `${day} ${p.ledger.time}` }];
  });
}

export function ratesOf(h: History): FeeRate[] {
  return h.rate ? [{ rate100k: h.rate.rate100k, validFrom: dayDate(h.rate.fromDay) }] : [];
}


/**
 * The steps as runs: the day, the version of its files served at that moment, and the live
 * answers the provider gives during the run (every order of the history; not_found for those
 * no step has given an answer yet).
 */
export function runsOf(h: History): { action: Action; retain: 1 | 2 | undefined; date: string; day: number; version: 0 | 1; live: Map<string, LiveReply> }[] {
  const version = new Map<number, 0 | 1>();
  const given = new Map<number, LiveAnswer>();
  return h.steps.map((s) => {
    if (s.regenerate) version.set(s.day, 1);
    for (const l of s.live ?? []) given.set(l.order % h.orders.length, l.answer);
    const live = new Map(h.orders.map((p, i) => [`o${i}`, { answer: given.get(i) ?? 'not_found', amountFen: p.amountFen }] as const));
    return { action: s.action ?? 'run', retain: s.retain, date: dayDate(s.day), day: s.day, version: version.get(s.day) ?? 0, live };
  });
}

export const rateText = (rate100k: number): string => (rate100k / 100_000).toFixed(5);

/** The history as a day-by-day script a person can replay by hand. */
export function script(h: History): string {
  const lines: string[] = [`${h.days} day(s) from ${FIRST_DAY}; fee rate ${h.rate ? `${rateText(h.rate.rate100k)} from ${dayDate(h.rate.fromDay)}` : 'none'}`];
  lines.push('ledger:');
  for (const l of ledgerOf(h)) lines.push(`  ${l.orderId} ${yuan(l.amountFen)} ${l.status} created ${l.created}`);
  const orderLine = (o: OrderFileRow) => `    order ${o.orderId} ${o.ref} ${o.statusText} ${yuan(o.amountFen)} fee ${yuan(o.feeFen)} ${o.channel} 创建 ${o.created} 完成 ${o.finished}`;
  const billLine = (b: BillFileRow) => `    bill  ${b.orderId} ${b.ref} ${b.billRef} ${b.type} ${b.statusText} ${yuan(b.amountFen)}`;
  for (let d = 0; d < h.days; d++) {
    const v0 = filesOf(h, d, 0);
    const v1 = filesOf(h, d, 1);
    lines.push(`files of ${dayDate(d)}:`);
    lines.push(...v0.orders.map(orderLine), ...v0.bills.map(billLine));
    if (v1.orders.length + v1.bills.length > v0.orders.length + v0.bills.length) {
      lines.push(`  regenerated, adding:`);
      const first = new Set([...v0.orders, ...v0.bills].map((x) => JSON.stringify(x)));
      lines.push(...v1.orders.filter((o) => !first.has(JSON.stringify(o))).map(orderLine));
      lines.push(...v1.bills.filter((b) => !first.has(JSON.stringify(b))).map(billLine));
    }
  }
  lines.push('runs:');
  const told = new Map<string, LiveAnswer>();
  runsOf(h).forEach((r, n) => {
    const news = [...r.live].filter(([id, l]) => (told.get(id) ?? 'not_found') !== l.answer);
    for (const [id, l] of news) told.set(id, l.answer);
    const live = news.map(([id, l]) => `${id} ${l.answer}${l.answer === 'not_found' ? '' : ` ${yuan(l.amountFen)}`}`).join(', ');
    const retain = r.retain === undefined ? '' : ` with YZH_RETAIN_DAYS=${r.retain}`;
    const what = r.action === 'prune' ? `prune (YZH_RETAIN_DAYS=${r.retain})`
      : r.action === 'archive' ? `run --from-archive --date ${r.date}${retain}`
        : r.action === 'followUp' ? `follow-up --date ${r.date}${retain}`
          : `run --date ${r.date} (files version ${r.version})${retain}`;
    lines.push(`  ${n + 1}. ${what}${live && r.action !== 'prune' && r.action !== 'archive' ? `; asked live, the provider now answers: ${live}` : live ? `; the provider now answers: ${live}` : ''}`);
  });
  return lines.join('\n');
}
