import { rmSync } from 'node:fs';
import { openPglite } from '../db/connection.js';
import { migrate } from '../db/migrator.js';
import { seedFixtureLedger } from '../db/seed.js';
import { loadConfig } from '../config.js';
import { ProviderClient } from '../provider/client.js';
import { Sandbox } from '../provider/sandbox.js';
import { selectDiscrepancies } from '../recon/report.js';
import { runDay } from '../recon/run-day.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';
import { formatTable } from './report.js';
import { FIXTURE_SANDBOX_DIR, SANDBOX_KEYS } from './sandbox.js';
import { formatRunSummary } from './summary.js';

export const DEMO_DATE = '2017-11-20';

export const DEMO_USAGE = `usage: yzh-recon demo [--dir DIR]

The whole job on embedded defaults, with nothing to configure: starts the sandbox provider on
the fixture day (${DEMO_DATE}, built from the provider document's sample files), creates a fresh
embedded database in DIR (default .yzh-recon/demo), loads the fixture ledger, runs the day and
prints the report.`;

export async function demoCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ name: 'demo', usage: DEMO_USAGE, options: { dir: { type: 'string' } } }, argv);
  if (values.help) {
    ctx.stdout.write(`${DEMO_USAGE}\n`);
    return 0;
  }
  // The demo reads as a story on stdout; JSON logs only for warnings unless asked for.
  ctx.env.LOG_LEVEL ??= 'warn';
  const dir = values.dir ?? '.yzh-recon/demo';
  rmSync(dir, { recursive: true, force: true });
  // The demo's raw-file archive sits beside its database, and starts afresh with it.
  const archiveDir = `${dir}-archive`;
  rmSync(archiveDir, { recursive: true, force: true });
  const sandbox = new Sandbox({ ...SANDBOX_KEYS, dir: FIXTURE_SANDBOX_DIR, retentionDays: null });
  const baseUrl = await sandbox.start();
  const config = loadConfig({
    YZH_BASE_URL: baseUrl, YZH_DEALER_ID: SANDBOX_KEYS.dealerId, YZH_APP_KEY: SANDBOX_KEYS.appKey,
    YZH_DES3_KEY: SANDBOX_KEYS.des3Key, LOG_LEVEL: ctx.env.LOG_LEVEL ?? 'warn', PGLITE_DIR: dir,
    YZH_ARCHIVE_DIR: archiveDir,
  }, { requireProvider: true });
  const db = await openPglite(dir);
  const client = new ProviderClient(config.provider, ctx.log);
  try {
    await db.withSession(async (s) => {
      await migrate(s, ctx.log);
      const ledger = await seedFixtureLedger(s);
      ctx.stdout.write(`demo: sandbox provider at ${baseUrl}, embedded database in ${dir}, archive in ${archiveDir}, ${ledger} ledger rows loaded\n\n`);
    });
    const result = await runDay({ db, client, config, log: ctx.log }, {
      dealerId: SANDBOX_KEYS.dealerId, date: DEMO_DATE, trigger: 'manual', signal: ctx.signal,
    });
    ctx.stdout.write(`${formatRunSummary(result)}\n`);
    const rows = await db.withSession((s) => selectDiscrepancies(s, { dealerId: SANDBOX_KEYS.dealerId, date: DEMO_DATE, openOnly: true }));
    ctx.stdout.write(formatTable(rows));
    return 0;
  } finally {
    await client.close();
    await db.close();
    await sandbox.stop();
  }
}
