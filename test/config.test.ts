import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

/** The message of the configuration error `env` raises. */
function problem(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(env)}`);
}

describe('configuration bounds (contract section 2)', () => {
  const bounds: [string, number, number][] = [
    ['YZH_RETAIN_DAYS', 1, 3650],
    ['YZH_ARCHIVE_RETAIN_DAYS', 1, 3650],
    ['YZH_DUPLICATE_WINDOW_DAYS', 0, 90],
    ['YZH_FOLLOWUP_CONCURRENCY', 1, 100],
    ['YZH_FOLLOWUP_MAX', 1, 100_000],
    ['YZH_TIMEOUT_MS', 100, 600_000],
  ];

  it.each(bounds)('%s is a whole number from %i to %i; outside, a configuration error naming it', (name, min, max) => {
    for (const ok of [min, max]) expect(() => loadConfig({ [name]: String(ok) }), `${name}=${ok}`).not.toThrow();
    for (const bad of [String(max + 1), '99999999999999999999', ...(min > 0 ? [String(min - 1)] : []), '-1', '1.5', 'many']) {
      expect(problem({ [name]: bad }), `${name}=${bad}`).toBe(`configuration: ${name} must be a whole number from ${min} to ${max}, got "${bad}"`);
    }
  });

  it('the values within the bounds are what the run gets', () => {
    const config = loadConfig({
      YZH_RETAIN_DAYS: '3650', YZH_ARCHIVE_RETAIN_DAYS: '400', YZH_DUPLICATE_WINDOW_DAYS: '0',
      YZH_FOLLOWUP_CONCURRENCY: '100', YZH_FOLLOWUP_MAX: '100000', YZH_TIMEOUT_MS: '100',
    });
    expect(config).toMatchObject({ retainDays: 3650, archiveRetainDays: 400, duplicateWindowDays: 0 });
    expect(config.followUp).toMatchObject({ concurrency: 100, max: 100_000 });
    expect(config.provider.timeoutMs).toBe(100);
    expect(loadConfig({})).toMatchObject({ retainDays: 120, archiveRetainDays: null, duplicateWindowDays: 7 });
  });

  it('every bad value is named in the one message', () => {
    expect(problem({ YZH_RETAIN_DAYS: '100000', YZH_DUPLICATE_WINDOW_DAYS: '1000000' })).toBe(
      'configuration: YZH_RETAIN_DAYS must be a whole number from 1 to 3650, got "100000"; '
      + 'YZH_DUPLICATE_WINDOW_DAYS must be a whole number from 0 to 90, got "1000000"');
  });
});

describe('YZH_DEALER_ID', () => {
  it('is 1-64 of A-Z a-z 0-9 _ -', () => {
    for (const ok of ['six', 'dealer-t1x2-', 'A_b-9', 'x'.repeat(64)]) {
      expect(loadConfig({ YZH_DEALER_ID: ok }).provider.dealerId).toBe(ok);
    }
  });

  it('anything else is a configuration error naming the variable, whether or not the command needs the provider', () => {
    for (const bad of ['six/cn', '../../etc', 'a.b', 'x'.repeat(65), '云账户', 'a b', 'a\\b']) {
      const expected = `configuration: YZH_DEALER_ID must be 1 to 64 of A-Z a-z 0-9 _ -, got "${bad}"`;
      expect(problem({ YZH_DEALER_ID: bad }), bad).toBe(expected);
      expect(() => loadConfig({ YZH_DEALER_ID: bad, YZH_APP_KEY: 'k', YZH_DES3_KEY: 'x'.repeat(24) }, { requireProvider: true }), bad)
        .toThrow(expected);
    }
  });
});
