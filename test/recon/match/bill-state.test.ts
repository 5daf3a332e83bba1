import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine, Session } from '../../../src/db/connection.js';
import { createLoadTable, ensureDealerTables, rowViewsSql } from '../../../src/recon/load/day-tables.js';
import { loadEmbedded } from '../../../src/recon/load/embedded-loader.js';
import type { FileLoader } from '../../../src/recon/load/loader.js';
import { loadOnServer } from '../../../src/recon/load/server-loader.js';
import { BILL_STATE_SQL } from '../../../src/recon/match/match-state.js';
import { ENGINES, freshDatabase, type TestDatabase } from '../../helpers/db.js';
import { FIXTURE_DATE, FIXTURE_DIR } from '../../helpers/provider.js';

// The bill file's per-order state is built two ways: the orders whose rows are one 成功
// 经纪公司打款 and one 成功 服务费 row at most side by side, the others aggregated; which
// are which comes from the server loader's framing, or from a count in SQL. Whatever the way,
// the state must be what one aggregate of every order's counted rows gives.

const LOADERS: Record<Engine, FileLoader> = { pglite: loadEmbedded, pg: loadOnServer };
const dir = mkdtempSync(join(tmpdir(), 'yzh-bill-state-'));
const dbs = new Map<Engine, TestDatabase>();

