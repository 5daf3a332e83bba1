import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseHTML } from 'linkedom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHistory } from '../../bench/report-history.js';
import { seedFixtureLedger } from '../../../src/db/seed.js';
import { runDay } from '../../../src/recon/runs/run-day.js';
import { KINDS, LABELS, SEVERITIES } from '../../../src/recon/report/labels.js';
import { formatAmount, formatCount, formatYuan, toFen } from '../../../src/recon/report/money.js';
import { buildReportPage } from '../../../src/recon/report/page.js';
import { ENGINES, freshDatabase, type TestDatabase } from '../../helpers/db.js';
import { client, FIXTURE_DATE, KEYS, silentLog, startSandbox } from '../../helpers/provider.js';

const HISTORY_DEALER = 'history-dealer';
const HISTORY_END = '2024-06-30';
const NOW = new Date('2024-07-01T01:30:00Z');

// What the tests read of linkedom's document. Its own types name the DOM's (Window, Element),
// which tsconfig.json's lib leaves out, and would be any here.
interface El {
  readonly tagName: string;
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selectors: string): El | null;
  querySelectorAll(selectors: string): ArrayLike<El> & Iterable<El>;
}
type Doc = Pick<El, 'querySelector' | 'querySelectorAll'> & { readonly documentElement: El };
const text = (el: { textContent: string | null } | null | undefined) => (el?.textContent ?? '').replace(/\s+/g, ' ').trim();
const cells = (doc: Doc, rowId: string) => [...doc.querySelectorAll(`#${rowId} td`)].map(text);

