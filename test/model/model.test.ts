import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, freshDatabase, type TestDatabase } from '../helpers/db.js';
import { describeMismatch, playHistory } from './drive.js';
import { history, script, type History, type OrderPlan } from './history.js';

/**
 * The engine held to the reference model (model.ts) on generated multi-day histories: after
 * every run, recon.discrepancies (but balance_low, which the model does not cover) equals the
 * model's rows, open and resolved, row for row. `npm test` plays a few histories with
 * a fixed seed; `npm run test:model` plays FC_RUNS of them (FC_SEED to replay one).
 */
const LONG = process.env.YZH_MODEL_LONG === '1';
const SEED = Number(process.env.FC_SEED ?? (LONG ? Date.now() % 1e9 : 20261203));
const RUNS = Number(process.env.FC_RUNS ?? (LONG ? 200 : 3));
/** FC_SHRINK=0 reports the first failing history as found, unshrunk (quicker, e.g. to try a mutation). */
const SHRINK = process.env.FC_SHRINK !== '0';
// A long run may take hours (some 2.5 s a history on a busy 2-core machine): 10 s a history at most.

describe.each(ENGINES)('the engine against the reference model on %s', (engine) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase(engine);
  });
  afterAll(async () => {
    await db.drop();
  });

  it('agrees after every run of generated histories', async () => {
    console.log(`model test (${engine}): seed ${SEED}, ${RUNS} histories (replay with FC_SEED=${SEED})`);
    let last: string | null = null;
    // Half the plays put a second dealer's history beside the first in the same database.
    const result = await fc.check(fc.asyncProperty(history, fc.option(history, { freq: 2 }), async (h, g) => {
      const m = await playHistory(db.handle, h, g);
      last = m === null ? null : describeMismatch(m);
      return m === null;
    }), { numRuns: RUNS, seed: SEED, endOnFailure: !SHRINK });
    if (result.failed) {
      const [h, g] = result.counterexample!;
      // The shrunk history is played once more, so the diff printed is its own.
      const m = await playHistory(db.handle, h, g);
      const report = [`engine and model disagree (seed ${SEED}, found after ${result.numRuns} histories, ${result.numShrinks} shrinks)`,
        g ? `dealer A:\n${script(h)}\ndealer B:\n${script(g)}` : script(h),
        m ? describeMismatch(m) : last ?? '(no mismatch on replay)', `history: ${JSON.stringify(h)}`, ...(g ? [`dealer B: ${JSON.stringify(g)}`] : [])].join('\n');
      console.log(report);
      expect.fail(report);
    }
  }, LONG ? Math.max(3_600_000, RUNS * 10_000) : 300_000);

  /** A named history, played as the property plays one. */
  const example = (h: History, g: History | null = null) => async () => {
    const m = await playHistory(db.handle, h, g);
    expect(m === null ? null : `${script(h)}\n${describeMismatch(m)}`).toBeNull();
  };
  const plan = (p: Partial<OrderPlan>): OrderPlan => ({
    shape: 'paid', day: 0, late: false, retryAfter: 0, amountFen: 10_000, feeWrong: false, bills: 'ok', ret: null,
    unresolvedText: '挂单', finished: 'morning', ledger: { status: 'paid', deltaFen: 0, time: '09:59:00', dayShift: 0 }, ...p,
  });
  // The named histories run on one engine (Postgres when there is one), to keep npm test short.
  const named = engine === ENGINES.at(-1) ? it : it.skip;
  const paidOthers = (n: number) => Array.from({ length: n }, () => plan({}));

  // Histories the property found against the matching before it judged per 订单流水号 (each
  // failed there, as the comment says); kept so that they are played on every change.

  // Was: duplicate_provider_order for a ref rejected (失败) and a retry paid under a new ref.
  named('a retry paid after a rejected ref is no duplicate', example({
    days: 1, rate: null, orders: [plan({ shape: 'retryPaid' }), ...paidOthers(4)], steps: [{ day: 0, regenerate: false }],
  }));

  // Was: the paid order read as failed when its rejected retry came the next day (status_mismatch).
  named('a rejected retry the next day never hides the payment', example({
    days: 2, rate: null, orders: [plan({ shape: 'retryRejected', retryAfter: 1 }), ...paidOthers(4)],
    steps: [{ day: 0, regenerate: false }, { day: 1, regenerate: false }],
  }));

  // Was: no finding for a payout under a 订单流水号 the order file does not give.
  named('a payout under a ref the order file lacks is bill_amount_mismatch', example({
    days: 1, rate: null, orders: [plan({ shape: 'unknownRef' }), ...paidOthers(4)], steps: [{ day: 0, regenerate: false }],
  }));

  // Was: the duplicate's provider_ref and provider_amount those of one ref, not the paid refs' list and sum.
  named('an order paid twice and missing in the ledger names both refs and their sum', example({
    days: 1, rate: null, orders: [plan({ shape: 'bothPaid', ledger: null }), ...paidOthers(4)], steps: [{ day: 0, regenerate: false }],
  }));

  // The order's day is its first order file's whatever the order the days are run in.
  named('a duplicate across two days stays on the first day when the second day is run first', example({
    days: 2, rate: { rate100k: 6500, fromDay: 1 }, orders: [plan({ shape: 'bothPaid', retryAfter: 1, amountFen: 100 }), ...paidOthers(4)],
    steps: [{ day: 1, regenerate: false }, { day: 0, regenerate: false }, { day: 1, regenerate: false }],
  }));

  // A 退汇 two days later, as a bill row under a ref of its own, on a regenerated first day.
  named('a late return as a 经纪公司退汇 row opens refund_unrecorded on the order\'s day', example({
    days: 3, rate: null, orders: [plan({ late: true, ret: { after: 2, as: 'billRow' } }), ...paidOthers(4)],
    steps: [{ day: 0, regenerate: false }, { day: 2, regenerate: false }, { day: 0, regenerate: true }],
  }));

  // Live answers (CONTRACT section 6): the newest evidence when they came after the order's newest file.
  const day = (d: number, live: NonNullable<History['steps'][number]['live']> = []) => ({ day: d, regenerate: false, live });

  named('a claimed answer settles a stale pending claim, and a re-run of its unchanged day leaves it settled', example({
    days: 4, rate: null, orders: [plan({ shape: 'pending', finished: 'morning' }), ...paidOthers(4)],
    steps: [day(0), day(1), day(2, [{ order: 0, answer: 'claimed' }]), day(3), day(0)],
  }));

  named('an order known only from a live answer is at the provider, without fee, and paid without payouts', example({
    days: 2, rate: { rate100k: 6500, fromDay: 0 }, orders: [plan({ shape: 'ledgerOnly' }), ...paidOthers(4)],
    steps: [day(0, [{ order: 0, answer: 'claimed' }]), day(1)],
  }));

  named('a returned answer (9/213) for an unresolved order is refund_unrecorded; not found changes nothing', example({
    days: 2, rate: null, orders: [plan({ shape: 'unresolved' }), plan({ shape: 'unresolved', unresolvedText: '打款中' }), ...paidOthers(3)],
    steps: [day(0, [{ order: 0, answer: 'returned' }]), day(1, [{ order: 1, answer: 'not_found' }])],
  }));

  // The 48-hour edge of stale_pending_claim on the files' clock (16:45 the day after the newest
  // file): finished at 17:00 (47 h 45 min) or 16:45 (exactly 48 h) on the first day, neither is
  // stale when the second day is run; both are when the third is.
  named('pending claims at the 48-hour edge: not stale at 47 h 45 min nor at 48 h, stale a day later', example({
    days: 3, rate: null, orders: [plan({ shape: 'pending', finished: 'under48' }), plan({ shape: 'pending', finished: 'exact48' }), ...paidOthers(3)],
    steps: [day(0), day(1), day(2)],
  }));

  // Retention (CONTRACT section 6): prune, days loaded again by run and run --from-archive, follow-up refused on a pruned day.
  const act = (action: 'archive' | 'followUp' | 'prune', d: number, retain?: 1 | 2, live: NonNullable<History['steps'][number]['live']> = []) =>
    ({ action, day: d, regenerate: false, live, ...(retain === undefined ? {} : { retain }) });

  // Found by the property with the prune steps added: a live answer for an order whose order
  // file the provider has not served is a ref of its own (the answer gives none), so a payout
  // under the order's real ref is one under a ref no order row gives.
  named('a claimed answer that gives no ref, for an order whose payout came before its order file', example({
    days: 3, rate: null, orders: [plan({ amountFen: 1, bills: 'nextDay', day: 1 })],
    steps: [act('prune', 1, 1, [{ order: 0, answer: 'claimed' }]), day(2)],
  }));

  // A pruned day's findings stay open as they were (marked), the orders of a pruned ledger day
  // are judged only by the rules that do not ask whether something is absent (a rejected retry
  // the next day, a 退汇 two days on), and --from-archive and run load the days again.
  named('findings of a pruned day stay as they were until run --from-archive or run loads the day again', example({
    days: 4, rate: { rate100k: 6500, fromDay: 0 },
    orders: [plan({ ledger: { status: 'paid', deltaFen: 1, time: '09:59:00', dayShift: 0 } }), plan({ shape: 'retryRejected', retryAfter: 1 }),
      plan({ shape: 'pending', finished: 'morning' }), plan({ ret: { after: 2, as: 'billRow' } }), plan({ bills: 'missing' }),
      plan({ shape: 'ledgerOnly' }), plan({ day: 1, ledger: { status: 'paid', deltaFen: 0, time: '23:50:00', dayShift: -1 } })],
    steps: [day(0), day(1), day(2), act('prune', 0, 1), day(1), day(3), act('archive', 0), day(2), act('prune', 0, 2), day(0), day(3)],
  }));

  // A retry rejected the day after its order was paid, once the paid day is pruned: the order
  // reads as failed on the rows left, which says nothing of the pruned payment; no
  // status_mismatch (critical, "provider failed, ledger paid") until the day is loaded again.
  named('a retry rejected after the paid day was pruned is not read as a failed payout', example({
    days: 3, rate: null, orders: [plan({ shape: 'retryRejected', retryAfter: 1 }), ...paidOthers(2)],
    steps: [day(0), day(1), day(2), act('prune', 0, 1), day(1), day(0)],
  }));

  // A day with critical findings for most of its orders (systemic_mismatch), then pruned: its
  // systemic row stays open as it was, like the criticals it stands for, while other days run.
  named('a pruned day\'s systemic_mismatch stays open with its criticals', example({
    days: 3, rate: null, orders: [plan({ ledger: null }), plan({ ledger: null }), plan({ ledger: null }), ...paidOthers(2)],
    steps: [day(0), day(1), day(2), act('prune', 0, 1), day(2), day(1)],
  }));

  // Found by the property (seed 20261203, history 29): once any day was pruned, the engine
  // dropped the rules that ask whether something is absent for every order not in the ledger
  // (its "pruned home" test was null, not false), resolving their findings.
  named('after a prune, orders not in the ledger keep duplicate, order_without_bill and bill_without_order', example({
    days: 3, rate: null, orders: [plan({}), plan({ shape: 'bothPaid', day: 2, ledger: null }), plan({ shape: 'billOnly', day: 2, ledger: null }),
      plan({ day: 2, bills: 'missing', ledger: null }), ...paidOthers(2)],
    steps: [day(0), day(2), act('prune', 0, 1), day(2)],
  }));

  // Found by the property (seed 302203251, history 431): an order booked in the ledger the
  // evening before its first order file, once that file's day is pruned, keeps the pruned day
  // (the first day pruned since its ledger day) and is judged only by the rules that do not
  // ask whether something is absent; its payout under a ref only the pruned file gave is no
  // payout under an unknown ref.
  named('an order whose first order file was pruned keeps that day, though its ledger day was never run', example({
    days: 3, rate: null,
    orders: [plan({ shape: 'bothPaid', amountFen: 1, bills: 'nextDay', ret: { after: 2, as: 'orderRow' },
      ledger: { status: 'refunded', deltaFen: 0, time: '09:59:00', dayShift: -1 } })],
    steps: [day(2), day(0), { ...day(1), retain: 1 }, day(2)],
  }));

  // Found by the property (seed 302203213, history 78): an order paid twice on the day after
  // its ledger day, that ledger day pruned; judged per ref, its day must still read as the
  // first order file left (the pruned day kept as its day, the duplicate not judged), not as
  // the pruned day already, which made the engine see no pruned day after its ledger's.
  named('an order judged per ref keeps the pruned ledger day as its day and is no duplicate there', example({
    days: 4, rate: null,
    orders: [plan({ shape: 'bothPaid', day: 1, amountFen: 1, ledger: { status: 'paid', deltaFen: 0, time: '09:59:00', dayShift: -1 } }),
      plan({ amountFen: 1, ledger: null })],
    steps: [day(2), { ...day(0), retain: 1 }, day(1)],
  }));

  // Found by the property (seed 302203251, history 638): an order whose findings are kept on
  // its pruned day, returned two days later, its ledger row created on the day between; the
  // run of that day keeps the order's day, the pruned one, rather than the 退汇's.
  named('an order whose findings are kept on a pruned day keeps that day for later evidence', example({
    days: 4, rate: null,
    orders: [plan({ day: 1, amountFen: 1, ret: { after: 2, as: 'orderRow' }, ledger: { status: 'cancelled', deltaFen: 0, time: '09:59:00', dayShift: 1 } }),
      plan({ amountFen: 1, ledger: null })],
    steps: [day(1), day(3), { ...day(0), retain: 1 }, day(2)],
  }));

  // Found by the property (seed 302203251, history 638 again, once the case above was fixed):
  // the same order, not returned on its ledger day's files, judged by that day's run only on
  // that day's rows (none), kept its findings marked; the model judged it whole, found them
  // again, so unmarked, and the next run moved them to the first order file left (its ledger
  // day is after the pruned day). A run judges such an order whole when its own rows name it.
  named('an order whose findings are kept on a pruned day is judged whole by the run of its ledger day', example({
    days: 4, rate: null,
    orders: [plan({ shape: 'pending', day: 1, ret: { after: 2, as: 'orderRow' }, ledger: { status: 'cancelled', deltaFen: -1, time: '09:59:00', dayShift: 1 } })],
    steps: [day(1), day(3), { ...day(2), retain: 1 }, day(2), { ...day(2), retain: 1 }],
  }));

  named('follow-up refuses a day never run and a pruned day, and asks on a day still kept; a run with a retention of its own drops days again', example({
    days: 4, rate: null, orders: [plan({ shape: 'pending', finished: 'night' }), plan({ shape: 'unresolved', day: 2 }), plan({ day: 3 }), ...paidOthers(2)],
    steps: [act('followUp', 1), day(0), day(2), act('prune', 0, 1), act('followUp', 0, undefined, [{ order: 0, answer: 'claimed' }]),
      act('followUp', 2, undefined, [{ order: 1, answer: 'returned' }]), act('archive', 1), { ...day(3), retain: 1 }, day(0), act('archive', 2)],
  }));

  // Two dealers in one database, runs in turn: neither's rows touch the other's findings.
  named('a second dealer\'s runs in the same database never change the first dealer\'s findings', example({
    days: 2, rate: null, orders: [plan({}), plan({ shape: 'pending', finished: 'morning' }), plan({ shape: 'ledgerOnly' }), ...paidOthers(2)],
    steps: [day(0), day(1)],
  }, {
    days: 2, rate: { rate100k: 6500, fromDay: 0 }, orders: [plan({ shape: 'bothPaid' }), plan({ shape: 'paid', ret: { after: 1, as: 'billRow' } }),
      plan({ shape: 'billOnly' }), ...paidOthers(2)],
    steps: [day(1), day(0, [{ order: 2, answer: 'claimed' }]), day(1)],
  }));
});
