import { fileURLToPath } from 'node:url';
import { Sandbox } from '../provider/sandbox-server.js';
import { ReconError } from '../errors.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';

export const FIXTURE_SANDBOX_DIR = fileURLToPath(new URL('../../fixtures/sandbox/', import.meta.url));

/** The document's example keys: the sandbox's defaults, and what the fixture day is served with. */
export const SANDBOX_KEYS = {
  dealerId: 'sixcn',
  appKey: '78f9b4fad3481fbce1df0b30eee58577',
  des3Key: '123456788765432112345678',
};

export const SANDBOX_USAGE = `usage: yzh-recon sandbox [--port N] [--dir DIR]

Serves a local double of the provider API (same endpoints, signing, 3DES encryption, error
codes, gzip CSV downloads) from DIR/<YYYY-MM-DD>/orders.csv and bills.csv (or .csv.gz).
The real-time order query answers from the order files, or per order from a live.json in DIR
or a day folder ({"<order id>": "claimed" | "pending" | "returned" | "not_found" | ...}), with
encry_data when asked for data_type "encryption"; the balance query answers DIR/accounts.json
(its dealer_infos), else the document's example.
Keys: YZH_DEALER_ID, YZH_APP_KEY, YZH_DES3_KEY when set, else the document's example keys.
Default DIR: the fixture day shipped in fixtures/sandbox. Stops on SIGINT or SIGTERM.`;

export async function sandboxCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    name: 'sandbox', usage: SANDBOX_USAGE, options: { port: { type: 'string' }, dir: { type: 'string' }, host: { type: 'string' } },
  }, argv);
  if (values.help) {
    ctx.stdout.write(`${SANDBOX_USAGE}\n`);
    return 0;
  }
  const port = values.port === undefined ? 8790 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ReconError('USAGE', `--port must be 0-65535\n${SANDBOX_USAGE}`);
  const sandbox = new Sandbox({
    dir: values.dir ?? FIXTURE_SANDBOX_DIR,
    dealerId: ctx.env.YZH_DEALER_ID || SANDBOX_KEYS.dealerId,
    appKey: ctx.env.YZH_APP_KEY || SANDBOX_KEYS.appKey,
    des3Key: ctx.env.YZH_DES3_KEY || SANDBOX_KEYS.des3Key,
    host: values.host ?? '127.0.0.1',
    port,
    retentionDays: null,
  });
  const host = values.host ?? '127.0.0.1';
  const url = await sandbox.start().catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'is already in use (another sandbox?)'
      : code === 'EACCES' ? 'is not allowed for this user (ports below 1024 need privileges)'
        : code === 'EADDRNOTAVAIL' ? 'is not an address of this machine'
          : `cannot be listened on (${(err as Error).message})`;
    throw new ReconError('CONFIG', `sandbox: ${host}:${port} ${why}; choose another with --port N, or --port 0 for any free port`, { cause: err });
  });
  ctx.stdout.write(`sandbox listening on ${url} (serving ${values.dir ?? FIXTURE_SANDBOX_DIR}); set YZH_BASE_URL=${url}\n`);
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await sandbox.stop();
  return 0;
}
