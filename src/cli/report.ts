import { writeFileSync } from 'node:fs';
import { openDatabase, type Session } from '../db/connection.js';
import { ReconError } from '../errors.js';
import { yesterdayInShanghai } from './business-date.js';
import { formatCsv } from '../recon/report/csv.js';
import type { Lang } from '../recon/report/labels.js';
import { buildReportPage, HISTORY_DAYS, OPEN_LIMIT, writeReportPage } from '../recon/report/page.js';
import { latestReconciledDay, selectPageData, soleDealer } from '../recon/report/page-data.js';
import { buildWorkbook } from '../recon/report/xlsx.js';
import { selectDiscrepancies, type ReportRow } from '../recon/report/findings.js';
import { jsonWithoutControls, showControls } from '../recon/report/visible.js';
import { datePeriod, parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';

export const REPORT_USAGE = `usage: yzh-recon report [--date YYYY-MM-DD | --from D1 --to D2] [--open] [--format table|csv|json|html|xlsx]
                       [--lang zh|en] [--out FILE]

Prints discrepancies for finance, most severe first: all days unless --date or --from/--to,
open and resolved unless --open. Bidirectional and zero-width control characters in the text
are shown as ⟨U+202E⟩ in the table and the csv, and written as \\u202e escapes in json (which
reads back as the exact value). csv carries a UTF-8 BOM so that Excel opens it as UTF-8, the
ack_by and ack_note columns that \`yzh-recon ack\` reads back, and the row version
(last_seen_run_id); cells that a spreadsheet would take for a formula start with an apostrophe.

--format html writes one self-contained page (no network access; opens from a mail
attachment): the day at a glance, the last 30 days as charts, the open findings by age with
their live status and acknowledgement, and run health. Default day: the newest one with a
successful run. --lang en for English (default zh, Chinese). --out FILE writes to FILE instead
of stdout. Limited to YZH_DEALER_ID when it is set (the html page needs one dealer).

--format xlsx writes one Excel workbook: the sheet 差异 (Findings) holds the open findings with
the CSV's columns (ack_by and ack_note the only ones to type into; the row version and the
acknowledgement as exported in hidden columns) and 概览 (Overview) the day at a glance.
\`yzh-recon ack --file\` reads it back. Without --out it goes to stdout (redirect it to a file).`;

const UNDEFINED_TABLE = '42P01';

const TABLE_COLUMNS = ['business_date', 'severity', 'kind', 'order_id', 'provider_ref', 'ledger_amount', 'provider_amount', 'status', 'id', 'ack_by'] as const;

function cell(row: ReportRow, column: (typeof TABLE_COLUMNS)[number]): string {
  const v = row[column];
  return v === null || v === undefined ? '' : showControls(String(v));
}

/** Display width: CJK and full-width characters take two columns in a terminal. */
function width(text: string): number {
  let w = 0;
  for (const ch of text) w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(ch) ? 2 : 1;
  return w;
}

export function formatTable(rows: ReportRow[]): string {
  if (rows.length === 0) return 'no discrepancies\n';
  const shown = TABLE_COLUMNS.filter((c) => c !== 'ack_by' || rows.some((r) => r.ack_by !== null));
  const widths = shown.map((c) => Math.max(width(c), ...rows.map((r) => width(cell(r, c)))));
  const line = (cells: string[]) => cells.map((c, i) => c + ' '.repeat(widths[i]! - width(c))).join('  ').trimEnd();
  return `${[line([...shown]), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(shown.map((c) => cell(r, c))))].join('\n')}\n${rows.length} discrepanc${rows.length === 1 ? 'y' : 'ies'}\n`;
}

export { formatCsv };

/** report only reads: on a database never migrated it says so instead of creating tables. */
export function explainUnmigrated(err: unknown): never {
  if ((err as { code?: string }).code === UNDEFINED_TABLE) {
    throw new ReconError('DATABASE', 'the database has no recon tables yet: run `yzh-recon migrate` (or a first `yzh-recon run`)');
  }
  throw err;
}

/** The dealer a page is for: YZH_DEALER_ID, else the only dealer with runs. */
export async function pageDealer(session: Session, configured: string): Promise<string> {
  if (configured !== '') return configured;
  const dealers = await soleDealer(session);
  if (dealers.length === 1) return dealers[0]!;
  throw new ReconError('USAGE', dealers.length === 0
    ? 'no runs in the database yet: nothing to report'
    : 'the database holds several dealers: set YZH_DEALER_ID to choose one');
}

export async function reportCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    name: 'report',
    usage: REPORT_USAGE,
    options: {
      date: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, open: { type: 'boolean' },
      format: { type: 'string' }, lang: { type: 'string' }, out: { type: 'string' },
    },
  }, argv);
  if (values.help) {
    ctx.stdout.write(`${REPORT_USAGE}\n`);
    return 0;
  }
  const format = values.format ?? 'table';
  if (!['table', 'csv', 'json', 'html', 'xlsx'].includes(format)) throw new ReconError('USAGE', `--format must be table, csv, json, html or xlsx\n${REPORT_USAGE}`);
  const lang = (values.lang ?? 'zh') as Lang;
  if (lang !== 'zh' && lang !== 'en') throw new ReconError('USAGE', `--lang must be zh or en\n${REPORT_USAGE}`);
  if (values.lang !== undefined && format !== 'html' && format !== 'xlsx') throw new ReconError('USAGE', `--lang applies to --format html and xlsx\n${REPORT_USAGE}`);
  if (format === 'xlsx' && values.out === undefined && (ctx.stdout as { isTTY?: boolean }).isTTY === true) {
    throw new ReconError('USAGE', `--format xlsx writes a binary workbook: give --out FILE or redirect stdout to a file\n${REPORT_USAGE}`);
  }
  const period = datePeriod(values, REPORT_USAGE);
  const config = ctx.config();
  const db = await openDatabase(config);
  try {
    const output = await db.withSession(async (s) => {
      if (format === 'html') {
        const dealerId = await pageDealer(s, config.provider.dealerId);
        const day = period.to ?? (await latestReconciledDay(s, dealerId)) ?? yesterdayInShanghai();
        return buildReportPage(s, { dealerId, from: period.from ?? day, to: day, lang });
      }
      if (format === 'xlsx') return xlsxReport(s, config.provider.dealerId, period, lang);
      const rows = await selectDiscrepancies(s, { dealerId: config.provider.dealerId || undefined, ...period, openOnly: values.open === true });
      return format === 'csv' ? formatCsv(rows) : format === 'json' ? `${jsonWithoutControls(rows)}\n` : formatTable(rows);
    }).catch(explainUnmigrated);
    if (values.out === undefined) ctx.stdout.write(output);
    else if (format === 'html' || format === 'xlsx') writeReportPage(values.out, output);
    else writeFileSync(values.out, output);
    return 0;
  } finally {
    await db.close();
  }
}

/**
 * The workbook: every open finding (of the period, when one is given) of the configured dealer,
 * or of all dealers when none is configured; the overview is the page's day at a glance for
 * the one dealer (left out, with a line saying so, when there is none).
 */
async function xlsxReport(s: Session, configured: string, period: { from?: string; to?: string }, lang: Lang): Promise<Buffer> {
  const rows = await selectDiscrepancies(s, { dealerId: configured || undefined, ...period, openOnly: true });
  const dealers = configured !== '' ? [configured] : await soleDealer(s);
  let glance = null;
  if (dealers.length === 1) {
    const dealerId = dealers[0]!;
    const day = period.to ?? (await latestReconciledDay(s, dealerId)) ?? yesterdayInShanghai();
    const data = await selectPageData(s, { dealerId, from: period.from ?? day, to: day, historyDays: HISTORY_DAYS, openLimit: OPEN_LIMIT });
    glance = { dealerId, data };
  }
  return buildWorkbook(rows, { lang, glance, now: new Date() });
}
