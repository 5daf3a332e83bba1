import type { RunTx } from '../runs/run-transaction.js';
import { coerceError, ReconError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { DealerAccount, ProviderClient } from '../../provider/client.js';
import { formatFen, parseFen } from '../../provider/file-format.js';
import type { Channel } from '../../provider/protocol.js';

/**
 * Balance snapshots (query-accounts) at the end of each run, and the balance_low finding: a
 * broker's open channel whose balance is below that channel's average daily payout of the
 * last 7 days would not cover the next day, and an insufficient balance is what puts orders
 * into 挂单 / 待打款(暂停处理) (document, 3 预先充值).
 */

export interface ChannelBalance {
  brokerId: string;
  channel: Channel;
  /** Yuan text, exact. */
  balance: string;
  open: boolean;
  /** Average daily 经纪公司打款 of the window, yuan text; null with no bill file in it. */
  averageDailyPayout: string | null;
  low: boolean;
}

export interface BalanceResult {
  asked: boolean;
  channels: ChannelBalance[];
  /** Why no snapshot was taken, when none was. */
  error?: string;
}

/** Days of bill files the average runs over: D and the six before it. */
export const BALANCE_WINDOW_DAYS = 7;

const CHANNELS: readonly { channel: Channel; balance: keyof DealerAccount; open: keyof DealerAccount }[] = [
  { channel: 'bankcard', balance: 'bank_card_balance', open: 'is_bank_card' },
  { channel: 'alipay', balance: 'alipay_balance', open: 'is_alipay' },
  { channel: 'wxpay', balance: 'wxpay_balance', open: 'is_wxpay' },
];

/**
 * Per broker and channel: the 经纪公司打款 rows of the window's bill files, summed (from the
 * per-day totals written at load, recon.provider_day_payouts), and the
 * number of days in the window that have a bill file (a day without one is not a day without
 * payouts, so it is not averaged in).
 *
 * The window ends on the newest day with a bill file, not on the run's day: a snapshot is
 * today's balance, so a run of an old day (a back-fill) judges it against the payouts of the
 * newest days, as the day's own run did, rather than against that old week's.
 */
const WINDOW_END_SQL = `
  select greatest($2::date, (select max(f.business_date) from recon.provider_files f
                              where f.dealer_id = $1 and f.kind = 'bill'))::text as day`;

const PAYOUTS_SQL = `
  select b.broker_id, b.channel, sum(b.amount)::text as total,
         (select count(distinct f.business_date)::int from recon.provider_files f
           where f.dealer_id = $1 and f.kind = 'bill' and f.business_date between $2::date - ${BALANCE_WINDOW_DAYS - 1} and $2::date) as days
    from recon.provider_day_payouts b
   where b.dealer_id = $1 and b.business_date between $2::date - ${BALANCE_WINDOW_DAYS - 1} and $2::date
   group by b.broker_id, b.channel`;

/**
 * balance_low findings go through recon_findings like every other finding: file-level
 * (order_id null), told apart by provider_ref = '<broker_id>/<channel>'. Filed under the
 * window's last day (the run's, but for a back-fill the newest day with a bill file); an open row of the same broker and channel, whatever its day, is the one continued and
 * keeps its day, the first seen low (lifecycle/discrepancies.ts, ANY_DAY_FILE_LEVEL_KINDS).
 */
const BALANCE_LOW_SQL = `
  insert into recon_findings (business_date, kind, severity, order_id, provider_ref, ledger_amount, provider_amount, details)
  select $5::date, 'balance_low', 'warning', null, x.broker_id || '/' || x.channel, null, x.balance::numeric,
         jsonb_build_object('broker_id', x.broker_id, 'channel', x.channel, 'balance', x.balance,
                            'average_daily_payout', x.average, 'window_days', ${BALANCE_WINDOW_DAYS}, 'window_end', $5::date,
                            'message', 'the balance would not cover an average day''s payouts: top up, or the next orders go 挂单')
    from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as x(broker_id, channel, balance, average)`;

/**
 * The dealer's open balance_low rows, of every day, carried into recon_findings unchanged: when
 * the balances could not be asked (or the step is not part of this run), the lifecycle keeps
 * them open instead of resolving what nobody checked. Every run that asks judges them all.
 */
const CARRY_FORWARD_SQL = `
  insert into recon_findings (business_date, kind, severity, order_id, provider_ref, ledger_amount, provider_amount, details)
  select d.business_date, d.kind, d.severity, d.order_id, d.provider_ref, d.ledger_amount, d.provider_amount, d.details
    from recon.discrepancies d cross join recon_params p
   where d.dealer_id = p.dealer_id and d.status = 'open' and d.kind = 'balance_low'`;

export async function carryForwardBalanceFindings(session: RunTx): Promise<void> {
  await session.query(CARRY_FORWARD_SQL);
}

export interface BalanceDeps {
  client: ProviderClient;
  log: Logger;
  signal?: AbortSignal;
}

/**
 * Asks query-accounts, keeps one snapshot row per broker, and writes balance_low into
 * recon_findings. Never fails the run: a failed query (or database error, rolled back to the
 * step's savepoint) is logged and carries the day's open balance_low rows forward.
 */
export async function checkBalances(session: RunTx, deps: BalanceDeps, runId: number, dealerId: string, date: string): Promise<BalanceResult> {
  const { client, log, signal } = deps;
  await session.query('savepoint balances');
  try {
    const { accounts: answer, requestId } = await client.accounts(signal);
    const accounts = readAccounts(answer);
    const askedAt = new Date();
    const channels: ChannelBalance[] = [];
    const snapshots = accounts.map((a) => {
      CHANNELS.forEach((c, i) => channels.push({
        brokerId: a.brokerId, channel: c.channel, balance: formatFen(a.balances[i]!), open: a.open[i]!,
        averageDailyPayout: null, low: false,
      }));
      return {
        run_id: runId, dealer_id: dealerId, asked_at: askedAt, broker_id: a.brokerId,
        bank_card_balance: formatFen(a.balances[0]!), alipay_balance: formatFen(a.balances[1]!), wxpay_balance: formatFen(a.balances[2]!),
        rebate_fee_balance: formatFen(a.rebate), is_bank_card: a.open[0]!, is_alipay: a.open[1]!, is_wxpay: a.open[2]!, request_id: requestId,
      };
    });
    if (snapshots.length > 0) await session.db.insertInto('recon.balance_snapshots').values(snapshots).execute();

    const windowEnd = (await session.query<{ day: string }>(WINDOW_END_SQL, [dealerId, date])).rows[0]!.day;
    const payouts = await session.query<{ broker_id: string; channel: Channel; total: string; days: number }>(PAYOUTS_SQL, [dealerId, windowEnd]);
    for (const row of payouts.rows) {
      const c = channels.find((x) => x.brokerId === row.broker_id && x.channel === row.channel);
      if (c === undefined || row.days === 0) continue;
      const total = fen(row.total, 'payout total');
      const days = BigInt(row.days);
      // Half up, in fen.
      const average = (total * 2n + days) / (2n * days);
      c.averageDailyPayout = formatFen(average);
      c.low = c.open && average > 0n && fen(c.balance, 'balance') < average;
    }
    const low = channels.filter((c) => c.low);
    if (low.length > 0) {
      await session.query(BALANCE_LOW_SQL, [
        low.map((c) => c.brokerId), low.map((c) => c.channel), low.map((c) => c.balance), low.map((c) => c.averageDailyPayout), windowEnd,
      ]);
    }
    await session.query('release savepoint balances');
    log.info({ brokers: accounts.length, low: low.map((c) => `${c.brokerId}/${c.channel}`), requestId }, 'balances recorded');
    return { asked: true, channels };
  } catch (err) {
    if (signal?.aborted) throw err;
    await session.query('rollback to savepoint balances');
    await session.query('release savepoint balances');
    await carryForwardBalanceFindings(session);
    const message = coerceError(err).message;
    log.warn({ err: message }, 'balance query failed; the day\'s balance findings stay as they were');
    return { asked: false, channels: [], error: message };
  }
}

function fen(text: unknown, what: string): bigint {
  const value = amount(text);
  if (value === null) throw new Error(`query-accounts: ${what} is not an amount`);
  return value;
}

/** Yuan as the answer gives it: a decimal string (spaces around it allowed) or a whole number. */
function amount(value: unknown): bigint | null {
  return typeof value === 'string' ? parseFen(value.trim()) : typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) * 100n : null;
}

