import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { spoolQueue } from '../../src/recon/spool.js';

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
});
