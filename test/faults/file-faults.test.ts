import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/db/connection.js';
import { Sandbox } from '../../src/provider/sandbox-server.js';
import { generateDay } from '../bench/generate.js';
import { ENGINES } from '../helpers/db.js';
import { encodeGb18030 as gb18030 } from '../helpers/gb18030.js';
import { KEYS } from '../helpers/provider.js';
import {
  billsCsv, cleanUpAfterFile, D, expectFailure, folder, generatedSandbox, lines, onEngine, ORDER_HEADER, ordersCsv, planted, replaceCell,
  run, sandboxes, sandboxWith, snapshot,
} from './fault-harness.js';

/**
 * Faults in the provider's files: broken gzip, missing or unknown columns, bad values, wrong
 * encodings, stray quotes, NUL bytes. A real `yzh-recon run` against the sandbox
 * (fault-harness.ts); after every case the exit status, the one-line message, and
 * recon.discrepancies exactly as before the run.
 */
const BIG: Record<Engine, number> = { pg: 1_000_000, pglite: 50_000 };
console.log('file faults: on PGlite the "one bad line" case reads a 50,000-row file (1,000,000 on Postgres)');

cleanUpAfterFile();

describe.each(ENGINES)('fault injection on %s: files', (engine) => {
  onEngine(engine);

  it('a truncated gzip', async () => {
    const gz = gzipSync(ordersCsv);
    await expectFailure(await sandboxWith({ orders: gz.subarray(0, gz.length - 20) }),
      /^yzh-recon: order file 2017-11-20: the gzip stream is truncated \(unexpected end of file\)$/);
  });

  it('a file that is not gzip at all', async () => {
    await expectFailure(await sandboxWith({ bills: Buffer.from(billsCsv) }), /^yzh-recon: bill file 2017-11-20: not a valid gzip file/);
  });

  it('an empty file', async () => {
    await expectFailure(await sandboxWith({ orders: Buffer.alloc(0) }), /^yzh-recon: order file 2017-11-20: the file is empty \(0 bytes downloaded\)$/);
  });

  it('a file with only the header is a valid day with no orders, not a failure', async () => {
    const sandbox = await sandboxWith({ extraDays: ['2017-11-21'] });
    const before = await snapshot();
    const result = await run(sandbox, ['run', '--date', '2017-11-21']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/order file\s+0 rows/);
    // The day before is re-checked and still holds, except the cut-off order, which is no
    // longer "info": the next day's file is in without it.
    const after = await snapshot();
    expect(after.map((d) => [d.order_id, d.kind, d.status])).toEqual(before.map((d) => [d.order_id, d.kind, d.status]));
    expect(after.find((d) => d.order_id === '2017112709')!.severity).toBe('warning');
  });

  it('a missing column', async () => {
    const csv = lines(ordersCsv).map((l) => l.split(',').slice(0, 15).join(',')).join('\n');
    await expectFailure(await sandboxWith({ orders: csv }), /^yzh-recon: order file 2017-11-20 line 1: missing column "完成时间" in the header$/);
  });

  it('an unknown column', async () => {
    await expectFailure(await sandboxWith({ bills: billsCsv.replace('渠道流水号', '银行流水号') }),
      /^yzh-recon: bill file 2017-11-20 line 1, column 银行流水号: unknown column "银行流水号" in the header$/);
  });

  it(`a malformed amount on one line among ${BIG[engine].toLocaleString('en-US')}`, async () => {
    const dir = folder('yzh-fault-big-');
    const bad = BIG[engine] - 1000;
    await generateDay(dir, D, BIG[engine], { malformedAmountAt: bad });
    const sandbox = new Sandbox({ ...KEYS, dir, retentionDays: null });
    await sandbox.start();
    sandboxes.push(sandbox);
    // Line = header + orders before it + the duplicate rows the generator plants before it.
    const dupsBefore = Array.from({ length: bad }, (_, i) => i).filter((i) => i % 4999 !== 1 && i % 7001 !== 2 && i % 9001 !== 3 && i % 11003 !== 4 && i % 13001 === 5).length;
    const line = 1 + bad + dupsBefore + 1;
    await expectFailure(sandbox, new RegExp(`^yzh-recon: order file 2017-11-20 line ${line}, column 金额: malformed amount "12\\.3\\.4"$`),
      { env: { YZH_TIMEOUT_MS: '120000' } });
    // The day's files are the largest a test writes (over 100 MB at a million rows).
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it('a row with too few fields', async () => {
    const all = lines(ordersCsv);
    all[4] = all[4]!.split(',').slice(0, 12).join(',');
    await expectFailure(await sandboxWith({ orders: all.join('\n') }), /^yzh-recon: order file 2017-11-20 line 5: wrong number of fields \(12; the header has 16\)$/);
  });

  it('an invalid date', async () => {
    await expectFailure(await sandboxWith({ orders: replaceCell(ordersCsv, 7, 15, '2017-11-31 00:02:03') }),
      /^yzh-recon: order file 2017-11-20 line 7, column 完成时间: invalid date-time \(expected YYYY-MM-DD HH:mm:ss\) "2017-11-31 00:02:03"$/);
  });

  it('an unknown status text', async () => {
    await expectFailure(await sandboxWith({ orders: replaceCell(ordersCsv, 3, 5, '已冲正') }),
      /^yzh-recon: order file 2017-11-20 line 3, column 订单状态: unknown order status "已冲正"$/);
  });

  it('an unknown 流水类型', async () => {
    await expectFailure(await sandboxWith({ bills: replaceCell(billsCsv, 4, 3, '经纪公司返点') }),
      /^yzh-recon: bill file 2017-11-20 line 4, column 流水类型: unknown 流水类型 "经纪公司返点"$/);
  });
});

describe.each(ENGINES)('fault injection on %s: encodings, stray quotes, NUL bytes', (engine) => {
  onEngine(engine);

  it('an invalid byte in a GB18030 file: exit 1 naming line and byte offset (it loaded as U+FFFD, and exited 0)', async () => {
    const bad = planted(gb18030(ordersCsv), '\n20171127', [0xff]);
    const offset = bad.indexOf(0xff);
    await expectFailure(await sandboxWith({ orders: gzipSync(bad) }),
      new RegExp(`^yzh-recon: order file 2017-11-20 line 2: byte 0xFF at byte offset ${offset} is not valid GB18030 \\(the header line is GB18030, so the whole file must be\\)$`));
  });

  it('one Latin-1 byte in a UTF-8 file: exit 1 at that byte (it read the whole file as GB18030)', async () => {
    const bad = planted(Buffer.from(ordersCsv), '\n2017112703,', [0xe9]);
    const offset = Buffer.from(ordersCsv).indexOf('\n2017112703,') + '\n2017112703,'.length;
    await expectFailure(await sandboxWith({ orders: gzipSync(bad) }),
      new RegExp(`^yzh-recon: order file 2017-11-20 line 4: bytes 0xE9 0x31 at byte offset ${offset} are not valid UTF-8 \\(the header line is UTF-8, so the whole file must be\\)$`));
  });

  it('a stray quote on line 2 of a 20,000-order file: exit 1 naming line 2, within the record bound', async () => {
    await expectFailure(await generatedSandbox(20_000, { strayQuoteAt: 0 }),
      /^yzh-recon: order file 2017-11-20 line 2: a quote opens a field on this line and is not closed within 64 KiB \(a stray quote\?\); no legal row is near that long$/);
  });

  it('a 1.5 MB gzip whose unclosed field unpacks to 1.5 GB: exit 1 naming line 2, peak memory well under the CronJob limit', async () => {
    // Concatenated gzip members are one gzip stream: 1,500 copies of 1 MiB of "a" after an open quote.
    const member = gzipSync(Buffer.alloc(1 << 20, 'a'));
    const bomb = Buffer.concat([gzipSync(`${ORDER_HEADER}\n2017112701,"`), ...Array.from({ length: 1500 }, () => member)]);
    expect(bomb.length).toBeLessThan(2_000_000);
    const probeDir = folder('yzh-fault-rss-');
    const probe = join(probeDir, 'probe.mjs');
    writeFileSync(probe, `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(${JSON.stringify(join(probeDir, 'rss'))}, String(process.resourceUsage().maxRSS)));\n`);
    await expectFailure(await sandboxWith({ orders: bomb }),
      /^yzh-recon: order file 2017-11-20 line 2: a quote opens a field on this line and is not closed within 64 KiB \(a stray quote\?\); no legal row is near that long$/,
      { env: { NODE_OPTIONS: `--import=file://${probe}` } });
    // The whole process, database driver (and PGlite) included; it went to 3 GB. On PGlite it
    // is 390-405 MB, nearly all PGlite's own heap (375-390 MB before the partitioned tables of
    // migration 0006); the CronJobs' limit is 512 MiB.
    const peakMb = Number(readFileSync(join(probeDir, 'rss'), 'utf8')) / 1024;
    expect(peakMb).toBeLessThan(450);
  });

  it('a NUL byte in a field: exit 1 naming line and column (it was "database error 22021")', async () => {
    const bills = billsCsv.replace('\n2017111102,', '\n2017111102\u0000,');
    expect(bills).not.toBe(billsCsv);
    await expectFailure(await sandboxWith({ bills }),
      /^yzh-recon: bill file 2017-11-20 line 4, column 商户订单号: contains a NUL byte \(0x00\), which no provider field may hold$/);
  });
});
