import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ackCommand } from '../../src/cli/ack.js';
import type { CommandContext } from '../../src/cli/context.js';
import { reportCommand } from '../../src/cli/report.js';
import { runCommand } from '../../src/cli/run.js';
import { loadConfig } from '../../src/config.js';
import { coerceError } from '../../src/errors.js';
import type { Sandbox } from '../../src/provider/sandbox-server.js';
import { cellText } from '../../src/recon/report/xlsx-import.js';
import type { CliResult } from '../helpers/cli.js';
import { childDatabase, providerEnv, type ChildDatabase } from '../helpers/cli-env.js';
import { ENGINES } from '../helpers/db.js';
import { FIXTURE_DATE, startSandbox } from '../helpers/provider.js';

/**
 * The workbook export and its import, through the commands on a whole run's findings: what
 * Excel is told about each cell (text, number, date, locked or not, hidden), that LibreOffice
 * opens it and reads the same values as the CSV export, and that `ack --file` takes back a
 * workbook whose columns were moved and that gained a sheet, with the CSV import's checks.
 */

vi.setConfig({ testTimeout: 300_000 });

const SOFFICE = (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, 'soffice')));
if (!SOFFICE) console.log('soffice is not installed (Debian package libreoffice-calc-nogui): the workbook is not opened in LibreOffice');

const COMMANDS = { ack: ackCommand, report: reportCommand, run: runCommand };

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

/** The sheet's rows as records keyed by header text. */
function records(sheet: ExcelJS.Worksheet): Record<string, ExcelJS.Cell>[] {
  const header = (sheet.getRow(1).values as ExcelJS.CellValue[]).slice(1).map((v) => cellText(v));
  const out: Record<string, ExcelJS.Cell>[] = [];
  for (let r = 2; r <= sheet.rowCount; r++) {
    const row = sheet.getRow(r);
    out.push(Object.fromEntries(header.map((h, i) => [h, row.getCell(i + 1)])));
  }
  return out;
}

