import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'csv-parse/sync';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Sandbox } from '../../src/provider/sandbox-server.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ackCommand } from '../../src/cli/ack.js';
import type { CommandContext } from '../../src/cli/context.js';
import { reportCommand } from '../../src/cli/report.js';
import { runCommand } from '../../src/cli/run.js';
import { loadConfig } from '../../src/config.js';
import { coerceError } from '../../src/errors.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { childDatabase, providerEnv, type ChildDatabase } from '../helpers/cli-env.js';
import { ENGINES } from '../helpers/db.js';
import { encodeGb18030 } from '../helpers/gb18030.js';
import { FIXTURE_DATE, startSandbox } from '../helpers/provider.js';

const HAS_PG = Boolean(process.env.TEST_DATABASE_URL);
// Each step opens the database again, as a command does; the embedded one takes seconds to start.
vi.setConfig({ testTimeout: 300_000 });

interface Finding {
  id: number;
  order_id: string | null;
  kind: string;
  status: string;
  last_seen_run_id: number;
  ack_by: string | null;
  ack_note: string | null;
  ack_at: Date | null;
  rest: string;
}

/** A report CSV as Excel would save it after finance typed into it. */
function edit(csv: string, acks: Record<string, { ack_by?: string; ack_note?: string; last_seen_run_id?: string }>): string {
  const rows = parse(csv.replace(/^\uFEFF/, ''), { relax_column_count: false });
  const header = rows[0]!;
  const at = (c: string) => header.indexOf(c);
  for (const row of rows.slice(1)) {
    const changes = acks[row[at('order_id')]!];
    if (changes === undefined) continue;
    for (const [c, v] of Object.entries(changes)) row[at(c)] = v;
  }
  const quote = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return `${rows.map((r) => r.map(quote).join(',')).join('\r\n')}\r\n`;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

const COMMANDS = { ack: ackCommand, report: reportCommand, run: runCommand };

/**
 * A command run in this process, as main.ts runs it (exit status, the one line on stderr):
 * starting the embedded database in a child process for each of the dozens of steps here
 * would take minutes. test/cli/commands.test.ts covers the built command itself.
 */
async function command(args: string[], env: Record<string, string>): Promise<CliResult> {
  let stdout = '';
  const ctx: CommandContext = {
    env: { LOG_LEVEL: 'silent', ...env },
    signal: new AbortController().signal,
    stdout: new Writable({ write(chunk, _enc, done) { stdout += String(chunk); done(); } }),
    config: (options) => loadConfig({ LOG_LEVEL: 'silent', ...env }, options),
    log: pino({ level: 'silent' }),
  };
  const [name, ...rest] = args;
  try {
    const code = await COMMANDS[name as keyof typeof COMMANDS](ctx, rest);
    return { code, signal: null, stdout, stderr: '' };
  } catch (thrown) {
    const err = coerceError(thrown);
    return { code: err.code === 'USAGE' ? 2 : 1, signal: null, stdout, stderr: `yzh-recon: ${err.message}\n` };
  }
}

describe.each(ENGINES)('yzh-recon ack (%s)', (engine) => {
  let child: ChildDatabase;
  let sandbox: Sandbox;
  let dir: string;
  let env: Record<string, string>;
  const findings = () => child.use((h) => h.withSession(async (s) => (await s.query<Finding>(
    `select id, order_id, kind, status, last_seen_run_id, ack_by, ack_note, ack_at,
            concat_ws('|', business_date, severity, provider_ref, ledger_amount, provider_amount, details::text,
                      first_seen_run_id, resolved_run_id, resolved_at) as rest
       from recon.discrepancies order by id`)).rows));
  const byOrder = async (orderId: string) => (await findings()).find((f) => f.order_id === orderId && f.status === 'open')
    ?? (await findings()).find((f) => f.order_id === orderId)!;
  const exportCsv = async (name: string, flags = ['--open']) => {
    const file = join(dir, name);
    const r = await command(['report', ...flags, '--format', 'csv', '--out', file], env);
    expect(r.code, r.stderr).toBe(0);
    return readFileSync(file, 'utf8');
  };
  const ack = async (name: string, bytes: Buffer, ...flags: string[]) => {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    return command(['ack', '--file', file, ...flags], env);
  };
  const run = async (...flags: string[]) => {
    const r = await command(['run', '--date', FIXTURE_DATE, ...flags], { ...env, ...providerEnv(sandbox), YZH_REPORT_DIR: join(dir, 'reports') });
    expect(r.code, r.stderr).toBe(0);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yzh-ack-'));
    sandbox = await startSandbox();
    child = await childDatabase(engine, { fixtureDay: true });
    env = child.env;
    await run('--report-html', join(dir, 'after-run.html'));
  });
  afterAll(async () => {
    await sandbox?.stop();
    await child?.drop();
    rmSync(dir, { recursive: true, force: true });
    if (child?.env.PGLITE_DIR) rmSync(dirname(child.env.PGLITE_DIR), { recursive: true, force: true });
  });

  it('run writes the finance page to --report-html and into YZH_REPORT_DIR', () => {
    for (const file of [join(dir, 'after-run.html'), join(dir, 'reports', `yzh-recon-sixcn-${FIXTURE_DATE}.html`)]) {
      const html = readFileSync(file, 'utf8');
      expect(html, file).toMatch(/^<!DOCTYPE html>/);
      expect(html, file).toContain(`对账日</b> ${FIXTURE_DATE}`);
      expect(html, file).toContain('2017112705');
    }
  });

  it('imports a CSV edited and saved as UTF-8 with BOM: only the ack columns change, a formula is stored as text; --dry-run changes nothing', async () => {
    const before = await findings();
    const csv = edit(await exportCsv('open.csv'), {
      '2017111103': { ack_by: 'li.na', ack_note: '银行已确认, "退回"\r\n第二行' },
      '2017112708': { ack_by: 'wang.wei', ack_note: '=HYPERLINK("http://evil.example/x","点我")' },
    });
    const dry = await ack('dry.csv', Buffer.concat([BOM, Buffer.from(csv)]), '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('(UTF-8, 6 rows)');
    expect(dry.stdout).toMatch(/^would change 2:$/m);
    expect(dry.stdout).toContain('dry run: nothing written');
    expect(await findings()).toEqual(before);

    const done = await ack('edited.csv', Buffer.concat([BOM, Buffer.from(csv)]));
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^changed 2:$/m);
    expect(done.stdout).toMatch(/^unchanged 4$/m);
    const after = await findings();
    // Nothing but the ack columns moved.
    expect(after.map(({ ack_by: _a, ack_note: _n, ack_at: _t, ...f }) => f)).toEqual(before.map(({ ack_by: _a, ack_note: _n, ack_at: _t, ...f }) => f));
    const amount = after.find((f) => f.order_id === '2017111103')!;
    expect([amount.ack_by, amount.ack_note, amount.ack_at !== null]).toEqual(['li.na', '银行已确认, "退回"\n第二行', true]);
    const formula = after.find((f) => f.order_id === '2017112708' && f.kind === 'missing_at_provider')!;
    expect([formula.ack_by, formula.ack_note]).toEqual(['wang.wei', '=HYPERLINK("http://evil.example/x","点我")']);
    expect(after.filter((f) => f.ack_by !== null)).toHaveLength(2);

    // Exported again, the formula is text to Excel; imported again unchanged, nothing changes.
    const again = await exportCsv('again.csv');
    expect(again).toContain(`"'=HYPERLINK(""http://evil.example/x"",""点我"")"`);
    const same = await ack('same.csv', Buffer.from(again));
    expect(same.stdout).toMatch(/^changed 0:$/m);
    expect(same.stdout).toMatch(/^unchanged 6$/m);
    // The page shows it as text, never as a link.
    const page = join(dir, 'page.html');
    expect((await command(['report', '--format', 'html', '--date', FIXTURE_DATE, '--out', page], env)).code).toBe(0);
    const html = readFileSync(page, 'utf8');
    expect(html).toContain('=HYPERLINK(&quot;http://evil.example/x&quot;,&quot;点我&quot;)');
    expect(html).not.toMatch(/<a\s/);
  });

  it('imports a CSV saved by an older Excel in GB18030 only when --encoding says so, with CRLF and a note over two lines', async () => {
    const csv = edit(await exportCsv('gb.csv'), { '2017112704': { ack_by: '张三', ack_note: '已核实：云账户已付款，\r\n账本待更新' } });
    const before = await findings();
    const guessed = await ack('gb-edited.csv', encodeGb18030(csv));
    expect(guessed.code).toBe(2);
    expect(guessed.stderr).toContain('is not valid UTF-8');
    expect(guessed.stderr).toContain('--encoding gb18030');
    expect(await findings()).toEqual(before);
    const r = await ack('gb-edited.csv', encodeGb18030(csv), '--encoding', 'gb18030');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(GB18030, 6 rows)');
    expect(r.stdout).toMatch(/^changed 1:$/m);
    const f = await byOrder('2017112704');
    expect([f.ack_by, f.ack_note]).toEqual(['张三', '已核实：云账户已付款，\n账本待更新']);
    const unknown = await ack('gb-edited.csv', encodeGb18030(csv), '--encoding', 'gbk');
    expect([unknown.code, unknown.stderr.split('\n')[0]]).toEqual([2, 'yzh-recon: ack: --encoding must be utf8, gb18030 or utf16']);
  });

  it('refuses a file saved in Windows-1252 instead of reading it as GB18030', async () => {
    // A sheet typed on a Western Windows and saved as plain CSV: é is the single byte 0xE9.
    const f = await byOrder('2017112709');
    const csv = `id,last_seen_run_id,ack_by,ack_note\r\n${f.id},${f.last_seen_run_id},Renée Li,checked\r\n`;
    const before = await findings();
    const r = await ack('latin-edited.csv', Buffer.from(csv, 'latin1'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('latin-edited.csv: line 2 is not valid UTF-8 (byte 0xe9); if Excel on Chinese Windows saved it as plain CSV, import it with --encoding gb18030');
    expect(await findings()).toEqual(before);
  });

  it('never overwrites an acknowledgement the file did not show: the later import is refused and named', async () => {
    const liNa = await exportCsv('li.na.csv');
    const wangWei = await exportCsv('wang.wei.csv');
    const done = await ack('li.na-edited.csv', Buffer.from(edit(liNa, { '2017112704': { ack_by: 'li.na', ack_note: '已与银行核对' } })));
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^changed 1:$/m);
    const acked = await byOrder('2017112704');

    // wang.wei's copy was exported before li.na's import; he types his name and leaves the note blank.
    const late = await ack('wang.wei-edited.csv', Buffer.from(edit(wangWei, { '2017112704': { ack_by: 'wang.wei' } })));
    expect(late.code).toBe(1);
    expect(late.stdout).toMatch(new RegExp(`^  row \\d+, id ${acked.id} \\(${FIXTURE_DATE} \\w+ 2017112704\\): acknowledged by li\\.na at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d since the export; export the report again$`, 'm'));
    expect(await byOrder('2017112704')).toEqual(acked);
  });

  it('refuses and names a row whose finding changed since the export; writes nothing unless --partial', async () => {
    const old = await exportCsv('old.csv');
    await run(); // every open finding is seen by a newer run
    const fresh = await exportCsv('fresh.csv');
    const stale = await byOrder('2017112705');
    const oldVersion = String(stale.last_seen_run_id - 1);
    expect(old).toContain(`,${oldVersion},`);

    const refused = await ack('stale.csv', Buffer.from(edit(old, { '2017112705': { ack_by: 'li.na', ack_note: '重复付款已追回' } })));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^refused 1:$/m);
    expect(refused.stdout).toContain(`id ${stale.id} (${FIXTURE_DATE} duplicate_provider_order 2017112705): changed since the export: seen by run ${stale.last_seen_run_id}, the file has run ${oldVersion}`);
    expect(refused.stdout).toContain('nothing written: 1 row refused');
    expect((await byOrder('2017112705')).ack_by).toBeNull();

    // One fresh row and one stale row: all or nothing by default, the fresh one with --partial.
    const mixed = Buffer.from(edit(fresh, {
      '2017111102': { ack_by: 'li.na', ack_note: '已补记退款' },
      '2017112705': { ack_by: 'li.na', last_seen_run_id: oldVersion },
    }));
    const all = await ack('mixed.csv', mixed);
    expect(all.code).toBe(1);
    expect(all.stdout).toMatch(/^would change 1:$/m);
    expect((await byOrder('2017111102')).ack_by).toBeNull();
    const partial = await ack('mixed.csv', mixed, '--partial');
    expect(partial.code, partial.stdout).toBe(0);
    expect(partial.stdout).toMatch(/^changed 1:$/m);
    expect(partial.stdout).toMatch(/^refused 1:$/m);
    expect((await byOrder('2017111102')).ack_note).toBe('已补记退款');
    expect((await byOrder('2017112705')).ack_by).toBeNull();

    // A finding resolved since the export: the ledger is corrected and the day run again.
    await child.use((h) => h.withSession((s) => s.query(`update recon.ledger_payouts set amount = 3.00 where order_id = '2017111103'`)));
    await run();
    const resolved = await byOrder('2017111103');
    expect(resolved.status).toBe('resolved');
    const late = await ack('late.csv', Buffer.from(edit(fresh, { '2017111103': { ack_by: 'zhao.lei', ack_note: '金额已更正' } })));
    expect(late.code).toBe(1);
    expect(late.stdout).toMatch(new RegExp(`id ${resolved.id} \\(${FIXTURE_DATE} amount_mismatch 2017111103\\): (resolved by run \\d+|changed since the export)`));
  });

  it('refuses a note without a name, an unknown id, and a file that is not a report CSV', async () => {
    const csv = await exportCsv('x.csv');
    const noName = await ack('noname.csv', Buffer.from(edit(csv, { '2017112709': { ack_note: '稍后处理' } })));
    expect(noName.code).toBe(1);
    expect(noName.stdout).toContain('ack_note without ack_by');
    const unknown = await ack('unknown.csv', Buffer.from('id,last_seen_run_id,ack_by,ack_note\r\n999999,1,li.na,x\r\n'));
    expect(unknown.stdout).toContain('row 2, id 999999: no such finding');
    const wrong = await ack('wrong.csv', Buffer.from('a,b\r\n1,2\r\n'));
    expect([wrong.code, wrong.stderr.trim()]).toEqual([2, `yzh-recon: ${join(dir, 'wrong.csv')}: no column id, last_seen_run_id, ack_by, ack_note; use a file from \`yzh-recon report --format csv\``]);
  });
});

