import { loadConfig, type Config } from '../config.js';
import { openDatabase } from '../db/connection.js';
import { pendingMigrations } from '../db/migrator.js';
import { coerceError } from '../errors.js';
import { ProviderClient } from '../provider/client.js';
import { SIGNATURE_WINDOW_SECONDS } from '../provider/protocol.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';

export const CHECK_USAGE = `usage: yzh-recon check

A preflight to run after deploying: configuration valid, database reachable and migrated,
provider reachable and the keys accepted (one harmless signed call: the balance query), and
this machine's clock within the signature window of the provider's (its HTTP Date header).
Prints each item as ok or FAIL with the reason; exits 0 when all pass, 1 otherwise.`;

interface Item {
  name: string;
  ok: boolean;
  detail: string;
}

export async function checkCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ name: 'check', usage: CHECK_USAGE, options: {} }, argv);
  if (values.help) {
    ctx.stdout.write(`${CHECK_USAGE}\n`);
    return 0;
  }
  const items: Item[] = [];
  const record = (name: string, ok: boolean, detail: string) => {
    items.push({ name, ok, detail });
    ctx.stdout.write(`${ok ? 'ok  ' : 'FAIL'}  ${name.padEnd(13)} ${detail}\n`);
  };
  let config: Config | null = null;
  try {
    config = loadConfig(ctx.env, { requireProvider: true });
    record('configuration', true, `dealer ${config.provider.dealerId}, ${config.databaseUrl ? 'Postgres' : `embedded database in ${config.pgliteDir}`}, provider ${config.provider.baseUrl}`);
  } catch (err) {
    record('configuration', false, coerceError(err).message.replace(/^configuration: /, ''));
  }

  const dbConfig = config ?? { databaseUrl: ctx.env.DATABASE_URL || undefined, pgliteDir: ctx.env.PGLITE_DIR || '.yzh-recon/pglite' };
  try {
    const db = await openDatabase(dbConfig);
    try {
      await db.withSession(async (s) => {
        const version = (await s.query<{ v: string }>('select version() as v')).rows[0]!.v.split(' ').slice(0, 2).join(' ');
        record('database', true, `reachable (${version})`);
        const pending = (await pendingMigrations(s)).map((m) => m.name);
        record('migrations', pending.length === 0, pending.length === 0 ? 'up to date' : `pending: ${pending.join(', ')} (run yzh-recon migrate)`);
      });
    } finally {
      await db.close();
    }
  } catch (err) {
    record('database', false, coerceError(err).message);
  }

  if (config !== null) {
    const client = new ProviderClient({ ...config.provider, retries: 1 }, ctx.log);
    try {
      const accounts = await client.queryAccounts(ctx.signal);
      record('provider', true, `keys accepted; ${accounts.length} broker account${accounts.length === 1 ? '' : 's'}`);
    } catch (err) {
      record('provider', false, coerceError(err).message);
    }
    const server = client.lastServerDate;
    if (server === null) {
      record('clock', false, 'the provider sent no Date header to compare with');
    } else {
      const skew = Math.round((Date.now() - server.getTime()) / 1000);
      // Date has one-second resolution: allow that much beyond the provider's window.
      const ok = Math.abs(skew) < SIGNATURE_WINDOW_SECONDS - 1;
      record('clock', ok, `${skew >= 0 ? '+' : ''}${skew} s against the provider (signatures expire after ${SIGNATURE_WINDOW_SECONDS} s)${ok ? '' : ': fix NTP on this machine'}`);
    }
    await client.close();
  } else {
    record('provider', false, 'not checked: the configuration is invalid');
  }
  return items.every((i) => i.ok) ? 0 : 1;
}
