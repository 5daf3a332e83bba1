import type { Session } from '../../db/connection.js';
import type { RunTx } from '../runs/run-transaction.js';
import { findingStatementParts, HAS_OTHER_DAYS_SQL, ORDER_STATE_SQL, PARAMS_SQL, REJUDGE_SQL } from './match-state.js';
import { LIVE_DETAILS_SQL, RULES } from './rules.js';

export const MATCH_WORK_MEM = '256MB';

/** The planner settings of matching, for the run's transaction. */
export const MATCH_SETTINGS_SQL: readonly string[] = [
  // Keeps the hash joins of a million-order day in memory (the aggregates' sorts still spill;
  // 256 MB measured no faster).
  `set local work_mem = '${MATCH_WORK_MEM}'`,
  // Compiling a statement costs up to a second, and with days of history the planner's cost
  // estimates of the per-order lookups cross the JIT threshold while they read a few rows.
  'set local jit = off',
  // The orders that need other days are looked up by id in each day's partition; at the
  // default random_page_cost (4, for spinning disks) the planner reads every partition whole
  // instead once a few thousand open findings are in scope, which grows with the days kept.
  // A day's index pages are in cache on any current server (and on SSD when they are not).
  'set local random_page_cost = 1.1',
  // Hash joins only: every big join of a run is of sets in no useful order (a day's rows come
  // in any order), where a merge join sorts a million rows, or walks an index and reads the
  // heap at random (the bill state: 15 s at a million shuffled rows, against 2 s hashed).
  'set local enable_mergejoin = off',
];

/**
 * The first part of matching, which needs only day D's order rows (see LoadHooks). Its temp
 * tables are dropped at the run's commit.
 */
export async function prepareFindings(session: RunTx, dealerId: string, date: string): Promise<void> {
  for (const sql of MATCH_SETTINGS_SQL) await session.query(sql);
  const [params, ...rest] = PARAMS_SQL;
  await session.query(params!, [dealerId, date]);
  for (const sql of [...rest, ...ORDER_STATE_SQL]) await session.query(sql);
}

/**
 * The rest of matching, once both files are in: per-order state, candidates, every rule.
 * `indexed` resolves once the day's tables have their indexes (one may still be building on
 * a second connection): the statements before it read the day's rows whole, those after it
 * also read rows by id.
 */
export async function computeFindings(session: RunTx, indexed: () => Promise<void> = async () => {}): Promise<void> {
  const other = await session.query<{ other_days: boolean }>(HAS_OTHER_DAYS_SQL);
  const [whole, byId] = findingStatementParts(other.rows[0]!.other_days);
  for (const sql of whole) await session.query(sql);
  await indexed();
  for (const sql of byId) await session.query(sql);
  await runRules(session);
}

/**
 * After a live follow-up: the asked orders (temp table recon_asked) are judged again with
 * their answers as the newest evidence, by the same rules. The rules run again over the whole
 * of recon_match, a few hundred candidate rows, so that recon_findings stays what the rules
 * make of recon_match and nothing else.
 */
export async function rejudgeFindings(session: RunTx): Promise<void> {
  for (const sql of REJUDGE_SQL) await session.query(sql);
  await runRules(session);
}

async function runRules(session: Session): Promise<void> {
  for (const sql of Object.values(RULES)) await session.query(sql);
  await session.query(LIVE_DETAILS_SQL);
}
