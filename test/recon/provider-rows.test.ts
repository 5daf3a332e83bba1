import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrderRow } from '../../src/provider/file-format.js';
import { copyPrefix, orderCopyLine, orderValues, ROW_COLUMNS } from '../../src/recon/load/provider-rows.js';
import { createLoadTable, qualified } from '../../src/recon/load/day-tables.js';
import { freshDatabase, type TestDatabase } from '../helpers/db.js';

const row: OrderRow = {
  line: 7, orderId: 'A\tB', providerRef: '987654321098765432', batchId: null, name: '张\\**\n', brokerId: 'b\r',
  statusText: '成功', status: 'paid', account: '6228*****1234', channel: 'bankcard', amountFen: 9999999999999999n,
  feeFen: 70n, channelRef: null, creditBillNo: null, feeBillNo: null, balanceBillNo: null,
  createdAt: Date.parse('2017-11-20T00:00:22+08:00'), finishedAt: Date.parse('2017-11-20T23:59:59.125+08:00'),
};

describe('COPY text lines', () => {
  it('escape what COPY needs, write null as \\N, and instants as UTC', () => {
    expect(orderCopyLine(copyPrefix('sixcn', '2017-11-20'), row)).toBe(
      'sixcn\t2017-11-20\t7\tA\\tB\t987654321098765432\t\\N\t张\\\\**\\n\tb\\r\t成功\tpaid\t6228*****1234\tbankcard\t99999999999999.99\t0.70\t\\N\t\\N\t\\N\t\\N\t2017-11-19T16:00:22Z\t2017-11-20T15:59:59.125Z\n');
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('a COPY round trip on Postgres (needs TEST_DATABASE_URL)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase('pg');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('stores exactly what the insert path stores', async () => {
    let copyTable = '';
    let insertTable = '';
    const read = async () => (await db.handle.withSession((s) => s.query(
      `select ${ROW_COLUMNS.order.join(', ')} from ${copyTable} union all select ${ROW_COLUMNS.order.join(', ')} from ${insertTable}
        order by dealer_id`))).rows;
    await db.handle.withSession(async (s) => {
      // Into the day tables a run loads (each dealer's rows go only into a table of its own).
      copyTable = qualified(await createLoadTable(s, 'order', 'copy', '2017-11-20', 1));
      await pipeline(Readable.from([orderCopyLine(copyPrefix('copy', '2017-11-20'), row)]), s.copyFrom(`copy ${copyTable} (${ROW_COLUMNS.order.join(', ')}) from stdin`)!);
      const values = orderValues('insert', '2017-11-20', row);
      insertTable = qualified(await createLoadTable(s, 'order', 'insert', '2017-11-20', 1));
      await s.query(`insert into ${insertTable} (${ROW_COLUMNS.order.join(', ')}) values (${values.map((_, i) => `$${i + 1}`).join(', ')})`, values);
    });
    const [copied, inserted] = await read();
    expect({ ...copied, dealer_id: 'x' }).toEqual({ ...inserted, dealer_id: 'x' });
    expect(copied).toMatchObject({ order_id: 'A\tB', name_masked: '张\\**\n', amount: '99999999999999.99', fee: '0.70' });
  });
});
