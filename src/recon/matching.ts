import type { Session } from '../db/connection.js';
import { MATCH_STATE_SQL } from './match-state.js';
import { RULES } from './rules.js';

export const MATCH_WORK_MEM = '64MB';

/**
 * Builds the run's scope and per-order state, then runs every rule into recon_findings.
 * Must run inside the run's transaction (the temp tables are dropped at commit).
 */
export async function computeFindings(session: Session, dealerId: string, date: string): Promise<void> {
  // Enough memory for the per-order hashes of a million-order day to stay off disk.
  await session.query(`set local work_mem = '${MATCH_WORK_MEM}'`);
  const [params, ...rest] = MATCH_STATE_SQL;
  await session.query(params!, [dealerId, date]);
  for (const sql of rest) await session.query(sql);
  // The rules read a few hundred candidates; compiling each of them would cost more than it runs.
  await session.query('set local jit = off');
  for (const sql of Object.values(RULES)) await session.query(sql);
}
