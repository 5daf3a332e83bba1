/**
 * One error class for everything the job reports to a person. `code` is a closed set so that
 * the CLI can choose the exit status and the one-line message without string matching.
 */
export const ERROR_CODES = {
  CONFIG: 'configuration is invalid',
  USAGE: 'command line is invalid',
  PROVIDER: 'the provider answered with an error',
  TRANSPORT: 'the provider could not be reached',
  FILE_FORMAT: 'a provider file is malformed',
  DATABASE: 'the database failed',
  LOCKED: 'another run holds the lock',
  ARCHIVE: 'the raw-file archive could not be written or read',
  VERIFY: 'an archived file or the audit chain does not match',
  INTERRUPTED: 'the run was interrupted',
  INTERNAL: 'unexpected failure',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ReconError extends Error {
  readonly code: ErrorCode;
  /** Structured facts for logs and `recon.runs.error` (never secrets or personal data). */
  readonly facts: Readonly<Record<string, string | number | undefined>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; facts?: Record<string, string | number | undefined> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ReconError';
    this.code = code;
    this.facts = Object.freeze({ ...options.facts });
  }
}

/** Turns anything thrown into a ReconError, keeping the original as `cause`. */
export function coerceError(err: unknown): ReconError {
  if (err instanceof ReconError) return err;
  if (err instanceof Error) {
    const pgCode = (err as { code?: unknown }).code;
    // Checked first: 57P01-57P03 (shutdown, crash) and class 08 (connection exception) are
    // SQLSTATEs too, but what a person needs to read is that the connection went away.
    if (typeof pgCode === 'string' && (/^(57P0[1-3]|08[0-9A-Z]{3})$/.test(pgCode) || ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(pgCode))) {
      return new ReconError('DATABASE', `database connection lost (${pgCode}): ${err.message}`, { cause: err });
    }
    if (typeof pgCode === 'string' && /^[0-9A-Z]{5}$/.test(pgCode)) {
      return new ReconError('DATABASE', `database error ${pgCode}: ${err.message}`, { cause: err });
    }
    return new ReconError('INTERNAL', err.message, { cause: err });
  }
  return new ReconError('INTERNAL', String(err));
}
