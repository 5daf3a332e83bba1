import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CsvFramer, providerFileAsCopyCsv, type FrameMode } from '../../../src/recon/load/copy-framer.js';
import { BILL_COLUMNS, ORDER_COLUMNS } from '../../../src/provider/file-format.js';

const HEADER = Object.keys(BILL_COLUMNS).join(',');
const ROW = 'A1,R1,B1,经纪公司打款,成功,银行卡,王**,27,1.00,c,2017-11-20 00:00:00,2017-11-20 00:00:01';

/** The framer's output for `bytes` written in pieces of `size` bytes, or its error. */
async function frame(bytes: Buffer, size: number, mode: FrameMode = { typed: false }): Promise<string> {
  const framer = new CsvFramer('bill', 'bill file X', mode);
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size));
  const out: Buffer[] = [];
  try {
    await Promise.all([
      (async () => { for await (const c of Readable.from(pieces).pipe(framer)) out.push(c as Buffer); })(),
      framer.header,
    ]);
    return Buffer.concat(out).toString();
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

describe('framing a provider file for COPY', () => {
  const file = Buffer.from(`\uFEFF${HEADER}\r\n${ROW}\r\n\n"A,""1""\r\n2",R1,B1,经纪公司打款,成功,银行卡,"",27,1.00,c,-/-,\r\n${ROW}`);

  it('prefixes each record with the line it starts on; drops the header, blank lines and the CR of CRLF; keeps a quoted field whole', async () => {
    expect(await frame(file, file.length)).toBe(
      `2,${ROW}\n4,"A,""1""\r\n2",R1,B1,经纪公司打款,成功,银行卡,,27,1.00,c,-/-,\n6,${ROW}\n`);
  });

  it('typed: the line first, codes for 流水类型, 流水状态 and 支付渠道, -/- for an empty field', async () => {
    const typed = { typed: true } as const;
    expect(await frame(file, file.length, typed)).toBe([
      '2,A1,R1,B1,payout,succeeded,bankcard,王**,27,1.00,c,2017-11-20 00:00:00,2017-11-20 00:00:01',
      '4,"A,""1""\r\n2",R1,B1,payout,succeeded,bankcard,-/-,27,1.00,c,-/-,-/-',
      '6,A1,R1,B1,payout,succeeded,bankcard,王**,27,1.00,c,2017-11-20 00:00:00,2017-11-20 00:00:01', ''].join('\n'));
    for (const size of [1, 2, 3, 7]) expect(await frame(file, size, typed), `pieces of ${size}`).toBe(await frame(file, file.length, typed));
  });

  it('typed: stops before the first record the reader would refuse or trim, and says so', async () => {
    for (const bad of [ROW.replace('经纪公司打款', '返点'), ROW.replace('1.00', '1.005'), ROW.replace('A1', ' A1'), ROW.replace('2017-11-20 00:00:00', '2017-02-29 00:00:00')]) {
      const text = Buffer.from(`${HEADER}\n${ROW}\n${bad}\n${ROW}\n`);
      const framer = new CsvFramer('bill', 'bill file X', { typed: true });
      let out = '';
      for await (const c of Readable.from([text]).pipe(framer)) out += (c as Buffer).toString();
      expect(out, bad).toBe(`2,A1,R1,B1,payout,succeeded,bankcard,王**,27,1.00,c,2017-11-20 00:00:00,2017-11-20 00:00:01\n`);
      expect(framer.check.suspect, bad).toBe(true);
    }
  });

  it('typed, order file: the 商户订单号 seen more than once, quoted or not, however the input is cut', async () => {
    const header = Object.keys(ORDER_COLUMNS).join(',');
    const row = (id: string) => `${id},R,,王**,b,成功,6228,银行卡,1.00,0.07,c,,,,2017-11-20 00:00:00,2017-11-20 00:00:01`;
    const ids = Array.from({ length: 3000 }, (_, i) => `A${i}`);
    const text = Buffer.from([header, ...ids.map(row), row('A17'), row('"A2999"'), row('A17'), ''].join('\n'));
    for (const size of [1, 7, 4096, text.length]) {
      const framer = new CsvFramer('order', 'order file X', { typed: true });
      const pieces: Buffer[] = [];
      for (let i = 0; i < text.length; i += size) pieces.push(text.subarray(i, i + size));
      for await (const c of Readable.from(pieces).pipe(framer)) void c;
      expect(framer.ids!.repeats()!.sort(), `pieces of ${size}`).toEqual(['A17', 'A17', 'A2999']);
    }
  });

  it('gives the same bytes however the input is cut (every state at a chunk boundary)', async () => {
    const whole = await frame(file, file.length);
    for (const size of [1, 2, 3, 7, 64]) expect(await frame(file, size), `pieces of ${size}`).toBe(whole);
  });

  it.each([
    ['a stray quote swallowing the file stops within the record bound, on the line it opened', `${HEADER}\n${ROW}\n"王**,${'x'.repeat(70_000)}\n`,
      'bill file X line 3: a quote opens a field on this line and is not closed within 64 KiB (a stray quote?); no legal row is near that long'],
    ['an unquoted runaway record', `${HEADER}\n${'x'.repeat(70_000)}\n`,
      'bill file X line 2: the record on this line runs past 64 KiB without ending; no legal row is near that long'],
    ['a lone CR', `${HEADER}\n${ROW}\rx\n`, 'bill file X line 2: malformed CSV (a carriage return outside quotes that does not end the line)'],
    ['a quote opened on one line and misplaced on the next', `${HEADER}\n"a\nb"c,${ROW.slice(3)}\n`,
      'bill file X line 2: malformed CSV (a quoted field\'s closing quote is followed by more text, on line 3 of the record that starts on this line)'],
    ['a NUL in the header', `${HEADER}\u0000\n${ROW}\n`, 'bill file X line 1: contains a NUL byte (0x00), which no provider field may hold'],
    ['a blank header line', `\n${HEADER}\n`, 'bill file X line 1, column : unknown column "" in the header'],
  ])('%s', async (_what, text, message) => {
    for (const size of [1, 5, text.length]) expect(await frame(Buffer.from(text), size)).toBe(`error: ${message}`);
  });

  it('reads the header by name, in the file\'s order, and counts the records', async () => {
    const names = Object.keys(BILL_COLUMNS);
    const swapped = [names[1], names[0], ...names.slice(2)].join(',');
    const row = ROW.split(',');
    const csv = providerFileAsCopyCsv(Readable.from([gzipSync(`${swapped}\n${[row[1], row[0], ...row.slice(2)].join(',')}\n`)]), 'bill', 'bill file X');
    expect((await csv.header).slice(0, 3)).toEqual(['providerRef', 'orderId', 'billRef']);
    let text = '';
    for await (const c of csv.stream) text += (c as Buffer).toString();
    expect(text).toBe(`2,R1,A1,${row.slice(2).join(',')}\n`);
    expect(csv.rows()).toBe(1);
  });
});
