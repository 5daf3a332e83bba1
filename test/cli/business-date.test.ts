import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { dateRange, parseBusinessDate, yesterdayInShanghai } from '../../src/cli/business-date.js';

// 2024-03-01 23:59:59 and 2024-03-02 00:00:00 in Asia/Shanghai (UTC+8), a leap year's end of February behind them.
const LAST_SECOND = DateTime.fromISO('2024-03-01T15:59:59Z');
const MIDNIGHT = DateTime.fromISO('2024-03-01T16:00:00Z');

describe('business dates', () => {
  it("yesterday is Shanghai's, whatever the machine's zone", () => {
    expect(yesterdayInShanghai(LAST_SECOND)).toBe('2024-02-29');
    expect(yesterdayInShanghai(MIDNIGHT)).toBe('2024-03-01');
    expect(yesterdayInShanghai(MIDNIGHT.setZone('America/Los_Angeles'))).toBe('2024-03-01');
  });

  it('takes a real day up to yesterday, and names the flag and the value of anything else', () => {
    expect(parseBusinessDate('2024-02-29', '--date', MIDNIGHT)).toBe('2024-02-29');
    expect(parseBusinessDate('2024-03-01', '--date', MIDNIGHT)).toBe('2024-03-01');
    for (const bad of ['2023-02-29', '2024-02-30', '2024-13-01', '2024-3-01', ' 2024-03-01', '2024-03-01T00:00', '20240301', '']) {
      expect(() => parseBusinessDate(bad, '--from', MIDNIGHT), bad).toThrow(`--from must be a date YYYY-MM-DD, got "${bad}"`);
    }
    expect(() => parseBusinessDate('2024-03-01', '--date', LAST_SECOND)).toThrow(
      '--date 2024-03-01 is in the future for the provider: the newest day with files is 2024-02-29 (yesterday in Asia/Shanghai)');
  });

  it('spans every day of a range once, in order, up to a leap year', () => {
    expect(dateRange('2024-02-27', '2024-03-01')).toEqual(['2024-02-27', '2024-02-28', '2024-02-29', '2024-03-01']);
    expect(dateRange('2024-03-01', '2024-03-01')).toEqual(['2024-03-01']);
    expect(dateRange('2024-01-01', '2024-12-31')).toHaveLength(366);
    expect(() => dateRange('2024-03-02', '2024-03-01')).toThrow('--from 2024-03-02 is after --to 2024-03-01');
    expect(() => dateRange('2023-12-31', '2024-12-31')).toThrow('--from 2023-12-31 --to 2024-12-31 spans 367 days; at most 366 at a time');
  });
});
