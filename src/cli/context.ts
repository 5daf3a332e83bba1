import { loadConfig, type Config } from '../config.js';
import { createLogger, type Logger } from '../logger.js';

/** What every command gets: the validated configuration, the root logger, the stop signal. */
export interface CommandContext {
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  stdout: NodeJS.WritableStream;
  config(options?: { requireProvider: boolean }): Config;
  log: Logger;
}

export function createContext(env: NodeJS.ProcessEnv, signal: AbortSignal): CommandContext {
  let root: Logger | null = null;
  return {
    env,
    signal,
    stdout: process.stdout,
    config: (options) => loadConfig(env, options),
    get log() {
      root ??= createLogger(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(env.LOG_LEVEL ?? '') ? env.LOG_LEVEL! : 'info');
      return root;
    },
  };
}
