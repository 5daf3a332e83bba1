import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ReconError } from '../../src/errors.js';
import { formatFen, parseFen, type BillRow, type OrderRow } from '../../src/provider/file-format.js';
import { MAX_RECORD_BYTES, readProviderFile } from '../../src/provider/file-reader.js';
import { FIXTURE_DATE, FIXTURE_DIR } from '../helpers/provider.js';
import { encodeGb18030 as gb18030 } from '../helpers/gb18030.js';

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

const gbk = gb18030;

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

  it('a column, a status or a channel named like a property every object has is unknown, as any other name', async () => {
    const lines = ordersCsv.trimEnd().split('\n');
    expect((await failure(gzipSync([`${lines[0]},toString`, ...lines.slice(1).map((l) => `${l},x`)].join('\n')))).message)
      .toBe('orders.csv.gz line 1, column toString: unknown column "toString" in the header');
    const status = [...lines];
    status[2] = status[2]!.replace('失败', 'constructor');
    expect((await failure(gzipSync(status.join('\n')))).message).toBe('orders.csv.gz line 3, column 订单状态: unknown order status "constructor"');
    const channel = [...lines];
    channel[2] = channel[2]!.replace('微信', 'toString');
    expect((await failure(gzipSync(channel.join('\n')))).message).toBe('orders.csv.gz line 3, column 支付渠道: unknown channel "toString"');
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

/** `bytes` with `insert` placed right after the first occurrence of `after`. */
function insertAfter(bytes: Buffer, after: string | Buffer, insert: Buffer): Buffer {
  const needle = typeof after === 'string' ? Buffer.from(after) : after;
  const at = bytes.indexOf(needle) + needle.length;
  return Buffer.concat([bytes.subarray(0, at), insert, bytes.subarray(at)]);
}

describe('file reader: encodings', () => {
  it('an invalid byte in a GB18030 file fails naming the line and byte offset, never loading U+FFFD', async () => {
    // Line 3's 商户订单号 "2017112702" becomes "20" + 0xFF + "17112702": it loaded as "20\uFFFD17112702".
    const gb = gbk(ordersCsv);
    const at = gb.indexOf('\n2017112702') + 3;
    const bad = Buffer.concat([gb.subarray(0, at), Buffer.from([0xff]), gb.subarray(at)]);
    const offset = bad.indexOf(0xff);
    const line = bad.subarray(0, offset).toString('latin1').split('\n').length;
    expect(line).toBe(3);
    const err = await failure(gzipSync(bad));
    expect(err.message).toBe(`orders.csv.gz line 3: byte 0xFF at byte offset ${offset} is not valid GB18030 (the header line is GB18030, so the whole file must be)`);
    expect(err.facts).toMatchObject({ file: 'orders.csv.gz', line: 3, byteOffset: offset, encoding: 'GB18030' });
  });

  it('one Latin-1 byte in the first 4 KB of a UTF-8 file is an error at that byte, not a GB18030 file', async () => {
    const utf8 = Buffer.from(ordersCsv);
    const at = utf8.indexOf('\n2017112704') + 1;
    const bad = Buffer.concat([utf8.subarray(0, at), Buffer.from([0xe9]), utf8.subarray(at)]);
    expect(at).toBeLessThan(4096);
    const err = await failure(gzipSync(bad));
    const line = utf8.subarray(0, at).toString().split('\n').length;
    expect(err.message).toBe(`orders.csv.gz line ${line}: bytes 0xE9 0x32 at byte offset ${at} are not valid UTF-8 (the header line is UTF-8, so the whole file must be)`);
    expect(err.facts).toMatchObject({ line, byteOffset: at, encoding: 'UTF-8' });
  });

  it('a file that ends inside a multi-byte character says so', async () => {
    const utf8 = Buffer.from(ordersCsv);
    const cut = utf8.lastIndexOf(Buffer.from('银行卡')) + 2;
    const err = await failure(gzipSync(utf8.subarray(0, cut)));
    const line = utf8.subarray(0, cut).toString('latin1').split('\n').length;
    expect(err.message).toBe(`orders.csv.gz line ${line}: the file ends inside a UTF-8 character (bytes 0xE9 0x93 at byte offset ${cut - 2}) (the header line is UTF-8, so the whole file must be)`);
  });

  it('a header that is neither UTF-8 nor GB18030 column names is named as such, with what was found', async () => {
    const utf8 = Buffer.from(ordersCsv);
    const err = await failure(gzipSync(insertAfter(utf8, '商户订单号,', Buffer.from([0xe9]))));
    expect(err.message).toBe('orders.csv.gz line 1: the header is neither UTF-8 nor GB18030: bytes 0xE9 0xE8 at byte offset 16 are not UTF-8, and bytes 0xB7 0x2C at byte offset 14 are not GB18030');
  });

  it('decides on the header line: a GB18030 header followed by a UTF-8-looking first 4 KB is still GB18030', async () => {
    // Rows of ASCII only are valid UTF-8 too; only the header tells the two apart.
    const header = gbk(ORDER_HEADER);
    const row = '2017112799,987654321098765432,,-/-,yiyun01,-/-,-/-,-/-,1,0.07,,,,,2017-11-20 00:00:01,2017-11-20 00:00:02\n';
    const rowsOut = await rows<OrderRow>(gzipSync(Buffer.concat([header, Buffer.from(`\n${row.repeat(100)}`)])), 'order');
    expect(rowsOut).toHaveLength(100);
  });
});

describe('file reader: record size', () => {
  const lines = ordersCsv.trimEnd().split('\n');
  const strayLine2 = [lines[0], lines[1]!.replace(',张**,', ',"王**,')];

  it('a stray quote on line 2 in a small file names line 2, where it opened', async () => {
    expect(strayLine2[1]).toContain('"王**');
    const err = await failure(gzipSync([...strayLine2, ...lines.slice(2)].join('\n')));
    expect(err.message).toBe('orders.csv.gz line 2: a quote opens a field on this line and is never closed (the file ends inside it)');
    expect(err.facts).toMatchObject({ line: 2 });
  });

  it('a stray quote on line 2 of a large file stops within MAX_RECORD_BYTES, naming line 2', async () => {
    const body = `${[...strayLine2, ...Array.from({ length: 20_000 }, () => lines[2])].join('\n')}\n`;
    expect(body.length).toBeGreaterThan(20 * MAX_RECORD_BYTES);
    const err = await failure(gzipSync(body));
    expect(err.message).toBe(`orders.csv.gz line 2: a quote opens a field on this line and is not closed within ${MAX_RECORD_BYTES / 1024} KiB (a stray quote?); no legal row is near that long`);
  });

  it('a 1.5 MB gzip whose unclosed field unpacks to 1.5 GB fails after reading a sliver of it', async () => {
    // Concatenated gzip members are one valid gzip stream: 1,500 copies of 1 MiB of "a".
    const member = gzipSync(Buffer.alloc(1 << 20, 'a'));
    const bomb = Buffer.concat([gzipSync(`${ORDER_HEADER}\n2017112701,"`), ...Array.from({ length: 1500 }, () => member)]);
    expect(bomb.length).toBeLessThan(2_000_000);
    let read = 0;
    const source = Readable.from((function* () {
      for (let i = 0; i < bomb.length; i += 4096) {
        read += Math.min(4096, bomb.length - i);
        yield bomb.subarray(i, i + 4096);
      }
    })());
    const err = await (async () => {
      for await (const _ of readProviderFile(source, 'order', 'bomb.csv.gz')) { /* rows */ }
    })().then(() => null, (e: unknown) => e as ReconError);
    expect(err!.message).toBe(`bomb.csv.gz line 2: a quote opens a field on this line and is not closed within ${MAX_RECORD_BYTES / 1024} KiB (a stray quote?); no legal row is near that long`);
    // Each 1 MiB member is about 1 KB of gzip: a sliver read means a sliver unpacked.
    expect(read).toBeLessThan(bomb.length / 10);
  });

  it('a line without an end (no quote, no newline) is bounded the same way', async () => {
    const err = await failure(gzipSync(`${ORDER_HEADER}\n${'9'.repeat(MAX_RECORD_BYTES * 2)}`));
    expect(err.message).toBe('orders.csv.gz line 2: the record on this line runs past 64 KiB without ending; no legal row is near that long');
  });

  it('keeps a legal quoted field with a comma and a newline, well under the bound', async () => {
    const row = lines[1]!.replace(',张**,', ',"张,\n**",');
    const out = await rows<OrderRow>(gzipSync([lines[0], row, lines[2]].join('\n')), 'order');
    expect(out.map((r) => [r.line, r.name])).toEqual([[2, '张,\n**'], [4, expect.any(String)]]);
  });
});

describe('file reader: NUL bytes', () => {
  it('a NUL byte in a field names the file, line and column (Postgres text cannot hold one)', async () => {
    const err = await failure(gzipSync(ordersCsv.replace('2017112703', '20171127\u000003')));
    const line = ordersCsv.slice(0, ordersCsv.indexOf('2017112703')).split('\n').length;
    expect(err.message).toBe(`orders.csv.gz line ${line}, column 商户订单号: contains a NUL byte (0x00), which no provider field may hold`);
  });

  it('in a personal field, the value is not echoed', async () => {
    const err = await failure(gzipSync(ordersCsv.replace('张**', '张\u0000**')));
    expect(err.message).toBe('orders.csv.gz line 2, column 姓名: contains a NUL byte (0x00), which no provider field may hold');
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
