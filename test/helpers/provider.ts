import { mkdtempSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig, type ProviderConfig } from '../../src/config.js';
import { ProviderClient } from '../../src/provider/client.js';
import { Sandbox } from '../../src/provider/sandbox-server.js';

/** The document's own keys, used by the fixture day and the demo. */
export const KEYS = {
  dealerId: 'sixcn',
  appKey: '78f9b4fad3481fbce1df0b30eee58577',
  des3Key: '123456788765432112345678',
};

export const FIXTURE_DIR = join(import.meta.dirname, '..', '..', 'fixtures', 'sandbox');
export const FIXTURE_DATE = '2017-11-20';

export const silentLog = pino({ level: 'silent' });

/** A copy of the fixture folder that a test may change. */
export function copyFixtures(): string {
  const dir = mkdtempSync(join(tmpdir(), 'yzh-sandbox-'));
  cpSync(FIXTURE_DIR, dir, { recursive: true });
  return dir;
}

export async function startSandbox(dir = FIXTURE_DIR): Promise<Sandbox> {
  const sandbox = new Sandbox({ ...KEYS, dir, retentionDays: null });
  await sandbox.start();
  return sandbox;
}

export function providerConfig(sandbox: Sandbox, overrides: Record<string, string> = {}): ProviderConfig {
  return loadConfig({
    YZH_BASE_URL: sandbox.url,
    YZH_DEALER_ID: KEYS.dealerId,
    YZH_APP_KEY: KEYS.appKey,
    YZH_DES3_KEY: KEYS.des3Key,
    YZH_TIMEOUT_MS: '2000',
    YZH_RETRIES: '3',
    ...overrides,
  }, { requireProvider: true }).provider;
}

export function client(sandbox: Sandbox, overrides: Record<string, string> = {}): ProviderClient {
  return new ProviderClient(providerConfig(sandbox, overrides), silentLog, { retryBaseDelayMs: 10 });
}
