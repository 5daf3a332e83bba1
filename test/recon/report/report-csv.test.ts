import { describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { decodeCsvFile, parseAckCsv, type CsvEncoding } from '../../../src/recon/report/ack-import.js';
import { CSV_COLUMNS, formatCsv, neutralizeCell, restoreCell } from '../../../src/recon/report/csv.js';
import { formatAckPlan } from '../../../src/cli/ack.js';
import { formatTable } from '../../../src/cli/report.js';
import { jsonWithoutControls, restoreControls, showControls } from '../../../src/recon/report/visible.js';
import { formatAmount, formatCount, formatYuan, toFen } from '../../../src/recon/report/money.js';
import type { ReportRow } from '../../../src/recon/report/findings.js';
import { encodeGb18030 } from '../../helpers/gb18030.js';

const row = (over: Partial<ReportRow>): ReportRow => ({
  id: 7, dealer_id: 'd', business_date: '2024-06-30', kind: 'amount_mismatch', severity: 'critical', status: 'open',
  order_id: 'A1', provider_ref: 'R1', ledger_amount: '100.00', provider_amount: '90.00', details: {}, first_seen_run_id: 3,
  last_seen_run_id: 5, resolved_at: null, ack_by: null, ack_note: null, ack_version: '', ...over,
});

describe('the report CSV', () => {
  it('neutralizes every cell a spreadsheet would take for a formula (OWASP: = + - @ tab CR), and keeps amounts numeric', () => {
    const csv = formatCsv([row({
      order_id: '=HYPERLINK("http://evil.example/x","click")', provider_ref: '+1+cmd|calc', ack_by: '@SUM(A1)',
      ack_note: '-2+3', details: { status_text: '\tTAB' }, ledger_amount: '-3.00', provider_amount: '1234.56',
    }), row({ order_id: '\rCR', provider_ref: 'plain', ack_note: 'a "quoted", note\non two lines' })]);
    expect(csv.startsWith('\uFEFF')).toBe(true);
    const [header, first, second] = parse(csv.slice(1), { relax_column_count: false });
    expect(header).toEqual([...CSV_COLUMNS]);
    const cell = (r: string[], c: (typeof CSV_COLUMNS)[number]) => r[CSV_COLUMNS.indexOf(c)];
    expect(cell(first!, 'order_id')).toBe('\'=HYPERLINK("http://evil.example/x","click")');
    expect(cell(first!, 'provider_ref')).toBe("'+1+cmd|calc");
    expect(cell(first!, 'ack_by')).toBe("'@SUM(A1)");
    expect(cell(first!, 'ack_note')).toBe("'-2+3");
    expect(cell(first!, 'details')).toBe('{"status_text":"\\tTAB"}');
    // Amounts stay numbers, negative ones included, so that Excel can sum them.
    expect(cell(first!, 'ledger_amount')).toBe('-3.00');
    expect(cell(first!, 'provider_amount')).toBe('1234.56');
    expect(cell(second!, 'order_id')).toBe("'\rCR");
    expect(cell(second!, 'ack_note')).toBe('a "quoted", note\non two lines');
    expect(cell(first!, 'id')).toBe('7');
    expect(cell(second!, 'ack_by')).toBe('');
    expect(cell(first!, 'last_seen_run_id')).toBe('5');
    // No text cell anywhere starts a formula; only the numeric columns may start with '-'.
    for (const r of [first!, second!]) {
      CSV_COLUMNS.forEach((c, i) => {
        if (!['ledger_amount', 'provider_amount'].includes(c)) expect(r[i], c).not.toMatch(/^[=+\-@\t\r]/);
      });
    }
  });

  it('writes a cell as it is unless it must be quoted; a number in a text column is neutralized like any text', () => {
    const csv = formatCsv([row({ order_id: '-5', provider_ref: ' padded', ack_by: 'li.na', ack_note: undefined })]);
    const line = csv.split('\r\n')[1];
    expect(line).toBe(`2024-06-30,critical,amount_mismatch,'-5," padded",100.00,90.00,open,li.na,,7,5,,{}`);
    expect(csv.split('\r\n')[0]).toBe(`\uFEFF${CSV_COLUMNS.join(',')}`);
  });

  it('shows bidirectional and zero-width controls as ⟨U+XXXX⟩ in the CSV and the terminal, reads them back as they were, keeps them exact in JSON', () => {
    const all = '\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u200b\u200c\u200d\u2060\ufeff';
    expect(showControls(`ORD\u202e1234`)).toBe('ORD⟨U+202E⟩1234');
    expect(showControls(all)).toBe([...all].map((c) => `⟨U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`).join(''));
    expect(restoreControls(showControls(`a${all}b`))).toBe(`a${all}b`);
    // A look-alike that names no control stays as typed.
    expect(restoreControls('⟨U+0041⟩ ⟨U+202e⟩')).toBe('⟨U+0041⟩ ⟨U+202e⟩');

    const bidi = row({ order_id: 'ORD\u202e1234', provider_ref: '=R\u200b', ack_by: 'li\u2066na', ack_note: '\u202e=1', details: { status_text: '成功\u200f' } });
    const csv = formatCsv([bidi]);
    expect(csv.slice(1)).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]/u);
    const [, first] = parse(csv.slice(1), { relax_column_count: false });
    const cell = (c: (typeof CSV_COLUMNS)[number]) => first![CSV_COLUMNS.indexOf(c)]!;
    expect([cell('order_id'), cell('provider_ref'), cell('ack_by'), cell('ack_note'), cell('details')])
      .toEqual(['ORD⟨U+202E⟩1234', "'=R⟨U+200B⟩", 'li⟨U+2066⟩na', '⟨U+202E⟩=1', '{"status_text":"成功⟨U+200F⟩"}']);
    // Read back by `yzh-recon ack`, the cells are the stored values again: nothing looks changed.
    expect([restoreCell(cell('ack_by')), restoreCell(cell('ack_note')), restoreCell(cell('provider_ref'))]).toEqual(['li\u2066na', '\u202e=1', '=R\u200b']);

    const table = formatTable([bidi]);
    expect(table).toContain('ORD⟨U+202E⟩1234');
    expect(table).not.toMatch(/[\u202a-\u202e\u200b]/u);
    const json = jsonWithoutControls([bidi]);
    expect(json).toContain('"order_id": "ORD\\u202e1234"');
    expect(json).not.toMatch(/[\u202a-\u202e\u200b\u200f\u2066]/u);
    expect((JSON.parse(json) as ReportRow[])[0]!.order_id).toBe('ORD\u202e1234');
    // And in what `yzh-recon ack` prints of each row.
    const fileRow = { row: 2, id: 7, version: 5, ackVersion: '', status: undefined, ackBy: 'li\u2066na', ackNote: '' };
    const said = formatAckPlan({
      changes: [{ row: fileRow, finding: 'id 7 (2024-06-30 amount_mismatch ORD\u202e1234)', ackBy: 'li\u2066na', ackNote: '\u200b', ackVersion: '' }],
      refusals: [{ row: fileRow, finding: 'id 8 (2024-06-30 amount_mismatch \u202e9)', reason: 'acknowledged by wang\u200fwei since the export' }],
      unchanged: 0,
    }, { dryRun: true, partial: false, written: false });
    expect(said).toContain('id 7 (2024-06-30 amount_mismatch ORD⟨U+202E⟩1234): ack_by "li⟨U+2066⟩na", ack_note "⟨U+200B⟩"');
    expect(said).toContain('id 8 (2024-06-30 amount_mismatch ⟨U+202E⟩9): acknowledged by wang⟨U+200F⟩wei since the export');
  });

  it('reads back what it wrote: the apostrophe it added is dropped, one a person typed is kept', () => {
    for (const v of ['=1+1', '+x', '-y', '@z', '\tt', '\rr', 'plain', "'quoted by hand", '']) expect(restoreCell(neutralizeCell(v))).toBe(v);
    expect(restoreCell("'it's")).toBe("'it's");
    // A cell a person typed without the apostrophe is theirs, even when it looks like one of ours.
    expect(restoreCell('+-1')).toBe('+-1');
  });

  it('decodes what Excel saves: the BOM decides (UTF-8, UTF-16 LE and BE); without one, UTF-8 unless --encoding says GB18030 or UTF-16', () => {
    const text = 'id,last_seen_run_id,ack_by,ack_note\r\n1,2,李娜,"银行已确认,\r\n退回"\r\n';
    const rows = (bytes: Buffer, encoding?: CsvEncoding) => parseAckCsv(decodeCsvFile(bytes, 'f.csv', encoding), 'f.csv');
    const expected = [{ row: 2, id: 1, version: 2, ackVersion: undefined, status: undefined, ackBy: '李娜', ackNote: '银行已确认,\n退回' }];
    expect(rows(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]))).toEqual(expected);
    expect(rows(Buffer.from(text))).toEqual(expected);
    expect(decodeCsvFile(encodeGb18030(text), 'f.csv', 'gb18030').encoding).toBe('GB18030');
    expect(rows(encodeGb18030(text), 'gb18030')).toEqual(expected);
    const tabs = text.replace(/,/g, '\t').replace('"银行已确认\t', '"银行已确认,');
    expect(rows(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(tabs, 'utf16le')]))).toEqual(expected);
    // Saved as "Unicode text" and the BOM lost: only --encoding utf16 reads it (little-endian, as Windows writes it).
    expect(rows(Buffer.from(tabs, 'utf16le'), 'utf16')).toEqual(expected);
    expect(rows(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]), 'utf8')).toEqual(expected);
    expect(() => parseAckCsv(decodeCsvFile(Buffer.from('id,ack_by\n1,x\n'), 'f.csv'), 'f.csv')).toThrow('no column last_seen_run_id, ack_note');
  });

  it('never guesses: bytes that are not UTF-8 are refused with a hint, whatever else they might decode as', () => {
    // "Renée Li" saved in Windows-1252: é is 0xE9, which GB18030 would have read as 閑 with "e".
    const cp1252 = Buffer.from('id,last_seen_run_id,ack_by,ack_note\r\n1,2,Ren\u00e9e Li,ok\r\n', 'latin1');
    const refusal = (() => {
      try {
        decodeCsvFile(cp1252, 'cp1252.csv');
      } catch (err) {
        return err as { code?: string; message: string };
      }
      return null;
    })();
    expect(refusal?.code).toBe('USAGE');
    expect(refusal?.message).toBe('cp1252.csv: line 2 is not valid UTF-8 (byte 0xe9); if Excel on Chinese Windows saved it as plain CSV, '
      + 'import it with --encoding gb18030, or save it from Excel as "CSV UTF-8"');
    // 谢小英 in GBK is D0BB D0A1 D3A2, which is also valid UTF-8 (лСӢ): only the operator can say which it is.
    const gbk = Buffer.concat([Buffer.from('id,last_seen_run_id,ack_by,ack_note\r\n1,2,'), Buffer.from([0xd0, 0xbb, 0xd0, 0xa1, 0xd3, 0xa2]), Buffer.from(',ok\r\n')]);
    expect(parseAckCsv(decodeCsvFile(gbk, 'gbk.csv', 'gb18030'), 'gbk.csv')[0]!.ackBy).toBe('谢小英');
    expect(decodeCsvFile(gbk, 'gbk.csv').encoding).toBe('UTF-8');
    // A GB18030 file that is not valid GB18030 either, and a BOM that says otherwise than --encoding.
    expect(() => decodeCsvFile(Buffer.from([0x69, 0x64, 0x0a, 0x81, 0x0a]), 'bad.csv', 'gb18030')).toThrow('bad.csv: line 2 is not valid GB18030');
    expect(() => decodeCsvFile(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text1())]), 'f.csv', 'gb18030'))
      .toThrow('f.csv: starts with a UTF-8 byte-order mark, but --encoding says gb18030');
    expect(() => decodeCsvFile(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text1(), 'utf16le')]), 'f.csv', 'utf8'))
      .toThrow('f.csv: starts with a UTF-16 byte-order mark, but --encoding says utf8');
  });
});