/** Everything the page must not have: a URL to anything outside the page itself. */
function externalReferences(html: string, doc: Doc): string[] {
  const found: string[] = [];
  for (const m of html.matchAll(/(?:https?|ftp|file|data|javascript):|\/\/[\w-]+(?:\.[\w-]+)+/gi)) found.push(m[0]);
  for (const m of html.matchAll(/url\(\s*(['"]?)(?!#)[^)]*\)|@import/gi)) found.push(m[0]);
  for (const el of doc.querySelectorAll('*')) {
    for (const attr of ['src', 'srcset', 'href', 'xlink:href', 'action', 'poster', 'background']) {
      const v = el.getAttribute(attr);
      if (v !== null && !v.startsWith('#')) found.push(`${el.tagName} ${attr}=${v}`);
    }
  }
  for (const tag of ['script', 'link', 'iframe', 'img', 'object', 'embed', 'base', 'video', 'audio']) {
    if (doc.querySelector(tag) !== null) found.push(`<${tag}>`);
  }
  return found;
}

/** Every label, in both languages, with the same keys, none empty. */
function flatten(value: unknown, path: string, out: Map<string, string>): void {
  if (typeof value === 'function') {
    out.set(path, String((value as (...a: unknown[]) => unknown)('12', '3,456.78')));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) flatten(v, `${path}.${k}`, out);
  } else {
    out.set(path, String(value));
  }
}

describe.each(ENGINES)('the finance page (%s)', (engine) => {
  let db: TestDatabase;
  let sandbox: Awaited<ReturnType<typeof startSandbox>>;
  let archive: string | undefined;
  const q = async <R>(sql: string, params: unknown[] = []) => (await db.handle.withSession((s) => s.query<R>(sql, params))).rows;
  const page = async (dealerId: string, day: string, lang: 'zh' | 'en') => {
    const html = await db.handle.withSession((s) => buildReportPage(s, { dealerId, from: day, to: day, lang, now: NOW }));
    return { html, doc: (parseHTML(html) as unknown as { document: Doc }).document };
  };

  beforeAll(async () => {
    db = await freshDatabase(engine);
    sandbox = await startSandbox();
    await db.handle.withSession(seedFixtureLedger);
    const c = client(sandbox);
    archive = mkdtempSync(join(tmpdir(), 'yzh-report-archive-'));
    await runDay({ db: db.handle, client: c, config: { lockTimeoutMs: 10_000, tmpDir: archive, archiveDir: archive }, log: silentLog },
      { dealerId: KEYS.dealerId, date: FIXTURE_DATE, trigger: 'manual' });
    await c.close();
    await buildHistory(db.handle, { dealerId: HISTORY_DEALER, end: HISTORY_END, days: 30, missingDay: 21, log: silentLog });
  }, 600_000);
  afterAll(async () => {
    await sandbox?.stop();
    await db?.drop();
    if (archive !== undefined) rmSync(archive, { recursive: true, force: true });
  });

  /** The page's numbers against the database's own, read here with plain SQL and the finance views. */
  async function expectNumbersOfTheDatabase(doc: Doc, dealerId: string, day: string, lang: 'zh' | 'en'): Promise<void> {
    const [o] = await q<Record<string, string>>(
      `select count(*)::text as rows, sum(amount)::text as amount,
              count(*) filter (where status in ('paid', 'paid_pending_claim'))::text as paid,
              coalesce(sum(amount) filter (where status in ('paid', 'paid_pending_claim')), 0)::text as paid_amount,
              count(*) filter (where status = 'returned')::text as returned,
              coalesce(sum(amount) filter (where status = 'returned'), 0)::text as returned_amount,
              coalesce(sum(fee) filter (where status in ('paid', 'paid_pending_claim')), 0)::text as fees
         from recon.provider_orders where dealer_id = $1 and business_date = $2`, [dealerId, day]);
    expect(cells(doc, 'glance-orders')).toEqual([
      formatCount(BigInt(o!.rows!)), formatAmount(o!.amount), formatCount(BigInt(o!.paid!)), formatAmount(o!.paid_amount),
      formatCount(BigInt(o!.returned!)), formatAmount(o!.returned_amount), formatAmount(o!.fees),
    ]);
    const [l] = await q<Record<string, string>>(
      `select count(*)::text as rows, sum(amount)::text as amount, count(*) filter (where status = 'paid')::text as paid,
              coalesce(sum(amount) filter (where status = 'paid'), 0)::text as paid_amount
         from recon.ledger_payouts where dealer_id = $1 and (created_at at time zone 'Asia/Shanghai')::date = $2`, [dealerId, day]);
    expect(cells(doc, 'glance-ledger').slice(0, 4)).toEqual([
      formatCount(BigInt(l!.rows!)), formatAmount(l!.amount), formatCount(BigInt(l!.paid!)), formatAmount(l!.paid_amount),
    ]);
    const [b] = await q<Record<string, string>>(
      `select count(*) filter (where bill_type = 'payout')::text as payouts, coalesce(sum(amount) filter (where bill_type = 'payout'), 0)::text as payout_amount
         from recon.provider_bills where dealer_id = $1 and business_date = $2`, [dealerId, day]);
    expect(cells(doc, 'glance-bills').slice(2, 4)).toEqual([formatCount(BigInt(b!.payouts!)), formatAmount(b!.payout_amount)]);

    // Findings by severity: the day's open findings and their money, from recon.daily_summary.
    const summary = await q<{ business_date: string; kind: string; severity: string; status: string; findings: string; amount: string }>(
      `select business_date::text as business_date, kind, severity, status, findings::text as findings, amount::text as amount
         from recon.daily_summary where dealer_id = $1 and business_date <= $2`, [dealerId, day]);
    for (const severity of SEVERITIES) {
      const open = summary.filter((s) => s.business_date === day && s.severity === severity && s.status === 'open');
      const row = [...doc.querySelectorAll(`#severities tr[data-severity="${severity}"] td`)].map(text);
      expect(row[0], severity).toBe(formatCount(open.reduce((n, s) => n + BigInt(s.findings), 0n)));
      expect(row[1], severity).toBe(formatYuan(open.reduce((n, s) => n + toFen(s.amount), 0n)));
    }
    // Counts per kind and day, and money at risk per day, to the fen, for every day of the chart.
    const byKind = [...doc.querySelectorAll('#table-by-kind tbody tr')];
    expect(byKind.length).toBe(30);
    const kindCols = [...doc.querySelectorAll('#table-by-kind thead th[data-kind]')].map((th) => th.getAttribute('data-kind')!);
    for (const tr of byKind) {
      const d = tr.getAttribute('data-day')!;
      const open = summary.filter((s) => s.business_date === d && s.status === 'open');
      for (const kind of new Set(open.map((s) => s.kind))) expect(kindCols, `${d} ${kind}`).toContain(kind);
      for (const kind of kindCols) {
        const n = open.filter((s) => s.kind === kind).reduce((sum, s) => sum + BigInt(s.findings), 0n);
        expect(text(tr.querySelector(`td[data-kind="${kind}"]`)), `${d} ${kind}`).toBe(formatCount(n));
      }
      // The chart draws the same counts.
      const drawn = [...doc.querySelectorAll(`#chart-by-kind rect.bar[data-day="${d}"]`)].reduce((n, r) => n + Number(r.getAttribute('data-value')), 0);
      expect(drawn, d).toBe(open.reduce((n, s) => n + Number(s.findings), 0));
    }
    for (const tr of doc.querySelectorAll('#table-at-risk tbody tr')) {
      const d = tr.getAttribute('data-day')!;
      const fen = summary.filter((s) => s.business_date === d && s.status === 'open' && s.severity === 'critical').reduce((n, s) => n + toFen(s.amount), 0n);
      expect(text(tr.querySelector('td')), d).toBe(formatYuan(fen));
      const bar = doc.querySelector(`#chart-at-risk rect.bar[data-day="${d}"]`);
      expect(bar === null ? 0n : BigInt(bar.getAttribute('data-fen')!), d).toBe(fen);
    }
    // Open findings: every open one up to the day, each with its amounts as stored.
    const open = await q<{ id: number; ledger_amount: string | null; provider_amount: string | null; ack_by: string | null }>(
      `select id, ledger_amount::text as ledger_amount, provider_amount::text as provider_amount, ack_by
         from recon.open_discrepancies where dealer_id = $1 and business_date <= $2`, [dealerId, day]);
    const rows = [...doc.querySelectorAll('#open-findings tbody tr')];
    const words = LABELS[lang];
    expect(rows.map((r) => Number(r.getAttribute('data-id'))).sort((a, b) => a - b)).toEqual(open.map((r) => r.id).sort((a, b) => a - b));
    for (const r of open) {
      const td = [...doc.querySelectorAll(`#open-findings tr[data-id="${r.id}"] td`)].map(text);
      expect(td[6], `ledger ${r.id}`).toBe(formatAmount(r.ledger_amount));
      expect(td[7], `provider ${r.id}`).toBe(formatAmount(r.provider_amount));
      // The difference: provider minus ledger, with who was paid too much.
      const diff = r.ledger_amount === null || r.provider_amount === null ? null : toFen(r.provider_amount) - toFen(r.ledger_amount);
      expect(td[8], `difference ${r.id}`).toBe(diff === null ? '' : diff === 0n ? '0.00' : `${diff > 0n ? '+' : ''}${formatYuan(diff)}${diff > 0n ? words.overpaid : words.underpaid}`);
      if (r.ack_by !== null) expect(text(doc.querySelector(`#open-findings tr[data-id="${r.id}"] td.ack`))).toContain(r.ack_by);
    }
    expect(text(doc.querySelector('#kpi-backlog .kpi-value'))).toBe(formatCount(open.length));
    // Severity order: critical rows first, then warning, then info.
    const order = rows.map((r) => SEVERITIES.indexOf(r.getAttribute('data-severity') as 'critical'));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  }

  it('shows the fixture day as the database has it, in Chinese by default, with no external URL', async () => {
    const { html, doc } = await page(KEYS.dealerId, FIXTURE_DATE, 'zh');
    expect(doc.documentElement.getAttribute('lang')).toBe('zh-CN');
    expect(externalReferences(html, doc)).toEqual([]);
    await expectNumbersOfTheDatabase(doc, KEYS.dealerId, FIXTURE_DATE, 'zh');
    expect(text(doc.querySelector('#verdict'))).toBe('■ 共 4 项严重差异待处理（各对账日），涉及金额 ¥1,167.00');
    expect(text(doc.querySelector('tr[data-kind="duplicate_provider_order"] td:nth-child(4)'))).toBe('重复付款');
    expect(text(doc.querySelector('#glance-orders th'))).toBe('云账户订单文件');
    // The provider paid 110.00 more than the ledger asked for 2017112705.
    expect(text(doc.querySelector('tr[data-kind="duplicate_provider_order"] td:nth-child(9)'))).toMatch(/^\+110\.00\s*多付$/);
  });

  it('shows a generated month: the charts, the day without a successful run, the acknowledgements', async () => {
    for (const lang of ['zh', 'en'] as const) {
      const { html, doc } = await page(HISTORY_DEALER, HISTORY_END, lang);
      expect(externalReferences(html, doc)).toEqual([]);
      await expectNumbersOfTheDatabase(doc, HISTORY_DEALER, HISTORY_END, lang);
      const failed = await q<{ d: string }>(
        `select business_date::text as d from recon.runs where dealer_id = $1 group by business_date having bool_and(status = 'failed')`, [HISTORY_DEALER]);
      expect(failed.map((f) => f.d)).toEqual(['2024-06-22']);
      expect(text(doc.querySelector('#table-by-kind tr[data-day="2024-06-22"] th'))).toContain(LABELS[lang].noSuccessfulRun);
      expect(doc.querySelectorAll('#chart-by-kind rect.nodata').length).toBe(1);
      expect(doc.querySelectorAll('#table-by-kind tbody th .tag').length).toBe(1);
      expect(doc.querySelectorAll('#open-findings td.ack b').length).toBe(3);
      expect(doc.querySelectorAll('#chart-by-kind rect.bar').length).toBeGreaterThan(30);
    }
  });

  it('has every label in both languages, for every kind the schema allows; the English page has no Chinese of its own', async () => {
    const zh = new Map<string, string>();
    const en = new Map<string, string>();
    flatten(LABELS.zh, '', zh);
    flatten(LABELS.en, '', en);
    expect([...zh.keys()].sort()).toEqual([...en.keys()].sort());
    for (const [k, v] of [...zh, ...en]) expect(v.trim(), k).not.toBe('');
    const [check] = await q<{ def: string }>(
      `select pg_get_constraintdef(oid) as def from pg_constraint
        where conrelid = 'recon.discrepancies'::regclass and contype = 'c' and pg_get_constraintdef(oid) like '%kind%'`);
    const kinds = [...check!.def.matchAll(/'(\w+)'::text/g)].map((m) => m[1]!);
    expect(kinds.length).toBeGreaterThan(10);
    for (const kind of kinds) {
      expect(KINDS, kind).toContain(kind);
      for (const lang of ['zh', 'en'] as const) {
        const t = LABELS[lang].kinds[kind as (typeof KINDS)[number]];
        expect([t.name, t.meaning, t.action].every((x) => x.length > 0), `${lang} ${kind}`).toBe(true);
      }
    }
    const cjk = /[\u3000-\u9fff\uff00-\uffef]/;
    const chrome = 'h1, h2, h3, thead th, figcaption, summary, .kpi-label, .note, .verdict, #glossary td, #glossary tbody th, .sev, .legend li';
    const { doc: enDoc } = await page(HISTORY_DEALER, HISTORY_END, 'en');
    // The English page's own words are English; the provider's own text (its status words) may be Chinese, and is not in these.
    for (const el of enDoc.querySelectorAll(chrome)) expect(text(el), el.tagName).not.toMatch(cjk);
    expect(text(enDoc.querySelector('h1'))).toBe(LABELS.en.title);
    const { doc: zhDoc } = await page(HISTORY_DEALER, HISTORY_END, 'zh');
    for (const el of zhDoc.querySelectorAll(chrome)) {
      const t = text(el);
      if (!/^[#\d\s\-–:.,·]*$/.test(t)) expect(t, el.tagName).toMatch(cjk);
    }
  });

  it('shows the tiles, the runs and the files as the database has them, a day without files included', async () => {
    const l = LABELS.en;
    const days = [[KEYS.dealerId, FIXTURE_DATE], [HISTORY_DEALER, HISTORY_END], [HISTORY_DEALER, '2024-06-22']] as const;
    for (const [dealerId, day] of days) {
      const { doc } = await page(dealerId, day, 'en');
      const at = `${dealerId} ${day}`;
      const tile = (id: string) => ({ value: text(doc.querySelector(`#${id} .kpi-value`)), cls: doc.querySelector(`#${id}`)!.getAttribute('class') });
      const [b] = await q<{ open: number; unacked: number; critical: number }>(
        `select count(*)::int as open, count(*) filter (where ack_by is null)::int as unacked,
                count(*) filter (where severity = 'critical')::int as critical
           from recon.open_discrepancies where dealer_id = $1 and business_date <= $2`, [dealerId, day]);
      const [moved] = await q<{ opened: number; resolved: number }>(
        `select count(*) filter (where f.business_date = $2)::int as opened, count(*) filter (where r.business_date = $2)::int as resolved
           from recon.discrepancies d
           left join recon.runs f on f.id = d.first_seen_run_id
           left join recon.runs r on r.id = d.resolved_run_id
          where d.dealer_id = $1`, [dealerId, day]);
      const severity = [...doc.querySelectorAll('#severities tr[data-severity="critical"] td')].map(text);
      expect(tile('kpi-critical'), at).toEqual({ value: severity[0], cls: `kpi ${severity[0] === '0' ? 'ok' : 'bad'}` });
      expect(tile('kpi-at-risk'), at).toEqual({ value: `¥${severity[1]}`, cls: `kpi ${severity[1] === '0.00' ? 'ok' : 'bad'}` });
      expect(tile('kpi-new').value, at).toBe(formatCount(moved!.opened));
      expect(tile('kpi-resolved').value, at).toBe(formatCount(moved!.resolved));
      expect(tile('kpi-unacked'), at).toEqual({ value: formatCount(b!.unacked), cls: `kpi ${b!.unacked > 0 ? 'warn' : 'ok'}` });
      const verdict = b!.critical > 0 ? 'bad' : b!.open > 0 ? 'warn' : 'ok';
      expect(doc.querySelector('#verdict')!.getAttribute('class'), at).toBe(`verdict ${verdict}`);

      // Runs of the period, newest first, and the merchant's last successful run whatever its day.
      const runs = await q<{ id: number; status: string; error: string | null }>(
        'select id::int as id, status, error from recon.runs where dealer_id = $1 and business_date = $2 order by id desc', [dealerId, day]);
      const shown = [...doc.querySelectorAll('#runs tbody tr')];
      expect(shown.map((r) => [Number(text(r.querySelector('td'))), r.getAttribute('data-status')]), at).toEqual(runs.map((r) => [r.id, r.status]));
      for (const [i, r] of runs.entries()) {
        const cell = text(shown[i]!.querySelector('td:nth-child(3)'));
        expect(cell.startsWith(r.status === 'succeeded' ? '✓' : r.status === 'failed' ? '✕' : '…'), `${at} run ${r.id}`).toBe(true);
        if (r.error !== null) expect(cell, `${at} run ${r.id}`).toContain(r.error.replace(/\s+/g, ' ').slice(0, 40));
      }
      const failed = runs.filter((r) => r.status === 'failed').length;
      expect(text(doc.querySelector('#run-health')), at).toContain(`${l.runsInPeriod}: ${runs.length} · ${l.failedRuns} ${failed}`);
      const [last] = await q<{ id: number; d: string }>(
        `select id::int as id, business_date::text as d from recon.runs where dealer_id = $1 and status = 'succeeded' order by finished_at desc limit 1`, [dealerId]);
      expect(text(doc.querySelector('#run-health p')), at).toContain(l.runOf(last!.id, last!.d));

      // The day's files, the latest of each kind.
      const files = await q<{ kind: string; sha256: string; row_count: number }>(
        `select kind, sha256, row_count::int as row_count from recon.provider_files f
          where dealer_id = $1 and business_date = $2
            and id = (select max(id) from recon.provider_files g where g.dealer_id = f.dealer_id and g.business_date = f.business_date and g.kind = f.kind)
          order by kind desc`, [dealerId, day]);
      const fileRows = [...doc.querySelectorAll('#files tbody tr')].map((r) => [...r.querySelectorAll('td')].map(text));
      expect(fileRows.map((c) => [c[0], c[1], c[2], c[4]]), at).toEqual(files.map((f) => [
        f.kind === 'order' ? l.orderFile : l.billFile, day, formatCount(f.row_count), f.sha256.slice(0, 12)]));
      if (files.length === 0) expect(text(doc.querySelector('#run-health .empty')), at).toBe(l.noFiles);
    }
  });

  it('shows bidirectional and zero-width controls from outside as visible ⟨U+XXXX⟩, never applied', async () => {
    // An order id that would show as ORD4321, a provider ref with a zero-width space, a status text
    // with a right-to-left mark, a note with an isolate, a live answer with a zero-width joiner.
    const dealer = 'bidi-dealer';
    const [run] = await q<{ id: string }>(
      `insert into recon.runs (dealer_id, business_date, trigger, status, finished_at) values ($1, '2024-06-30', 'manual', 'succeeded', now())
       returning id::text as id`, [dealer]);
    await q(`insert into recon.discrepancies (dealer_id, business_date, kind, severity, order_id, provider_ref, ledger_amount, provider_amount,
               details, first_seen_run_id, last_seen_run_id, ack_by, ack_note)
             values ($1, '2024-06-30', 'status_mismatch', 'critical', 'ORD\u202e1234', 'R\u200b1', 10, 10,
                     jsonb_build_object('provider_status', 'failed', 'status_text', '失败\u200f'), $2, $2, 'li\u2066.na', '已核\u2069实\ufeff')`,
    [dealer, run!.id]);
    await q(`insert into recon.provider_order_checks (run_id, dealer_id, order_id, asked_at, code, state, status, status_detail, status_message, request_id)
             values ($2, $1, 'ORD\u202e1234', '2024-07-01 09:00+08', '0000', 'failed', 4, 0, '失败\u200d', 'bidi-r1')`, [dealer, run!.id]);
    for (const lang of ['zh', 'en'] as const) {
      const { html, doc } = await page(dealer, '2024-06-30', lang);
      expect(html, lang).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]/u);
      const row = doc.querySelector('#open-findings tbody tr')!;
      expect(text(row.querySelector('td:nth-child(5)'))).toBe('ORD⟨U+202E⟩1234');
      expect(text(row.querySelector('td:nth-child(6)'))).toBe('R⟨U+200B⟩1');
      expect(text(row.querySelector('td:nth-child(10)'))).toContain('失败⟨U+200F⟩');
      expect(text(row.querySelector('td.live'))).toContain('失败⟨U+200D⟩');
      expect(text(row.querySelector('td.ack'))).toContain('li⟨U+2066⟩.na已核⟨U+2069⟩实⟨U+FEFF⟩');
    }
  });

  it("shows the latest live answer of each finding's order, and says where none was asked", async () => {
    // Answers later than those the fixture run's own follow-up recorded, so that they are the latest.
    const [run] = await q<{ id: string }>('select max(id)::text as id from recon.runs where dealer_id = $1', [KEYS.dealerId]);
    await q(`insert into recon.provider_order_checks (run_id, dealer_id, order_id, asked_at, code, state, status, status_detail, status_message, request_id)
             values ($2, $1, '2017112708', '2099-07-01 09:00+08', '2018', 'not_found', null, null, '该笔订单不存在', 'page-r1'),
                    ($2, $1, '2017111103', '2099-07-01 08:00+08', '0000', 'unresolved', 0, 0, '处理中', 'page-r2'),
                    ($2, $1, '2017111103', '2099-07-01 09:05+08', '0000', 'paid', 1, 0, '已打款', 'page-r3')`, [KEYS.dealerId, run!.id]);
    try {
      const after = await page(KEYS.dealerId, FIXTURE_DATE, 'zh');
      expect(after.doc.querySelector('#live-unavailable')).toBeNull();
      expect(text(after.doc.querySelector('#open-findings thead'))).toContain(LABELS.zh.liveStatus);
      const live = (orderId: string) => text([...after.doc.querySelectorAll('#open-findings tbody tr')]
        .find((r) => text(r.querySelector('td:nth-child(5)')) === orderId)?.querySelector('td.live'));
      expect(live('2017112708')).toMatch(/^该笔订单不存在 2018\s*07-01 09:00$/);
      expect(live('2017111103')).toMatch(/^已打款\s*07-01 09:05$/);
      expect(live('2017112704')).toBe(LABELS.zh.liveNotAsked);
    } finally {
      await q("delete from recon.provider_order_checks where request_id like 'page-r%'");
    }
  });
});
