import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { DatabaseHandle, Engine } from '../../src/db/connection.js';
import { ProviderClient } from '../../src/provider/client.js';
import { Sandbox } from '../../src/provider/sandbox-server.js';
import type { FollowUpConfig } from '../../src/config.js';
import { followUpDay, runDay, type RunMode, type RunResult } from '../../src/recon/runs/run-day.js';
import type { FileSource } from '../../src/recon/runs/day-files.js';
import { freshDatabase, type TestDatabase } from './db.js';
import { KEYS, providerConfig, silentLog } from './provider.js';

export const ORDER_HEADER = '商户订单号,订单流水号,商户批次号,姓名,经纪公司ID,订单状态,收款账号,支付渠道,金额,服务费,渠道流水号,短周期授信账单号,服务费账单号,余额账单号,创建时间,完成时间';
export const BILL_HEADER = '商户订单号,订单流水号,流水号,流水类型,流水状态,支付渠道,姓名,经纪公司ID,金额,渠道流水号,创建时间,完成时间';

export interface ProviderOrder {
  id: string;
  ref: string;
  status?: string;
  amount: string;
  fee?: string;
  broker?: string;
  channel?: string;
  created?: string;
  finished?: string;
}

export interface ProviderBill {
  id: string;
  ref: string;
  billRef: string;
  type: '经纪公司打款' | '经纪公司打款服务费' | '经纪公司退汇' | '经纪公司退汇手续费';
  status?: string;
  amount: string;
  /** 支付渠道 of a payout row (银行卡 unless given). */
  channel?: string;
}

export interface LedgerRow {
  id: string;
  amount: string;
  status: 'submitted' | 'paid' | 'failed' | 'refunded' | 'cancelled';
  created?: string;
  broker?: string;
}

export interface DiscrepancyRow {
  id: number;
  business_date: string;
  kind: string;
  severity: string;
  order_id: string | null;
  provider_ref: string | null;
  ledger_amount: string | null;
  provider_amount: string | null;
  details: Record<string, unknown>;
  status: string;
  first_seen_run_id: number;
  last_seen_run_id: number;
  resolved_run_id: number | null;
  ack_by: string | null;
  ack_note: string | null;
}

let counter = 0;

/** The payout and fee bill rows the provider writes for a paid order. */
export function paidBills(o: ProviderOrder): ProviderBill[] {
  const bills: ProviderBill[] = [{ id: o.id, ref: o.ref, billRef: `${o.ref}1`, type: '经纪公司打款', amount: o.amount, ...(o.channel ? { channel: o.channel } : {}) }];
  if (o.fee !== undefined) bills.push({ id: o.id, ref: o.ref, billRef: `${o.ref}2`, type: '经纪公司打款服务费', amount: o.fee });
  return bills;
}

/**
 * One dealer's world for a test: its own sandbox folder and server, its own dealer id (so many
 * scenarios share one database without seeing each other), and helpers to write days.
 */
export class Scenario {
  readonly dealerId: string;
  readonly prefix: string;
  readonly dir: string;
  /** The dealer's raw-file archive (YZH_ARCHIVE_DIR). */
  readonly archiveDir: string;
  readonly sandbox: Sandbox;

  private constructor(readonly db: DatabaseHandle) {
    counter++;
    this.prefix = `t${process.pid}x${counter}-`;
    this.dealerId = `dealer-${this.prefix}`;
    this.dir = mkdtempSync(join(tmpdir(), 'yzh-scenario-'));
    this.archiveDir = mkdtempSync(join(tmpdir(), 'yzh-archive-'));
    this.sandbox = new Sandbox({ ...KEYS, dealerId: this.dealerId, dir: this.dir, retentionDays: null });
  }

  static async create(db: DatabaseHandle): Promise<Scenario> {
    const s = new Scenario(db);
    await s.sandbox.start();
    return s;
  }

  /** A test-unique order id. */
  id(local: string): string {
    return `${this.prefix}${local}`;
  }

  broker(local = 'b'): string {
    return `${this.prefix}${local}`;
  }

  writeDay(date: string, orders: ProviderOrder[], bills: ProviderBill[]): void {
    const day = join(this.dir, date);
    mkdirSync(day, { recursive: true });
    writeFileSync(join(day, 'orders.csv'), this.ordersCsv(date, orders));
    writeFileSync(join(day, 'bills.csv'), this.billsCsv(date, bills));
  }

  /** A new generation of the day's files, served with `generatedAt` as their Last-Modified. */
  regenerateDay(date: string, orders: ProviderOrder[], bills: ProviderBill[], generatedAt: Date): void {
    this.sandbox.regenerate(date, { order: this.ordersCsv(date, orders), bill: this.billsCsv(date, bills) }, generatedAt);
  }

  ordersCsv(date: string, orders: ProviderOrder[]): string {
    const t = (x: string | undefined, fallback: string) => x ?? `${date} ${fallback}`;
    return [ORDER_HEADER, ...orders.map((o) => [
      o.id, o.ref, '', '张**', o.broker ?? this.broker(), o.status ?? '成功', '6222*****1234', o.channel ?? '银行卡', o.amount,
      o.fee ?? '', '', '', '-/-', '-/-', t(o.created, '10:00:00'), t(o.finished, '10:00:05'),
    ].join(','))].join('\n') + '\n';
  }

