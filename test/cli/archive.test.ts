import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Archive } from '../../src/provider/file-archive.js';
import type { Sandbox } from '../../src/provider/sandbox-server.js';
import { lastLine, runCli } from '../helpers/cli.js';
import { childDatabase, providerEnv, type ChildDatabase } from '../helpers/cli-env.js';
import { ENGINES } from '../helpers/db.js';
import { FIXTURE_DATE, KEYS, startSandbox } from '../helpers/provider.js';

const D = FIXTURE_DATE;
/** Each case starts the command a few times, each start opening the embedded database. */
const SLOW = 180_000;

describe.each(ENGINES)('archive, verify and prune from the command line on %s', (engine) => {
  let db: ChildDatabase;
  let sandbox: Sandbox;
  let env: Record<string, string>;
  const sql = <R>(text: string, params: unknown[] = []) => db.use((h) => h.withSession(async (s) => (await s.query<R>(text, params)).rows));
  /** A change past the tables' guards (sql/0008), as the schema owner could make with triggers off. */
  const tamper = (text: string) => db.use((h) => h.withSession(async (s) => {
    await s.exec('begin');
    await s.exec('set local session_replication_role = replica');
    await s.query(text);
    await s.exec('commit');
  }));
  /** Everything a failed run must leave as it was. */
  const tables = () => sql(`select (select json_agg(d order by id)::text from recon.discrepancies d) as discrepancies,
                                   (select json_agg(f order by id)::text from recon.provider_files f) as files,
                                   (select count(*)::int from recon.provider_orders) as orders,
                                   (select count(*)::int from recon.provider_bills) as bills`);

  beforeAll(async () => {
    db = await childDatabase(engine, { fixtureDay: true });
    sandbox = await startSandbox();
    env = { ...db.env, ...providerEnv(sandbox) };
    const first = await runCli(['run', '--date', D], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^ {2}audit {6}[0-9a-f]{64}$/m);
  }, 120_000);
  afterAll(async () => {
    await sandbox.stop();
    await db.drop();
  });

  it('verify exits 0 when everything holds, with a check-style summary', async () => {
    const r = await runCli(['verify'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok {4}files {2}2 archived files re-hashed, all as ingested$/m);
    expect(r.stdout).toMatch(/^ok {4}chain {2}1 run of 1 dealer linked, their findings as they wrote them; head run 1 [0-9a-f]{64}$/m);
    expect(lastLine(r.stdout)).toBe(`verify: ok: 2 files, 1 run (dealer ${KEYS.dealerId}, every day), archive ${db.env.YZH_ARCHIVE_DIR}`);
    const day = await runCli(['verify', '--date', D], env);
    expect(lastLine(day.stdout)).toBe(`verify: ok: 2 files, 1 run (dealer ${KEYS.dealerId}, ${D}), archive ${db.env.YZH_ARCHIVE_DIR}`);
    const none = await runCli(['verify', '--from', '2017-11-21', '--to', '2017-11-22'], env);
    expect([none.code, lastLine(none.stdout)]).toEqual([0, `verify: ok: 0 files, 0 runs (dealer ${KEYS.dealerId}, 2017-11-21 to 2017-11-22), archive ${db.env.YZH_ARCHIVE_DIR}`]);
    const usage = await runCli(['verify', '--date', D, '--from', D], env);
    expect(usage.code).toBe(2);
  }, SLOW);

  it('flipping one byte of an archived file makes verify exit 1 and name it', async () => {
    const archive = new Archive(db.env.YZH_ARCHIVE_DIR!);
    const [order] = (await archive.list()).filter((o) => o.kind === 'order');
    const path = archive.path(order!.key);
    const original = readFileSync(path);
    const flipped = Buffer.from(original);
    flipped[100] = flipped[100]! ^ 0x20;
    chmodSync(path, 0o644);
    writeFileSync(path, flipped);
    try {
      const r = await runCli(['verify'], env);
      expect(r.code).toBe(1);
      expect(lastLine(r.stderr)).toMatch(new RegExp(`^yzh-recon: order file ${D} of dealer ${KEYS.dealerId} \\(ingested by run 1, ${path.replace(/[.]/g, '\\.')}\\): sha256 is now [0-9a-f]{12} \\(\\d+ bytes\\), recorded ${order!.sha256.slice(0, 12)} \\(\\d+ bytes\\)$`));
      expect(r.stdout).toMatch(/^FAIL {2}files {2}order file/m);
      expect(r.stdout).toMatch(/^ok {4}chain /m);
      expect(lastLine(r.stdout)).toMatch(/^verify: FAIL: 1 mismatch in 2 files, 1 run /);
    } finally {
      writeFileSync(path, original);
      chmodSync(path, 0o444);
    }
    expect((await runCli(['verify'], env)).code).toBe(0);
  }, SLOW);

  it('editing a finding\'s amount or a run row through SQL makes verify exit 1 naming that run', async () => {
    const [finding] = await sql<{ id: number; ledger_amount: string }>(`select id, ledger_amount::text from recon.discrepancies where kind = 'amount_mismatch'`);
    await sql('update recon.discrepancies set ledger_amount = ledger_amount + 1 where id = $1', [finding!.id]);
    let r = await runCli(['verify'], env);
    expect(r.code).toBe(1);
    expect(lastLine(r.stderr)).toBe(`yzh-recon: run 1 (dealer ${KEYS.dealerId}, business date ${D}): finding ${finding!.id} (amount_mismatch, order 2017111103, ${D}) is not as the run wrote it: ledger_amount ${finding!.ledger_amount}, now ${(Number(finding!.ledger_amount) + 1).toFixed(2)}`);
    await sql('update recon.discrepancies set ledger_amount = $2 where id = $1', [finding!.id, finding!.ledger_amount]);

    // Past sql/0008's trigger, as only the schema owner could: the chain and the file record both say so.
    await tamper(`update recon.runs set bill_file_sha256 = repeat('0', 64) where id = 1`);
    r = await runCli(['verify'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^FAIL {2}chain {2}run 1 \\(dealer ${KEYS.dealerId}, business date ${D}\\): its audit hash does not match its row in recon.runs and the previous link`, 'm'));
    expect(lastLine(r.stderr)).toMatch(new RegExp(`^yzh-recon: bill file ${D} of dealer ${KEYS.dealerId} \\(ingested by run 1, .*\\): the record's sha256 [0-9a-f]{12} is not the one run 1 recorded for it \\(000000000000\\)$`));
    await tamper(`update recon.runs set bill_file_sha256 = (select sha256 from recon.provider_files where kind = 'bill' order by id desc limit 1) where id = 1`);
    expect((await runCli(['verify'], env)).code).toBe(0);
  }, SLOW);

  it('run --from-archive sends no request to the provider, and needs no keys', async () => {
    const before = await sql<{ kind: string; status: string; severity: string }>('select kind, severity, status from recon.discrepancies order by id');
    sandbox.requests.length = 0;
    const r = await runCli(['run', '--date', D, '--from-archive'], { ...db.env, YZH_DEALER_ID: KEYS.dealerId, YZH_BASE_URL: sandbox.url });
    expect(r.code, r.stderr).toBe(0);
    expect(sandbox.requests).toEqual([]);
    expect(r.stdout).toMatch(/order file +40 rows .* loaded \(from the archive\)/);
    expect(await sql('select kind, severity, status from recon.discrepancies order by id')).toEqual(before);
    expect((await runCli(['verify'], env)).code).toBe(0);
  }, SLOW);

  it('after an empty download URL the run uses the archive and logs that it did', async () => {
    sandbox.expiredDays.add(D);
    try {
      const r = await runCli(['run', '--date', D], env);
      expect(r.code, r.stderr).toBe(0);
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string });
      expect(warnings.map((w) => w.msg)).toEqual([
        `the provider no longer has the order file ${D} (past its 90-day retention); using the archived copy`,
        `the provider no longer has the bill file ${D} (past its 90-day retention); using the archived copy`,
      ]);
      expect(sandbox.requests.filter((q) => q.path.startsWith('/download/'))).toEqual([]);
      // A day that was never ingested: both sources are named.
      sandbox.expiredDays.add('2017-11-21');
      const missing = await runCli(['run', '--date', '2017-11-21'], env);
      expect(missing.code).toBe(1);
      expect(lastLine(missing.stderr)).toBe('yzh-recon: the provider returned no download URL for the order file of 2017-11-21: files are kept 90 days, this one is past retention; '
        + `and the archive has no order file 2017-11-21: no run of dealer ${KEYS.dealerId} ever ingested it`);
    } finally {
      sandbox.expiredDays.clear();
    }
  }, SLOW);

  it('an archive directory that is read-only makes the run fail cleanly, with the tables unchanged', async () => {
    const readOnly = join(dirname(db.env.YZH_ARCHIVE_DIR!), `${engine}-read-only-archive`);
    mkdirSync(readOnly, { mode: 0o555 });
    chmodSync(readOnly, 0o555);
    try {
      const before = await tables();
      // Root writes through a mode of 0555: as root, the run goes without CAP_DAC_OVERRIDE.
      const r = await runCli(['run', '--date', D], { ...env, YZH_ARCHIVE_DIR: readOnly }, { honourModes: true });
      expect(r.code, r.stderr).toBe(1);
      expect(lastLine(r.stderr)).toMatch(new RegExp(
        `^yzh-recon: cannot write order file ${D} to the archive ${readOnly} \\(YZH_ARCHIVE_DIR\\): EACCES: permission denied, mkdir '${readOnly}/${KEYS.dealerId}'$`));
      expect(await tables()).toEqual(before);
      const [run] = await sql<{ status: string; error: string }>('select status, error from recon.runs order by id desc limit 1');
      expect(run).toMatchObject({ status: 'failed', error: expect.stringMatching(/^cannot write order file/) as unknown });
      expect(readdirSync(readOnly)).toEqual([]);
    } finally {
      rmSync(readOnly, { recursive: true, force: true });
    }
  }, SLOW);

  it('prune removes archive objects past YZH_ARCHIVE_RETAIN_DAYS; --dry-run only says what it would remove', async () => {
    const kept = await runCli(['prune'], env);
    expect(kept.code, kept.stderr).toBe(0);
    // The provider rows' line first: nothing of these days is past the default retention.
    expect(kept.stdout).toMatch(/^rows {5}removed 0 \(0\.0 MiB\) from before \d{4}-\d{2}-\d{2} \(YZH_RETAIN_DAYS=120\)\narchive {2}kept forever \(YZH_ARCHIVE_RETAIN_DAYS is unset\)\n$/);
    // Without YZH_DEALER_ID, prune names it and --all-dealers; with --all-dealers, each dealer headed.
    const { YZH_DEALER_ID: _, ...noDealer } = env;
    const refused = await runCli(['prune'], noDealer);
    expect(refused.code).toBe(1);
    expect(lastLine(refused.stderr)).toBe('yzh-recon: configuration: YZH_DEALER_ID is required by prune (or --all-dealers to prune every dealer)');
    const all = await runCli(['prune', '--all-dealers', '--dry-run'], noDealer);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/^dealer sixcn\n {2}rows {5}would remove 0 \(0\.0 MiB\) from before \d{4}-\d{2}-\d{2} \(YZH_RETAIN_DAYS=120\)\n {2}archive {2}kept forever \(YZH_ARCHIVE_RETAIN_DAYS is unset\)\n$/);
    const dry = await runCli(['prune', '--dry-run'], { ...env, YZH_ARCHIVE_RETAIN_DAYS: '1000' });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^archive {2}would remove 2 \(0\.0 MiB\) from before \d{4}-\d{2}-\d{2} \(YZH_ARCHIVE_RETAIN_DAYS=1000\)\n$/m);
    expect(await new Archive(db.env.YZH_ARCHIVE_DIR!).list()).toHaveLength(2);
    const done = await runCli(['prune'], { ...env, YZH_ARCHIVE_RETAIN_DAYS: '1000' });
    expect(done.stdout).toMatch(/^archive {2}removed 2 /m);
    expect(await new Archive(db.env.YZH_ARCHIVE_DIR!).list()).toEqual([]);
    // verify judges the prune marks by the same retention (the same ConfigMap in k8s/).
    const r = await runCli(['verify'], { ...env, YZH_ARCHIVE_RETAIN_DAYS: '1000' });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok {4}files {2}0 archived files re-hashed, all as ingested \(2 pruned by retention\)$/m);
    // Without it the archive is kept forever, and an object marked pruned is one missing.
    const unset = await runCli(['verify'], env);
    expect(unset.code).toBe(1);
    expect(lastLine(unset.stderr)).toMatch(/: the archived file is missing, marked pruned at \S+ although YZH_ARCHIVE_RETAIN_DAYS is unset \(archive objects are kept forever\)$/);
  }, SLOW);
});
