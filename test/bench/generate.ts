import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';

export const BENCH_BROKER = 'yiyun01';

/** What the generator planted, by discrepancy kind: the run must find exactly these counts. */
export type Planted = Record<string, number>;

export const ORDER_HEADER = '商户订单号,订单流水号,商户批次号,姓名,经纪公司ID,订单状态,收款账号,支付渠道,金额,服务费,渠道流水号,短周期授信账单号,服务费账单号,余额账单号,创建时间,完成时间';
export const BILL_HEADER = '商户订单号,订单流水号,流水号,流水类型,流水状态,支付渠道,姓名,经纪公司ID,金额,渠道流水号,创建时间,完成时间';

export class GzipCsv {
  private readonly gzip = createGzip({ level: 6 });
  private readonly done: Promise<unknown>;
  private buffer: string[] = [];
  constructor(path: string, header: string) {
    const file = createWriteStream(path);
    this.gzip.pipe(file);
    this.done = once(file, 'close');
    this.buffer.push(header);
  }
  async line(text: string): Promise<void> {
    this.buffer.push(text);
    if (this.buffer.length >= 5000) await this.flush();
  }
  private async flush(): Promise<void> {
    const chunk = `${this.buffer.join('\n')}\n`;
    this.buffer = [];
    if (!this.gzip.write(chunk)) await once(this.gzip as Writable, 'drain');
  }
  async close(): Promise<void> {
    await this.flush();
    this.gzip.end();
    await this.done;
  }
}

const yuan = (fen: number) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
const two = (n: number) => String(n).padStart(2, '0');

/**
 * Writes a day of `n` orders (orders.csv.gz), about 2n bill rows (bills.csv.gz) and a ledger
 * of about n rows (ledger.csv, plain CSV for COPY), with a few hundred planted discrepancies at
 * fixed strides, mutually exclusive so that the expected counts are exact. With
 * `malformedAmountAt`, order i carries the amount `12.3.4` (for the fault-injection suite);
 * `ledgerFile` names the ledger file (days of history share a folder); with `strayQuoteAt`,
 * order i's 姓名 opens a quote that is never closed (`"王**`), the rest of the file then
 * reading as one field.
 */
export async function generateDay(
  dir: string, date: string, n: number, options: { malformedAmountAt?: number; ledgerFile?: string; strayQuoteAt?: number } = {},
): Promise<Planted> {
  const day = join(dir, date);
  await mkdir(day, { recursive: true });
  const orders = new GzipCsv(join(day, 'orders.csv.gz'), ORDER_HEADER);
  const bills = new GzipCsv(join(day, 'bills.csv.gz'), BILL_HEADER);
  const ledger = createWriteStream(join(dir, options.ledgerFile ?? 'ledger.csv'));
  const planted: Planted = {
    amount_mismatch: 0, missing_in_ledger: 0, order_without_bill: 0, status_mismatch: 0,
    duplicate_provider_order: 0, missing_at_provider: 0,
  };
  const compact = date.replace(/-/g, '');
  let ledgerBuffer: string[] = [];
  const ledgerLine = async (line: string) => {
    ledgerBuffer.push(line);
    if (ledgerBuffer.length >= 5000) {
      if (!ledger.write(`${ledgerBuffer.join('\n')}\n`)) await once(ledger, 'drain');
      ledgerBuffer = [];
    }
  };
  let billSeq = 0;
  const writeOrder = async (id: string, ref: string, fen: number, i: number, withBills: boolean) => {
    const fee = Math.floor((fen * 7 + 50) / 100); // 7%, half up, in fen
    const amount = i === options.malformedAmountAt ? '12.3.4' : yuan(fen);
    const secs = Math.floor((i / n) * 86_000);
    const t = `${date} ${two(Math.floor(secs / 3600))}:${two(Math.floor(secs / 60) % 60)}:${two(secs % 60)}`;
    const name = i === options.strayQuoteAt ? '"王**' : '王**';
    await orders.line(`${id},${ref},B${compact},${name},${BENCH_BROKER},成功,6222*****${String(i % 100000).padStart(5, '0')},银行卡,${amount},${yuan(fee)},2017112044${String(i).padStart(9, '0')},104475780210006015,-/-,-/-,${t},${t}`);
    if (!withBills) return;
    await bills.line(`${id},${ref},2${String(++billSeq).padStart(17, '0')},经纪公司打款,成功,银行卡,王**,${BENCH_BROKER},${yuan(fen)},2017112044${String(i).padStart(9, '0')},${t},${t}`);
    await bills.line(`${id},${ref},2${String(++billSeq).padStart(17, '0')},经纪公司打款服务费,成功,-/-,王**,${BENCH_BROKER},${yuan(fee)},,${t},${t}`);
  };
  for (let i = 0; i < n; i++) {
    const id = `${compact}${String(i).padStart(9, '0')}`;
    const ref = `1053${String(10 ** 13 + i)}`;
    const fen = 10_000 + (i % 50_000) * 7;
    let ledgerFen = fen;
    let ledgerStatus = 'paid';
    let inLedger = true;
    let withBills = true;
    if (i % 4999 === 1) { ledgerFen += 100; planted.amount_mismatch!++; }
    else if (i % 7001 === 2) { inLedger = false; planted.missing_in_ledger!++; }
    else if (i % 9001 === 3) { withBills = false; planted.order_without_bill!++; }
    else if (i % 11003 === 4) { ledgerStatus = 'failed'; planted.status_mismatch!++; }
    else if (i % 13001 === 5) {
      planted.duplicate_provider_order!++;
      await writeOrder(id, `1054${String(10 ** 13 + i)}`, fen, i, true);
    }
    await writeOrder(id, ref, fen, i, withBills);
    if (inLedger) await ledgerLine(`${id},sixcn,${BENCH_BROKER},bankcard,${yuan(ledgerFen)},${ledgerStatus},${date} 00:00:00+08`);
  }
  for (let j = 0; j < Math.max(1, Math.floor(n / 10_000)); j++) {
    await ledgerLine(`L${compact}${String(j).padStart(6, '0')},sixcn,${BENCH_BROKER},bankcard,10.00,paid,${date} 12:00:00+08`);
    planted.missing_at_provider!++;
  }
  ledger.end(`${ledgerBuffer.join('\n')}\n`);
  await Promise.all([orders.close(), bills.close(), once(ledger, 'close')]);
  return planted;
}
