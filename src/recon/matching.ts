import type { Session } from '../db/connection.js';
import { MATCH_STATE_SQL } from './match-state.js';
import { RULES } from './rules.js';

export const MATCH_WORK_MEM = '64MB';

/**
 * Builds the run's scope and per-order state, then runs every rule into recon_findings.
 * Must run inside the run's transaction (the temp tables are dropped at commit).
 */
export async function computeFindings(session: Session, dealerId: string, date: string): Promise<Record<string, number>> {
  // Enough memory for the per-order hashes of a million-order day to stay off disk.
  await session.query(`set local work_mem = '${MATCH_WORK_MEM}'`);
  const [params, ...rest] = MATCH_STATE_SQL;
  await session.query(params!, [dealerId, date]);
  for (const sql of rest) await session.query(sql);
  const timings: Record<string, number> = {};
  for (const [kind, sql] of Object.entries(RULES)) {
    const started = performance.now();
    await session.query(sql);
    timings[kind] = Math.round(performance.now() - started);
  }
  return timings;
}