interface Account {
  brokerId: string;
  /** Per CHANNELS, in fen. */
  balances: bigint[];
  open: boolean[];
  rebate: bigint;
}

/** A value as a person reads it in an error: JSON, cut short. */
function shown(value: unknown): string {
  const text = value === undefined ? 'missing' : JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * The balance answer, checked whole before anything of it is used: one entry per broker, a
 * broker_id, every balance an amount and every channel flag true or false. Every problem is
 * named (broker, field, value as sent) in one error; the caller treats it as a failed query.
 */
export function readAccounts(answer: readonly DealerAccount[]): Account[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const accounts: Account[] = [];
  answer.forEach((a, index) => {
    const raw = (a as unknown as Record<string, unknown>).broker_id;
    const brokerId = typeof raw === 'string' ? raw.trim() : typeof raw === 'number' ? String(raw) : '';
    if (brokerId === '') {
      problems.push(`account ${index + 1} has no broker_id`);
      return;
    }
    const first = seen.get(brokerId);
    if (first !== undefined) {
      problems.push(`broker ${brokerId} is listed twice (accounts ${first} and ${index + 1})`);
      return;
    }
    seen.set(brokerId, index + 1);
    const field = (name: keyof DealerAccount) => (a as unknown as Record<string, unknown>)[name];
    const money = (name: keyof DealerAccount) => {
      const value = amount(field(name));
      if (value === null) problems.push(`broker ${brokerId}: ${name} ${shown(field(name))} is not an amount`);
      return value ?? 0n;
    };
    const flag = (name: keyof DealerAccount) => {
      const value = field(name);
      if (typeof value !== 'boolean') problems.push(`broker ${brokerId}: ${name} ${shown(value)} is not true or false`);
      return value === true;
    };
    accounts.push({
      brokerId,
      balances: CHANNELS.map((c) => money(c.balance)),
      open: CHANNELS.map((c) => flag(c.open)),
      rebate: money('rebate_fee_balance'),
    });
  });
  if (problems.length > 0) {
    throw new ReconError('PROVIDER', `the balance answer (query-accounts) cannot be used: ${problems.join('; ')}`);
  }
  return accounts;
}
