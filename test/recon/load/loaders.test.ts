import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/db/connection.js';
import { ORDER_STATUS_TEXT } from '../../../src/provider/file-format.js';
import { readProviderFile } from '../../../src/provider/file-reader.js';
import type { FileKind } from '../../../src/provider/protocol.js';
import { createLoadTable, ensureDealerTables, qualified } from '../../../src/recon/load/day-tables.js';
import { loadEmbedded } from '../../../src/recon/load/embedded-loader.js';
import type { FileLoader } from '../../../src/recon/load/loader.js';
import { ROW_COLUMNS } from '../../../src/recon/load/row-columns.js';
import { loadOnServer } from '../../../src/recon/load/server-loader.js';
import { ENGINES, freshDatabase, type TestDatabase } from '../../helpers/db.js';
import { encodeGb18030 } from '../../helpers/gb18030.js';
import { FIXTURE_DATE, FIXTURE_DIR } from '../../helpers/provider.js';

// The same files through both loaders: PGlite's (csv-parse feeding COPY) and the server's
// (Postgres' COPY parser, then the conversion in SQL). They must store the same rows and
// refuse the same files with the same message, which is the reader's.

const LOADERS: Record<Engine, FileLoader> = { pglite: loadEmbedded, pg: loadOnServer };
const dir = mkdtempSync(join(tmpdir(), 'yzh-loaders-'));
const dbs = new Map<Engine, TestDatabase>();
let files = 0;

