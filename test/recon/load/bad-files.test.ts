import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReconError } from '../../../src/errors.js';
import { runDay } from '../../../src/recon/runs/run-day.js';
import { ENGINES } from '../../helpers/db.js';
import { silentLog } from '../../helpers/provider.js';
import { scenarioSuite, type Scenario } from '../../helpers/scenario.js';
import { encodeGb18030 as gb18030 } from '../../helpers/gb18030.js';

/**
 * Files that must fail the run, on each engine (PGlite's csv-parse loader and the server's COPY
 * loader apply the same checks): the error names the file, line and what was
 * found; nothing of the day is loaded; the run's folder in YZH_TMP_DIR is gone.
 */
const D = '2024-03-01';
const tmpRoot = mkdtempSync(join(tmpdir(), 'yzh-bad-files-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

describe.each(ENGINES)('bad provider files on %s', (engine) => {
  const suite = scenarioSuite(engine);

  /** `served` replaces what the sandbox sends (its orders.csv.gz) with these bytes as they are. */
  async function failingRun(s: Scenario, edit: (orders: Buffer) => Buffer, served?: Buffer): Promise<ReconError> {
    s.writeDay(D, [
      { id: s.id('A1'), ref: '9001', amount: '10.00' },
      { id: s.id('A2'), ref: '9002', amount: '20.00' },
    ], []);
    const path = join(s.dir, D, 'orders.csv');
    writeFileSync(path, edit(readFileSync(path)));
    if (served !== undefined) writeFileSync(`${path}.gz`, served);
    await s.ledger([{ id: s.id('A1'), amount: '10.00', status: 'paid' }, { id: s.id('A2'), amount: '20.00', status: 'paid' }], D);
    const tmp = mkdtempSync(join(tmpRoot, `${engine}-`));
    const client = s.client();
    const err = await runDay(
      { db: suite.db().handle, client, config: { lockTimeoutMs: 10_000, tmpDir: tmp, archiveDir: `${tmp}-archive` }, log: silentLog },
      { dealerId: s.dealerId, date: D, trigger: 'manual' },
    ).then(() => null, (e: unknown) => e as ReconError).finally(() => client.close());
    expect(err).toBeInstanceOf(ReconError);
    expect(readdirSync(tmp)).toEqual([]);
    const loaded = await suite.db().handle.withSession((db) => db.query<{ n: number }>(
      'select count(*)::int as n from recon.provider_orders where dealer_id = $1', [s.dealerId]));
    expect(loaded.rows[0]!.n).toBe(0);
    expect(await s.discrepancies('true')).toEqual([]);
    const run = await suite.db().handle.withSession((db) => db.query<{ status: string; error: string }>(
      'select status, error from recon.runs where dealer_id = $1', [s.dealerId]));
    expect(run.rows).toEqual([{ status: 'failed', error: err!.message }]);
    return err!;
  }

  it('an order id with an invalid GB18030 byte fails naming line and byte offset, instead of loading as U+FFFD', async () => {
    const s = await suite.scenario();
    const err = await failingRun(s, (utf8) => {
      // The same file in GB18030, with 0xFF after "A2" in the second order's id.
      const text = utf8.toString('utf8');
      const gb = gb18030(text);
      const at = gb.indexOf(`${s.id('A2')},`) + s.id('A2').length;
      return Buffer.concat([gb.subarray(0, at), Buffer.from([0xff]), gb.subarray(at)]);
    });
    expect(err.code).toBe('FILE_FORMAT');
    expect(err.message).toMatch(new RegExp(`^order file ${D} line 3: byte 0xFF at byte offset \\d+ is not valid GB18030 \\(the header line is GB18030, so the whole file must be\\)$`));
  });

  it('a download of 0 bytes is an empty file, not a truncated gzip stream', async () => {
    const s = await suite.scenario();
    const err = await failingRun(s, (utf8) => utf8, Buffer.alloc(0));
    expect(err.message).toBe(`order file ${D}: the file is empty (0 bytes downloaded)`);
  });

  it('a stray quote on line 2 names line 2', async () => {
    const s = await suite.scenario();
    const err = await failingRun(s, (utf8) => Buffer.from(utf8.toString('utf8').replace(',张**,', ',"王**,')));
    expect(err.message).toBe(`order file ${D} line 2: a quote opens a field on this line and is never closed (the file ends inside it)`);
  });

  it('a NUL byte in a field names the line and column, not database error 22021', async () => {
    const s = await suite.scenario();
    const err = await failingRun(s, (utf8) => Buffer.from(utf8.toString('utf8').replace('张**', '张\u0000**').replace('张**', '张\u0000**')));
    expect(err.message).toBe(`order file ${D} line 2, column 姓名: contains a NUL byte (0x00), which no provider field may hold`);
  });
});

