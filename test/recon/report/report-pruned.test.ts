import { parseHTML } from 'linkedom';
import { describe, expect, it } from 'vitest';
import { pruneProviderDays } from '../../../src/recon/lifecycle/prune/provider-rows-pruner.js';
import { LABELS } from '../../../src/recon/report/labels.js';
import { buildReportPage } from '../../../src/recon/report/page.js';
import { ENGINES } from '../../helpers/db.js';
import { paidBills, scenarioSuite, type ProviderOrder, type Scenario } from '../../helpers/scenario.js';

const D = '2024-05-20';
const after = (days: number) => new Date(Date.parse(`${D}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

interface El { readonly textContent: string | null; querySelectorAll(s: string): Iterable<El>; querySelector(s: string): El | null }
const text = (el: { textContent: string | null } | null | undefined) => (el?.textContent ?? '').replace(/\s+/g, ' ').trim();

describe.each(ENGINES)('the finance page of a day whose provider rows were pruned, on %s', (engine) => {
  const { db, scenario } = scenarioSuite(engine);
  const query = (sql: string, params: unknown[] = []) => db().handle.withSession((x) => x.query(sql, params));

  /** Day D: five orders of 10.00 paid (fee 0.50 each), in the ledger too; and a later day. */
  const fiveOrders = async (s: Scenario) => {
    const orders: ProviderOrder[] = ['1', '2', '3', '4', '5'].map((n) => ({ id: s.id(n), ref: `8${n.padStart(17, '0')}`, amount: '10', fee: '0.50' }));
    s.writeDay(D, orders, orders.flatMap(paidBills));
    await s.ledger(orders.map((o) => ({ id: o.id, amount: '10', status: 'paid' as const })), D);
    const later = { id: s.id('9'), ref: `8${'9'.padStart(17, '0')}`, amount: '10' };
    s.writeDay(after(5), [later], paidBills(later));
    await s.ledger([{ id: later.id, amount: '10', status: 'paid' }], after(5));
    await s.run(D, { retainDays: 30 });
    await s.run(after(5), { retainDays: 30 });
  };
  const prune = (s: Scenario) => db().handle.withSession((x) => pruneProviderDays(x, s.dealerId, 3, false));
  const page = async (s: Scenario, lang: 'zh' | 'en') => {
    const html = await db().handle.withSession((x) => buildReportPage(x, { dealerId: s.dealerId, from: D, to: D, lang }));
    return (parseHTML(html) as unknown as { document: El }).document;
  };
  const cells = (doc: El, id: string) => [...doc.querySelectorAll(`#${id} td`)].map(text);
  const ORDERS = ['5', '50.00', '5', '50.00', '0', '0.00', '2.50'];
  const BILLS = ['10', '—', '5', '50.00', '0', '0.00', '2.50'];

  it('shows the files\' totals as recorded when they were loaded, and says the rows were pruned', async () => {
    const s = await scenario();
    await fiveOrders(s);
    const before = await page(s, 'zh');
    expect([cells(before, 'glance-orders'), cells(before, 'glance-bills')]).toEqual([ORDERS, BILLS]);
    expect(before.querySelector('#glance-pruned')).toBeNull();

    await prune(s);
    for (const lang of ['zh', 'en'] as const) {
      const doc = await page(s, lang);
      expect(cells(doc, 'glance-orders'), lang).toEqual(ORDERS);
      expect(cells(doc, 'glance-bills'), lang).toEqual(BILLS);
      expect(cells(doc, 'glance-ledger').slice(0, 4), lang).toEqual(['5', '50.00', '5', '50.00']);
      expect(text(doc.querySelector('#glance-pruned')), lang).toBe(`▲ ${LABELS[lang].prunedNote(D)}`);
    }
  });

  it('a file loaded before totals were recorded at load gets them from its rows when it is pruned', async () => {
    const s = await scenario();
    await fiveOrders(s);
    await query('update recon.provider_files set totals = null where dealer_id = $1', [s.dealerId]);
    await prune(s);
    const doc = await page(s, 'en');
    expect([cells(doc, 'glance-orders'), cells(doc, 'glance-bills')]).toEqual([ORDERS, BILLS]);
  });

  it('a day pruned with no totals recorded shows its row counts and says the amounts are not known, never zeros', async () => {
    const s = await scenario();
    await fiveOrders(s);
    await prune(s);
    await query('update recon.provider_files set totals = null where dealer_id = $1', [s.dealerId]);
    const doc = await page(s, 'en');
    expect(cells(doc, 'glance-orders')).toEqual(['5', '—', '—', '—', '—', '—', '—']);
    expect(cells(doc, 'glance-bills')).toEqual(['10', '—', '—', '—', '—', '—', '—']);
    expect(text(doc.querySelector('#glance-pruned'))).toBe(`▲ ${LABELS.en.prunedNote(D)} ${LABELS.en.prunedUnrecorded(D)}`);
  });
});
