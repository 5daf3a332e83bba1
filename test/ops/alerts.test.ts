import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { reconciledDays, type ReconciledDays } from '../../src/recon/runs/metrics.js';
import { ENGINES, freshDatabase, type TestDatabase } from '../helpers/db.js';

const RULES = resolve('k8s/monitoring/yzh-recon-rules.yaml');
const ZONE = 'Asia/Shanghai';
const ALERT = 'YzhReconYesterdayNotReconciled';
const DEALER = 'alert-dealer';

function hasPromtool(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, 'promtool')));
}
const PROMTOOL = hasPromtool();
if (!PROMTOOL) console.log('promtool is not installed (Debian package prometheus): the alert rules are not evaluated');

/**
 * A week of scheduled runs as the CronJobs make them, with two bad days. promtool's clock
 * starts at the Unix epoch, so the week is in January 1970 (Asia/Shanghai was UTC+8 then too).
 */
interface SimulatedRun { businessDate: string; start: DateTime; minutes: number; ok: boolean }

function week(): SimulatedRun[] {
  const runs: SimulatedRun[] = [];
  const first = DateTime.fromISO('1970-01-02', { zone: ZONE });
  for (let d = 0; d <= 8; d++) {
    const today = first.plus({ days: d });
    const yesterday = today.minus({ days: 1 }).toISODate()!;
    for (const [hour, minute] of [[3, 50], [11, 50], [16, 50]] as const) {
      // The 16:50 run of the 5th fails; a person re-runs it at 20:10.
      // Every run of the 7th fails (a provider outage); the day is back-filled at 09:00 on the 8th.
      const ok = !(today.day === 5 && hour === 16) && today.day !== 7;
      runs.push({ businessDate: yesterday, start: today.set({ hour, minute }), minutes: 3, ok });
    }
    if (today.day === 5) runs.push({ businessDate: yesterday, start: today.set({ hour: 20, minute: 10 }), minutes: 3, ok: true });
    if (today.day === 8) {
      runs.push({ businessDate: today.minus({ days: 2 }).toISODate()!, start: today.set({ hour: 9, minute: 0 }), minutes: 3, ok: true });
    }
  }
  return runs.sort((a, b) => a.start.toMillis() - b.start.toMillis());
}

/**
 * The rule's meaning, stated independently of its PromQL: at 17:30 Beijing time yesterday is
 * due, before that the day before; it is met by a successful run started at or after 16:45 on
 * the day after it, known once that run has ended.
 */
function shouldPage(at: DateTime, runs: SimulatedRun[]): boolean {
  const local = at.setZone(ZONE);
  const due = local.startOf('day').minus({ days: local.hour * 60 + local.minute >= 17 * 60 + 30 ? 1 : 2 });
  const dueDate = due.toISODate();
  const finalFrom = due.plus({ days: 1 }).set({ hour: 16, minute: 45 }).toMillis();
  const now = at.toMillis();
  const met = runs.some((r) => r.ok && r.businessDate === dueDate
    && r.start.toMillis() >= finalFrom && r.start.toMillis() + r.minutes * 60_000 <= now);
  return !met;
}

/** From the first day's final run on, when the day before has been reconciled. */
function watchFrom(runs: SimulatedRun[]): DateTime {
  return runs[0]!.start.plus({ hours: 13, minutes: 40 });
}

describe('alert rules', () => {
  it('docs/operations.md shows the rules file as it is', () => {
    const doc = readFileSync('docs/operations.md', 'utf8');
    const block = /```yaml\n(# Prometheus alerting rules[\s\S]*?)```/.exec(doc);
    expect(block?.[1]).toBe(readFileSync(RULES, 'utf8'));
  });

  it('the simulated week pages exactly in its two bad windows', () => {
    const runs = week();
    const paging: string[] = [];
    let was = false;
    for (let t = watchFrom(runs); t < runs.at(-1)!.start.plus({ days: 1 }); t = t.plus({ minutes: 5 })) {
      const now = shouldPage(t, runs);
      if (now !== was) paging.push(`${now ? 'from' : 'until'} ${t.setZone(ZONE).toFormat('dd HH:mm')}`);
      was = now;
    }
    expect(paging).toEqual(['from 05 17:30', 'until 05 20:15', 'from 07 17:30', 'until 08 09:05']);
  });
});

describe.each(ENGINES)('the last-final-day gauge over a simulated week on %s', (engine) => {
  let db: TestDatabase;
  const dir = mkdtempSync(join(tmpdir(), 'yzh-alerts-'));
  beforeAll(async () => {
    db = await freshDatabase(engine);
  });
  afterAll(async () => {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!PROMTOOL)('promtool pages when the independent statement of the rule says so, and only then', async () => {
    const runs = week();
    // The gauge as each run's push leaves it: reconciledDays() read after the run ended.
    const pushes: { at: DateTime; days: ReconciledDays }[] = [];
    for (const r of runs) {
      const end = r.start.plus({ minutes: r.minutes });
      const days = await db.handle.withSession(async (s) => {
        await s.query(
          `insert into recon.runs (dealer_id, business_date, trigger, status, started_at, finished_at)
           values ($1, $2, 'schedule', $3, $4, $5)`,
          [DEALER, r.businessDate, r.ok ? 'succeeded' : 'failed', r.start.toJSDate(), end.toJSDate()]);
        return reconciledDays(s, DEALER);
      });
      pushes.push({ at: end, days });
    }
    const step = 5;
    const last = runs.at(-1)!.start.plus({ days: 1 });
    const values: string[] = [];
    for (let m = 0; m * step * 60_000 <= last.toMillis(); m++) {
      const at = m * step * 60_000;
      const pushed = pushes.filter((p) => p.at.toMillis() <= at).at(-1);
      const final = pushed?.days.lastFinal;
      values.push(final == null ? '_' : String(DateTime.fromISO(final, { zone: ZONE }).toSeconds()));
    }
    const evalTimes: DateTime[] = [];
    for (let t = watchFrom(runs); t < last; t = t.plus({ minutes: 30 })) evalTimes.push(t);
    const tests = {
      rule_files: [RULES],
      evaluation_interval: '1m',
      tests: [{
        interval: `${step}m`,
        input_series: [{ series: `yzh_recon_last_final_business_date_seconds{dealer_id="${DEALER}"}`, values: values.join(' ') }],
        alert_rule_test: evalTimes.map((t) => ({
          eval_time: `${Math.round(t.toMillis() / 60_000)}m`,
          alertname: ALERT,
          exp_alerts: shouldPage(t, runs)
            ? [{
                exp_labels: { severity: 'page', dealer_id: DEALER },
                exp_annotations: { summary: `yzh-recon: yesterday's final files are not reconciled (${DEALER})` },
              }]
            : [],
        })),
      }],
    };
    expect(evalTimes.filter((t) => shouldPage(t, runs)).length).toBeGreaterThan(4);
    const file = join(dir, `week-${engine}.yaml`);
    writeFileSync(file, stringify(tests));
    const result = await promisify(execFile)('promtool', ['test', 'rules', file]).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
    expect(result.out).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });
});
