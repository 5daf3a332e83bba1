import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import type { DatabaseHandle } from '../../src/db/connection.js';
import { DEFAULT_RETAIN_DAYS } from '../../src/config.js';
import { pruneDealer } from '../../src/recon/lifecycle/prune/index.js';
import { silentLog } from '../helpers/provider.js';
import { Scenario, type ProviderBill, type ProviderOrder } from '../helpers/scenario.js';
import { filesOf, ledgerOf, rateText, ratesOf, runsOf, dayDate, type History, type LiveReply } from './history.js';
import { MODELLED_KINDS, ReferenceModel, yuan, type DayFiles } from './model.js';

/**
 * Plays a history on the engine (its own dealer, the provider double over HTTP, one database
 * shared by many histories) and on the reference model side by side, and after every run lays
 * the engine's recon.discrepancies next to the model's rows, open and resolved.
 */

/** One row as compared: kind, severity, business_date, order, provider_ref, ledger_amount, provider_amount, status. */
export type RowKey = string;

const key = (r: { kind: string; severity: string; business_date: string; order_id: string | null; provider_ref: string | null;
  ledger_amount: string | null; provider_amount: string | null; status: string }): RowKey =>
  [r.kind, r.severity, r.business_date, r.order_id ?? '-', r.provider_ref ?? '-', r.ledger_amount ?? '-', r.provider_amount ?? '-', r.status].join(' ');

export interface Mismatch {
  /** 'A', or 'B' for the second dealer of a two-dealer play. */
  dealer: 'A' | 'B';
  step: number;
  date: string;
  onlyEngine: RowKey[];
  onlyModel: RowKey[];
}

export function describeMismatch(m: Mismatch): string {
  return [`after dealer ${m.dealer}'s run ${m.step} (--date ${m.date}):`,
    ...m.onlyEngine.map((r) => `  engine only: ${r}`), ...m.onlyModel.map((r) => `  model only:  ${r}`)].join('\n');
}

function providerRows(id: (local: string) => string, files: DayFiles): { orders: ProviderOrder[]; bills: ProviderBill[] } {
  return {
    orders: files.orders.map((o) => ({
      id: id(o.orderId), ref: o.ref, status: o.statusText, amount: yuan(o.amountFen)!, fee: yuan(o.feeFen) ?? '',
      channel: o.channel, created: o.created, finished: o.finished,
    })),
    bills: files.bills.map((b) => ({ id: id(b.orderId), ref: b.ref, billRef: b.billRef, type: b.type, status: b.statusText, amount: yuan(b.amountFen)! })),
  };
}

/**
 * Plays `h` (dealer A), and `g` (dealer B) when given, on one database, their runs taken in
 * turn, and after every run compares both dealers' rows: a run of one dealer must leave the
 * other's findings as its own history says. Each dealer has its own 商户订单号 (the ledger's
 * order_id is the table's primary key, CONTRACT section 2, so no two dealers share one). The
 * first run after which a dealer's engine rows and model rows differ, or null.
 */
