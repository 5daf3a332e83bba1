import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { openPglite } from '../../src/db/connection.js';
import { migrate } from '../../src/db/migrator.js';
import { yesterdayInShanghai } from '../../src/cli/business-date.js';
import { buildReportPage } from '../../src/recon/report/page.js';
import { openInChromium } from './browser.js';
import { buildHistory } from './report-history.js';
import { benchReportPage } from './report-bench.js';

/**
 * Two uses, both by hand (neither is a test):
 *
 * --screenshot FILE regenerates docs/report.png: a month of generated days (report-history.ts) run through the
 * job on an in-memory embedded database, the page of the last day rendered in Chinese, and a
 * full-page screenshot from headless Chromium. Chinese text needs a CJK font (Debian:
 * fonts-noto-cjk).
 *
 *   npm run bench:page -- --screenshot docs/report.png [--lang en] [--html KEEP.html]
 *
 * --bench measures the page of a 1,000,000-order day with 700 open findings on the Postgres
 * of DATABASE_URL (report-bench.ts): the report's queries, the rendering, the page's weight,
 * and how long Chromium takes to show it.
 *
 *   DATABASE_URL=postgres://... npm run bench:page -- --bench [--orders N] [--open N]
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      screenshot: { type: 'string' }, lang: { type: 'string' }, width: { type: 'string' }, html: { type: 'string' },
      bench: { type: 'boolean' }, orders: { type: 'string' }, open: { type: 'string' },
    },
  });
  if (values.bench) {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('--bench needs DATABASE_URL (a Postgres it may create a database in)');
    await benchReportPage(url, { orders: Number(values.orders ?? 1_000_000), open: Number(values.open ?? 700), html: values.html });
    return;
  }
  const out = resolve(values.screenshot ?? 'docs/report.png');
  mkdirSync(dirname(out), { recursive: true });
  const lang = values.lang === 'en' ? 'en' : 'zh';
  const log = pino({ level: 'silent' });
  const db = await openPglite(null);
  const dir = mkdtempSync(join(tmpdir(), 'yzh-report-shot-'));
  try {
    await db.withSession((s) => migrate(s, log));
    const end = yesterdayInShanghai();
    const history = await buildHistory(db, { dealerId: 'demo-dealer', end, days: 30, log });
    const html = await db.withSession((s) => buildReportPage(s, { dealerId: history.dealerId, from: end, to: end, lang }));
    const file = values.html === undefined ? join(dir, 'report.html') : resolve(values.html);
    writeFileSync(file, html);
    const opened = await openInChromium(file, { width: Number(values.width ?? 1280), height: 900 });
    try {
      if (opened.errors.length > 0 || opened.requests.length > 0) throw new Error(`page errors ${JSON.stringify(opened.errors)}, requests ${JSON.stringify(opened.requests)}`);
      // The whole page as it looks once scrolled through: the sections below the first screen
      // are otherwise laid out only when scrolled to.
      await opened.page.addStyleTag({ content: '#open,#run-health,#glossary{content-visibility:visible}' });
      await opened.page.screenshot({ path: out, fullPage: true });
    } finally {
      await opened.close();
    }
    process.stdout.write(`${out}: ${history.days.length} days (${history.failedDays.length} without files), page ${Buffer.byteLength(html)} bytes\n`);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
