import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built command as an operator would, with only the environment given (and the temp
 * dir of the test run). `fileSizeLimitKiB` starts it under bash's `ulimit -f`.
 */
export function runCli(
  args: string[], env: Record<string, string | undefined> = {},
  options: { cwd?: string; onSpawn?: (pid: number) => void; uid?: number; gid?: number; fileSizeLimitKiB?: number } = {},
): Promise<CliResult> {
  const command = [process.execPath, CLI, ...args];
  const [file, ...argv] = options.fileSizeLimitKiB === undefined
    ? command
    : ['bash', '-c', `ulimit -f ${options.fileSizeLimitKiB} && exec "$0" "$@"`, ...command];
  return new Promise((resolve, reject) => {
    const child = spawn(file!, argv, {
      cwd: options.cwd,
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
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
