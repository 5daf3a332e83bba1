import { DateTime } from 'luxon';
import { openDatabase } from '../db/connection.js';
import { ReconError } from '../errors.js';
import { Archive } from '../provider/file-archive.js';
import { PROVIDER_ZONE } from '../provider/file-format.js';
import { verifyChain, verifyFiles, type VerifyCheck, type VerifyScope } from '../recon/runs/verify-checks.js';
import { datePeriod, parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';

export const VERIFY_USAGE = `usage: yzh-recon verify [--date YYYY-MM-DD | --from YYYY-MM-DD --to YYYY-MM-DD]

Checks what the runs kept, for YZH_DEALER_ID (every dealer when it is unset), for the days
given (every day by default):
  files  every file record's sha256 against the one its run recorded (in the audit chain),
         every archived file in YZH_ARCHIVE_DIR re-hashed against it, and every object
         that is gone marked pruned on a day YZH_ARCHIVE_RETAIN_DAYS no longer keeps;
  chain  every run's audit hash recomputed from its row, its predecessor's hash and the
         findings it recorded, and every finding still as the run that wrote it last left it.
Prints each check as ok or FAIL, and a summary line. Exit status: 0 everything holds; 1 some
file or run does not match (the last line on stderr names the first); 2 usage error.
Reads the database and the archive only; needs no provider keys.`;

const MAX_LISTED = 20;


export async function verifyCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    name: 'verify', usage: VERIFY_USAGE, options: { date: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } },
  }, argv);
  if (values.help) {
    ctx.stdout.write(`${VERIFY_USAGE}\n`);
    return 0;
  }
  const days = datePeriod(values, VERIFY_USAGE);
  const config = ctx.config();
  const dealerId = config.provider.dealerId === '' ? undefined : config.provider.dealerId;
  const scope: VerifyScope = { ...days, ...(dealerId === undefined ? {} : { dealerId }) };
  const archive = new Archive(config.archiveDir);
  const db = await openDatabase(config);
  let checks: VerifyCheck[];
  try {
    checks = await db.withSession(async (s) => {
      const exists = await s.query<{ t: string | null }>("select to_regclass('recon.run_findings')::text as t");
      if (exists.rows[0]?.t == null) {
        throw new ReconError('DATABASE', 'the database has no audit tables yet: run `yzh-recon migrate` (or a first `yzh-recon run`)');
      }
      const retention = { days: config.archiveRetainDays, now: DateTime.now().setZone(PROVIDER_ZONE) };
      return [await verifyFiles(s, archive, scope, retention), await verifyChain(s, scope)];
    });
  } finally {
    await db.close();
  }
  for (const check of checks) {
    ctx.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'}  ${check.name.padEnd(6)} ${check.detail}\n`);
    for (const more of check.mismatches.slice(1, MAX_LISTED)) ctx.stdout.write(`              ${more}\n`);
    if (check.mismatches.length > MAX_LISTED) ctx.stdout.write(`              … and ${check.mismatches.length - MAX_LISTED} more\n`);
  }
  const what = `${dealerId === undefined ? 'every dealer' : `dealer ${dealerId}`}, ${days.from === undefined ? 'every day' : days.from === days.to ? days.from : `${days.from} to ${days.to}`}`;
  const counts = `${checks[0]!.count} file${checks[0]!.count === 1 ? '' : 's'}, ${checks[1]!.count} run${checks[1]!.count === 1 ? '' : 's'}`;
  const failed = checks.filter((c) => !c.ok);
  if (failed.length === 0) {
    ctx.stdout.write(`verify: ok: ${counts} (${what}), archive ${archive.root}\n`);
    return 0;
  }
  const total = failed.reduce((n, c) => n + c.mismatches.length, 0);
  ctx.stdout.write(`verify: FAIL: ${total} mismatch${total === 1 ? '' : 'es'} in ${counts} (${what}), archive ${archive.root}\n`);
  throw new ReconError('VERIFY', failed[0]!.mismatches[0]!);
}