beforeAll(async () => {
  for (const engine of ENGINES) dbs.set(engine, await freshDatabase(engine));
}, 120_000);
afterAll(async () => {
  for (const db of dbs.values()) await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

const BILL_HEADER = readFileSync(join(FIXTURE_DIR, FIXTURE_DATE, 'bills.csv'), 'utf8').split('\n')[0]!;
let seq = 0;
/** One bill row in the header's column order. */
function row(id: string, ref: string, type: string, status: string, amount: string): string {
  const at = `${FIXTURE_DATE} 10:00:00`;
  const values: Record<string, string> = {
    商户订单号: id, 订单流水号: ref, 流水号: `9${String(++seq).padStart(17, '0')}`, 流水类型: type, 流水状态: status,
    支付渠道: type === '经纪公司打款' ? '银行卡' : '-/-', 姓名: '王**', 经纪公司ID: 'yiyun01', 金额: amount, 渠道流水号: '', 创建时间: at, 完成时间: at,
  };
  return BILL_HEADER.split(',').map((h) => values[h]!).join(',');
}

const PAY = '经纪公司打款';
const FEE = '经纪公司打款服务费';
/** Every shape an order's bill rows can take, in an order that keeps each order's rows apart. */
const ROWS = [
  row('A', 'r1', PAY, '成功', '100.00'), row('B', 'r2', PAY, '成功', '50.00'), row('C', 'r3', FEE, '成功', '3.50'),
  row('D', 'r4', PAY, '成功', '10.00'), row('E', 'r5', PAY, '成功', '20.00'), row('F', 'r6', PAY, '成功', '30.00'),
  row('G', 'r7', PAY, '失败', '40.00'), row('H', 'r8', PAY, '"成功(待领取)"', '60.00'), row('I', 'r9', PAY, '成功', '70.00'),
  row('J', 'r10', PAY, '成功', '80.00'), row('K', 'r11', PAY, '状态未知', '90.00'),
  row('A', 'r1', FEE, '成功', '6.50'), row('D', 'r4x', FEE, '成功', '0.65'), row('E', 'r5b', PAY, '成功', '20.00'),
  row('E', 'r5', FEE, '成功', '1.30'), row('F', 'r6', FEE, '成功', '1.95'), row('F', 'r6r', '经纪公司退汇', '成功', '30.00'),
  row('G', 'r7', FEE, '成功', '2.60'), row('H', 'r8', FEE, '成功', '3.90'), row('I', 'r9', FEE, '成功', '4.55'),
  row('I', 'r9', FEE, '成功', '4.55'), row('"J"', 'r10', FEE, '成功', '5.20'), row('K', 'r11', FEE, '失败', '5.85'),
  row('L', 'r12', FEE, '成功', '0.01'), row('L', 'r12', PAY, '成功', '0.14'),
];

/** The state as one aggregate of every order's counted rows gives it. */
const REFERENCE = `select b.order_id, min(b.business_date)::text as first_date,
         count(*) filter (where b.bill_type = 'payout')::int as payout_rows,
         (sum(b.amount) filter (where b.bill_type = 'payout'))::text as payout_amount,
         coalesce(sum(b.amount) filter (where b.bill_type = 'payout_fee'), 0)::text as fee_amount,
         min(b.provider_ref) as min_ref, max(b.provider_ref) as max_ref, bool_or(b.bill_type = 'return') as returned,
         min(b.bill_ref) filter (where b.bill_type = 'payout') as first_payout_ref
    from recon_day_bills b where b.bill_status in ('succeeded', 'pending_claim') group by b.order_id order by 1`;
const STATE = `select order_id, first_date::text, payout_rows::int, payout_amount::text, fee_amount::text, min_ref, max_ref, returned,
         first_payout_ref from recon_bill_state order by 1`;

async function withLoadedBills<T>(engine: Engine, text: string, body: (s: Session) => Promise<T>): Promise<T> {
  const path = join(dir, `bills-${engine}-${++seq}.csv.gz`);
  writeFileSync(path, gzipSync(text));
  return dbs.get(engine)!.handle.withSession(async (s) => {
    await ensureDealerTables(s, 'sixcn');
    await s.exec('begin');
    try {
      const table = await createLoadTable(s, 'bill', 'sixcn', FIXTURE_DATE, 1);
      await LOADERS[engine](s, { kind: 'bill', path, label: `bill file ${FIXTURE_DATE}`, table, dealerId: 'sixcn', date: FIXTURE_DATE }, () => {});
      for (const sql of rowViewsSql('sixcn', FIXTURE_DATE, { bill: table }, 3)) await s.query(sql);
      return await body(s);
    } finally {
      await s.exec('rollback');
    }
  });
}

describe.each(ENGINES)('the bill state on %s', (engine) => {
  it('equals one aggregate of every order\'s counted rows, whichever orders are aggregated', async () => {
    const file = `${BILL_HEADER}\n${ROWS.join('\n')}\n`;
    const { multi, state, reference } = await withLoadedBills(engine, file, async (s) => {
      const framed = (await s.query<{ t: string | null }>(`select to_regclass('pg_temp.recon_bill_multi')::text as t`)).rows[0]!.t;
      // The server loads this file typed, so its framing names the orders; PGlite's loader does not.
      expect(framed !== null).toBe(engine === 'pg');
      for (const sql of BILL_STATE_SQL) await s.query(sql);
      return {
        multi: (await s.query<{ order_id: string }>('select order_id from recon_bill_multi order by 1')).rows.map((r) => r.order_id),
        state: (await s.query(STATE)).rows,
        reference: (await s.query(REFERENCE)).rows,
      };
    });
    // Two payouts (E), a return (F), a failed (G), pending-claim (H) or unknown (K) row, two
    // fee rows (I); not a lone payout (B) or fee (C), nor two refs (D). The framing counts a
    // quoted id (J) in, unread: an aggregate it did not need.
    expect(multi).toEqual(engine === 'pg' ? ['E', 'F', 'G', 'H', 'I', 'J', 'K'] : ['E', 'F', 'G', 'H', 'I', 'K']);
    expect(state).toEqual(reference);
    expect(state.map((r) => (r as { order_id: string }).order_id)).toEqual(['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'L']);
  });

  it('without the framing\'s list (a file loaded through staging, or PGlite), the count in SQL finds the same orders', async () => {
    // A space at a field's end sends the server's load through staging, which frames nothing.
    const file = `${BILL_HEADER}\n${ROWS.join('\n')}\n${row('M ', 'r13', PAY, '成功', '1.00')}\n`;
    const { multi, state, reference } = await withLoadedBills(engine, file, async (s) => {
      expect((await s.query<{ t: string | null }>(`select to_regclass('pg_temp.recon_bill_multi')::text as t`)).rows[0]!.t).toBeNull();
      for (const sql of BILL_STATE_SQL) await s.query(sql);
      return {
        multi: (await s.query<{ order_id: string }>('select order_id from recon_bill_multi order by 1')).rows.map((r) => r.order_id),
        state: (await s.query(STATE)).rows,
        reference: (await s.query(REFERENCE)).rows,
      };
    });
    expect(multi).toEqual(['E', 'F', 'G', 'H', 'I', 'K']);
    expect(state).toEqual(reference);
    expect(state).toHaveLength(12);
  });

  it('the framing follows ids across its chunks: on a file of a megabyte, its list is the count\'s', async () => {
    const rows: string[] = [];
    for (let i = 0; i < 6000; i++) {
      const id = `O${String(i * 7919 % 6007).padStart(6, '0')}-${i}`;
      rows.push(row(id, `r${i}`, PAY, '成功', '12.34'), row(id, `r${i}`, FEE, '成功', '0.86'));
      if (i % 7 === 3) rows.push(row(id, `s${i}`, PAY, '成功', '12.34'));
      if (i % 11 === 5) rows.push(row(id, `r${i}`, FEE, '失败', '0.86'));
    }
    // Apart: each order's rows spread over the file.
    const spread = rows.map((r, k) => [(k * 2654435761) % 4294967291, r] as const).sort((a, b) => a[0] - b[0]).map(([, r]) => r);
    const { framed, counted, state, reference } = await withLoadedBills(engine, `${BILL_HEADER}\n${spread.join('\n')}\n`, async (s) => {
      const exists = (await s.query<{ t: string | null }>(`select to_regclass('pg_temp.recon_bill_multi')::text as t`)).rows[0]!.t !== null;
      const list = exists ? (await s.query<{ order_id: string }>('select order_id from recon_bill_multi order by 1')).rows.map((r) => r.order_id) : null;
      if (exists) await s.query('drop table recon_bill_multi');
      await s.query(BILL_STATE_SQL.find((q) => q.includes('recon_bill_multi on commit drop'))!);
      const count = (await s.query<{ order_id: string }>('select order_id from recon_bill_multi order by 1')).rows.map((r) => r.order_id);
      for (const sql of BILL_STATE_SQL) await s.query(sql);
      return { framed: list, counted: count, state: (await s.query(STATE)).rows, reference: (await s.query(REFERENCE)).rows };
    });
    expect(counted.length).toBeGreaterThan(1000);
    if (engine === 'pg') expect(framed).toEqual(counted);
    expect(state).toEqual(reference);
    expect(state).toHaveLength(6000);
  });
});
