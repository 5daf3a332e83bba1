import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { openPostgres } from '../../src/db/connection.js';
import { migrate } from '../../src/db/migrator.js';
import { renderReportPage } from '../../src/recon/report/html.js';
import { HISTORY_DAYS, OPEN_LIMIT } from '../../src/recon/report/page.js';
import { selectPageData } from '../../src/recon/report/page-data.js';
import { openInChromium } from './browser.js';

/**
 * The finance page of a large day. The day is seeded in SQL, not run: N order rows, 2N bill
 * rows and N ledger rows for the day, a month of runs and files, `open` open findings on the
 * day and a few hundred older ones, some resolved. What is measured is the page, not the run:
 * the report's queries (three times), the rendering, the page's size, and Chromium opening it
 * from a file (five times).
 */

const DEALER = 'bench-report';
const DAY = '2024-06-30';
const KINDS = ['missing_in_ledger', 'missing_at_provider', 'amount_mismatch', 'status_mismatch', 'refund_unrecorded',
  'duplicate_provider_order', 'bill_amount_mismatch', 'order_without_bill', 'unresolved_provider_status', 'fee_mismatch'];

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await work();
  return [value, performance.now() - started];
}

export async function benchReportPage(adminUrl: string, options: { orders: number; open: number; html?: string | undefined }): Promise<void> {
  const log = pino({ level: 'silent' });
  const name = 'yzh_report_bench';
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = openPostgres(url.toString());
  const dir = mkdtempSync(join(tmpdir(), 'yzh-report-bench-'));
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const n = options.orders;
    const [, seedMs] = await timed(() => db.withSession(async (s) => {
      await migrate(s, log);
      // A month of runs, one a day, the last for the big day.
      await s.query(
        `insert into recon.runs (dealer_id, business_date, trigger, status, started_at, finished_at, order_rows, bill_rows, summary)
         select $1, d::date, 'schedule', 'succeeded', d + interval '16 hours 50 minutes', d + interval '16 hours 51 minutes', $3, 2 * $3, '{}'
           from generate_series($2::date - 29, $2::date, interval '1 day') d order by d`,
        [DEALER, DAY, n]);
      await s.query(
        `insert into recon.provider_files (dealer_id, business_date, kind, sha256, bytes, row_count, generated_at, run_id)
         select r.dealer_id, r.business_date, k, md5(k || r.id) || md5(r.id || k), 40000000, r.order_rows, r.started_at - interval '5 minutes', r.id
           from recon.runs r cross join (values ('order'), ('bill')) v(k)`);
      await s.query(
        `insert into recon.provider_orders (dealer_id, business_date, line, order_id, provider_ref, name_masked, broker_id, status_text, status,
                                            channel, amount, fee, created_at, finished_at)
         select $1, $2::date, g + 1, 'B' || g, 'R' || g, '张**', 'yiyun01',
                case when g % 97 = 0 then '失败' else '成功' end, case when g % 97 = 0 then 'failed' when g % 331 = 0 then 'returned' else 'paid' end,
                '银行卡', (100 + g % 500000)::numeric / 100, round((100 + g % 500000)::numeric / 100 * 0.07, 2),
                $2::date::timestamptz + (g % 86400) * interval '1 second', $2::date::timestamptz + (g % 86400) * interval '1 second'
           from generate_series(1, $3) g`,
        [DEALER, DAY, n]);
      await s.query(
        `insert into recon.provider_bills (dealer_id, business_date, line, order_id, provider_ref, bill_ref, bill_type, bill_status, broker_id, amount)
         select $1, $2::date, 2 * g + t, 'B' || g, 'R' || g, 'L' || g || '-' || t, case t when 0 then 'payout' else 'payout_fee' end, 'succeeded', 'yiyun01',
                case t when 0 then (100 + g % 500000)::numeric / 100 else round((100 + g % 500000)::numeric / 100 * 0.07, 2) end
           from generate_series(1, $3) g cross join generate_series(0, 1) t`,
        [DEALER, DAY, n]);
      await s.query(
        `insert into recon.ledger_payouts (order_id, dealer_id, broker_id, channel, amount, status, created_at)
         select 'B' || g, $1, 'yiyun01', 'bankcard', (100 + g % 500000)::numeric / 100, case when g % 97 = 0 then 'failed' else 'paid' end,
                ($2::date::timestamp at time zone 'Asia/Shanghai') + (g % 86400) * interval '1 second'
           from generate_series(1, $3) g`,
        [DEALER, DAY, n]);
      // The day's open findings, and a month of older ones (a third resolved).
      await s.query(
        `insert into recon.discrepancies (dealer_id, business_date, kind, severity, order_id, provider_ref, ledger_amount, provider_amount,
                                          details, status, first_seen_run_id, last_seen_run_id, resolved_run_id, resolved_at)
         select $1, r.business_date, ($4::text[])[1 + g % array_length($4::text[], 1)],
                case when g % 3 = 0 then 'warning' else 'critical' end, 'B' || (g * 1013 % $3 + 1), 'R' || g,
                (100 + g)::numeric / 100 * 10, (100 + g)::numeric / 100 * 10 + case when g % 2 = 0 then 1 else 0 end,
                jsonb_build_object('provider_status', 'paid', 'ledger_status', 'submitted'),
                case when r.business_date < $2::date and g % 3 = 1 then 'resolved' else 'open' end, r.id, last.id,
                case when r.business_date < $2::date and g % 3 = 1 then last.id end,
                case when r.business_date < $2::date and g % 3 = 1 then last.finished_at end
           from recon.runs r
           cross join lateral (select id, finished_at from recon.runs where dealer_id = $1 order by id desc limit 1) last
           cross join lateral generate_series(1, case when r.business_date = $2::date then $5 else 12 end) g`,
        [DEALER, DAY, n, KINDS, options.open]);
    }));
    const [[counts]] = await db.withSession(async (s) => [(await s.query<{ open_day: number; open_all: number; findings: number }>(
      `select count(*) filter (where status = 'open' and business_date = $2)::int as open_day,
              count(*) filter (where status = 'open')::int as open_all, count(*)::int as findings
         from recon.discrepancies where dealer_id = $1`, [DEALER, DAY])).rows]);
    out(`seeded in ${(seedMs / 1000).toFixed(1)} s: ${n} order rows, ${2 * n} bill rows, ${n} ledger rows on ${DAY}; ` +
      `${counts!.open_day} open findings on the day, ${counts!.open_all} open and ${counts!.findings} in all over ${HISTORY_DAYS} days`);

    const request = { dealerId: DEALER, from: DAY, to: DAY, historyDays: HISTORY_DAYS, openLimit: OPEN_LIMIT };
    for (const phase of ['before analyze', 'after analyze']) {
      if (phase === 'after analyze') await db.withSession((s) => s.exec('analyze recon.provider_orders; analyze recon.provider_bills; analyze recon.ledger_payouts; analyze recon.discrepancies'));
      const times: string[] = [];
      for (let i = 0; i < 3; i++) {
        const [, ms] = await timed(() => db.withSession((s) => selectPageData(s, request)));
        times.push(`${Math.round(ms)} ms`);
      }
      out(`report queries (${phase}): ${times.join(', ')}`);
    }
    const [data] = await timed(() => db.withSession((s) => selectPageData(s, request)));
    const [html, renderMs] = await timed(() => Promise.resolve(renderReportPage(data, { lang: 'zh', now: new Date() })));
    const file = options.html === undefined ? join(dir, 'report.html') : resolve(options.html);
    writeFileSync(file, html);
    out(`render: ${Math.round(renderMs)} ms; page ${statSync(file).size} bytes (${(statSync(file).size / 1024 / 1024).toFixed(2)} MiB), ${data.open.length} open findings listed`);
    const loads: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [opened, wallMs] = await timed(async () => {
        const o = await openInChromium(file);
        // Wait for the first frame after load: the page is laid out and painted.
        await o.page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
        return o;
      });
      try {
        const paint = Number(await opened.page.evaluate(
          '(() => { const p = performance.getEntriesByName("first-contentful-paint")[0]; return p ? p.startTime : -1; })()'));
        if (opened.errors.length > 0 || opened.requests.length > 0) throw new Error(`page errors ${JSON.stringify(opened.errors)}, requests ${JSON.stringify(opened.requests)}`);
        // The main thread's own work for the page (style, layout, script), from the DevTools metrics.
        const m = await opened.page.metrics();
        loads.push(opened.loadMs);
        out(`chromium ${i + 1}: load event ${Math.round(opened.loadMs)} ms, first contentful paint ${Math.round(paint)} ms, ` +
          `main-thread tasks ${Math.round((m.TaskDuration ?? 0) * 1000)} ms (layout ${Math.round((m.LayoutDuration ?? 0) * 1000)} ms, ` +
          `style ${Math.round((m.RecalcStyleDuration ?? 0) * 1000)} ms), browser start + load + first frame ${Math.round(wallMs)} ms`);
      } finally {
        await opened.close();
      }
    }
    loads.sort((a, b) => a - b);
    out(`chromium load event: median ${Math.round(loads[2]!)} ms, fastest ${Math.round(loads[0]!)} ms, slowest ${Math.round(loads[4]!)} ms`);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`drop database if exists ${name} with (force)`);
    await c.end();
  }
}
