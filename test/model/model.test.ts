import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, freshDatabase, type TestDatabase } from '../helpers/db.js';
import { describeMismatch, playHistory } from './drive.js';
import { history, script, type History } from './history.js';

/**
 * The engine held to the reference model (model.ts) on generated multi-day histories: after
 * every run, recon.discrepancies (but balance_low and systemic_mismatch, which the model does
 * not cover) equals the model's rows, open and resolved. `npm test` plays a few histories with
 * a fixed seed; `npm run test:model` plays FC_RUNS of them (FC_SEED to replay one).
 */
const LONG = process.env.YZH_MODEL_LONG === '1';
const SEED = Number(process.env.FC_SEED ?? (LONG ? Date.now() % 1e9 : 20261203));
const RUNS = Number(process.env.FC_RUNS ?? (LONG ? 200 : 12));

describe.each(ENGINES)('the engine against the reference model on %s', (engine) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase(engine);
  });
  afterAll(async () => {
    await db.drop();
  });

  it('agrees after every run of generated histories', async () => {
    console.log(`model test (${engine}): seed ${SEED}, ${RUNS} histories (replay with FC_SEED=${SEED})`);
    let last: string | null = null;
    const result = await fc.check(fc.asyncProperty(history, async (h) => {
      const m = await playHistory(db.handle, h);
      last = m === null ? null : describeMismatch(m);
      return m === null;
    }), { numRuns: RUNS, seed: SEED, endOnFailure: true });
    if (result.failed) {
      const h = result.counterexample![0];
      // The shrunk history is played once more, so the diff printed is its own.
      const m = await playHistory(db.handle, h);
      const report = [`engine and model disagree (seed ${SEED}, found after ${result.numRuns} histories, ${result.numShrinks} shrinks)`,
        script(h), m ? describeMismatch(m) : last ?? '(no mismatch on replay)', `history: ${JSON.stringify(h)}`].join('\n');
      console.log(report);
      expect.fail(report);
    }
  }, LONG ? 3_600_000 : 300_000);

  /** A named history, played as the property plays one. */
  const example = (h: History) => async () => {
    const m = await playHistory(db.handle, h);
    expect(m === null ? null : `${script(h)}\n${describeMismatch(m)}`).toBeNull();
  };
  void example;
});
