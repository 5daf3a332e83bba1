import { openSync, closeSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { coerceError, sqlState, systemErrorCode } from '../../src/errors.js';
import { ENGINES, freshDatabase } from '../helpers/db.js';

/** A real error from the file system: /dev/full answers every write with ENOSPC. */
function fullDiskError(): Error {
  const fd = openSync('/dev/full', 'w');
  try {
    writeSync(fd, Buffer.from('x'));
  } catch (err) {
    return err as Error;
  } finally {
    closeSync(fd);
  }
  throw new Error('/dev/full accepted a write');
}

describe('error classification', () => {
  it('a file-system errno is a local file error, not a database error, whatever its length', () => {
    const enospc = fullDiskError();
    expect(systemErrorCode(enospc)).toBe('ENOSPC');
    expect(sqlState(enospc)).toBeNull();
    const err = coerceError(enospc);
    expect(err.code).toBe('FILESYSTEM');
    expect(err.message).toMatch(/^local file: ENOSPC: no space left on device, write \(no room left: the file system is full, or over a quota or file-size limit\)$/);
    // EFBIG (ulimit -f) has a SQLSTATE's shape, five capitals; what tells them apart is that a
    // server error carries severity and a system error its syscall.
    const efbig = Object.assign(new Error('EFBIG: file too large, write'), { code: 'EFBIG', errno: -27, syscall: 'write' });
    expect(coerceError(efbig)).toMatchObject({ code: 'FILESYSTEM', message: expect.stringMatching(/^local file: EFBIG: file too large, write \(no room left/) as unknown });
    expect(coerceError(Object.assign(new Error('EACCES: permission denied, open \'/x\''), { code: 'EACCES', errno: -13, syscall: 'open', path: '/x' })).message)
      .toBe('local file /x: EACCES: permission denied, open \'/x\'');
  });

  it.each(ENGINES)('a server error keeps its SQLSTATE (%s)', async (engine) => {
    const db = await freshDatabase(engine, { migrated: false });
    try {
      const err = await db.handle.withSession((s) => s.query('select 1/0')).then(() => null, (e: unknown) => e);
      expect(sqlState(err)).toBe('22012');
      expect(coerceError(err)).toMatchObject({ code: 'DATABASE', message: 'database error 22012: division by zero' });
    } finally {
      await db.drop();
    }
  });
});

describe('YZH_RETRIES', () => {
  it('accepts 0 (one attempt, no retries) and rejects what is not a whole number', () => {
    expect(loadConfig({ YZH_RETRIES: '0' }).provider.retries).toBe(0);
    expect(loadConfig({}).provider.retries).toBe(4);
    expect(() => loadConfig({ YZH_RETRIES: '-1' })).toThrow('YZH_RETRIES must be a whole number (0 or more), got "-1"');
    expect(() => loadConfig({ YZH_RETRIES: 'none' })).toThrow('YZH_RETRIES must be a whole number (0 or more), got "none"');
  });
});
