import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { Archive, hashFile } from '../../../src/provider/file-archive.js';
import { archivePruner } from '../../../src/recon/lifecycle/prune/archive-pruner.js';
import { verifyChain, verifyFiles } from '../../../src/recon/runs/verify-checks.js';
import { ENGINES } from '../../helpers/db.js';
import { paidBills, scenarioSuite, type ProviderOrder, type Scenario } from '../../helpers/scenario.js';
import { silentLog } from '../../helpers/provider.js';

const D = '2024-06-10';
const D1 = '2024-06-11';
/** The provider's three generations of day D's order file, on D+1 in Beijing time. */
const GENERATIONS = ['03:45', '11:45', '16:45'].map((t) => new Date(`${D1}T${t}:00+08:00`));

describe.each(ENGINES)('the raw-file archive and the audit chain on %s', (engine) => {
  const { db, scenario } = scenarioSuite(engine);
  const order = (s: Scenario, local: string, amount = '100'): ProviderOrder => ({ id: s.id(local), ref: `8${local.padStart(17, '0')}`, amount });

  /** A day with findings of several kinds: a missing ledger row, an amount mismatch, a clean order. */
  async function dayWithFindings(s: Scenario, generatedAt = GENERATIONS[2]!) {
    const a = order(s, '1');
    const b = order(s, '2', '250.5');
    const c = order(s, '3');
    s.regenerateDay(D, [a, b, c], [...paidBills(a), ...paidBills(b), ...paidBills(c)], generatedAt);
    await s.ledger([{ id: b.id, amount: '250.00', status: 'paid' }, { id: c.id, amount: '100', status: 'paid' }], D);
  }

  const findings = async (s: Scenario) => (await s.discrepancies('true')).map(({ last_seen_run_id: _, ...rest }) => rest);
  const query = <R>(sql: string, params: unknown[] = []) => db().handle.withSession(async (x) => (await x.query<R>(sql, params)).rows);
  const objects = async (s: Scenario) => (await new Archive(s.archiveDir).list()).filter((o) => o.dealerId === s.dealerId);
  /** What an owner could still do by hand, past the tables' guards (sql/0008): the triggers off for one transaction. */
  const tamper = (sql: string, params: unknown[] = []) => db().handle.withSession(async (x) => {
    await x.exec('begin');
    await x.exec('set local session_replication_role = replica');
    await x.query(sql, params);
    await x.exec('commit');
  });
  const verify = (s: Scenario, scope: { from?: string; to?: string } = {}, retainDays: number | null = null) => db().handle.withSession(async (x) => ({
    files: await verifyFiles(x, new Archive(s.archiveDir), { dealerId: s.dealerId, ...scope }, { days: retainDays, now: DateTime.now() }),
    chain: await verifyChain(x, { dealerId: s.dealerId, ...scope }),
  }));

  it('a day run three times with three regenerated files leaves three archive objects and three file records per kind', async () => {
    const s = await scenario();
    const a = order(s, '1');
    for (const [i, at] of GENERATIONS.entries()) {
      // Each generation pays one more order.
      const orders = [a, ...Array.from({ length: i }, (_, k) => order(s, `n${k}`))];
      s.regenerateDay(D, orders, orders.flatMap(paidBills), at);
      await s.ledger(orders.map((o) => ({ id: o.id, amount: o.amount, status: 'paid' as const })), D);
      const result = await s.run(D);
      expect(result.files.map((f) => [f.kind, f.loaded, f.source])).toEqual([['order', true, 'provider'], ['bill', true, 'provider']]);
    }
    const kept = await objects(s);
    expect(kept.map((o) => o.kind).sort()).toEqual(['bill', 'bill', 'bill', 'order', 'order', 'order']);
    const records = await query<{ kind: string; sha256: string; bytes: number; generated_at: Date; archive_key: string }>(
      'select kind, sha256, bytes, generated_at, archive_key from recon.provider_files where dealer_id = $1 order by id', [s.dealerId]);
    expect(records).toHaveLength(6);
    expect(new Set(records.map((r) => r.sha256)).size).toBe(6);
    // The provider's generation time is the download's Last-Modified.
    expect(records.filter((r) => r.kind === 'order').map((r) => new Date(r.generated_at).toISOString())).toEqual(GENERATIONS.map((g) => g.toISOString()));
    for (const r of records) {
      expect(r.archive_key).toBe(`${encodeURIComponent(s.dealerId)}/${D}/${r.kind}/${r.sha256}.csv.gz`);
      const path = join(s.archiveDir, ...r.archive_key.split('/'));
      expect(await hashFile(path)).toEqual({ sha256: r.sha256, bytes: Number(r.bytes) });
      // Kept read-only, and no temporary file is left beside it.
      expect(statSync(path).mode & 0o222).toBe(0);
      expect(readdirSync(join(path, '..')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    }
    expect((await verify(s)).files).toMatchObject({ ok: true, count: 6 });
  });

  it('a file recorded before the archive existed learns its key when it comes again unchanged', async () => {
    const s = await scenario();
    await dayWithFindings(s);
    await s.run(D);
    const keys = async () => query<{ kind: string; archive_key: string | null }>(
      'select kind, archive_key from recon.provider_files where dealer_id = $1 order by id', [s.dealerId]);
    const archived = await keys();
    expect(archived.every((r) => r.archive_key !== null)).toBe(true);
    // As a record written before migration 0004 reads.
    await tamper("update recon.provider_files set archive_key = null where dealer_id = $1 and kind = 'order'", [s.dealerId]);
    const again = await s.run(D);
    expect(again.files.map((f) => f.loaded)).toEqual([false, false]);
    expect(await keys()).toEqual(archived);
  });

  it('the same file again is not archived twice; an object that is not what its key says is written again by the next run that downloads it', async () => {
    const s = await scenario();
    await dayWithFindings(s);
    await s.run(D);
    const [object] = (await objects(s)).filter((o) => o.kind === 'order');
    const path = new Archive(s.archiveDir).path(object!.key);
    const before = statSync(path);
    await s.run(D);
    expect(statSync(path).ino).toBe(before.ino);
    expect(statSync(path).mtimeMs).toBe(before.mtimeMs);
    // Truncated (a disk that filled up, a copy cut short): the next download of the same file
    // repairs it, read-only again and with no temporary file left beside it.
    const whole = readFileSync(path);
    chmodSync(path, 0o644);
    writeFileSync(path, whole.subarray(0, whole.length >> 1));
    await s.run(D);
    expect(readFileSync(path).equals(whole)).toBe(true);
    expect(statSync(path).mode & 0o222).toBe(0);
    expect(readdirSync(join(path, '..')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect((await verify(s)).files).toMatchObject({ ok: true, count: 2 });
    // The same size but other bytes: put() writes it again too, and says what it found.
    const damaged = Buffer.from(whole);
    damaged[damaged.length >> 1] = damaged[damaged.length >> 1]! ^ 0x01;
    chmodSync(path, 0o644);
    writeFileSync(path, damaged);
    const source = join(s.dir, 'order-copy.csv.gz');
    writeFileSync(source, whole);
    const again = await new Archive(s.archiveDir).put(source, { dealerId: s.dealerId, businessDate: D, kind: 'order', sha256: object!.sha256, bytes: whole.length });
    expect(again).toMatchObject({ key: object!.key, created: true });
    expect(again.replaced).toMatch(new RegExp(`^${whole.length} bytes, sha256 [0-9a-f]{12}$`));
    expect(readFileSync(path).equals(whole)).toBe(true);
    // A source that is not what the caller says it is never goes in: what was there stays.
    chmodSync(path, 0o644);
    writeFileSync(path, 'damaged');
    writeFileSync(source, 'not the file');
    await expect(new Archive(s.archiveDir).put(source, { dealerId: s.dealerId, businessDate: D, kind: 'order', sha256: object!.sha256, bytes: whole.length }))
      .rejects.toThrow(/is not the file to archive/);
    expect(readFileSync(path, 'utf8')).toBe('damaged');
    expect(readdirSync(join(path, '..')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(await objects(s)).toHaveLength(2);
  });

  it('after the provider\'s "expired" answer (empty URL) the run falls back to the archive, with findings identical to the first run', async () => {
    const s = await scenario();
    await dayWithFindings(s);
    await s.run(D);
    const first = await findings(s);
    expect(first.filter((f) => f.kind !== 'systemic_mismatch').map((f) => [f.order_id!.slice(s.prefix.length), f.kind])).toEqual([
      ['2', 'amount_mismatch'], ['1', 'missing_in_ledger'],
    ]);
    // The day's provider rows are gone (as retention would drop them): the archive must rebuild them.
    await query('delete from recon.provider_orders where dealer_id = $1', [s.dealerId]);
    await query('delete from recon.provider_bills where dealer_id = $1', [s.dealerId]);
    s.sandbox.expiredDays.add(D);
    s.sandbox.requests.length = 0;
    const result = await s.run(D);
    expect(result.files.map((f) => [f.kind, f.source, f.rows])).toEqual([['order', 'archive', 3], ['bill', 'archive', 3]]);
    // The provider was asked for the URLs, and answered "": nothing was downloaded. (The run's
    // balance query and live follow-up still ask the provider, which is there.)
    expect(s.sandbox.requests.map((r) => r.path).filter((path) => !path.startsWith('/api/payment/')))
      .toEqual(['/api/dataservice/v1/order/downloadurl', '/api/dataservice/v1/bill/downloadurl']);
    expect(await findings(s)).toEqual(first);
    const runs = await query<{ summary: { files: { source: string }[] } }>('select summary from recon.runs where id = $1', [result.runId]);
    expect(runs[0]!.summary.files.map((f) => f.source)).toEqual(['archive', 'archive']);
    // A re-read of the same file is not a new file record.
    expect(await query('select id from recon.provider_files where dealer_id = $1', [s.dealerId])).toHaveLength(2);
  });

  it('an expired day that was never archived: the run fails naming both the provider\'s answer and the archive', async () => {
    const s = await scenario();
    await dayWithFindings(s);
    s.sandbox.expiredDays.add(D);
    await expect(s.run(D)).rejects.toThrow(new RegExp(
      `^the provider returned no download URL for the order file of ${D}: files are kept 90 days, this one is past retention; `
      + `and the archive has no order file ${D}: no run of dealer ${s.dealerId} ever ingested it$`));
    expect(await findings(s)).toEqual([]);
  });

  it('--from-archive sends no request to the provider, and produces the findings of the run that first read the files', async () => {
    const s = await scenario();
    await dayWithFindings(s);
    await s.run(D);
    const first = await findings(s);
    s.sandbox.requests.length = 0;
    const result = await s.run(D, { source: 'archive' });
    expect(s.sandbox.requests).toEqual([]);
    expect(result.files.map((f) => [f.kind, f.source, f.loaded])).toEqual([['order', 'archive', true], ['bill', 'archive', true]]);
    expect(await findings(s)).toEqual(first);
  });

  it('--from-archive re-reads exactly the files last ingested, not an earlier generation', async () => {
    const s = await scenario();
    const a = order(s, '1');
    s.regenerateDay(D, [a], [], GENERATIONS[0]!);
    await s.ledger([{ id: a.id, amount: '100', status: 'paid' }], D);
    await s.run(D);
    expect(await s.open()).toEqual([['1', 'order_without_bill', 'warning']]);
    s.regenerateDay(D, [a], paidBills(a), GENERATIONS[1]!);
    await s.run(D);
    expect(await s.open()).toEqual([]);
    const result = await s.run(D, { source: 'archive' });
    expect(result.files.map((f) => f.rows)).toEqual([1, 1]);
    expect(await s.open()).toEqual([]);
  });

  it('--from-archive for a day never ingested says so', async () => {
    const s = await scenario();
    await expect(s.run(D, { source: 'archive' })).rejects.toThrow(`order file ${D}: the archive has no order file ${D}: no run of dealer ${s.dealerId} ever ingested it`);
    expect(s.sandbox.requests).toEqual([]);
  });

  it('a damaged archive object: --from-archive refuses it, verify names it', async () => {
    const s = await scenario();
    await dayWithFindings(s);
    await s.run(D);
    const [object] = (await objects(s)).filter((o) => o.kind === 'bill');
    const path = new Archive(s.archiveDir).path(object!.key);
    const bytes = readFileSync(path);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x01;
    chmodSync(path, 0o644);
    writeFileSync(path, bytes);
    await expect(s.run(D, { source: 'archive' })).rejects.toThrow(`bill file ${D}: the archived copy ${object!.key} does not match the sha256 recorded`);
    const { files, chain } = await verify(s);
    expect(files.ok).toBe(false);
    expect(files.mismatches).toHaveLength(1);
    expect(files.detail).toContain(`bill file ${D} of dealer ${s.dealerId}`);
    expect(files.detail).toContain(path);
    expect(chain.ok).toBe(true);
  });

  it('every run links to the one before it; editing a finding or a run row through SQL breaks the chain at that run', async () => {
    const s = await scenario();
    await dayWithFindings(s);
    const r1 = await s.run(D);
    s.writeDay(D1, [], []);
    const r2 = await s.run(D1);
    const r3 = await s.run(D);
    const runs = await query<{ id: number; audit_previous_run_id: number | null; audit_hash: string }>(
      'select id, audit_previous_run_id, audit_hash from recon.runs where dealer_id = $1 order by id', [s.dealerId]);
    expect(runs.map((r) => [r.id, r.audit_previous_run_id])).toEqual([[r1.runId, null], [r2.runId, r1.runId], [r3.runId, r2.runId]]);
    expect(runs.map((r) => r.audit_hash)).toEqual([r1.auditHash, r2.auditHash, r3.auditHash]);
    expect((await verify(s)).chain).toMatchObject({ ok: true, count: 3 });
    // Finance's acknowledgement is no part of it.
    await query(`update recon.discrepancies set ack_by = 'li.na', ack_note = 'checked', ack_at = now() where dealer_id = $1`, [s.dealerId]);
    expect((await verify(s)).chain.ok).toBe(true);

    // A finding's amount: the run that wrote it last (r3) no longer matches.
    const [mismatch] = await query<{ id: number }>(`select id from recon.discrepancies where dealer_id = $1 and kind = 'amount_mismatch'`, [s.dealerId]);
    await query('update recon.discrepancies set ledger_amount = 250.50 where id = $1', [mismatch!.id]);
    let { chain } = await verify(s);
    expect(chain.ok).toBe(false);
    expect(chain.detail).toBe(`run ${r3.runId} (dealer ${s.dealerId}, business date ${D}): finding ${mismatch!.id} (amount_mismatch, order ${s.id('2')}, ${D}) is not as the run wrote it: ledger_amount 250.00, now 250.50`);
    await query('update recon.discrepancies set ledger_amount = 250.00 where id = $1', [mismatch!.id]);
    expect((await verify(s)).chain.ok).toBe(true);

    // A run row: the link of that run (r2) no longer matches; the ones after it still do.
    await query('update recon.runs set order_rows = 7 where id = $1', [r2.runId]);
    ({ chain } = await verify(s));
    expect(chain.mismatches).toHaveLength(1);
    expect(chain.detail).toMatch(new RegExp(`^run ${r2.runId} \\(dealer ${s.dealerId}, business date ${D1}\\): its audit hash does not match its row in recon.runs and the previous link`));
    // The day's scope: D1 holds the broken run, D does not.
    expect((await verify(s, { from: D, to: D })).chain).toMatchObject({ ok: true, count: 2 });
    expect((await verify(s, { from: D1, to: D1 })).chain.ok).toBe(false);
    await query('update recon.runs set order_rows = 0 where id = $1', [r2.runId]);
    expect((await verify(s)).chain.ok).toBe(true);

    // The findings a run recorded cannot be changed at all.
    await expect(query('update recon.run_findings set severity = $2 where run_id = $1', [r1.runId, 'info'])).rejects.toThrow(/append-only/);
    await expect(query('delete from recon.run_findings where run_id = $1', [r1.runId])).rejects.toThrow(/append-only/);
  });

  it('a resolved finding belongs to the run that resolved it', async () => {
    const s = await scenario();
    const a = order(s, '1');
    s.regenerateDay(D, [a], [], GENERATIONS[0]!);
    await s.ledger([{ id: a.id, amount: '100', status: 'paid' }], D);
    await s.run(D);
    s.regenerateDay(D, [a], paidBills(a), GENERATIONS[1]!);
    const fixing = await s.run(D);
    const [resolved] = await s.discrepancies("status = 'resolved'");
    expect(resolved!.resolved_run_id).toBe(fixing.runId);
    const recorded = await query<{ action: string; status: string }>('select action, status from recon.run_findings where run_id = $1', [fixing.runId]);
    expect(recorded.length).toBe(1);
    expect(recorded).toEqual([{ action: 'resolved', status: 'resolved' }]);
    await query(`update recon.discrepancies set status = 'open', resolved_run_id = null where id = $1`, [resolved!.id]);
    const { chain } = await verify(s);
    expect(chain.detail).toMatch(new RegExp(`^run ${fixing.runId} .*: finding ${resolved!.id} \\(order_without_bill, .*\\) is not as the run left it: the table names run ${resolved!.last_seen_run_id} as the last to write it$`));
  });

  it('prune removes archive objects past YZH_ARCHIVE_RETAIN_DAYS, marks their records, and verify counts them as pruned', async () => {
    const s = await scenario();
    await dayWithFindings(s);
    await s.run(D);
    s.writeDay(D1, [], []);
    await s.run(D1);
    const config = loadConfig({ YZH_ARCHIVE_DIR: s.archiveDir, YZH_ARCHIVE_RETAIN_DAYS: '30' });
    // "Now" is 30 days after D1: D is past retention, D1 is the first day kept.
    const now = DateTime.fromISO(`${D1}T12:00:00`, { zone: 'Asia/Shanghai' }).plus({ days: 30 });
    const context = { dealerId: s.dealerId, config, now, log: silentLog };
    const dry = await db().handle.withSession((session) => archivePruner.prune({ ...context, session, dryRun: true }, 30));
    expect(dry).toMatchObject({ removed: 2, keptFrom: D1 });
    expect(await objects(s)).toHaveLength(4);
    const done = await db().handle.withSession((session) => archivePruner.prune({ ...context, session, dryRun: false }, 30));
    expect(done.removed).toBe(2);
    expect((await objects(s)).map((o) => o.businessDate)).toEqual([D1, D1]);
    expect(readdirSync(join(s.archiveDir, encodeURIComponent(s.dealerId)))).toEqual([D1]);
    const marked = await query<{ business_date: string; pruned: boolean }>(
      'select business_date::text as business_date, archive_pruned_at is not null as pruned from recon.provider_files where dealer_id = $1 order by id', [s.dealerId]);
    expect(marked).toEqual([
      { business_date: D, pruned: true }, { business_date: D, pruned: true }, { business_date: D1, pruned: false }, { business_date: D1, pruned: false },
    ]);
    const { files, chain } = await verify(s, {}, 30);
    expect(files).toMatchObject({ ok: true, count: 2 });
    expect(files.detail).toBe('2 archived files re-hashed, all as ingested (2 pruned by retention)');
    expect(chain.ok).toBe(true);
  });

  it('a file record cannot be repointed: its sha256, size, day, run and archive key are refused, as is an audited run\'s recorded sha256', async () => {
    const s = await scenario();
    await dayWithFindings(s);
    const run = await s.run(D);
    const refused = /never changed/;
    await expect(query("update recon.provider_files set sha256 = repeat('0', 64) where dealer_id = $1", [s.dealerId])).rejects.toThrow(refused);
    await expect(query('update recon.provider_files set bytes = bytes + 1 where dealer_id = $1', [s.dealerId])).rejects.toThrow(refused);
    await expect(query("update recon.provider_files set archive_key = archive_key || '.x' where dealer_id = $1", [s.dealerId])).rejects.toThrow(refused);
    await expect(query('update recon.provider_files set archive_key = null where dealer_id = $1', [s.dealerId])).rejects.toThrow(refused);
    await expect(query("update recon.provider_files set business_date = business_date + 1 where dealer_id = $1", [s.dealerId])).rejects.toThrow(refused);
    await expect(query("update recon.runs set order_file_sha256 = repeat('0', 64) where id = $1", [run.runId])).rejects.toThrow(refused);
    await expect(query("update recon.runs set audit_hash = repeat('0', 64) where id = $1", [run.runId])).rejects.toThrow(refused);
    // What stays open: the prune mark (verify judges it against the retention).
    await query('update recon.provider_files set archive_pruned_at = null where dealer_id = $1', [s.dealerId]);
    expect((await verify(s)).files.ok).toBe(true);
  });

  it('an archived file swapped for a forged one with its record repointed: verify names it against the run\'s recorded sha256, --from-archive refuses it', async () => {
    const s = await scenario();
    await dayWithFindings(s);
    const run = await s.run(D);
    const archive = new Archive(s.archiveDir);
    const [original] = (await objects(s)).filter((o) => o.kind === 'order');
    // The order file with order 1's amount made 99,999.00, archived under its own content address.
    const text = gunzipSync(readFileSync(archive.path(original!.key))).toString('utf8');
    const line = text.split('\n').find((l) => l.startsWith(`${s.id('1')},`))!;
    const forgedText = text.replace(line, line.replace(',银行卡,100,', ',银行卡,99999.00,'));
    expect(forgedText).toContain('99999.00');
    const forgedPath = join(s.dir, 'forged.csv.gz');
    writeFileSync(forgedPath, gzipSync(Buffer.from(forgedText, 'utf8')));
    const forged = await hashFile(forgedPath);
    const { key } = await archive.put(forgedPath, { dealerId: s.dealerId, businessDate: D, kind: 'order', sha256: forged.sha256, bytes: forged.bytes });
    await archive.remove(original!.key);
    await tamper("update recon.provider_files set sha256 = $2, bytes = $3, archive_key = $4 where dealer_id = $1 and kind = 'order'",
      [s.dealerId, forged.sha256, forged.bytes, key]);

    const { files, chain } = await verify(s);
    expect(files.ok).toBe(false);
    expect(files.detail).toBe(`order file ${D} of dealer ${s.dealerId} (ingested by run ${run.runId}, ${archive.path(key)}): `
      + `the record's sha256 ${forged.sha256.slice(0, 12)} is not the one run ${run.runId} recorded for it (${original!.sha256.slice(0, 12)})`);
    expect(files.mismatches).toContain(`run ${run.runId} (dealer ${s.dealerId}, business date ${D}): the order file it recorded `
      + `(sha256 ${original!.sha256.slice(0, 12)}) has no record in recon.provider_files`);
    expect(chain.ok).toBe(true);
    const before = await findings(s);
    await expect(s.run(D, { source: 'archive' })).rejects.toThrow(
      `order file ${D}: run ${run.runId} recorded sha256 ${original!.sha256.slice(0, 12)} for it, but recon.provider_files has no record of that file: run yzh-recon verify`);
    expect(await findings(s)).toEqual(before);
  });

  it('an object deleted and marked pruned by hand while the archive retention still keeps its day is a mismatch', async () => {
    const s = await scenario();
    await dayWithFindings(s);
    const run = await s.run(D);
    const archive = new Archive(s.archiveDir);
    const [bill] = (await objects(s)).filter((o) => o.kind === 'bill');
    await archive.remove(bill!.key);
    await query("update recon.provider_files set archive_pruned_at = now() where dealer_id = $1 and kind = 'bill'", [s.dealerId]);
    const what = `bill file ${D} of dealer ${s.dealerId} (ingested by run ${run.runId}, ${archive.path(bill!.key)})`;
    // Kept forever (YZH_ARCHIVE_RETAIN_DAYS unset): no object may be pruned.
    let { files } = await verify(s);
    expect(files.ok).toBe(false);
    expect(files.detail).toMatch(new RegExp(`^${what.replace(/[.()]/g, '\\$&')}: the archived file is missing, marked pruned at \\S+ although YZH_ARCHIVE_RETAIN_DAYS is unset \\(archive objects are kept forever\\)$`));
    // Ten years kept: D (2024) is still within them.
    ({ files } = await verify(s, {}, 3650));
    expect(files.detail).toMatch(/: the archived file is missing, marked pruned at \S+ although YZH_ARCHIVE_RETAIN_DAYS=3650 keeps the days from \d{4}-\d{2}-\d{2}$/);
    // Thirty days kept: D is past them, as a prune would have judged.
    ({ files } = await verify(s, {}, 30));
    expect(files).toMatchObject({ ok: true, count: 1 });
    expect(files.detail).toBe('1 archived file re-hashed, all as ingested (1 pruned by retention)');
  });
});
