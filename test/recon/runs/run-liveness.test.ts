import { describe, expect, it } from 'vitest';
import { openPostgres, type Session } from '../../../src/db/connection.js';
import { acquireRunLock, insertRun, releaseAlive, releaseRunLock } from '../../../src/recon/runs/runs.js';
import { ENGINES } from '../../helpers/db.js';
import { paidBills, scenarioSuite } from '../../helpers/scenario.js';

/**
 * Which 'running' rows are dead: a run that holds the dealer's lock marks as abandoned only the
 * rows whose process is gone, never a run that is still waiting for the lock.
 */
describe.each(ENGINES)('run liveness on %s', (engine) => {
  const { db, scenario } = scenarioSuite(engine);
  const status = (id: number) => db().handle.withSession(async (s) => (await s.query<{ status: string; error: string | null }>(
    'select status, error from recon.runs where id = $1', [id])).rows[0]);

  it('a run left running by a process that died is marked abandoned by the next run of its dealer', async () => {
    const s = await scenario();
    s.writeDay('2024-08-01', [], []);
    // What a killed process leaves: the row, and no session holding anything.
    const dead = await db().handle.withSession((x) => x.query<{ id: number }>(
      `insert into recon.runs (dealer_id, business_date, trigger, status) values ($1, '2024-08-01', 'manual', 'running') returning id`,
      [s.dealerId]));
    const run = await s.run('2024-08-01');
    expect(await status(dead.rows[0]!.id)).toEqual({ status: 'failed', error: 'abandoned: the process ended before the run finished' });
    expect(await status(run.runId)).toEqual({ status: 'succeeded', error: null });
  });

  // PGlite is one backend that sessions take in turn: a second run cannot wait beside the first.
  it.skipIf(engine === 'pglite')('a run waiting for the lock is left running; one whose session ended is abandoned', async () => {
    const s = await scenario();
    const dealer = s.dealerId;
    const hold = async (work: (session: Session) => Promise<void>) => {
      let release!: () => void;
      const released = new Promise<void>((r) => { release = r; });
      let ready!: () => void;
      const readyP = new Promise<void>((r) => { ready = r; });
      const done = db().handle.withSession(async (session) => {
        await work(session);
        ready();
        await released;
      });
      await readyP;
      return { release, done };
    };
    // A run that is waiting for the lock: its row exists, its session is alive.
    let waitingId = 0;
    const waiting = await hold(async (x) => { waitingId = await insertRun(x, dealer, '2024-08-02', 'schedule'); });
    try {
      // A run whose process ended: its connection closed with the row still 'running'.
      const other = openPostgres(db().url!);
      const goneId = await other.withSession((x) => insertRun(x, dealer, '2024-08-02', 'schedule'));
      await other.close();

      await db().handle.withSession(async (x) => {
        const id = await insertRun(x, dealer, '2024-08-03', 'manual');
        await acquireRunLock(x, dealer, id, 1000);
        await releaseRunLock(x, dealer);
        await releaseAlive(x, id);
      });
      expect(await status(waitingId)).toEqual({ status: 'running', error: null });
      expect(await status(goneId)).toMatchObject({ status: 'failed', error: expect.stringMatching(/^abandoned/) as unknown });
    } finally {
      waiting.release();
      await waiting.done;
    }
  });

  it('three runs of one dealer at once all succeed, and none is recorded with an error', async () => {
    const s = await scenario();
    const days = ['2024-08-05', '2024-08-06', '2024-08-07'];
    for (const [i, day] of days.entries()) {
      const o = { id: s.id(String(i)), ref: `5${String(i).padStart(17, '0')}`, amount: '100' };
      s.writeDay(day, [o], paidBills(o));
      await s.ledger([{ id: o.id, amount: '100', status: 'paid' }], day);
    }
    s.sandbox.faults.downloadBytesPerSecond = engine === 'pg' ? 2000 : 0; // keep the lock held while the others wait
    const results = await Promise.all(days.map((day) => s.run(day, { lockTimeoutMs: 60_000 })));
    s.sandbox.faults.downloadBytesPerSecond = 0;
    const runs = await db().handle.withSession(async (x) => (await x.query<{ id: number; status: string; error: string | null }>(
      'select id, status, error from recon.runs where dealer_id = $1 order by id', [s.dealerId])).rows);
    expect(runs.map((r) => r.id).sort((a, b) => a - b)).toEqual(results.map((r) => r.runId).sort((a, b) => a - b));
    expect(runs.map(({ status: st, error }) => ({ status: st, error }))).toEqual(days.map(() => ({ status: 'succeeded', error: null })));
  });
});