describe.skipIf(!HAS_PG)('the finance role (sql/roles/finance-role.sql)', () => {
  let child: ChildDatabase;
  let sandbox: Sandbox;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yzh-finance-'));
    sandbox = await startSandbox();
    child = await childDatabase('pg', { fixtureDay: true });
    expect((await runCli(['run', '--date', FIXTURE_DATE], { ...child.env, ...providerEnv(sandbox) })).code).toBe(0);
    const root = join(import.meta.dirname, '..', '..', 'sql', 'roles');
    await child.use((h) => h.withSession(async (s) => {
      await s.exec(readFileSync(join(root, 'job-role.sql'), 'utf8'));
      await s.exec(readFileSync(join(root, 'finance-role.sql'), 'utf8'));
    }));
  });
  afterAll(async () => {
    await sandbox?.stop();
    await child?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the report and the page, acknowledges, and can change nothing else', async () => {
    const url = new URL(child.env.DATABASE_URL!);
    url.username = 'yzh_recon_finance';
    const env = { DATABASE_URL: url.toString() };
    const csvFile = join(dir, 'open.csv');
    expect((await runCli(['report', '--open', '--format', 'csv', '--out', csvFile], env)).code).toBe(0);
    const page = await runCli(['report', '--format', 'html', '--date', FIXTURE_DATE, '--out', join(dir, 'page.html')], env);
    expect(page.code, page.stderr).toBe(0);
    writeFileSync(csvFile, edit(readFileSync(csvFile, 'utf8'), { '2017112708': { ack_by: 'li.na', ack_note: 'ok' } }));
    const r = await runCli(['ack', '--file', csvFile], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^changed 1:$/m);

    const finance = new pg.Client({ connectionString: url.toString() });
    await finance.connect();
    try {
      const denied = async (sql: string) => {
        const err = await finance.query(sql).then(() => null, (e: { code?: string }) => e);
        expect(err?.code, sql).toBe('42501'); // insufficient_privilege
      };
      await denied(`update recon.discrepancies set status = 'resolved'`);
      await denied(`update recon.discrepancies set details = '{}'`);
      await denied(`update recon.discrepancies set last_seen_run_id = 1`);
      await denied('delete from recon.discrepancies');
      await denied(`insert into recon.runs (dealer_id, business_date, trigger, status) values ('x', '2024-01-01', 'manual', 'running')`);
      await denied(`update recon.ledger_payouts set status = 'paid'`);
      await denied('create table recon.extra (id int)');
      await finance.query(`update recon.discrepancies set ack_note = 'checked' where order_id = '2017112708'`);
    } finally {
      await finance.end();
    }
    // The job role still cannot write what finance writes.
    const job = new URL(child.env.DATABASE_URL!);
    job.username = 'yzh_recon_job';
    const jobClient = new pg.Client({ connectionString: job.toString() });
    await jobClient.connect();
    const err = await jobClient.query(`update recon.discrepancies set ack_by = 'job'`).then(() => null, (e: { code?: string }) => e);
    await jobClient.end();
    expect(err?.code).toBe('42501');
  });
});
