import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../../src/db/connection.js';
import { applyAcks, decodeCsvFile, MAX_ACK_BY, MAX_ACK_NOTE, parseAckCsv, planAcks, type AckFileRow } from '../../../src/recon/report/ack-import.js';
import { selectDiscrepancies } from '../../../src/recon/report/findings.js';
import { ENGINES, freshDatabase, type TestDatabase } from '../../helpers/db.js';

/**
 * The acknowledgement import and the report's selection, in-process and row by row: the file's
 * reading, every reason a row is refused, and what the report lists in which order.
 * test/cli/ack.test.ts runs the same through the commands, on a whole run's findings.
 */

const HEADER = 'id,last_seen_run_id,ack_by,ack_note';
const read = (text: string) => parseAckCsv(decodeCsvFile(Buffer.from(text), 'f.csv'), 'f.csv');
const fileRow = (over: Partial<AckFileRow>): AckFileRow => ({ row: 2, id: 0, version: 0, ackVersion: '', status: undefined, ackBy: '', ackNote: '', ...over });

describe('reading an edited report CSV', () => {
  it('trims and restores every cell, keeps a note over lines, skips blank rows and counts rows as Excel does', () => {
    const rows = read(`\uFEFF ID ,Last_Seen_Run_Id,status,ack_by,ack_note\r\n 12 , 3 , resolved ,  li.na ,"  first line\r\nsecond  "\r\n , , , , \r\n13,4,,'=wang,'+1 ok\r\n14,5,open,zhao\r\n`);
    expect(rows).toEqual([
      { row: 2, id: 12, version: 3, ackVersion: undefined, status: 'resolved', ackBy: 'li.na', ackNote: 'first line\nsecond' },
      { row: 4, id: 13, version: 4, ackVersion: undefined, status: undefined, ackBy: '=wang', ackNote: '+1 ok' },
      // Excel leaves out the empty cells at the end of a row.
      { row: 5, id: 14, version: 5, ackVersion: undefined, status: 'open', ackBy: 'zhao', ackNote: '' },
    ]);
    expect(read(`${HEADER}\n7,8,a,b`)[0]!.status).toBeUndefined();
    expect(read(HEADER)).toEqual([]);
  });

  it('reads the acknowledgement as exported (ack_version): blank when there was none, absent in a file exported before the column', () => {
    expect(read(`${HEADER},ack_version\n7,8,li,,\n9,8,li,, ack-0123456789abcdef \n`).map((r) => r.ackVersion)).toEqual(['', 'ack-0123456789abcdef']);
    expect(read(`${HEADER}\n7,8,li,\n`)[0]!.ackVersion).toBeUndefined();
  });

  it("takes tab- and semicolon-separated files by their header line, whatever the later lines hold", () => {
    const expected = [{ row: 2, id: 7, version: 8, ackVersion: undefined, status: undefined, ackBy: 'li', ackNote: 'a, b; c' }];
    expect(read(`${HEADER.replaceAll(',', '\t')}\n7\t8\tli\ta, b; c\n`)).toEqual(expected);
    expect(read(`${HEADER.replaceAll(',', ';')}\n7;8;li;"a, b; c"\n`)).toEqual(expected);
    const be = Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(`${HEADER}\n7,8,li,"a, b; c"\n`, 'utf16le').swap16()]);
    expect(decodeCsvFile(be, 'be.csv').encoding).toBe('UTF-16');
    expect(parseAckCsv(decodeCsvFile(be, 'be.csv'), 'be.csv')).toEqual(expected);
    expect(decodeCsvFile(Buffer.from(HEADER), 'f.csv')).toEqual({ text: HEADER, encoding: 'UTF-8' });
  });

  it('names the file, the row and the value of what it cannot take', () => {
    expect(() => read(`${HEADER}\n1x,2,a,b\n`)).toThrow('f.csv: row 2: id and last_seen_run_id must be whole numbers, got "1x" and "2"');
    expect(() => read(`${HEADER}\n1,2,a,b\n3,2.0,a,b\n`)).toThrow('f.csv: row 3: id and last_seen_run_id must be whole numbers, got "3" and "2.0"');
    expect(() => read(`${HEADER}\n1,x2,a,b\n`)).toThrow('got "1" and "x2"');
    expect(() => read(`${HEADER}\n1,22x,a,b\n`)).toThrow('got "1" and "22x"');
    expect(() => read(`${HEADER}\n1,,a,b\n`)).toThrow('got "1" and ""');
    expect(() => read('')).toThrow('f.csv: empty file');
    expect(() => read(`${HEADER}\n1,2,"a,b\n`)).toThrow(/^f\.csv: not a readable CSV: /);
    expect(() => decodeCsvFile(Buffer.from([0xef, 0xbb, 0xbf, 0x69, 0xff]), 'bom.csv')).toThrow('bom.csv: starts with a byte-order mark but does not decode as that encoding');
    // Each is a usage error (exit status 2): the file is at fault, not the database or the provider.
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return 'no error';
    };
    expect([
      () => read(`${HEADER}\n1x,2,a,b\n`), () => read(''), () => read(`${HEADER}\n1,2,"a,b\n`), () => read('id,ack_by\n'),
      () => decodeCsvFile(Buffer.from([0xef, 0xbb, 0xbf, 0xff]), 'f.csv'), () => decodeCsvFile(Buffer.from([0x69, 0xff, 0xff]), 'f.csv'),
    ].map(code)).toEqual(Array(6).fill('USAGE'));
  });
});

