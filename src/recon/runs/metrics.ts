import { sql } from 'kysely';
import { DateTime } from 'luxon';
import { Gauge, Pushgateway, Registry } from 'prom-client';
import type { Session } from '../../db/connection.js';
import type { Logger } from '../../logger.js';
import { PROVIDER_ZONE } from '../../provider/file-format.js';
import type { RunResult } from './run-day.js';

export const METRICS_JOB = 'yzh-recon';

export interface RunMetricsInput {
  dealerId: string;
  date: string;
  outcome: 'succeeded' | 'failed';
  durationSeconds: number;
  result?: RunResult;
  /** Open findings of the dealer after the run, by kind and severity (amount: numeric text, their money). */
  open?: { kind: string; severity: string; count: number; amount?: string }[];
  /** The dealer's reconciled days after the run, from recon.runs (see reconciledDays). */
  days?: ReconciledDays;
}

export interface ReconciledDays {
  /** The newest business day with a successful run (any regeneration of its files). */
  lastSuccess: string | null;
  /** The newest business day reconciled on its final files: a successful run started at or
   * after 16:45 Asia/Shanghai on the next day, the provider's last regeneration. */
  lastFinal: string | null;
}

/** Start (00:00 Asia/Shanghai) of a business day, in Unix seconds. */
function dayStartSeconds(date: string): number {
  return DateTime.fromISO(date, { zone: PROVIDER_ZONE }).toSeconds();
}

/**
 * The run's metrics in a registry of their own. Gauges, not counters: the Pushgateway keeps
 * the last value pushed per group (job, dealer_id), which is what an alert reads.
 */
export function buildRunMetrics(input: RunMetricsInput): Registry {
  const registry = new Registry();
  const dealer = { dealer_id: input.dealerId };
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames: ['dealer_id', ...labelNames], registers: [registry] });

  gauge('yzh_recon_run_duration_seconds', 'Duration of the last run', ['business_date', 'outcome'])
    .set({ ...dealer, business_date: input.date, outcome: input.outcome }, input.durationSeconds);
  gauge('yzh_recon_run_success', '1 if the last run succeeded, 0 if it failed', ['business_date'])
    .set({ ...dealer, business_date: input.date }, input.outcome === 'succeeded' ? 1 : 0);
  gauge('yzh_recon_last_run_timestamp_seconds', 'When the last run ended', ['outcome'])
    .set({ ...dealer, outcome: input.outcome }, Date.now() / 1000);
  if (input.outcome === 'succeeded' && input.result !== undefined) {
    const result = input.result;
    gauge('yzh_recon_last_success_timestamp_seconds', 'When the last successful run ended', ['business_date'])
      .set({ ...dealer, business_date: input.date }, Date.now() / 1000);
    const rows = gauge('yzh_recon_file_rows', 'Rows in the provider file of the last run', ['kind']);
    for (const f of result.files) rows.set({ ...dealer, kind: f.kind }, f.rows);
    const fresh = gauge('yzh_recon_run_new_findings', 'Findings the last run opened, by severity', ['severity']);
    for (const severity of ['critical', 'warning', 'info']) {
      fresh.set({ ...dealer, severity }, result.lifecycle.openedBySeverity[severity] ?? 0);
    }
    const stage = gauge('yzh_recon_run_stage_seconds', 'Time per stage of the last run', ['stage']);
    stage.set({ ...dealer, stage: 'download' }, result.times.downloadMs / 1000);
    stage.set({ ...dealer, stage: 'load' }, result.times.loadMs / 1000);
    stage.set({ ...dealer, stage: 'match' }, result.times.matchMs / 1000);
    stage.set({ ...dealer, stage: 'follow_up' }, result.times.followUpMs / 1000);
    stage.set({ ...dealer, stage: 'write' }, result.times.writeMs / 1000);
    const followUp = gauge('yzh_recon_followup_orders', 'Unsettled orders of the last run, by what the live follow-up made of them', ['outcome']);
    followUp.set({ ...dealer, outcome: 'asked' }, result.followUp.asked);
    followUp.set({ ...dealer, outcome: 'unanswered' }, result.followUp.unanswered);
    followUp.set({ ...dealer, outcome: 'deferred' }, result.followUp.deferred);
    if (result.balances !== null && result.balances.asked) {
      // A gauge is a float by nature; the exact amounts are in recon.balance_snapshots.
      const balance = gauge('yzh_recon_balance_yuan', 'Balance per broker and channel at the end of the last run (query-accounts)', ['broker_id', 'channel']);
      for (const c of result.balances.channels) balance.set({ ...dealer, broker_id: c.brokerId, channel: c.channel }, Number(c.balance));
    }
  }
  // Facts of the database, not of this run: pushed after a failed run too, and a back-fill of
  // an old day does not move them back.
  if (input.days?.lastSuccess != null) {
    gauge('yzh_recon_last_success_business_date_seconds', 'Start (00:00 Asia/Shanghai) of the newest business day reconciled successfully')
      .set(dealer, dayStartSeconds(input.days.lastSuccess));
  }
  if (input.days?.lastFinal != null) {
    gauge('yzh_recon_last_final_business_date_seconds',
      'Start (00:00 Asia/Shanghai) of the newest business day reconciled successfully on its final files (a run after 16:45 the next day)')
      .set(dealer, dayStartSeconds(input.days.lastFinal));
  }
  if (input.open !== undefined) {
    const open = gauge('yzh_recon_open_findings', 'Open discrepancies by kind and severity', ['kind', 'severity']);
    for (const o of input.open) open.set({ ...dealer, kind: o.kind, severity: o.severity }, o.count);
    // Money at risk on the dashboard: a float here as every gauge is; the page and the report have it to the fen.
    const amount = gauge('yzh_recon_open_findings_amount_yuan', 'Amounts of the open discrepancies (provider amount, else ledger amount), by kind and severity', ['kind', 'severity']);
    for (const o of input.open) if (o.amount !== undefined) amount.set({ ...dealer, kind: o.kind, severity: o.severity }, Number(o.amount));
  }
  return registry;
}