describe.each(ENGINES)('report --format xlsx and ack --file FILE.xlsx (%s)', (engine) => {
  let child: ChildDatabase;
  let sandbox: Sandbox;
  let dir: string;
  let env: Record<string, string>;
  const exportFile = async (name: string, ...flags: string[]) => {
    const file = join(dir, name);
    const r = await command(['report', ...flags, '--out', file], env);
    expect(r.code, r.stderr).toBe(0);
    return file;
  };
  const load = async (file: string) => {
    const book = new ExcelJS.Workbook();
    await book.xlsx.readFile(file);
    return book;
  };
  const findings = () => child.use((h) => h.withSession(async (s) => (await s.query<{
    id: number; order_id: string | null; kind: string; last_seen_run_id: number; ack_by: string | null; ack_note: string | null;
  }>(`select id, order_id, kind, last_seen_run_id, ack_by, ack_note from recon.discrepancies where status = 'open' order by id`)).rows));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yzh-xlsx-'));
    sandbox = await startSandbox();
    child = await childDatabase(engine, { fixtureDay: true });
    env = child.env;
    const r = await command(['run', '--date', FIXTURE_DATE], { ...env, ...providerEnv(sandbox) });
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await sandbox?.stop();
    await child?.drop();
    rmSync(dir, { recursive: true, force: true });
    if (child?.env.PGLITE_DIR) rmSync(dirname(child.env.PGLITE_DIR), { recursive: true, force: true });
  });

  it('writes the open findings as typed cells: ids and refs as text, amounts as numbers with two decimals, dates as dates; only the ack cells unlocked', async () => {
    const book = await load(await exportFile('zh.xlsx', '--format', 'xlsx'));
    expect(book.worksheets.map((s) => s.name)).toEqual(['差异', '概览']);
    const sheet = book.getWorksheet('差异')!;
    const open = await findings();
    const rows = records(sheet);
    expect(rows).toHaveLength(open.length);
    expect(open.length).toBeGreaterThan(3);
    expect(Object.keys(rows[0]!)).toEqual([
      '对账日', '严重程度', '类型', '商户订单号', '订单流水号', '账本金额', '云账户金额', '状态', '确认人 ack_by', '确认说明 ack_note',
      '差异编号 id', '明细', 'last_seen_run_id', 'ack_version',
    ]);
    expect(rows.map((r) => Number(r['差异编号 id']!.value)).sort((a, b) => a - b)).toEqual(open.map((f) => f.id));
    for (const r of rows) {
      expect(typeof r['差异编号 id']!.value).toBe('string');
      expect(r['对账日']!.value).toEqual(new Date(`${FIXTURE_DATE}T00:00:00Z`));
      expect(r['对账日']!.numFmt).toBe('yyyy-mm-dd');
      const f = open.find((x) => x.id === Number(r['差异编号 id']!.value))!;
      expect(r['last_seen_run_id']!.value).toBe(f.last_seen_run_id);
      expect(r['商户订单号']!.value ?? null).toBe(f.order_id);
      if (f.order_id !== null) expect(typeof r['商户订单号']!.value).toBe('string');
      for (const amount of ['账本金额', '云账户金额']) {
        const v = r[amount]!.value;
        if (v !== null) {
          expect(typeof v).toBe('number');
          expect(r[amount]!.numFmt).toBe('#,##0.00');
        }
      }
      for (const [name, cell] of Object.entries(r)) {
        expect(cell.protection?.locked ?? true, name).toBe(!['确认人 ack_by', '确认说明 ack_note'].includes(name));
      }
    }
    expect(rows.some((r) => typeof r['账本金额']!.value === 'number')).toBe(true);
    expect(rows.some((r) => typeof r['订单流水号']!.value === 'string')).toBe(true);
    // The header stays in view, the filter is on, the sheet protected without a password.
    expect(sheet.views[0]).toMatchObject({ state: 'frozen', ySplit: 1 });
    expect(sheet.autoFilter).toBeTruthy();
    const protection = (sheet as unknown as { sheetProtection: Record<string, unknown> }).sheetProtection;
    expect(protection).toMatchObject({ sheet: true, autoFilter: true });
    expect(protection.hashValue).toBeUndefined();
    const hidden = sheet.columns.filter((c) => c.hidden).map((c) => cellText(sheet.getRow(1).getCell(c.number!).value));
    expect(hidden).toEqual(['last_seen_run_id', 'ack_version']);
    for (const c of sheet.columns) expect(c.width, String(c.number)).toBeGreaterThanOrEqual(8);

    const glance = book.getWorksheet('概览')!;
    const glanceText = glance.getSheetValues().flat().map((v) => cellText(v as ExcelJS.CellValue)).join('|');
    for (const word of ['云账户对账日报', '商户', 'sixcn', '当日概览', '云账户订单文件', '云账户流水文件', '商户账本', '严重', '待处理']) {
      expect(glanceText).toContain(word);
    }
  });

  it('speaks English with --lang en, and the import reads either language', async () => {
    const book = await load(await exportFile('en.xlsx', '--format', 'xlsx', '--lang', 'en'));
    expect(book.worksheets.map((s) => s.name)).toEqual(['Findings', 'Overview']);
    expect(cellText(book.getWorksheet('Findings')!.getRow(1).getCell(4).value)).toBe('Merchant order id');
    const r = await command(['ack', '--file', join(dir, 'en.xlsx'), '--dry-run'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\(XLSX, \d+ rows\)/);
    expect(r.stdout).toMatch(/^changed 0:$|^would change 0:$/m);
  });

  it.skipIf(!SOFFICE)('opens in LibreOffice, which reads the same values as the CSV export', async () => {
    const xlsx = await exportFile('lo.xlsx', '--format', 'xlsx');
    const csvFile = await exportFile('lo-export.csv', '--format', 'csv', '--open');
    const out = join(dir, 'lo');
    await promisify(execFile)('soffice', [
      `-env:UserInstallation=file://${join(dir, 'lo-profile')}`, '--headless',
      '--convert-to', 'csv:Text - txt - csv (StarCalc):44,34,76,1', '--outdir', out, xlsx,
    ], { timeout: 120_000 });
    const lo: string[][] = parse(readFileSync(join(out, 'lo.csv'), 'utf8').replace(/^\uFEFF/, ''));
    const ours: string[][] = parse(readFileSync(csvFile, 'utf8').replace(/^\uFEFF/, ''));
    const header = lo[0]!;
    const csvHeader = ours[0]!;
    expect(lo).toHaveLength(ours.length);
    const byId = new Map(ours.slice(1).map((r) => [r[csvHeader.indexOf('id')]!, r]));
    const at = (name: string) => header.indexOf(name);
    for (const row of lo.slice(1)) {
      const theirs = byId.get(row[at('差异编号 id')]!)!;
      expect(theirs, row.join(',')).toBeDefined();
      const csv = (c: string) => theirs[csvHeader.indexOf(c)]!.replace(/^'(?=[=+\-@\t\r])/, '');
      expect(row[at('对账日')]).toBe(csv('business_date'));
      expect(row[at('商户订单号')]).toBe(csv('order_id'));
      expect(row[at('订单流水号')]).toBe(csv('provider_ref'));
      expect(row[at('严重程度')]).toBe(csv('severity'));
      expect(row[at('类型')]).toBe(csv('kind'));
      expect(row[at('last_seen_run_id')]).toBe(csv('last_seen_run_id'));
      for (const [mine, theirsName] of [['账本金额', 'ledger_amount'], ['云账户金额', 'provider_amount']] as const) {
        // Two decimals as shown, thousands separated; the same amount as the CSV's.
        const shown = row[at(mine)]!;
        if (csv(theirsName) === '') expect(shown).toBe('');
        else {
          expect(shown).toMatch(/^-?\d{1,3}(,\d{3})*\.\d\d$/);
          expect(shown.replaceAll(',', '')).toBe(Number(csv(theirsName)).toFixed(2));
        }
      }
    }
  });

  it('takes back a workbook whose columns were moved and that gained a sheet, with the CSV import\'s checks', async () => {
    const file = await exportFile('edit.xlsx', '--format', 'xlsx');
    const book = await load(file);
    const sheet = book.getWorksheet('差异')!;
    // Finance drags the ack columns to the front and adds a sheet of their own in front.
    sheet.spliceColumns(9, 2);
    const header = (sheet.getRow(1).values as ExcelJS.CellValue[]).slice(1).map((v) => cellText(v));
    expect(header).not.toContain('确认人 ack_by');
    sheet.spliceColumns(1, 0, ['确认说明 ack_note'], ['确认人 ack_by']);
    const mine = book.addWorksheet('我的笔记');
    mine.addRow(['id', 'last_seen_run_id', 'ack_by']);
    mine.addRow(['1', '1', 'nobody']);
    for (const s of book.worksheets as unknown as { name: string; orderNo: number }[]) s.orderNo = s.name === '我的笔记' ? 0 : s.orderNo + 1;
    const rows = records(sheet);
    const target = rows.findIndex((r) => r['商户订单号']!.value === '2017111103');
    const formula = rows.findIndex((r) => r['商户订单号']!.value === '2017112708');
    expect(target).toBeGreaterThanOrEqual(0);
    sheet.getRow(target + 2).getCell(2).value = 'li.na';
    sheet.getRow(target + 2).getCell(1).value = '银行已确认\n第二行';
    sheet.getRow(formula + 2).getCell(2).value = { richText: [{ text: 'wang' }, { text: '.wei' }] };
    sheet.getRow(formula + 2).getCell(1).value = '=HYPERLINK("http://evil.example/x","点我")';
    const edited = join(dir, 'edited.xlsx');
    await book.xlsx.writeFile(edited);

    const before = await findings();
    const dry = await command(['ack', '--file', edited, '--dry-run'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^would change 2:$/m);
    expect(dry.stdout).toContain(`row ${target + 2}, `);
    expect(await findings()).toEqual(before);

    const done = await command(['ack', '--file', edited], env);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^changed 2:$/m);
    const after = await findings();
    const one = after.find((f) => f.order_id === '2017111103')!;
    expect([one.ack_by, one.ack_note]).toEqual(['li.na', '银行已确认\n第二行']);
    const two = after.find((f) => f.order_id === '2017112708' && f.ack_by !== null)!;
    expect([two.ack_by, two.ack_note]).toEqual(['wang.wei', '=HYPERLINK("http://evil.example/x","点我")']);

    // Exported again: the note is a text cell, never a formula; the acknowledgement as exported is in the hidden columns.
    const again = await load(await exportFile('again.xlsx', '--format', 'xlsx'));
    const row = records(again.getWorksheet('差异')!).find((r) => r['商户订单号']!.value === '2017112708' && r['确认人 ack_by']!.value !== null)!;
    expect(row['确认说明 ack_note']!.value).toBe('=HYPERLINK("http://evil.example/x","点我")');
    expect(row['确认说明 ack_note']!.type).toBe(ExcelJS.ValueType.String);
    expect(row['ack_version']!.value).toMatch(/^ack-[0-9a-f]{16}$/);
  });

  it('refuses a row whose finding changed since the export and writes nothing unless --partial; names a workbook without the sheet', async () => {
    const file = await exportFile('stale.xlsx', '--format', 'xlsx');
    const book = await load(file);
    const sheet = book.getWorksheet('差异')!;
    const rows = records(sheet);
    const at = (name: string) => (sheet.getRow(1).values as ExcelJS.CellValue[]).slice(1).map((v) => cellText(v)).indexOf(name) + 1;
    const stale = rows.findIndex((r) => r['商户订单号']!.value === '2017112705');
    const fresh = rows.findIndex((r) => r['商户订单号']!.value === '2017112709');
    const version = Number(rows[stale]!['last_seen_run_id']!.value);
    sheet.getRow(stale + 2).getCell(at('last_seen_run_id')).value = version - 1;
    sheet.getRow(stale + 2).getCell(at('确认人 ack_by')).value = 'li.na';
    sheet.getRow(fresh + 2).getCell(at('确认人 ack_by')).value = 'zhao.lei';
    const edited = join(dir, 'stale-edited.xlsx');
    await book.xlsx.writeFile(edited);
    const before = await findings();
    const refused = await command(['ack', '--file', edited], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`row ${stale + 2}, id ${cellText(rows[stale]!['差异编号 id']!.value)} (${FIXTURE_DATE} duplicate_provider_order 2017112705): changed since the export: seen by run ${version}, the file has run ${version - 1}`);
    expect(await findings()).toEqual(before);
    const partial = await command(['ack', '--file', edited, '--partial'], env);
    expect(partial.code, partial.stderr).toBe(0);
    expect((await findings()).filter((f) => f.ack_by === 'zhao.lei').map((f) => f.order_id)).toEqual(['2017112709']);

    const other = new ExcelJS.Workbook();
    other.addWorksheet('Sheet1').addRow(['a', 'b']);
    const wrong = join(dir, 'wrong.xlsx');
    await other.xlsx.writeFile(wrong);
    const r = await command(['ack', '--file', wrong], env);
    expect([r.code, r.stderr.trim()]).toEqual([2, `yzh-recon: ${wrong}: no sheet named 差异 or Findings (sheets: Sheet1); use a workbook from \`yzh-recon report --format xlsx\``]);
    writeFileSync(join(dir, 'broken.xlsx'), Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(40)]));
    const broken = await command(['ack', '--file', join(dir, 'broken.xlsx')], env);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/broken\.xlsx: not a readable Excel workbook \(\.xlsx\)/);
  });
});
