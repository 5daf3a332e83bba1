import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ReconError } from '../../src/errors.js';
import { formatFen, parseFen, type BillRow, type OrderRow } from '../../src/provider/file-format.js';
import { readProviderFile } from '../../src/provider/file-reader.js';
import { FIXTURE_DATE, FIXTURE_DIR } from '../helpers/provider.js';

const ordersCsv = readFileSync(join(FIXTURE_DIR, FIXTURE_DATE, 'orders.csv'), 'utf8');
const billsCsv = readFileSync(join(FIXTURE_DIR, FIXTURE_DATE, 'bills.csv'), 'utf8');
const ORDER_HEADER = ordersCsv.slice(0, ordersCsv.indexOf('\n'));

async function rows<T>(bytes: Buffer, kind: 'order' | 'bill', label = 'orders.csv.gz'): Promise<T[]> {
  const out: T[] = [];
  for await (const row of readProviderFile(Readable.from([bytes]), kind as 'order', label)) out.push(row as T);
  return out;
}

async function failure(bytes: Buffer, kind: 'order' | 'bill' = 'order'): Promise<ReconError> {
  const err = await rows(bytes, kind).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ReconError);
  return err as ReconError;
}

function gbk(text: string): Buffer {
  // GB18030 encoder: Node has a decoder only, so map each character through a decode table.
  const table = new Map<string, Buffer>();
  const decoder = new TextDecoder('gb18030');
  for (let hi = 0x81; hi <= 0xfe; hi++) {
    for (let lo = 0x40; lo <= 0xfe; lo++) {
      const b = Buffer.from([hi, lo]);
      const ch = decoder.decode(b);
      if (ch.length === 1 && !table.has(ch)) table.set(ch, b);
    }
  }
  return Buffer.concat([...text].map((ch) => (ch.charCodeAt(0) < 0x80 ? Buffer.from(ch, 'latin1') : table.get(ch)!)));
}

