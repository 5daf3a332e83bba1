import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../../src/provider/sandbox-server.js';
import { fetchProviderFile, tempFileName } from '../../../src/recon/load/ingest.js';
import { client, FIXTURE_DATE, silentLog, startSandbox } from '../../helpers/provider.js';

/**
 * The configuration refuses a dealer id that is not 1-64 of A-Z a-z 0-9 _ - (test/config.test.ts);
 * the temporary files are named safely all the same, whatever the id that reaches them.
 */
describe('temporary file names from the dealer id', () => {
  let sandbox: Sandbox;
  let parent: string;
  beforeAll(async () => {
    sandbox = await startSandbox();
    parent = mkdtempSync(join(tmpdir(), 'yzh-names-'));
  });
  afterAll(async () => {
    await sandbox.stop();
    rmSync(parent, { recursive: true, force: true });
  });

  it('a name is one segment of safe characters, whatever the id holds', () => {
    for (const id of ['six/cn', '../../etc', '..', 'a\\b', '云账户', 'x\0y', 'x'.repeat(500)]) {
      const name = tempFileName(id, FIXTURE_DATE, 'order', '.csv.gz');
      expect(name, id).toMatch(/^yzh-recon-[A-Za-z0-9_-]{1,64}-2017-11-20-order-\d+-\d+\.csv\.gz$/);
    }
    // Ids that are already safe keep their own spelling.
    expect(tempFileName('sixcn', FIXTURE_DATE, 'bill', '.csv.gz')).toMatch(/^yzh-recon-sixcn-2017-11-20-bill-/);
  });

  it('a download for a dealer id with a slash or ../ lands in the run\'s folder, not beside it or under a missing one', async () => {
    const c = client(sandbox);
    try {
      for (const id of ['six/cn', '../../escaped', '..']) {
        const runDir = mkdtempSync(join(parent, 'run-'));
        const download = await fetchProviderFile(c, 'order', FIXTURE_DATE, id, runDir, silentLog);
        expect(dirname(download.path), id).toBe(runDir);
        expect(readdirSync(runDir), id).toHaveLength(1);
      }
      expect(readdirSync(parent).every((n) => n.startsWith('run-'))).toBe(true);
    } finally {
      await c.close();
    }
  });
});
