import { describe, expect, it } from 'vitest';
import { BILL_COLUMNS, ORDER_COLUMNS } from '../../src/provider/file-format.js';
import type { FileKind } from '../../src/provider/protocol.js';
import { convertSql, stagingCopySql, typedCopySql } from '../../src/recon/load/staging.js';
import { findingStatements, ORDER_STATE_SQL, PARAMS_SQL, REJUDGE_SQL } from '../../src/recon/match/match-state.js';
import { MATCH_SETTINGS_SQL } from '../../src/recon/match/matching.js';
import { LIVE_DETAILS_SQL, RULES } from '../../src/recon/match/rules.js';

/**
 * The SQL a run sends, as committed files beside this test, so that a change to a statement
 * (and so to its plan) shows in review as a diff of SQL, not of the fragments it is built from.
 * `npm run snapshots` writes them anew; this test fails while they differ from the code.
 */
const file = (name: string) => new URL(`./${name}.sql`, import.meta.url).pathname;

/** Statements one after the other, each with a header saying where it stands, `;` after each. */
function script(sections: [title: string, statements: readonly string[]][]): string {
  return sections.map(([title, statements]) =>
    `-- ${title}\n\n${statements.map((sql) => `${dedent(sql)};\n`).join('\n')}`).join('\n') ;
}

/** Leading blank lines dropped and the common indentation of the rest removed. */
function dedent(sql: string): string {
  const lines = sql.replace(/^\s*\n/, '').trimEnd().split('\n');
  const indent = Math.min(...lines.slice(1).filter((l) => l.trim() !== '').map((l) => l.match(/^ */)![0].length), Infinity);
  return [lines[0]!.trimStart(), ...lines.slice(1).map((l) => l.slice(Number.isFinite(indent) ? indent : 0))].join('\n');
}

describe('the SQL of a run, as committed snapshots', () => {
  it('matching: parameters, the order state, the states and candidates, the other days, the re-judging', async () => {
    await expect(script([
      ['The planner settings of matching', MATCH_SETTINGS_SQL],
      ['The run\'s parameters ($1 dealer, $2 day)', PARAMS_SQL],
      ['Once the order file is in: its per-order state', ORDER_STATE_SQL],
      ['Once both files are in (with other days of the dealer on file)', findingStatements(true)],
      ['After a live follow-up: the asked orders judged again', REJUDGE_SQL],
    ])).toMatchFileSnapshot(file('match-state'));
  });

  it('the rules, one per discrepancy kind, and the live answers in their details', async () => {
    await expect(script([
      ...Object.entries(RULES).map(([kind, sql]): [string, string[]] => [`Rule: ${kind}`, [sql]]),
      ['Each finding of an order asked about carries the newest live answer', [LIVE_DETAILS_SQL]],
    ])).toMatchFileSnapshot(file('rules'));
  });

  it('the load: the typed COPY, and staging with its conversion for the files it takes', async () => {
    const fields = (kind: FileKind) => Object.values(kind === 'order' ? ORDER_COLUMNS : BILL_COLUMNS);
    await expect(script((['order', 'bill'] as const).map((kind): [string, string[]] => [`The ${kind} file`, [
      typedCopySql(kind, `provider_${kind}s_load`, fields(kind)),
      stagingCopySql(kind, fields(kind)),
      convertSql(kind, `provider_${kind}s_load`, 'DEALER', '2024-01-01'),
    ]]))).toMatchFileSnapshot(file('load'));
  });
});
