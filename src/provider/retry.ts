import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import { ReconError } from '../errors.js';

export interface RetryPolicy {
  /** Attempts after the first one. */
  readonly retries: number;
  /** First backoff; each further one doubles, capped at 30 s, with full jitter. */
  readonly baseDelayMs: number;
}

/** Marks a failure that may pass if tried again (connection error, timeout, 5xx, 429). */
export class TransientError extends ReconError {
  constructor(message: string, options: { cause?: unknown; facts?: Record<string, string | number | undefined> } = {}) {
    super('TRANSPORT', message, options);
  }
}

export async function withRetries<T>(
  what: string,
  policy: RetryPolicy,
  log: Logger,
  operation: (attempt: number) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (err) {
      if (!(err instanceof TransientError) || signal?.aborted) throw err;
      if (attempt >= policy.retries) {
        throw new ReconError('TRANSPORT', `${what}: gave up after ${attempt + 1} attempt${attempt === 0 ? ' (YZH_RETRIES=0)' : 's'}: ${err.message}`, {
          cause: err,
          facts: err.facts,
        });
      }
      const cap = Math.min(30_000, policy.baseDelayMs * 2 ** attempt);
      const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
      log.warn({ attempt: attempt + 1, delayMs: delay, err: err.message, ...err.facts }, `${what}: retrying`);
      await sleep(delay, undefined, signal ? { signal } : undefined);
    }
  }
}