  billsCsv(date: string, bills: ProviderBill[]): string {
    return [BILL_HEADER, ...bills.map((b) => [
      b.id, b.ref, b.billRef, b.type, b.status ?? '成功', b.type.includes('服务费') || b.type.includes('手续费') ? '-/-' : (b.channel ?? '银行卡'),
      '张**', this.broker(), b.amount, '', `${date} 10:00:00`, `${date} 10:00:05`,
    ].join(','))].join('\n') + '\n';
  }

  async ledger(rows: LedgerRow[], date: string): Promise<void> {
    await this.db.withSession(async (s) => {
      for (const r of rows) {
        await s.query(
          `insert into recon.ledger_payouts (order_id, dealer_id, broker_id, channel, amount, status, created_at)
           values ($1, $2, $3, 'bankcard', $4, $5, $6)
           on conflict (order_id) do update set amount = excluded.amount, status = excluded.status, created_at = excluded.created_at`,
          [r.id, this.dealerId, r.broker ?? this.broker(), r.amount, r.status, `${r.created ?? `${date} 09:59:00`}+08`],
        );
      }
    });
  }

  async feeRate(rate: string, validFrom: string, broker = this.broker()): Promise<void> {
    await this.db.withSession((s) => s.query(
      'insert into recon.broker_fee_rates (broker_id, rate, valid_from) values ($1, $2, $3)', [broker, rate, validFrom]));
  }

  client(env: Record<string, string> = {}): ProviderClient {
    return new ProviderClient(providerConfig(this.sandbox, { YZH_DEALER_ID: this.dealerId, ...env }), silentLog, { retryBaseDelayMs: 5 });
  }

  /**
   * What the sandbox's real-time order query answers for these orders (local ids): claimed,
   * pending, returned, not_found, ... (see the sandbox's live.json).
   */
  live(answers: Record<string, string | Record<string, unknown>>): void {
    writeFileSync(join(this.dir, 'live.json'), JSON.stringify(Object.fromEntries(
      Object.entries(answers).map(([local, answer]) => [this.id(local), answer]))));
  }

  /** What the sandbox's balance query answers (its dealer_infos). */
  accounts(infos: Record<string, unknown>[]): void {
    writeFileSync(join(this.dir, 'accounts.json'), JSON.stringify(infos));
  }

  async run(date: string, options: {
    signal?: AbortSignal; lockTimeoutMs?: number; followUp?: FollowUpConfig; mode?: RunMode; clientEnv?: Record<string, string>; source?: FileSource;
    retainDays?: number; duplicateWindowDays?: number;
    /** Another raw-file archive than the scenario's own (one that several dealers share). */
    archiveDir?: string;
  } = {}): Promise<RunResult> {
    const client = this.client(options.clientEnv);
    try {
      const deps = {
        db: this.db, client, log: silentLog,
        config: {
          lockTimeoutMs: options.lockTimeoutMs ?? 10_000, tmpDir: tmpdir(), archiveDir: options.archiveDir ?? this.archiveDir,
          ...(options.followUp ? { followUp: options.followUp } : {}),
          ...(options.retainDays === undefined ? {} : { retainDays: options.retainDays }),
          ...(options.duplicateWindowDays === undefined ? {} : { duplicateWindowDays: options.duplicateWindowDays }),
        },
      };
      const request = { dealerId: this.dealerId, date, trigger: 'manual' as const, signal: options.signal };
      return options.mode === 'follow-up'
        ? await followUpDay(deps, request)
        : await runDay(deps, { ...request, source: options.source ?? 'provider' });
    } finally {
      await client.close();
    }
  }

  async discrepancies(where = "status = 'open'"): Promise<DiscrepancyRow[]> {
    const r = await this.db.withSession((s) => s.query<DiscrepancyRow>(
      `select * from recon.discrepancies where dealer_id = $1 and ${where} order by business_date, kind, order_id`, [this.dealerId]));
    return r.rows;
  }

  /**
   * [order id without prefix, kind, severity] of the open rows, for compact assertions. The
   * small days of these tests trip the 20% systemic check; it has its own test, so it is left
   * out here unless asked for.
   */
  async open(options: { systemic?: boolean } = {}): Promise<[string | null, string, string][]> {
    const rows = (await this.discrepancies()).filter((d) => options.systemic === true || d.kind !== 'systemic_mismatch');
    return rows.map((d) => [d.order_id === null ? null : d.order_id.slice(this.prefix.length), d.kind, d.severity]);
  }

  /** Stops its sandbox and removes its folder. */
  async stop(): Promise<void> {
    await this.sandbox.stop();
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.archiveDir, { recursive: true, force: true });
  }
}

/**
 * One migrated database for a test file and a fresh Scenario (its own dealer) per test;
 * registers the hooks that create and drop them.
 */
export function scenarioSuite(engine: Engine): { db: () => TestDatabase; scenario: () => Promise<Scenario> } {
  let db: TestDatabase;
  const scenarios: Scenario[] = [];
  beforeAll(async () => {
    db = await freshDatabase(engine);
  });
  afterAll(async () => {
    await Promise.all(scenarios.map((s) => s.stop()));
    await db.drop();
  });
  return {
    db: () => db,
    scenario: async () => {
      const s = await Scenario.create(db.handle);
      scenarios.push(s);
      return s;
    },
  };
}