export async function playHistory(db: DatabaseHandle, h: History, g: History | null = null): Promise<Mismatch | null> {
  const a = await Scenario.create(db);
  const b = g === null ? null : await Scenario.create(db);
  try {
    const players = [{ dealer: 'A' as const, s: a, h }, ...(b && g ? [{ dealer: 'B' as const, s: b, h: g }] : [])].map((p) => {
      const ledger = ledgerOf(p.h);
      return { ...p, ledger, model: new ReferenceModel(ledger, ratesOf(p.h)), runs: runsOf(p.h) };
    });
    for (const p of players) {
      const id = (local: string) => p.s.id(local);
      if (p.h.rate) await p.s.feeRate(rateText(p.h.rate.rate100k), dayDate(p.h.rate.fromDay));
      await p.s.ledger(p.ledger.map((l) => ({ id: id(l.orderId), amount: yuan(l.amountFen)!, status: l.status, created: l.created })), dayDate(0));
    }
    const steps = Math.max(...players.map((p) => p.runs.length));
    for (let step = 1; step <= steps; step++) {
      for (const p of players) {
        const run = p.runs[step - 1];
        if (!run) continue;
        const id = (local: string) => p.s.id(local);
        const files = filesOf(p.h, run.day, run.version);
        const { orders, bills } = providerRows(id, files);
        // The provider's folder holds the days run from it, as served then: its live answers
        // give the ref of the order's latest row there.
        if (run.action === 'run') p.s.writeDay(run.date, orders, bills);
        // The double answers live from live.json (every order of the history named, so that it
        // never reads an answer from a day's folder); every candidate asked at every run.
        writeFileSync(join(p.s.dir, 'live.json'), JSON.stringify(Object.fromEntries(
          Object.entries(liveJson(run.live)).map(([local, answer]) => [id(local), answer]))));
        const followUp = { concurrency: 1, max: 1000, reaskAfterHours: 0 };
        const retain = run.retain === undefined ? {} : { retainDays: run.retain };
        if (run.action === 'prune') {
          await db.withSession((session) => pruneDealer(session, p.s.dealerId, {
            config: { retainDays: run.retain ?? 1, archiveRetainDays: null, archiveDir: p.s.archiveDir },
            dryRun: false, now: DateTime.now().setZone('Asia/Shanghai'), log: silentLog, lockTimeoutMs: 10_000,
          }));
          p.model.prune(run.retain ?? 1);
        } else {
          const ok = run.action === 'archive' ? p.model.runFromArchive(run.date)
            : run.action === 'followUp' ? p.model.followUpRun(run.date, run.live)
              : (p.model.run(run.date, files, run.live), true);
          // A run the model says fails (an archive run of a day never ingested, a follow-up of
          // a day never ingested or pruned) must fail on the engine too, changing nothing.
          const failed = await p.s.run(run.date, {
            followUp, ...retain,
            ...(run.action === 'archive' ? { source: 'archive' as const } : run.action === 'followUp' ? { mode: 'follow-up' as const } : {}),
          }).then(() => false, () => true);
          if (failed !== !ok) {
            return { dealer: p.dealer, step, date: run.date, onlyEngine: [`the run ${failed ? 'failed' : 'succeeded'}`], onlyModel: [`the run ${ok ? 'succeeds' : 'fails'}`] };
          }
          if (ok) p.model.prune(run.retain ?? DEFAULT_RETAIN_DAYS);
        }
        // Every dealer's rows after every run: a run of one dealer must leave the other's as they were.
        for (const q of players) {
          const m = await compare(q.s, q.model);
          if (m) return { dealer: q.dealer, step, date: run.date, ...m };
        }
      }
    }
    return null;
  } finally {
    await a.stop();
    await b?.stop();
  }
}

/** The dealer's recon.discrepancies against the model's rows, open and resolved. */
async function compare(s: Scenario, model: ReferenceModel): Promise<{ onlyEngine: RowKey[]; onlyModel: RowKey[] } | null> {
  const engine = (await s.discrepancies('true'))
    .filter((d) => (MODELLED_KINDS as readonly string[]).includes(d.kind))
    .map((d) => key({ ...d, order_id: d.order_id === null ? null : d.order_id.slice(s.prefix.length) }));
  const expected = model.rows.map((r) => key({
    kind: r.kind, severity: r.severity, business_date: r.businessDate, order_id: r.orderId, provider_ref: r.providerRef,
    ledger_amount: yuan(r.ledgerFen), provider_amount: yuan(r.providerFen), status: r.status,
  }));
  const onlyEngine = multisetMinus(engine, expected);
  const onlyModel = multisetMinus(expected, engine);
  return onlyEngine.length + onlyModel.length > 0 ? { onlyEngine, onlyModel } : null;
}

/** The sandbox's live.json: 1/0 (claimed), 9/213 (returned, CONTRACT's 退汇) or 2018. */
function liveJson(live: Map<string, LiveReply>): Record<string, string | Record<string, unknown>> {
  return Object.fromEntries([...live].map(([id, l]) => [id, l.answer === 'not_found' ? 'not_found' : {
    ...(l.answer === 'claimed'
      ? { status: 1, status_detail: 0, status_message: '已打款', status_detail_message: '成功' }
      : { status: 9, status_detail: 213, status_message: '打款失败(已退款,退汇或者冲正)', status_detail_message: '系统打款和经纪公司打款都失败' }),
    pay: yuan(l.amountFen),
  }]));
}

function multisetMinus(a: string[], b: string[]): string[] {
  const left = [...b];
  return a.filter((x) => {
    const i = left.indexOf(x);
    if (i < 0) return true;
    left.splice(i, 1);
    return false;
  }).sort();
}
