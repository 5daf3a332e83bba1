import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, openInChromium } from '../bench/browser.js';
import { seedFixtureLedger } from '../../src/db/seed.js';
import { buildReportPage } from '../../src/recon/report/page.js';
import { runDay } from '../../src/recon/runs/run-day.js';
import { freshDatabase, type TestDatabase } from '../helpers/db.js';
import { client, FIXTURE_DATE, KEYS, silentLog, startSandbox } from '../helpers/provider.js';

let chromium: string | null = null;
try {
  chromium = chromiumPath();
} catch {
  console.log('finance page browser test: no Chromium (apt-get install chromium; .ci/run installs it)');
}

interface Box { id: string; width: number; height: number; bars: number; tallest: number }

describe.skipIf(chromium === null)('the finance page in headless Chromium', () => {
  let db: TestDatabase;
  let dir: string;
  const pages: Record<string, string> = {};
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yzh-browser-'));
    db = await freshDatabase('pglite');
    const sandbox = await startSandbox();
    const c = client(sandbox);
    try {
      await db.handle.withSession(seedFixtureLedger);
      await runDay({ db: db.handle, client: c, config: { lockTimeoutMs: 10_000, tmpDir: dir, archiveDir: join(dir, 'archive') }, log: silentLog },
        { dealerId: KEYS.dealerId, date: FIXTURE_DATE, trigger: 'manual' });
    } finally {
      await c.close();
      await sandbox.stop();
    }
    // A finding whose order id carries a right-to-left override: applied, ORD<U+202E>1234 shows as ORD4321.
    await db.handle.withSession((s) => s.query(
      `insert into recon.discrepancies (dealer_id, business_date, kind, severity, order_id, ledger_amount, details, first_seen_run_id, last_seen_run_id, ack_by)
       select dealer_id, business_date, 'missing_at_provider', 'critical', 'ORD\u202e1234', 1, '{}', id, id, 'li\u200bna'
         from recon.runs where dealer_id = $1 order by id desc limit 1`, [KEYS.dealerId]));
    for (const lang of ['zh', 'en'] as const) {
      const file = join(dir, `report-${lang}.html`);
      writeFileSync(file, await db.handle.withSession((s) => buildReportPage(s, { dealerId: KEYS.dealerId, from: FIXTURE_DATE, to: FIXTURE_DATE, lang })));
      pages[lang] = file;
    }
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const measure = `[...document.querySelectorAll('svg.chart')].map((svg) => {
    const r = svg.getBoundingClientRect();
    const bars = [...svg.querySelectorAll('rect.bar')].map((b) => b.getBoundingClientRect().height);
    return { id: svg.id, width: r.width, height: r.height, bars: bars.length, tallest: Math.max(0, ...bars) };
  })`;

  it('shows a bidirectional control in an order id as ⟨U+202E⟩, so that the id reads as it is', async () => {
    const opened = await openInChromium(pages.zh!);
    try {
      const shown = (await opened.page.evaluate(`[...document.querySelectorAll('#open-findings tbody tr')]
        .map((r) => r.querySelector('td:nth-child(5)').innerText).filter((t) => t.startsWith('ORD'))`)) as string[];
      expect(shown).toEqual(['ORD⟨U+202E⟩1234']);
      const ack = String(await opened.page.evaluate(`[...document.querySelectorAll('#open-findings tbody tr td.ack')].map((c) => c.innerText).join('|')`));
      expect(ack).toContain('li⟨U+200B⟩na');
      expect(ack).not.toMatch(/[\u202e\u200b]/u);
    } finally {
      await opened.close();
    }
  });

  it.each(['zh', 'en'])('opens from file:// (%s) with no console error, no network request, and charts of non-zero size, on screen and in print', async (lang) => {
    const opened = await openInChromium(pages[lang]!);
    try {
      expect(opened.errors).toEqual([]);
      expect(opened.requests).toEqual([]);
      for (const media of ['screen', 'print'] as const) {
        // In print, the width of A4 less its margins at 96 dpi.
        if (media === 'print') await opened.page.setViewport({ width: 718, height: 1000 });
        await opened.page.emulateMediaType(media);
        const boxes = (await opened.page.evaluate(measure)) as Box[];
        expect(boxes.map((b) => b.id), media).toEqual(['chart-by-kind', 'chart-at-risk']);
        for (const b of boxes) {
          expect(b.width, `${media} ${b.id}`).toBeGreaterThan(300);
          expect(b.height, `${media} ${b.id}`).toBeGreaterThan(100);
          expect(b.bars, `${media} ${b.id}`).toBeGreaterThan(0);
          expect(b.tallest, `${media} ${b.id}`).toBeGreaterThan(10);
        }
      }
      // It prints on A4, whole: nothing, the table of findings included, runs past the right edge.
      const pdf = await opened.page.pdf({ format: 'A4', printBackground: true });
      expect(Buffer.from(pdf).subarray(0, 5).toString()).toBe('%PDF-');
      const overflow = Number(await opened.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'));
      expect(overflow).toBeLessThanOrEqual(0);
      expect(opened.errors).toEqual([]);
      expect(opened.requests).toEqual([]);
    } finally {
      await opened.close();
    }
  });
});
