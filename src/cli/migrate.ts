import { openDatabase } from '../db/connection.js';
import { migrate } from '../db/migrator.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';

export const MIGRATE_USAGE = `usage: yzh-recon migrate

Applies the SQL migrations in sql/ in order. Safe to run again, and safe to run twice at once.
Uses DATABASE_URL, or the embedded database in PGLITE_DIR when it is unset.`;

export async function migrateCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ name: 'migrate', usage: MIGRATE_USAGE, options: {} }, argv);
  if (values.help) {
    ctx.stdout.write(`${MIGRATE_USAGE}\n`);
    return 0;
  }
  const config = ctx.config();
  const db = await openDatabase(config);
  try {
    const applied = await db.withSession((s) => migrate(s, ctx.log));
    ctx.stdout.write(applied.length === 0 ? 'migrations: up to date\n' : `migrations applied: ${applied.join(', ')}\n`);
    return 0;
  } finally {
    await db.close();
  }
}