beforeAll(async () => {
  for (const engine of ENGINES) dbs.set(engine, await freshDatabase(engine));
}, 120_000);
afterAll(async () => {
  for (const db of dbs.values()) await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

const ordersCsv = readFileSync(join(FIXTURE_DIR, FIXTURE_DATE, 'orders.csv'), 'utf8');
const billsCsv = readFileSync(join(FIXTURE_DIR, FIXTURE_DATE, 'bills.csv'), 'utf8');
const ORDER_HEADER = ordersCsv.split('\n')[0]!;
const BILL_HEADER = billsCsv.split('\n')[0]!;
const ORDER_ROW = ordersCsv.split('\n')[1]!;
const BILL_ROW = billsCsv.split('\n')[1]!;

function gz(text: string | Buffer): string {
  const path = join(dir, `f${++files}.csv.gz`);
  writeFileSync(path, gzipSync(text));
  return path;
}

/** Loads `text` on `engine` in a transaction that is rolled back; the rows as stored, or the error. */
async function load(engine: Engine, kind: FileKind, text: string | Buffer): Promise<{ rows: Record<string, unknown>[] } | { error: string }> {
  const path = gz(text);
  return dbs.get(engine)!.handle.withSession(async (s) => {
    await ensureDealerTables(s, 'sixcn');
    await s.exec('begin');
    try {
      const table = await createLoadTable(s, kind, 'sixcn', FIXTURE_DATE, 1);
      const job = { kind, path, label: `${kind} file ${FIXTURE_DATE}`, table, dealerId: 'sixcn', date: FIXTURE_DATE };
      const n = await LOADERS[engine](s, job, () => {});
      const r = await s.query(`select ${ROW_COLUMNS[kind].join(', ')} from ${qualified(table)} order by line`);
      expect(r.rows).toHaveLength(n);
      return { rows: r.rows };
    } catch (err) {
      return { error: (err as Error).message };
    } finally {
      await s.exec('rollback');
    }
  });
}

/** The reader's verdict on the same file: the message every loader must give. */
async function readerError(kind: FileKind, text: string | Buffer): Promise<string | null> {
  const rows = readProviderFile(createReadStream(gz(text)), kind as 'order', `${kind} file ${FIXTURE_DATE}`);
  return pipeline(rows, new Writable({ objectMode: true, write: (_r, _e, done) => done() })).then(() => null, (e: Error) => e.message);
}

const cells = (row: string) => row.split(',');
/** A row with cell `i` replaced. */
const withCell = (row: string, i: number, value: string) => cells(row).map((c, j) => (j === i ? value : c)).join(',');
const orderCol = (name: string) => cells(ORDER_HEADER).indexOf(name);
const billCol = (name: string) => cells(BILL_HEADER).indexOf(name);

describe('both loaders store the same rows', () => {
  it('the fixture day, as a reference for the rest', async () => {
    const results = await Promise.all(ENGINES.map((e) => load(e, 'order', ordersCsv)));
    for (const r of results) expect(r).toHaveProperty('rows');
    const [first, ...rest] = results as { rows: Record<string, unknown>[] }[];
    expect(first!.rows.length).toBe(ordersCsv.trim().split('\n').length - 1);
    for (const r of rest) expect(r.rows).toEqual(first!.rows);
  });

  it('a GB18030 file (with CRLF) stores what its UTF-8 twin stores', async () => {
    for (const [kind, text] of [['order', ordersCsv], ['bill', billsCsv]] as const) {
      const utf8 = await Promise.all(ENGINES.map((e) => load(e, kind, text)));
      const gb = await Promise.all(ENGINES.map((e) => load(e, kind, encodeGb18030(text.replace(/\n/g, '\r\n')))));
      for (const r of [...utf8, ...gb]) expect(r).toHaveProperty('rows');
      expect(gb).toEqual(utf8);
      expect(JSON.stringify(gb)).toMatch(/[张王]\*\*/);
    }
  });

  it('a quoted field holding a comma, a doubled quote and a newline, a BOM, CRLF line ends, blank lines and a `-/-`', async () => {
    const name = orderCol('姓名');
    const quoted = withCell(ORDER_ROW, name, '"王,""五""\n六"');
    const dash = withCell(withCell(ORDER_ROW, orderCol('商户批次号'), '-/-'), orderCol('商户订单号'), ' X-1 ');
    const text = `\uFEFF${ORDER_HEADER}\r\n${quoted}\r\n\r\n${dash}\r\n`;
    const bills = `${BILL_HEADER}\n${withCell(BILL_ROW, billCol('姓名'), '"a\n""b"",c"')}\n`;
    for (const [kind, file, check] of [
      ['order', text, (rows: Record<string, unknown>[]) => {
        expect(rows.map((r) => [r.line, r.name_masked])).toEqual([[2, '王,"五"\n六'], [5, cells(ORDER_ROW)[name]]]);
        expect(rows[1]).toMatchObject({ order_id: 'X-1', batch_id: null });
      }],
      ['bill', bills, (rows: Record<string, unknown>[]) => expect(rows.map((r) => [r.line, r.name_masked])).toEqual([[2, 'a\n"b",c']])],
      // No space at a field's end, so the server loads it typed, without staging: every status
      // text, an empty and a `-/-` 订单状态, quoted values, empty optional fields.
      ['order', `${ORDER_HEADER}\n${[...Object.keys(ORDER_STATUS_TEXT).map((t, i) => withCell(withCell(ORDER_ROW, orderCol('订单状态'), t.includes('(') ? `"${t}"` : t), orderCol('商户订单号'), `S${i}`)),
        withCell(withCell(withCell(withCell(ORDER_ROW, orderCol('服务费'), ''), orderCol('支付渠道'), '"-/-"'), orderCol('完成时间'), ''), orderCol('姓名'), '"王,""五""\n六"'),
      ].join('\n')}\n`, (rows: Record<string, unknown>[]) => {
        expect(rows.map((r) => [r.status_text, r.status])).toEqual(
          [...Object.entries(ORDER_STATUS_TEXT), [cells(ORDER_ROW)[orderCol('订单状态')], 'paid']]);
        expect(rows.at(-1)).toMatchObject({ fee: null, channel: null, finished_at: null, name_masked: '王,"五"\n六' });
      }],
    ] as const) {
      const results = await Promise.all(ENGINES.map((e) => load(e, kind, file)));
      for (const r of results) {
        expect(r).toHaveProperty('rows');
        check((r as { rows: Record<string, unknown>[] }).rows);
      }
      expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    }
  });
});

describe('both loaders refuse a bad file with the reader\'s message', () => {
  const order = (row: string) => `${ORDER_HEADER}\n${ORDER_ROW}\n${row}\n${ORDER_ROW}\n`;
  const bill = (row: string) => `${BILL_HEADER}\n${BILL_ROW}\n${row}\n`;
  const cases: [string, FileKind, string | Buffer, RegExp][] = [
    ['a malformed amount', 'order', order(withCell(ORDER_ROW, orderCol('金额'), '12.3.4')), /line 3, column 金额: malformed amount "12\.3\.4"$/],
    ['an amount with three decimals', 'bill', bill(withCell(BILL_ROW, billCol('金额'), '1.005')), /line 3, column 金额: malformed amount "1\.005"$/],
    ['a malformed fee', 'order', order(withCell(ORDER_ROW, orderCol('服务费'), 'abc')), /line 3, column 服务费: malformed amount "abc"$/],
    ['a day past the month\'s end', 'order', order(withCell(ORDER_ROW, orderCol('创建时间'), '2017-11-31 00:00:00')), /line 3, column 创建时间: invalid date-time \(expected YYYY-MM-DD HH:mm:ss\) "2017-11-31 00:00:00"$/],
    ['month 13', 'bill', bill(withCell(BILL_ROW, billCol('完成时间'), '2017-13-40 00:00:00')), /line 3, column 完成时间: invalid date-time \(expected YYYY-MM-DD HH:mm:ss\) "2017-13-40 00:00:00"$/],
    ['an unknown 订单状态', 'order', order(withCell(ORDER_ROW, orderCol('订单状态'), '已冲正')), /line 3, column 订单状态: unknown order status "已冲正"$/],
    ['an unknown channel', 'order', order(withCell(ORDER_ROW, orderCol('支付渠道'), '银联')), /line 3, column 支付渠道: unknown channel "银联"$/],
    ['an empty 商户订单号', 'order', order(withCell(ORDER_ROW, orderCol('商户订单号'), '')), /line 3, column 商户订单号: is empty$/],
    ['a 流水号 of -/-', 'bill', bill(withCell(BILL_ROW, billCol('流水号'), '-/-')), /line 3, column 流水号: is empty$/],
    ['an unknown 流水类型', 'bill', bill(withCell(BILL_ROW, billCol('流水类型'), '经纪公司冲正')), /line 3, column 流水类型: unknown 流水类型 "经纪公司冲正"$/],
    ['an unknown 流水状态', 'bill', bill(withCell(BILL_ROW, billCol('流水状态'), '冲正')), /line 3, column 流水状态: unknown 流水状态 "冲正"$/],
    ['too many fields', 'order', order(`${ORDER_ROW},x`), /line 3: wrong number of fields \(17; the header has 16\)$/],
    ['a quote inside an unquoted field', 'order', order(withCell(ORDER_ROW, orderCol('姓名'), 'a"b')), /line 3: malformed CSV \(a quote inside a field that does not start with one\)$/],
    ['text after a closing quote', 'order', order(withCell(ORDER_ROW, orderCol('姓名'), '"a"b')), /line 3: malformed CSV \(a quoted field's closing quote is followed by more text\)$/],
    ['a quote never closed', 'order', `${ORDER_HEADER}\n${ORDER_ROW}\n${withCell(ORDER_ROW, orderCol('姓名'), '"王**')}\n${ORDER_ROW}\n`, /line 3: a quote opens a field on this line and is never closed \(the file ends inside it\)$/],
    ['a NUL byte', 'bill', bill(withCell(BILL_ROW, billCol('渠道流水号'), 'a\u0000b')), /line 3, column 渠道流水号: contains a NUL byte \(0x00\), which no provider field may hold$/],
    ['an unknown column', 'bill', billsCsv.replace('渠道流水号', '银行流水号'), /line 1, column 银行流水号: unknown column "银行流水号" in the header$/],
  ];
  it.each(cases)('%s', async (_what, kind, text, message) => {
    const expected = await readerError(kind, text);
    expect(expected).toMatch(message);
    for (const engine of ENGINES) expect(await load(engine, kind, text), engine).toEqual({ error: expected });
  });

  it('a bad value before a malformed record: the bad value, which comes first, is reported', async () => {
    const text = `${ORDER_HEADER}\n${ORDER_ROW}\n${withCell(ORDER_ROW, orderCol('金额'), '1.2.3')}\n${ORDER_ROW}\n${ORDER_ROW},x\n${ORDER_ROW}\n`;
    const expected = await readerError('order', text);
    expect(expected).toMatch(/line 3, column 金额: malformed amount "1\.2\.3"$/);
    for (const engine of ENGINES) expect(await load(engine, 'order', text), engine).toEqual({ error: expected });
  });

  it('the first bad line is reported, and on it the column the reader checks first', async () => {
    const bad = withCell(withCell(ORDER_ROW, orderCol('金额'), 'x'), orderCol('订单状态'), '未明');
    const text = `${ORDER_HEADER}\n${ORDER_ROW}\n${ORDER_ROW}\n${bad}\n${withCell(ORDER_ROW, orderCol('金额'), 'y')}\n`;
    const expected = await readerError('order', text);
    expect(expected).toMatch(/line 4, column 订单状态: unknown order status "未明"$/);
    for (const engine of ENGINES) expect(await load(engine, 'order', text), engine).toEqual({ error: expected });
  });
});