const text1 = () => 'id,last_seen_run_id,ack_by,ack_note\r\n';

describe('money on the page', () => {
  it('formats numeric text through integer fen, with thousands separators and two decimals', () => {
    expect(formatAmount('1234567.8')).toBe('1,234,567.80');
    expect(formatAmount('0.7')).toBe('0.70');
    expect(formatAmount('-1000')).toBe('-1,000.00');
    expect(formatAmount('90071992547409.93')).toBe('90,071,992,547,409.93');
    expect(formatAmount('-1234.5')).toBe('-1,234.50');
    expect(formatAmount('-0.07')).toBe('-0.07');
    expect(formatAmount('0')).toBe('0.00');
    expect(formatAmount(null)).toBe('');
    expect(formatAmount(undefined)).toBe('');
    expect(formatAmount('')).toBe('');
    expect(toFen(' 12.30 ')).toBe(1230n);
    expect([0, 999, 1000, 123456, 1234567, 12345678n].map(formatCount)).toEqual(['0', '999', '1,000', '123,456', '1,234,567', '12,345,678']);
    expect(formatYuan(toFen('0.10') + toFen('0.20'))).toBe('0.30');
    expect(() => toFen('1.234')).toThrow('not an amount with at most two decimals: "1.234"');
    expect(() => toFen('12a')).toThrow('not an amount with at most two decimals: "12a"');
  });
});
