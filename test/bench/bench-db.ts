import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DEFAULT_DUPLICATE_WINDOW_DAYS } from '../../src/config.js';
import type { DatabaseHandle } from '../../src/db/connection.js';
import { pino } from 'pino';
import { migrate } from '../../src/db/migrator.js';
import { BENCH_BROKER } from './generate.js';
import { REAL_RATES } from './generate-real.js';

// The bench's own work in the database, beside the measured runs: days of rows written by SQL,
// the floor, and the plans of the matching statements.

export const BENCH_DATE = '2024-06-30';
export const BENCH_KEYS = { dealerId: 'sixcn', appKey: '78f9b4fad3481fbce1df0b30eee58577', des3Key: '123456788765432112345678' };
const DATE = BENCH_DATE;
const KEYS = BENCH_KEYS;

/** The ledger (from its CSV) and the fee rates of the day's shape, into a migrated database. */
export async function loadLedger(db: DatabaseHandle, csv: string, shape: 'real' | 'ordered'): Promise<void> {
  await db.withSession(async (s) => {
    await migrate(s, pino({ level: 'silent' }));
    const rates = shape === 'real' ? REAL_RATES.map((r) => [r.broker, (r.perMille / 1000).toFixed(3), r.from])
      : [[BENCH_BROKER, '0.07', '2000-01-01']];
    for (const rate of rates) await s.query('insert into recon.broker_fee_rates values ($1, $2, $3) on conflict do nothing', rate);
    const copy = s.copyFrom('copy recon.ledger_payouts (order_id, dealer_id, broker_id, channel, amount, status, created_at) from stdin with (format csv)');
    if (copy !== null) {
      await pipeline(createReadStream(csv), copy);
    } else {
      const lines = readFileSync(csv, 'utf8').trim().split('\n').map((l) => l.split(','));
      for (let i = 0; i < lines.length; i += 2000) {
        const chunk = lines.slice(i, i + 2000);
        await s.query(`insert into recon.ledger_payouts select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::text[], $7::timestamptz[])`,
          [0, 1, 2, 3, 4, 5, 6].map((c) => chunk.map((r) => r[c])));
      }
    }
    await s.query('analyze recon.ledger_payouts');
  });
}

/**
 * Days of provider rows (an order and its payout and fee bill rows per order, other order
 * ids than the measured day's) written by SQL into their partitions the way a run leaves
 * them, with their file records: a database that has kept `dates.length` days.
 */
export async function fillDays(db: DatabaseHandle, dates: string[], orders: number): Promise<void> {
  await db.withSession(async (s) => {
    await s.query(`insert into recon.runs (dealer_id, business_date, trigger, status, finished_at) values ($1, $2, 'manual', 'succeeded', now())`,
      [KEYS.dealerId, dates[0]]);
    for (const date of dates) {
      await s.exec('begin');
      const order = (await s.query<{ name: string }>(`select recon.provider_load_table('order', $1, $2, 0) as name`, [KEYS.dealerId, date])).rows[0]!.name;
      const bill = (await s.query<{ name: string }>(`select recon.provider_load_table('bill', $1, $2, 0) as name`, [KEYS.dealerId, date])).rows[0]!.name;
      await s.query(`insert into recon."${order}"
        select $1, $2::date, g, 'F' || to_char($2::date, 'YYYYMMDD') || lpad(g::text, 9, '0'), (9 * 10^17 + g)::bigint::text, 'b1',
               '王**', $3, '成功', 'paid', '6228*****1234', 'bankcard', 100 + g % 900, round((100 + g % 900) * 0.07, 2), null, null, null, null,
               $2::date::timestamp at time zone 'Asia/Shanghai' + g * interval '50 ms', $2::date::timestamp at time zone 'Asia/Shanghai' + g * interval '60 ms'
          from generate_series(1, $4::int) g`, [KEYS.dealerId, date, BENCH_BROKER, orders]);
      await s.query(`insert into recon."${bill}"
        select $1, $2::date, 2 * g - k, 'F' || to_char($2::date, 'YYYYMMDD') || lpad(g::text, 9, '0'), (9 * 10^17 + g)::bigint::text,
               (8 * 10^17 + 2 * g - k)::bigint::text, case k when 1 then 'payout' else 'payout_fee' end, 'succeeded', 'bankcard', '王**', $3,
               case k when 1 then 100 + g % 900 else round((100 + g % 900) * 0.07, 2) end, null, null, null
          from generate_series(1, $4::int) g cross join (values (1), (0)) k(k)`, [KEYS.dealerId, date, BENCH_BROKER, orders]);
      for (const [kind, name, rows] of [['order', order, orders], ['bill', bill, 2 * orders]] as const) {
        await s.query('select recon.provider_load_finish($1, $2)', [kind, name]);
        await s.query('select recon.provider_swap_day($1, $2, $3, $4)', [kind, KEYS.dealerId, date, name]);
        await s.query(`insert into recon.provider_files (dealer_id, business_date, kind, sha256, bytes, row_count, run_id)
                       values ($1, $2::date, $3::text, md5($2::date::text || $3::text), 0, $4, (select max(id) from recon.runs))`, [KEYS.dealerId, date, kind, rows]);
      }
      await s.exec('commit');
    }
    await s.query('analyze recon.provider_files');
  });
}

