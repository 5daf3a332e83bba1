import { DateTime } from 'luxon';
import { ReconError } from '../errors.js';
import { PROVIDER_ZONE } from '../provider/file-format.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Yesterday in Asia/Shanghai: the newest day whose files the provider has generated. */
export function yesterdayInShanghai(now: DateTime = DateTime.now()): string {
  return now.setZone(PROVIDER_ZONE).minus({ days: 1 }).toISODate()!;
}

export function parseBusinessDate(text: string, flag: string, now?: DateTime): string {
  const dt = DATE.test(text) ? DateTime.fromISO(text, { zone: PROVIDER_ZONE }) : null;
  if (dt === null || !dt.isValid) throw new ReconError('USAGE', `${flag} must be a date YYYY-MM-DD, got "${text}"`);
  const latest = yesterdayInShanghai(now);
  if (text > latest) {
    throw new ReconError('USAGE', `${flag} ${text} is in the future for the provider: the newest day with files is ${latest} (yesterday in Asia/Shanghai)`);
  }
  return text;
}

/** Every day from `from` to `to`, inclusive, in order. */
export function dateRange(from: string, to: string): string[] {
  if (from > to) throw new ReconError('USAGE', `--from ${from} is after --to ${to}`);
  const days: string[] = [];
  for (let d = DateTime.fromISO(from); d.toISODate()! <= to; d = d.plus({ days: 1 })) days.push(d.toISODate()!);
  if (days.length > 366) throw new ReconError('USAGE', `--from ${from} --to ${to} spans ${days.length} days; at most 366 at a time`);
  return days;
}
