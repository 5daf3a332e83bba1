import { DEFAULT_FOLLOW_UP, type FollowUpConfig } from '../../config.js';
import type { RunTx } from '../runs/run-transaction.js';
import type { LiveState } from '../../db/schema.js';
import { coerceError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ProviderClient } from '../../provider/client.js';
import { rejudgeFindings } from '../match/matching.js';
import { insertChecks, markAsked, selectCandidates, type Candidate, type CheckRow } from './order-checks.js';
import { liveAmount, liveTime, readAnswer } from './live-state.js';

export interface FollowUpResult {
  /** Orders whose truth the files could not tell. */
  candidates: number;
  /** Asked this run (at most YZH_FOLLOWUP_MAX). */
  asked: number;
  /** Answers that said something about the order, by what they said. */
  answered: Partial<Record<LiveState, number>>;
  /** Asked or due to be asked, without an answer about the order: timeouts, provider down, other codes. */
  unanswered: number;
  /** Left for the next run by the cap. */
  deferred: number;
  /** Why the step stopped early, when it did. */
  error?: string;
}

export interface FollowUpDeps {
  client: ProviderClient;
  config: FollowUpConfig;
  log: Logger;
  signal?: AbortSignal;
  /** Overrides config.reaskAfterHours: 0 for the `follow-up` command, which asks them all. */
  reaskAfterHours?: number;
}

export const NO_FOLLOW_UP: FollowUpResult = { candidates: 0, asked: 0, answered: {}, unanswered: 0, deferred: 0 };

/**
 * The live follow-up, after the rules have run: asks the
 * real-time order query about the orders whose truth the files cannot tell, records every
 * answer in recon.provider_order_checks, and has the rules judge those orders again with the
 * answers as their newest evidence (rejudgeFindings).
 *
 * It never fails the run. The provider being down or slow leaves the findings as the files
 * say: once a call has failed for want of an answer (after the client's retries), no further
 * calls start, so a provider that is down costs one call's retries, not one per order; what
 * was not answered is counted and asked again by the next run. A database error inside the
 * step rolls back to the savepoint taken at its start, with the same effect. Only a stop
 * signal ends the run, as everywhere else.
 *
 * An answer that cannot be read (another order's, another dealer's, a status outside the
 * document's appendices, over 1 MiB, not the provider's JSON) is stored with state null and
 * its problem, and concerns its order alone. The whole step is bounded by the budget
 * (YZH_FOLLOWUP_BUDGET_MS): past it no call starts and those under way are cut, so the run's
 * transaction and the dealer's lock are not held for the provider's sake beyond it.
 */
