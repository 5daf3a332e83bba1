#!/usr/bin/env -S node --max-semi-space-size=1
// The flag above (also in the Dockerfile's ENTRYPOINT, and used by the benchmark) caps the main
// thread's young generation at 1 MiB per semi-space. The default grows it to 32 MiB while the
// COPY text of both files passes through this thread: a quarter of the peak RSS of a large day,
// for no measurable speed (see docs/benchmarks.md).
import { coerceError, type ReconError } from '../errors.js';
import { createContext, type CommandContext } from './context.js';

type Command = (ctx: CommandContext, argv: string[]) => Promise<number>;

// Loaded on demand: the signal handlers are in place before the database drivers and the
// HTTP client load, and `--help` stays fast.
const COMMANDS: Record<string, () => Promise<Command>> = {
  migrate: async () => (await import('./migrate.js')).migrateCommand,
  run: async () => (await import('./run.js')).runCommand,
  report: async () => (await import('./report.js')).reportCommand,
  ack: async () => (await import('./ack.js')).ackCommand,
  sandbox: async () => (await import('./sandbox.js')).sandboxCommand,
  demo: async () => (await import('./demo.js')).demoCommand,
  check: async () => (await import('./check.js')).checkCommand,
  'follow-up': async () => (await import('./follow-up.js')).followUpCommand,
  verify: async () => (await import('./verify.js')).verifyCommand,
  prune: async () => (await import('./prune.js')).pruneCommand,
  notify: async () => (await import('./notify.js')).notifyCommand,
};

const USAGE = `usage: yzh-recon <command> [options]

Reconciles 云账户 (Yunzhanghu) daily order and bill files against the merchant ledger.

commands:
  migrate   apply the SQL migrations (safe to run again)
  run       reconcile a business day (default: yesterday in Asia/Shanghai)
  report    print discrepancies (table, csv with BOM, json, xlsx, or the html page for finance)
  ack       import acknowledgements (ack_by, ack_note) from a report CSV or workbook edited in Excel
  sandbox   serve a local double of the provider API
  demo      the whole job on embedded defaults: sandbox + embedded Postgres + the fixture day
  check     preflight after a deploy: configuration, database, provider keys, clock
  follow-up ask the provider now about the orders the files cannot settle (every run does too)
  verify    re-hash the archived files and check the runs' audit chain
  prune     remove what is past its retention (archive objects past YZH_ARCHIVE_RETAIN_DAYS)
  notify    send a test message to the chat webhooks (YZH_NOTIFY_URLS) and show their answers

yzh-recon <command> --help describes each. Exit status: 0 done, 1 the work failed,
2 usage error, 143/130 stopped by SIGTERM/SIGINT.`;

/** Exit status for an interrupted run, as a shell reports a process ended by that signal. */
const SIGNAL_EXIT: Record<string, number> = { SIGTERM: 143, SIGINT: 130 };

function exitCode(err: ReconError, signal: string | null): number {
  if (err.code === 'USAGE') return 2;
  if (err.code === 'INTERRUPTED' || signal !== null) return SIGNAL_EXIT[signal ?? 'SIGTERM']!;
  return 1;
}

async function main(argv: string[]): Promise<number> {
  const controller = new AbortController();
  let received: string | null = null;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (received !== null) return;
      received = sig;
      controller.abort(new Error(sig));
      // The run rolls back and records itself within a few seconds; past that, leave anyway.
      setTimeout(() => process.exit(SIGNAL_EXIT[sig]), 10_000).unref();
    });
  }
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    process.stderr.write(`yzh-recon: unknown command "${name}"\n${USAGE}\n`);
    return 2;
  }
  const ctx = createContext(process.env, controller.signal);
  try {
    const command = await load();
    const code = await command(ctx, rest);
    return received !== null ? SIGNAL_EXIT[received]! : code;
  } catch (thrown) {
    const err = coerceError(thrown);
    process.stderr.write(`yzh-recon: ${err.message}\n`);
    return exitCode(err, received);
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