describe.each(ENGINES)('acknowledging findings (%s)', (engine) => {
  let db: TestDatabase;
  const id: Record<string, number> = {};
  let run = 0;
  /** The acknowledgement of a finding as the report CSV shows it. */
  const exported = async (s: Session, findingId: number) =>
    (await selectDiscrepancies(s, { openOnly: false })).find((f) => f.id === findingId)!.ack_version;
  const inTransaction = <T>(work: (s: Session) => Promise<T>) => db.handle.withSession(async (s) => {
    await s.exec('begin');
    try {
      return await work(s);
    } finally {
      await s.exec('rollback');
    }
  });

  beforeAll(async () => {
    db = await freshDatabase(engine);
    await db.handle.withSession(async (s) => {
      run = (await s.query<{ id: number }>(
        `insert into recon.runs (dealer_id, business_date, trigger, status) values ('da', '2024-06-30', 'manual', 'succeeded') returning id::int as id`)).rows[0]!.id;
      const findings: [string, string, string, string, string, string | null, string | null, string | null][] = [
        // name, dealer, day, kind, severity, order, status, ack_by
        ['A', 'da', '2024-06-30', 'amount_mismatch', 'critical', 'A1', 'open', null],
        ['B', 'da', '2024-06-30', 'missing_at_provider', 'critical', 'B1', 'open', null],
        ['C', 'da', '2024-06-30', 'missing_in_ledger', 'warning', 'C1', 'resolved', null],
        ['D', 'da', '2024-06-30', 'status_mismatch', 'critical', 'D1', 'open', 'wang'],
        ['E', 'da', '2024-06-30', 'fee_mismatch', 'info', 'E1', 'open', null],
        ['F', 'da', '2024-06-30', 'amount_mismatch', 'critical', 'A0', 'open', null],
        ['G', 'da', '2024-06-29', 'missing_in_ledger', 'warning', 'G1', 'open', null],
        ['S', 'da', '2024-07-01', 'systemic_mismatch', 'critical', null, 'open', null],
        ['O', 'other', '2024-06-30', 'amount_mismatch', 'critical', 'O1', 'open', null],
      ];
      for (const [name, dealer, day, kind, severity, order, status, ackBy] of findings) {
        id[name] = (await s.query<{ id: number }>(
          `insert into recon.discrepancies (dealer_id, business_date, kind, severity, order_id, status, first_seen_run_id, last_seen_run_id,
             resolved_run_id, resolved_at, ack_by, ack_note)
           values ($1, $2, $3, $4, $5, $6, $7, $7, case when $6::text = 'resolved' then $7::bigint end, case when $6::text = 'resolved' then now() end, $8::text,
                   case when $8::text is not null then 'seen' end)
           returning id::int as id`, [dealer, day, kind, severity, order, status, run, ackBy])).rows[0]!.id;
      }
    });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('decides every row: changes, blanks, and each reason to refuse one', async () => {
    const v = run;
    const rows = [
      fileRow({ row: 2, id: id.A!, version: v, ackBy: 'li.na', ackNote: '已核实' }),
      fileRow({ row: 3, id: id.B!, version: v }),
      fileRow({ row: 4, id: id.A!, version: v, ackBy: 'zhao' }),
      fileRow({ row: 5, id: 999_999, version: v, ackBy: 'li.na' }),
      fileRow({ row: 6, id: id.O!, version: v, ackBy: 'li.na' }),
      fileRow({ row: 7, id: id.B!, version: v, ackNote: 'no name' }),
      fileRow({ row: 8, id: id.E!, version: v, ackBy: 'x'.repeat(MAX_ACK_BY + 1) }),
      fileRow({ row: 9, id: id.F!, version: v, ackBy: 'li.na', ackNote: 'y'.repeat(MAX_ACK_NOTE + 1) }),
      fileRow({ row: 10, id: id.G!, version: v + 1, ackBy: 'li.na' }),
      fileRow({ row: 11, id: id.C!, version: v, status: 'open', ackBy: 'li.na' }),
      fileRow({ row: 12, id: id.D!, version: v, ackNote: 'seen' }),
      fileRow({ row: 13, id: id.S!, version: v, ackBy: 'x'.repeat(MAX_ACK_BY), ackNote: 'y'.repeat(MAX_ACK_NOTE) }),
    ];
    const plan = await inTransaction((s) => planAcks(s, rows, 'da'));
    expect(plan.changes.map((c) => [c.row.row, c.finding, c.ackBy, c.ackNote])).toEqual([
      [2, `id ${id.A} (2024-06-30 amount_mismatch A1)`, 'li.na', '已核实'],
      [13, `id ${id.S} (2024-07-01 systemic_mismatch)`, 'x'.repeat(MAX_ACK_BY), 'y'.repeat(MAX_ACK_NOTE)],
    ]);
    expect(plan.refusals.map((r) => [r.row.row, r.reason])).toEqual([
      [4, 'also on row 2 of the file'],
      [5, 'no such finding'],
      [6, 'no such finding'],
      [7, 'ack_note without ack_by: say who acknowledges it'],
      [8, `ack_by longer than ${MAX_ACK_BY} characters`],
      [9, `ack_note longer than ${MAX_ACK_NOTE} characters`],
      [10, `changed since the export: seen by run ${v}, the file has run ${v + 1}; export the report again`],
      [11, `resolved by run ${v} since the export; export the report again`],
    ]);
    expect(plan.refusals.find((r) => r.row.row === 5)!.finding).toBe('id 999999');
    // Row 3 is blank; row 12 repeats what is stored.
    expect(plan.unchanged).toBe(2);
  });

  it('takes a name without a note, keeps the stored name for a new note, and acknowledges a finding exported as resolved', async () => {
    const plan = await inTransaction(async (s) => planAcks(s, [
      fileRow({ row: 2, id: id.B!, version: run, ackBy: 'li.na' }),
      fileRow({ row: 3, id: id.D!, version: run, ackVersion: await exported(s, id.D!), ackNote: 'bank confirmed' }),
      fileRow({ row: 4, id: id.C!, version: run, status: 'resolved', ackBy: 'zhao' }),
    ], undefined));
    expect(plan.changes.map((c) => [c.row.row, c.ackBy, c.ackNote])).toEqual([[2, 'li.na', null], [3, 'wang', 'bank confirmed'], [4, 'zhao', null]]);
    expect(plan.refusals).toEqual([]);
    // Without a merchant named, any merchant's finding may be acknowledged.
    const other = await inTransaction((s) => planAcks(s, [fileRow({ id: id.O!, version: run, ackBy: 'li.na' })], undefined));
    expect(other.changes).toHaveLength(1);
  });

  it('writes only the ack columns, and writes nothing for a finding that changed after the plan', async () => {
    const before = await db.handle.withSession((s) => selectDiscrepancies(s, { openOnly: false }));
    await db.handle.withSession(async (s) => {
      await s.exec('begin');
      const plan = await planAcks(s, [fileRow({ id: id.B!, version: run, ackBy: 'li.na', ackNote: 'ok' })], 'da');
      await applyAcks(s, plan.changes);
      await s.exec('commit');
    });
    const after = await db.handle.withSession((s) => selectDiscrepancies(s, { openOnly: false }));
    const b = after.find((f) => f.id === id.B)!;
    expect([b.ack_by, b.ack_note]).toEqual(['li.na', 'ok']);
    expect(after.map((f) => (f.id === id.B ? { ...f, ack_by: null, ack_note: null, ack_version: before.find((x) => x.id === id.B)!.ack_version } : f))).toEqual(before);
    const [at] = (await db.handle.withSession((s) => s.query<{ set: boolean }>('select ack_at is not null as set from recon.discrepancies where id = $1', [id.B]))).rows;
    expect(at!.set).toBe(true);

    const stale = { row: fileRow({ row: 9, id: id.E!, version: run + 1 }), finding: `id ${id.E}`, ackBy: 'li.na', ackNote: null, ackVersion: '' };
    await expect(inTransaction((s) => applyAcks(s, [stale]))).rejects.toMatchObject({
      code: 'DATABASE', message: `id ${id.E} changed while it was being acknowledged; nothing was written` });
  });

  it('compares the acknowledgement as exported: a second import never overwrites the first (compare-and-set)', async () => {
    await inTransaction(async (s) => {
      // Both li.na and wang.wei export while E has no acknowledgement; li.na imports first.
      expect(await exported(s, id.E!)).toBe('');
      const first = await planAcks(s, [fileRow({ id: id.E!, version: run, ackBy: 'li.na', ackNote: '银行已确认' })], 'da');
      expect(first.refusals).toEqual([]);
      await applyAcks(s, first.changes);
      const [at] = (await s.query<{ at: string }>(
        `select to_char(ack_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') as at from recon.discrepancies where id = $1`, [id.E])).rows;
      const now = await exported(s, id.E!);
      expect(now).toMatch(/^ack-[0-9a-f]{16}$/);

      // wang.wei's file, exported before: a name and a blank note, which would have put li.na's note under his name.
      const second = await planAcks(s, [fileRow({ row: 7, id: id.E!, version: run, ackBy: 'wang.wei' })], 'da');
      expect(second.changes).toEqual([]);
      expect(second.refusals.map((r) => [r.row.row, r.finding, r.reason])).toEqual([[7, `id ${id.E} (2024-06-30 fee_mismatch E1)`,
        `acknowledged by li.na at ${at!.at} since the export; export the report again`]]);

      // A file exported before the ack_version column: taken where nothing is acknowledged, refused where something is.
      const old = await planAcks(s, [
        fileRow({ row: 2, id: id.E!, version: run, ackVersion: undefined, ackBy: 'wang.wei', ackNote: 'ok' }),
        fileRow({ row: 3, id: id.F!, version: run, ackVersion: undefined, ackBy: 'wang.wei' }),
      ], 'da');
      expect(old.changes.map((c) => c.row.row)).toEqual([3]);
      expect(old.refusals.map((r) => [r.row.row, r.reason])).toEqual([[2,
        `acknowledged by li.na at ${at!.at}, and the file has no ack_version column to show whether that was seen: export the report again`]]);

      // Exported again, li.na's acknowledgement is what the file shows: wang.wei may replace it.
      const fresh = await planAcks(s, [fileRow({ id: id.E!, version: run, ackVersion: now, ackBy: 'wang.wei', ackNote: '已补记' })], 'da');
      expect(fresh.changes.map((c) => [c.ackBy, c.ackNote])).toEqual([['wang.wei', '已补记']]);
      // ... unless it changed between the plan and the write.
      await s.query(`update recon.discrepancies set ack_note = 'changed by hand' where id = $1`, [id.E]);
      await expect(applyAcks(s, fresh.changes)).rejects.toMatchObject({ code: 'DATABASE' });
      const [e] = (await s.query<{ ack_by: string; ack_note: string }>('select ack_by, ack_note from recon.discrepancies where id = $1', [id.E])).rows;
      expect([e!.ack_by, e!.ack_note]).toEqual(['li.na', 'changed by hand']);
    });
  });

  it("lists the report's findings by merchant, days and status, newest day first, then critical, warning, info, then kind and order", async () => {
    const list = async (filter: Parameters<typeof selectDiscrepancies>[1]) =>
      (await db.handle.withSession((s) => selectDiscrepancies(s, filter))).map((f) => Object.keys(id).find((k) => id[k] === f.id));
    expect(await list({ dealerId: 'da', openOnly: false })).toEqual(['S', 'F', 'A', 'B', 'D', 'C', 'E', 'G']);
    expect(await list({ dealerId: 'da', openOnly: true })).toEqual(['S', 'F', 'A', 'B', 'D', 'E', 'G']);
    expect(await list({ dealerId: 'da', from: '2024-06-30', to: '2024-06-30', openOnly: false })).toEqual(['F', 'A', 'B', 'D', 'C', 'E']);
    expect(await list({ dealerId: 'da', from: '2024-06-30', openOnly: true })).toEqual(['S', 'F', 'A', 'B', 'D', 'E']);
    expect(await list({ dealerId: 'da', to: '2024-06-29', openOnly: true })).toEqual(['G']);
    expect((await list({ openOnly: true })).sort()).toEqual(['A', 'B', 'D', 'E', 'F', 'G', 'O', 'S']);
  });
});