/** The floor: Postgres' own COPY of the decompressed files into text tables, plus one join. */
export async function floor(url: string, day: string): Promise<{ copyMs: number; joinMs: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('drop schema if exists bench_floor cascade; create schema bench_floor');
  await client.query(`create table bench_floor.orders (${Array.from({ length: 16 }, (_, i) => `c${i} text`).join(', ')})`);
  await client.query(`create table bench_floor.bills (${Array.from({ length: 12 }, (_, i) => `c${i} text`).join(', ')})`);
  const started = performance.now();
  for (const [table, file] of [['orders', 'orders.csv.gz'], ['bills', 'bills.csv.gz']] as const) {
    await pipeline(createReadStream(join(day, file)), createGunzip(), client.query(copyFrom(`copy bench_floor.${table} from stdin with (format csv, header true)`)));
  }
  const copyMs = performance.now() - started;
  const joinStarted = performance.now();
  await client.query(`select count(*) filter (where o.c0 is null), count(*) filter (where l.order_id is null)
                        from bench_floor.orders o full join recon.ledger_payouts l on l.order_id = o.c0`);
  const joinMs = performance.now() - joinStarted;
  await client.query('drop schema bench_floor cascade');
  await client.end();
  return { copyMs, joinMs };
}

/** EXPLAIN (ANALYZE) of the heaviest matching statements, rebuilt on the loaded day. */
export async function explainMain(query: (sql: string, params?: unknown[]) => Promise<{ rows: unknown[] }>, file: string): Promise<void> {
  const { findingStatements, HAS_OTHER_DAYS_SQL, ORDER_STATE_SQL, PARAMS_SQL } = await import('../../src/recon/match/match-state.js');
  const { RULES } = await import('../../src/recon/match/rules.js');
  const { MATCH_SETTINGS_SQL } = await import('../../src/recon/match/matching.js');
  const { rowViewsSql, DROP_ROW_VIEWS_SQL } = await import('../../src/recon/load/day-tables.js');
  await query('begin');
  for (const sql of MATCH_SETTINGS_SQL) await query(sql);
  // The day as loaded: its partitions, read through the run's views.
  for (const sql of rowViewsSql(KEYS.dealerId, DATE, {}, DEFAULT_DUPLICATE_WINDOW_DAYS)) await query(sql);
  const [params, ...rest] = PARAMS_SQL;
  await query(params!, [KEYS.dealerId, DATE]);
  for (const sql of rest) await query(sql);
  const out: string[] = [];
  const otherDays = ((await query(HAS_OTHER_DAYS_SQL)).rows[0] as { other_days: boolean }).other_days;
  // Plans without timings or memory figures, so that a committed file changes when a plan
  // does; each statement's time, rounded, heads its plan.
  const explained = async (title: string, sql: string) => {
    const started = performance.now();
    const plan = await query(`explain (analyze, costs off, timing off, summary off) ${sql}`);
    const lines = (plan.rows as { 'QUERY PLAN': string }[]).map((r) => r['QUERY PLAN']
      .replace(/ {2}Memory Usage: \d+kB/g, '').replace(/Memory: \d+kB/g, 'Memory: …'));
    out.push(`-- ${title} (${((performance.now() - started) / 1000).toFixed(1)} s)\n${lines.join('\n')}`);
  };
  for (const sql of [...ORDER_STATE_SQL, ...findingStatements(otherDays)]) {
    // The lists of orders the states aggregate come from the server loader's framing in a run;
    // rebuilt here from the partitions, they are counted in SQL first, not explained.
    if (/create temp table if not exists recon_(order|bill)_multi/.test(sql)) { await query(sql); continue; }
    if (!/^\s*(with|insert|update|select|create temp table \w+ on commit drop as)\b/i.test(sql)) { await query(sql); continue; }
    await explained(sql.trim().split('\n')[0]!, sql);
  }
  for (const [kind, sql] of Object.entries(RULES)) await explained(`rule ${kind}`, sql);
  await query(DROP_ROW_VIEWS_SQL);
  await query('rollback');
  writeFileSync(file, out.join('\n\n'));
  console.log(`EXPLAIN ANALYZE of the matching statements written to ${file}`);
}
