import { describe, expect, it } from 'vitest';
import type { OrderRow } from '../../../src/provider/file-format.js';
import { copyPrefix, orderCopyLine } from '../../../src/recon/load/row-columns.js';

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
