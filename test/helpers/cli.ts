import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const AS_ROOT = process.getuid?.() === 0;
/** Drops CAP_DAC_OVERRIDE from the bounding set of what it starts (util-linux). */
const WITHOUT_OVERRIDE = ['setpriv', '--bounding-set=-dac_override'];
let canDropOverride: string | undefined;

/**
 * Root writes through a mode of 0555, which stops every other user. Started as root, a command
 * that must meet such a mode runs without CAP_DAC_OVERRIDE: the mode then stops it too, while it
 * still owns the test's files and reads its code wherever the clone is (a clone in a folder
 * others cannot enter included). Says why when it cannot.
 */
function withoutOverride(command: string[]): string[] {
  if (!AS_ROOT) return command;
  if (canDropOverride === undefined) {
    const probe = spawnSync(WITHOUT_OVERRIDE[0]!, [...WITHOUT_OVERRIDE.slice(1), 'true'], { encoding: 'utf8' });
    canDropOverride = probe.status === 0 ? '' : (probe.error?.message ?? probe.stderr.trim());
  }
  if (canDropOverride !== '') {
    throw new Error(`as root, a read-only directory stops only a command run without CAP_DAC_OVERRIDE, and \`${WITHOUT_OVERRIDE.join(' ')}\` failed: ${canDropOverride} (it needs util-linux and CAP_SETPCAP)`);
  }
  return [...WITHOUT_OVERRIDE, ...command];
}

/**
 * Runs the built command as an operator would, with only the environment given (and the temp
 * dir of the test run). `fileSizeLimitKiB` starts it under bash's `ulimit -f`; `honourModes`
 * makes a directory's mode stop it even when the tests run as root (withoutOverride above).
 */
export function runCli(
  args: string[], env: Record<string, string | undefined> = {},
  options: { cwd?: string; onSpawn?: (pid: number) => void; honourModes?: boolean; fileSizeLimitKiB?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    // A throw here (withoutOverride's) rejects.
    const command = options.honourModes === true ? withoutOverride([process.execPath, CLI, ...args]) : [process.execPath, CLI, ...args];
    const [file, ...argv] = options.fileSizeLimitKiB === undefined
      ? command
      : ['bash', '-c', `ulimit -f ${options.fileSizeLimitKiB} && exec "$0" "$@"`, ...command];
    const child = spawn(file!, argv, {
      cwd: options.cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('spawn', () => options.onSpawn?.(child.pid!));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The last line of stderr: the one clear line a failure prints. */
export function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? '';
}
