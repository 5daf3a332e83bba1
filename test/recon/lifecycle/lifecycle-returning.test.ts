import { parseHTML } from 'linkedom';
import { describe, expect, it } from 'vitest';
import { formatCsv } from '../../../src/recon/report/csv.js';
import { selectDiscrepancies } from '../../../src/recon/report/findings.js';
import { buildReportPage } from '../../../src/recon/report/page.js';
import { ENGINES } from '../../helpers/db.js';
import { paidBills, scenarioSuite, type ProviderOrder, type Scenario } from '../../helpers/scenario.js';

const D = '2024-05-20';

interface El {
  readonly textContent: string | null;
  querySelector(selectors: string): El | null;
}
const text = (el: El | null | undefined) => (el?.textContent ?? '').replace(/\s+/g, ' ').trim();

/**
 * A finding that comes back (resolved, then found again) is a new row; it shows finance the
 * earlier row and its acknowledgement, on the page and in the CSV, and the job still never
 * writes ack_*.
 */
describe.each(ENGINES)('a finding that comes back on %s', (engine) => {
  const { db, scenario } = scenarioSuite(engine);
  const order = (s: Scenario, local: string): ProviderOrder => ({ id: s.id(local), ref: `7${local.padStart(17, '0')}`, amount: '100' });
  const rows = (s: Scenario) => s.discrepancies(`kind = 'missing_at_provider'`).then((r) => r.sort((a, b) => a.id - b.id));
  const everything = async (s: Scenario) => (await s.discrepancies('true')).map(({ last_seen_run_id: _, ...rest }) => rest);

  it('shows the earlier row and its acknowledgement, keeps it through repeated runs, and writes no ack column', async () => {
    const s = await scenario();
    const a = order(s, '1');
    const b = order(s, '2');
    await s.ledger([{ id: a.id, amount: '100', status: 'paid' }, { id: b.id, amount: '100', status: 'paid', created: `${D} 11:00:00` }], D);
    s.writeDay(D, [a], paidBills(a));
    await s.run(D);
    const [first] = await rows(s);
    await db().handle.withSession((x) => x.query(
      `update recon.discrepancies set ack_by = 'li.na', ack_note = '银行说明天重发', ack_at = '2024-05-21 10:15:00+08' where id = $1`, [first!.id]));

    // The provider regenerates the file with b, then again briefly without it.
    s.writeDay(D, [a, b], [...paidBills(a), ...paidBills(b)]);
    await s.run(D);
    expect((await rows(s)).map((r) => r.status)).toEqual(['resolved']);
    s.writeDay(D, [a], paidBills(a));
    await s.run(D);
    const [earlier, again] = await rows(s);
    expect(earlier!.id).toBe(first!.id);
    expect(again).toMatchObject({ status: 'open', ack_by: null, ack_note: null });
    const [resolvedAt] = (await db().handle.withSession((x) => x.query<{ t: string }>(
      `select to_char(resolved_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as t from recon.discrepancies where id = $1`, [first!.id]))).rows;
    expect(again!.details.previous).toEqual({
      id: first!.id, ack_by: 'li.na', ack_note: '银行说明天重发', ack_at: '2024-05-21T02:15:00Z',
      resolved_at: resolvedAt!.t, resolved_run_id: earlier!.resolved_run_id,
    });

    // A repeated run on the same files leaves every row as it was but last_seen_run_id.
    const before = await everything(s);
    await s.run(D);
    expect(await everything(s)).toEqual(before);

    // On the page, in the acknowledgement column of the new row; in the CSV, in its details.
    const html = await db().handle.withSession((x) => buildReportPage(x, { dealerId: s.dealerId, from: D, to: D, lang: 'zh', now: new Date('2024-05-22T00:00:00Z') }));
    const doc = (parseHTML(html) as unknown as { document: El }).document;
    const cell = text(doc.querySelector(`#open-findings tr[data-id="${again!.id}"] td.ack`));
    expect(cell).toContain('未确认');
    expect(cell).toContain(`此前已确认（#${first!.id}，已解决后再次出现）`);
    expect(cell).toContain('li.na');
    expect(cell).toContain('银行说明天重发');
    expect(cell).toContain('2024-05-21 10:15');
    const csv = formatCsv(await db().handle.withSession((x) => selectDiscrepancies(x, { dealerId: s.dealerId, openOnly: true })));
    expect(csv).toContain(`""previous"":{""id"":${first!.id},""ack_at"":""2024-05-21T02:15:00Z"",""ack_by"":""li.na"",""ack_note"":""银行说明天重发""`);
  });

  it('a finding that comes back without an earlier acknowledgement has no previous', async () => {
    const s = await scenario();
    const b = order(s, '2');
    await s.ledger([{ id: b.id, amount: '100', status: 'paid' }], D);
    s.writeDay(D, [], []);
    await s.run(D);
    s.writeDay(D, [b], paidBills(b));
    await s.run(D);
    s.writeDay(D, [], []);
    await s.run(D);
    const [, again] = await rows(s);
    expect(again!.details.previous).toBeUndefined();
  });
});
