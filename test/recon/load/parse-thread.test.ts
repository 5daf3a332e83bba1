import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ReconError } from '../../../src/errors.js';
import { copyText, type ParseJob } from '../../../src/recon/load/copy-text.js';
import { copyPrefix } from '../../../src/recon/load/row-columns.js';
import { FIXTURE_DATE, FIXTURE_DIR } from '../../helpers/provider.js';

// The test runner executes TypeScript sources, where parseInThread parses on the calling
// thread; the compiled module (built by `npm test`) starts the real worker thread.
const compiled = (await import(new URL('../../../dist/recon/load/parse-thread.js', import.meta.url).href)) as typeof import('../../../src/recon/load/parse-thread.js');

const dir = mkdtempSync(join(tmpdir(), 'yzh-parse-thread-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gzFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, gzipSync(Buffer.from(text)));
  return path;
}

async function collect(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
  return text;
}

const ordersCsv = readFileSync(join(FIXTURE_DIR, FIXTURE_DATE, 'orders.csv'), 'utf8');
const billsCsv = readFileSync(join(FIXTURE_DIR, FIXTURE_DATE, 'bills.csv'), 'utf8');

describe('parsing on a worker thread', () => {
  it.each([
    ['order', ordersCsv],
    ['bill', billsCsv],
  ] as const)('gives the same COPY text and row count as the calling thread (%s file)', async (kind, csv) => {
    const job: ParseJob = { path: gzFile(`${kind}.csv.gz`, csv), kind, label: `${kind} file ${FIXTURE_DATE}`, prefix: copyPrefix('sixcn', FIXTURE_DATE) };
    let inlineRows = 0;
    let threadRows = 0;
    const inline = await collect(copyText(job, (n) => { inlineRows = n; }));
    const thread = await collect(compiled.parseInThread(job, (n) => { threadRows = n; }));
    expect(thread).toBe(inline);
    expect(threadRows).toBe(inlineRows);
    expect(threadRows).toBe(csv.trim().split('\n').length - 1);
  });

  it('reports a malformed amount with the same file, line and column as the calling thread', async () => {
    const lines = ordersCsv.split('\n');
    const header = lines[0]!.split(',');
    const amountAt = header.findIndex((h) => h.trim() === '金额');
    const cells = lines[5]!.split(',');
    cells[amountAt] = '12.3.4';
    lines[5] = cells.join(',');
    const job: ParseJob = { path: gzFile('bad.csv.gz', lines.join('\n')), kind: 'order', label: 'order file 2017-11-20', prefix: copyPrefix('sixcn', FIXTURE_DATE) };
    const inline = await collect(copyText(job, () => {})).then(() => null, (e: unknown) => e);
    const thread = await collect(compiled.parseInThread(job, () => {})).then(() => null, (e: unknown) => e);
    expect(inline).toBeInstanceOf(ReconError);
    // The thread's error is rebuilt from a message: same class by name, code, text and facts.
    expect((thread as ReconError).name).toBe('ReconError');
    expect((thread as ReconError).code).toBe('FILE_FORMAT');
    expect((thread as ReconError).message).toBe((inline as ReconError).message);
    expect((thread as ReconError).message).toMatch(/order file 2017-11-20 line 6, column 金额: malformed amount "12.3.4"/);
    expect({ ...(thread as ReconError).facts }).toEqual({ ...(inline as ReconError).facts });
  });

  it('reports a truncated gzip as such', async () => {
    const whole = gzipSync(Buffer.from(billsCsv));
    const path = join(dir, 'truncated.csv.gz');
    writeFileSync(path, whole.subarray(0, Math.floor(whole.length / 2)));
    const err = await collect(compiled.parseInThread({ path, kind: 'bill', label: 'bill file 2017-11-20', prefix: 'x' }, () => {}))
      .then(() => null, (e: unknown) => e);
    expect((err as ReconError).message).toBe('bill file 2017-11-20: the gzip stream is truncated (unexpected end of file)');
  });

  it('stops at a stray quote within the record bound, naming the line where it opened, as the calling thread does', async () => {
    const lines = ordersCsv.trimEnd().split('\n');
    const body = [lines[0], lines[1]!.replace(',张**,', ',"王**,'), ...Array.from({ length: 20_000 }, () => lines[2])].join('\n');
    const job: ParseJob = { path: gzFile('stray.csv.gz', body), kind: 'order', label: 'order file 2017-11-20', prefix: copyPrefix('sixcn', FIXTURE_DATE) };
    const inline = await collect(copyText(job, () => {})).then(() => null, (e: unknown) => e as ReconError);
    const thread = await collect(compiled.parseInThread(job, () => {})).then(() => null, (e: unknown) => e as ReconError);
    expect(thread!.message).toBe('order file 2017-11-20 line 2: a quote opens a field on this line and is not closed within 64 KiB (a stray quote?); no legal row is near that long');
    expect(thread!.message).toBe(inline!.message);
  });
});
