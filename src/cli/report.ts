import { openDatabase } from '../db/connection.js';
import { ReconError } from '../errors.js';
import { parseBusinessDate } from '../recon/business-date.js';
import { selectDiscrepancies, type ReportRow } from '../recon/report.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';

export const REPORT_USAGE = `usage: yzh-recon report [--date YYYY-MM-DD] [--open] [--format table|csv|json]

Prints discrepancies for finance, most severe first: all days unless --date, open and
resolved unless --open. csv carries a UTF-8 BOM so that Excel opens it as UTF-8. Limited to
YZH_DEALER_ID when it is set.`;

const UNDEFINED_TABLE = '42P01';

const COLUMNS = ['business_date', 'severity', 'kind', 'order_id', 'provider_ref', 'ledger_amount', 'provider_amount', 'status', 'id', 'details'] as const;

function cell(row: ReportRow, column: (typeof COLUMNS)[number]): string {
  const v = row[column];
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Display width: CJK and full-width characters take two columns in a terminal. */
function width(text: string): number {
  let w = 0;
  for (const ch of text) w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(ch) ? 2 : 1;
  return w;
}

export function formatTable(rows: ReportRow[]): string {
  if (rows.length === 0) return 'no discrepancies\n';
  const shown = COLUMNS.filter((c) => c !== 'details');
  const widths = shown.map((c) => Math.max(width(c), ...rows.map((r) => width(cell(r, c)))));
  const line = (cells: string[]) => cells.map((c, i) => c + ' '.repeat(widths[i]! - width(c))).join('  ').trimEnd();
  return `${[line([...shown]), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(shown.map((c) => cell(r, c))))].join('\n')}\n${rows.length} discrepanc${rows.length === 1 ? 'y' : 'ies'}\n`;
}

export function formatCsv(rows: ReportRow[]): string {
  const quote = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const lines = [COLUMNS.join(','), ...rows.map((r) => COLUMNS.map((c) => quote(cell(r, c))).join(','))];
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}

export async function reportCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    name: 'report',
    usage: REPORT_USAGE,
    options: { date: { type: 'string' }, open: { type: 'boolean' }, format: { type: 'string' } },
  }, argv);
  if (values.help) {
    ctx.stdout.write(`${REPORT_USAGE}\n`);
    return 0;
  }
  const format = values.format ?? 'table';
  if (!['table', 'csv', 'json'].includes(format)) throw new ReconError('USAGE', `--format must be table, csv or json\n${REPORT_USAGE}`);
  const date = values.date === undefined ? undefined : parseBusinessDate(values.date, '--date');
  const config = ctx.config();
  const db = await openDatabase(config);
  try {
    const rows = await db.withSession((s) => selectDiscrepancies(s, {
      dealerId: config.provider.dealerId || undefined, date, openOnly: values.open === true,
    })).catch((err: unknown) => {
      // report only reads: on a database never migrated it says so instead of creating tables.
      if ((err as { code?: string }).code === UNDEFINED_TABLE) {
        throw new ReconError('DATABASE', 'the database has no recon tables yet: run `yzh-recon migrate` (or a first `yzh-recon run`)');
      }
      throw err;
    });
    ctx.stdout.write(format === 'csv' ? formatCsv(rows) : format === 'json' ? `${JSON.stringify(rows, null, 2)}\n` : formatTable(rows));
    return 0;
  } finally {
    await db.close();
  }
}
