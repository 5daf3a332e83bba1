import { readFileSync } from 'node:fs';
import { openDatabase } from '../db/connection.js';
import { ReconError } from '../errors.js';
import { applyAcks, CSV_ENCODINGS, decodeCsvFile, parseAckCsv, planAcks, type AckPlan, type CsvEncoding } from '../recon/report/ack-import.js';
import { isXlsx, readAckXlsx } from '../recon/report/xlsx-import.js';
import { showControls } from '../recon/report/visible.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';
import { explainUnmigrated } from './report.js';

export const ACK_USAGE = `usage: yzh-recon ack --file FILE [--encoding utf8|gb18030|utf16] [--dry-run] [--partial]

Imports acknowledgements from a report CSV (yzh-recon report --format csv) or workbook
(--format xlsx, its sheet 差异 / Findings, columns in any order) that finance filled in: the ack_by and ack_note of each row, matched by id. Only those columns (and ack_at) change.
A blank cell leaves the stored value as it is. A row whose finding changed since the export
(seen by a newer run, or resolved) is refused and named; so is a row that does not name who
acknowledges it. On any refusal nothing is written, unless --partial, which writes the other
rows. --dry-run prints what would change and writes nothing.

Reads files saved by Excel, CRLF and notes with line breaks included. A byte-order mark decides
the encoding (Excel's "CSV UTF-8" and "Unicode text" have one); a file without one is read as
UTF-8 and refused when it is not valid UTF-8. Nothing is guessed: --encoding gb18030 reads a
plain "CSV" saved by Excel on Chinese Windows, --encoding utf16 a "Unicode text" without a BOM.
Connect as the finance role (sql/roles/finance-role.sql), which may change only the ack columns.
Exit status: 0 done (or nothing to do), 1 rows were refused and nothing was written, 2 usage error.`;

function clip(text: string, n = 60): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

export function formatAckPlan(plan: AckPlan, mode: { dryRun: boolean; partial: boolean; written: boolean }): string {
  const lines: string[] = [];
  const verb = mode.dryRun || (plan.refusals.length > 0 && !mode.partial) ? 'would change' : 'changed';
  lines.push(`${verb} ${plan.changes.length}:`);
  for (const c of plan.changes) lines.push(`  row ${c.row.row}, ${c.finding}: ack_by ${JSON.stringify(c.ackBy)}${c.ackNote ? `, ack_note ${JSON.stringify(clip(c.ackNote))}` : ''}`);
  if (plan.refusals.length > 0) {
    lines.push(`refused ${plan.refusals.length}:`);
    for (const r of plan.refusals) lines.push(`  row ${r.row.row}, ${r.finding}: ${r.reason}`);
  }
  lines.push(`unchanged ${plan.unchanged}`);
  if (mode.dryRun) lines.push('dry run: nothing written');
  else if (!mode.written && plan.refusals.length > 0) lines.push(`nothing written: ${plan.refusals.length} row${plan.refusals.length === 1 ? '' : 's'} refused (--partial writes the others)`);
  // Names, notes and order ids come from outside: their controls are shown, never applied.
  return `${showControls(lines.join('\n'))}\n`;
}

export async function ackCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    name: 'ack',
    usage: ACK_USAGE,
    options: { file: { type: 'string' }, encoding: { type: 'string' }, 'dry-run': { type: 'boolean' }, partial: { type: 'boolean' } },
  }, argv);
  if (values.help) {
    ctx.stdout.write(`${ACK_USAGE}\n`);
    return 0;
  }
  if (values.file === undefined) throw new ReconError('USAGE', `ack: --file is required\n${ACK_USAGE}`);
  const encoding = values.encoding as CsvEncoding | undefined;
  if (encoding !== undefined && !CSV_ENCODINGS.includes(encoding)) {
    throw new ReconError('USAGE', `ack: --encoding must be ${CSV_ENCODINGS.slice(0, -1).join(', ')} or ${CSV_ENCODINGS.at(-1)}\n${ACK_USAGE}`);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(values.file);
  } catch (err) {
    throw new ReconError('USAGE', `ack: cannot read ${values.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  // A workbook by its content (a zip), whatever its name; anything else is a CSV.
  const decoded = isXlsx(bytes) ? { encoding: 'XLSX' } : decodeCsvFile(bytes, values.file, encoding);
  const rows = 'text' in decoded ? parseAckCsv(decoded, values.file) : await readAckXlsx(bytes, values.file);
  const dryRun = values['dry-run'] === true;
  const partial = values.partial === true;
  const config = ctx.config();
  const db = await openDatabase(config);
  try {
    const { plan, written } = await db.withSession(async (s) => {
      await s.exec('begin');
      try {
        const p = await planAcks(s, rows, config.provider.dealerId || undefined);
        const write = !dryRun && p.changes.length > 0 && (p.refusals.length === 0 || partial);
        if (write) await applyAcks(s, p.changes);
        await s.exec(write ? 'commit' : 'rollback');
        return { plan: p, written: write };
      } catch (err) {
        await s.exec('rollback').catch(() => {});
        throw err;
      }
    }).catch(explainUnmigrated);
    ctx.stdout.write(`ack: ${values.file} (${decoded.encoding}, ${rows.length} row${rows.length === 1 ? '' : 's'})\n`);
    ctx.stdout.write(formatAckPlan(plan, { dryRun, partial, written }));
    return plan.refusals.length > 0 && !partial ? 1 : 0;
  } finally {
    await db.close();
  }
}