export async function followUp(session: RunTx, deps: FollowUpDeps, runId: number, dealerId: string): Promise<FollowUpResult> {
  const { log, signal } = deps;
  if (deps.config.max === 0) return NO_FOLLOW_UP;
  const budgetMs = deps.config.budgetMs ?? DEFAULT_FOLLOW_UP.budgetMs!;
  const budget = new AbortController();
  const timer = setTimeout(() => budget.abort(), budgetMs);
  timer.unref();
  await session.query('savepoint follow_up');
  let selected = { candidates: [] as Candidate[], total: 0 };
  try {
    selected = await selectCandidates(session, deps.config.max, deps.reaskAfterHours ?? deps.config.reaskAfterHours ?? DEFAULT_FOLLOW_UP.reaskAfterHours!);
    const { candidates, total } = selected;
    if (candidates.length === 0) {
      await session.query('release savepoint follow_up');
      return NO_FOLLOW_UP;
    }
    log.info({ candidates: total, asking: candidates.length, concurrency: deps.config.concurrency }, 'follow-up: asking the provider');
    const { checks, unanswered, error } = await ask(candidates, deps, dealerId, { signal: budget.signal, ms: budgetMs });
    await insertChecks(session, runId, dealerId, checks);
    const evidence = checks.filter((c) => c.state !== null);
    if (evidence.length > 0) {
      await markAsked(session, evidence.map((c) => c.orderId));
      await rejudgeFindings(session);
    }
    await session.query('release savepoint follow_up');
    const answered: Partial<Record<LiveState, number>> = {};
    for (const c of evidence) answered[c.state!] = (answered[c.state!] ?? 0) + 1;
    const result: FollowUpResult = {
      candidates: total, asked: candidates.length, answered, unanswered, deferred: total - candidates.length,
      ...(error === undefined ? {} : { error }),
    };
    log.info({ ...result }, 'follow-up done');
    return result;
  } catch (err) {
    if (signal?.aborted) throw err;
    await session.query('rollback to savepoint follow_up');
    await session.query('release savepoint follow_up');
    const message = coerceError(err).message;
    log.warn({ err: message }, 'follow-up failed; the findings stay as the files say, and the next run asks again');
    const asked = selected.candidates.length;
    return { candidates: selected.total, asked, answered: {}, unanswered: asked, deferred: selected.total - asked, error: message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Asks about each candidate, at most `concurrency` at once, until the first call without an
 * answer or the end of the budget.
 */
async function ask(
  candidates: readonly Candidate[], deps: FollowUpDeps, dealerId: string, budget: { signal: AbortSignal; ms: number },
): Promise<{ checks: CheckRow[]; unanswered: number; error?: string }> {
  const { client, log, signal } = deps;
  const callSignal = signal ? AbortSignal.any([signal, budget.signal]) : budget.signal;
  const checks: CheckRow[] = [];
  let next = 0;
  let unanswered = 0;
  let error: string | undefined;
  const worker = async () => {
    while (error === undefined && next < candidates.length && !callSignal.aborted) {
      const candidate = candidates[next++]!;
      const channel = candidate.channel ?? 'bankcard';
      try {
        const answer = await client.askOrder(candidate.orderId, channel, callSignal);
        const order = answer.order;
        const read = readAnswer(candidate.orderId, dealerId, answer.code, order);
        if (read.state === null) unanswered++;
        if (read.problem !== null) {
          log.warn({ order_id: candidate.orderId, problem: read.problem, requestId: answer.requestId }, 'follow-up: an answer that cannot be read, no evidence');
        }
        checks.push({
          orderId: candidate.orderId, channel, askedAt: new Date(), code: answer.code, state: read.state,
          status: read.status, statusDetail: read.statusDetail,
          statusMessage: order === null ? answer.message || null : (typeof order.status_message === 'string' ? order.status_message : null),
          providerRef: order === null || typeof order.ref !== 'string' ? null : order.ref,
          brokerId: order === null || typeof order.broker_id !== 'string' ? null : order.broker_id,
          amount: order === null ? null : liveAmount(order.pay),
          finishedAt: order === null ? null : liveTime(order.finished_time),
          requestId: answer.requestId, answeredOrderId: read.answeredOrderId, problem: read.problem,
        });
      } catch (err) {
        if (signal?.aborted) throw err;
        unanswered++;
        // Cut short by the budget: no answer, nothing recorded; the next run asks again.
        if (budget.signal.aborted) break;
        const e = coerceError(err);
        log.warn({ order_id: candidate.orderId, err: e.message, ...e.facts }, 'follow-up: no answer');
        // No answer at all (after the retries): the provider is down or too slow; stop asking.
        if (e.code === 'TRANSPORT') {
          error = e.message;
          continue;
        }
        // Anything else is an answer that cannot be read (over 1 MiB, not the provider's JSON,
        // of the wrong shape): stored as such, no evidence, and it concerns this order alone.
        checks.push({
          orderId: candidate.orderId, channel, askedAt: new Date(), code: typeof e.facts.providerCode === 'string' ? e.facts.providerCode : '',
          state: null, status: null, statusDetail: null, statusMessage: null, providerRef: null, brokerId: null, amount: null,
          finishedAt: null, requestId: typeof e.facts.requestId === 'string' ? e.facts.requestId : '', answeredOrderId: null, problem: e.message,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.config.concurrency, candidates.length) }, worker));
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
  // Those never started once the provider stopped answering or the budget was spent.
  unanswered += candidates.length - next;
  if (error === undefined && budget.signal.aborted && unanswered > 0) {
    error = `the follow-up stopped at YZH_FOLLOWUP_BUDGET_MS (${budget.ms} ms); ${unanswered} orders wait for the next run`;
    log.warn({ budgetMs: budget.ms, unanswered }, 'follow-up: budget spent');
  }
  return { checks, unanswered, ...(error === undefined ? {} : { error }) };
}
