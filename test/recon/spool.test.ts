import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { spoolQueue } from '../../src/recon/load/spool.js';

const dir = mkdtempSync(join(tmpdir(), 'yzh-spool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const path = () => join(dir, `spool-${n++}`);

async function readAll(read: () => AsyncGenerator<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of read()) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

describe('spool queue', () => {
  it('an empty stream that ended before anyone reads: the read ends too, with nothing', async () => {
    const spool = spoolQueue(Readable.from([], { objectMode: true }), path());
    await spool.written;
    expect(await readAll(spool.read)).toBe('');
  });

  it('a stream read while it is still being written: every chunk, in order, then the end', async () => {
    const source = new PassThrough({ objectMode: true });
    const spool = spoolQueue(source, path());
    const expected: string[] = [];
    const reading = readAll(spool.read);
    for (let i = 0; i < 200; i++) {
      const line = `${i}\t${'订单'.repeat(i % 7)}\n`;
      expected.push(line);
      source.write(line);
      if (i % 50 === 0) await sleep(5);
    }
    source.end();
    expect(await reading).toBe(expected.join(''));
  });

  it("the source's error reaches the reader, which does not wait for more", async () => {
    const source = new PassThrough({ objectMode: true });
    const spool = spoolQueue(source, path());
    source.write('first line\n');
    const reading = readAll(spool.read);
    await sleep(10);
    source.destroy(new Error('bill file 2024-06-30 line 7, column 金额: malformed amount "1.2.3"'));
    await expect(reading).rejects.toThrow(/line 7, column 金额: malformed amount/);
    await expect(spool.written).rejects.toThrow(/malformed amount/);
  });

  it('a spool that cannot be written (a full disk) fails as a local file error naming the path, and the reader learns of it', async () => {
    // /dev/full answers every write with ENOSPC, as a full YZH_TMP_DIR does.
    const source = new PassThrough();
    const spool = spoolQueue(source, '/dev/full');
    const reading = readAll(spool.read).then(() => null, (e: unknown) => e as Error);
    source.end('x\ty\n'.repeat(1000));
    const written = await spool.written.then(() => null, (e: unknown) => e as Error);
    expect(written).toMatchObject({
      code: 'FILESYSTEM',
      message: 'writing the COPY text to /dev/full: ENOSPC: no space left on device, write (no room left: the file system is full, or over a quota or file-size limit)',
    });
    expect(await reading).toBe(written);
  });
});
