import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Session } from '../../db/connection.js';
import { renderReportPage } from './html.js';
import type { Lang } from './labels.js';
import { selectPageData } from './page-data.js';

export const HISTORY_DAYS = 30;
/** The page lists at most this many open findings (the CSV export has them all). */
export const OPEN_LIMIT = 2000;

export interface PageOptions {
  dealerId: string;
  from: string;
  to: string;
  lang: Lang;
  now?: Date;
}

/** The finance page for a dealer and a period, as one HTML document. */
export async function buildReportPage(session: Session, options: PageOptions): Promise<string> {
  const data = await selectPageData(session, {
    dealerId: options.dealerId, from: options.from, to: options.to, historyDays: HISTORY_DAYS, openLimit: OPEN_LIMIT,
  });
  return renderReportPage(data, { lang: options.lang, now: options.now ?? new Date() });
}

/**
 * Writes the page beside its final name and renames it into place, so that a mail step or a
 * reader of a shared folder never sees half a page.
 */
export function writeReportPage(path: string, html: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const partial = join(dirname(path), `.${process.pid}.partial.html`);
  writeFileSync(partial, html);
  renameSync(partial, path);
}

/** The file name a page gets in YZH_REPORT_DIR. */
export function reportFileName(dealerId: string, from: string, to: string): string {
  const safe = dealerId.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `yzh-recon-${safe}-${from === to ? to : `${from}_${to}`}.html`;
}