export async function openFindings(session: Session, dealerId: string): Promise<{ kind: string; severity: string; count: number; amount: string }[]> {
  // count(*) is bigint and sum numeric: the connection gives them as a number and as text.
  return session.db
    .selectFrom('recon.discrepancies')
    .select((eb) => [
      'kind', 'severity', eb.fn.countAll<number>().as('count'),
      eb.fn.coalesce(eb.fn.sum<string>(eb.fn.coalesce('provider_amount', 'ledger_amount')), sql<string>`0`).as('amount'),
    ])
    .where('dealer_id', '=', dealerId)
    .where('status', '=', 'open')
    .groupBy(['kind', 'severity'])
    .orderBy('kind').orderBy('severity')
    .execute();
}

export async function reconciledDays(session: Session, dealerId: string): Promise<ReconciledDays> {
  const r = await session.db
    .selectFrom('recon.runs')
    .select((eb) => [
      eb.fn.max('business_date').as('last_success'),
      eb.fn.max('business_date')
        .filterWhere('started_at', '>=', sql<Date>`((business_date + 1)::timestamp + interval '16 hours 45 minutes') at time zone 'Asia/Shanghai'`)
        .as('last_final'),
    ])
    .where('dealer_id', '=', dealerId)
    .where('status', '=', 'succeeded')
    .executeTakeFirst();
  return { lastSuccess: r?.last_success ?? null, lastFinal: r?.last_final ?? null };
}

/**
 * Pushes with POST, which replaces only the metric families sent: a failed run does not send
 * the last-success gauges, so the Pushgateway keeps those of the last good run for the alert
 * rules to read. A push failure is logged, never fatal.
 */
export async function pushRunMetrics(url: string, input: RunMetricsInput, log: Logger): Promise<void> {
  const registry = buildRunMetrics(input);
  const gateway = new Pushgateway(url, { timeout: 10_000, headers: { 'Content-Type': registry.contentType } }, registry);
  try {
    await gateway.pushAdd({ jobName: METRICS_JOB, groupings: { dealer_id: input.dealerId } });
    log.info({ pushgateway: url }, 'metrics pushed');
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not push metrics to the Pushgateway');
  }
}
