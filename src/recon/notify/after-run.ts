import type { DatabaseHandle } from '../../db/connection.js';
import type { Logger } from '../../logger.js';
import type { RunResult } from '../runs/run-day.js';
import { collectFacts, reportLink, type RunFacts } from './message.js';
import { DEFAULT_SEND, sendAll, type SendAnswer, type SendOptions } from './send.js';
import type { NotifyConfig } from './targets.js';

export interface RunOutcome {
  dealerId: string;
  date: string;
  result: RunResult | undefined;
  /** The failed run's error. */
  error: unknown;
  durationSeconds: number;
}

/** The time the database gets to say what is open before the message goes without it. */
const FACTS_MS = 1_500;

export function errorLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.trim() || 'unknown error';
}

/** Whether YZH_NOTIFY_ON asks for a message after this run. */
export function wanted(on: NotifyConfig['on'], facts: Pick<RunFacts, 'outcome' | 'opened' | 'newCritical'>): boolean {
  if (on === 'always' || facts.outcome !== 'succeeded') return true;
  return on === 'findings' ? (facts.opened ?? 0) > 0 : (facts.newCritical ?? 0) > 0;
}

/** The message's facts after a run: the run's own, and what the database says is open. */
export async function runFacts(db: DatabaseHandle, config: NotifyConfig, run: RunOutcome, log: Logger): Promise<RunFacts> {
  const runId = run.result?.runId ?? null;
  const base: RunFacts = {
    dealerId: run.dealerId, date: run.date, outcome: run.result === undefined ? 'failed' : 'succeeded', runId,
    error: run.result === undefined ? errorLine(run.error) : null, durationSeconds: run.durationSeconds,
    opened: run.result?.lifecycle.opened ?? null, newCritical: null, openCritical: null, atRisk: null, largest: [],
    reportUrl: reportLink(config.reportUrl, run.date),
  };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), FACTS_MS); });
  const facts = await Promise.race([
    db.withSession((s) => collectFacts(s, run.dealerId, run.date, runId)).catch((err: unknown) => {
      log.warn({ err: errorLine(err) }, 'chat message: could not read the open findings');
      return null;
    }),
    late,
  ]).finally(() => clearTimeout(timer));
  return facts === null ? base : { ...base, ...facts };
}

/** After a run: the message to every webhook when YZH_NOTIFY_ON wants one. Never throws. */
export async function notifyAfterRun(db: DatabaseHandle, config: NotifyConfig, run: RunOutcome, log: Logger, options: SendOptions = DEFAULT_SEND): Promise<SendAnswer[]> {
  if (config.targets.length === 0) return [];
  try {
    const facts = await runFacts(db, config, run, log);
    if (!wanted(config.on, facts)) return [];
    return await sendAll(config.targets, facts, log, options);
  } catch (err) {
    log.warn({ err: errorLine(err) }, 'chat message not sent');
    return [];
  }
}