describe('file reader', () => {
  it('reads the fixture day as typed rows', async () => {
    const orders = await rows<OrderRow>(gzipSync(ordersCsv), 'order');
    expect(orders).toHaveLength(ordersCsv.trim().split('\n').length - 1);
    expect(orders[0]).toMatchObject({
      line: 2, orderId: '2017112701', providerRef: '1053817962754221', batchId: null, brokerId: 'yiyun**',
      statusText: '成功', status: 'paid', channel: 'bankcard', amountFen: 19500n, feeFen: 1365n,
      feeBillNo: null, createdAt: Date.parse('2017-11-20T00:00:22+08:00'),
    });
    expect(orders.find((o) => o.orderId === '2017112702')).toMatchObject({ status: 'failed', channel: 'wxpay', feeFen: 756n });
    expect(orders.find((o) => o.orderId === '2017112703')!.feeFen).toBe(70n);

    const bills = await rows<BillRow>(gzipSync(billsCsv), 'bill', 'bills.csv.gz');
    expect(bills.filter((b) => b.billType === 'return')).toHaveLength(1);
    expect(bills[1]).toMatchObject({ billType: 'payout_fee', billStatus: 'succeeded', channel: null, amountFen: 42n, billRef: '10538175483200800' });
  });

  it('gives the same rows for BOM + CRLF and for GB18030 as for plain UTF-8', async () => {
    const plain = await rows<OrderRow>(gzipSync(ordersCsv), 'order');
    const bomCrlf = await rows<OrderRow>(gzipSync(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(ordersCsv.replace(/\n/g, '\r\n'))])), 'order');
    const gb = await rows<OrderRow>(gzipSync(gbk(ordersCsv)), 'order');
    expect(bomCrlf).toEqual(plain);
    expect(gb).toEqual(plain);
  });

  it('keeps an 18-digit 订单流水号 exactly', async () => {
    const csv = `${ORDER_HEADER}\n2017112799,987654321098765432,,张**,yiyun**,成功,6228*****1,银行卡,1,0.07,,,,,2017-11-20 00:00:01,2017-11-20 00:00:02\n`;
    const [row] = await rows<OrderRow>(gzipSync(csv), 'order');
    expect(row!.providerRef).toBe('987654321098765432');
  });

  it('reads a file with only the header as an empty day', async () => {
    expect(await rows(gzipSync(`${ORDER_HEADER}\n`), 'order')).toEqual([]);
  });

  it('a truncated gzip fails naming the file', async () => {
    const gz = gzipSync(ordersCsv);
    const err = await failure(gz.subarray(0, Math.floor(gz.length / 2)));
    expect(err.message).toBe('orders.csv.gz: the gzip stream is truncated (unexpected end of file)');
  });

  it('a file that is not gzip, and an empty file, fail clearly', async () => {
    expect((await failure(Buffer.from(ordersCsv))).message).toMatch(/^orders.csv.gz: not a valid gzip file/);
    expect((await failure(Buffer.alloc(0))).message).toMatch(/^orders.csv.gz: (the gzip stream is truncated|the file is empty)/);
    expect((await failure(gzipSync(''))).message).toBe('orders.csv.gz: the file is empty (no header row)');
  });

  it('an unknown column and a missing column are named', async () => {
    const unknown = ordersCsv.replace('服务费账单号', '手续费账单号');
    expect((await failure(gzipSync(unknown))).message).toBe('orders.csv.gz line 1, column 手续费账单号: unknown column "手续费账单号" in the header');
    const lines = ordersCsv.split('\n').map((l) => l.split(',').slice(0, 15).join(','));
    expect((await failure(gzipSync(lines.join('\n')))).message).toBe('orders.csv.gz line 1: missing column "完成时间" in the header');
  });

  it.each(['12.3.4', '1,000', '1.234', 'abc', ''])('a malformed amount %j names the line and column', async (amount) => {
    const lines = ordersCsv.trimEnd().split('\n');
    const cells = lines[5]!.split(',');
    cells[8] = amount.includes(',') ? `"${amount}"` : amount;
    lines[5] = cells.join(',');
    const err = await failure(gzipSync(lines.join('\n')));
    expect(err.message).toBe(`orders.csv.gz line 6, column 金额: malformed amount "${amount}"`);
    expect(err.facts).toMatchObject({ file: 'orders.csv.gz', line: 6, column: '金额' });
  });

  it('too few fields, an invalid date, an unknown status and an unknown 流水类型 are named', async () => {
    const lines = ordersCsv.trimEnd().split('\n');
    const short = [...lines];
    short[3] = short[3]!.split(',').slice(0, 10).join(',');
    expect((await failure(gzipSync(short.join('\n')))).message).toMatch(/^orders.csv.gz line 4: wrong number of fields/);

    const badDate = [...lines];
    badDate[2] = badDate[2]!.replace('2017-11-20 00:01:39', '2017-02-30 00:01:39');
    expect((await failure(gzipSync(badDate.join('\n')))).message).toBe('orders.csv.gz line 3, column 创建时间: invalid date-time (expected YYYY-MM-DD HH:mm:ss) "2017-02-30 00:01:39"');

    const badStatus = [...lines];
    badStatus[2] = badStatus[2]!.replace('失败', '处理中');
    expect((await failure(gzipSync(badStatus.join('\n')))).message).toBe('orders.csv.gz line 3, column 订单状态: unknown order status "处理中"');

    const badType = billsCsv.replace('经纪公司退汇手续费', '经纪公司返点');
    expect((await failure(gzipSync(badType), 'bill')).message).toMatch(/line 9, column 流水类型: unknown 流水类型 "经纪公司返点"/);
  });

  it('never echoes a personal field in an error', async () => {
    const lines = ordersCsv.trimEnd().split('\n');
    lines[1] = lines[1]!.replace('2017112701', '');
    const err = await failure(gzipSync(lines.join('\n')));
    expect(err.message).toBe('orders.csv.gz line 2, column 商户订单号: is empty');
  });
});

describe('amounts', () => {
  it('parses yuan to exact fen and back', () => {
    expect(parseFen('195')).toBe(19500n);
    expect(parseFen('195.00')).toBe(19500n);
    expect(parseFen('13.65')).toBe(1365n);
    expect(parseFen('0.7')).toBe(70n);
    expect(parseFen('99999999999999.99')).toBe(9999999999999999n);
    expect(parseFen('12.3.4')).toBeNull();
    expect(parseFen('1,000')).toBeNull();
    expect(parseFen('1.234')).toBeNull();
    expect(formatFen(70n)).toBe('0.70');
    expect(formatFen(9999999999999999n)).toBe('99999999999999.99');
    expect(formatFen(-5n)).toBe('-0.05');
  });
});
