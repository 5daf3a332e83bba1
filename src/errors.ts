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
  FILESYSTEM: 'a local file could not be written or read',
  LOCKED: 'another run holds the lock',
  ARCHIVE: 'the raw-file archive could not be written or read',
  VERIFY: 'an archived file or the audit chain does not match',
  RETENTION: 'the day\'s provider rows were pruned',
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

/**
 * The SQLSTATE of an error the database server sent (pg's DatabaseError, PGlite's): five
 * characters of [0-9A-Z] beside the fields only a server error carries (`severity`). A bare
 * five-letter `code` is not enough: Node's errno codes (EFBIG, EPERM, EROFS) have that shape.
 */
export function sqlState(err: unknown): string | null {
  const e = err as { code?: unknown; severity?: unknown } | null;
  if (e === null || typeof e !== 'object') return null;
  return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string' ? e.code : null;
}

/** The errno code of a Node system error (ENOSPC, EACCES, ECONNRESET): it names the failing syscall. */
export function systemErrorCode(err: unknown): string | null {
  const e = err as { code?: unknown; syscall?: unknown; errno?: unknown } | null;
  if (e === null || typeof e !== 'object') return null;
  return typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code) && (typeof e.syscall === 'string' || typeof e.errno === 'number')
    ? e.code
    : null;
}

/** Socket failures: outside the provider client (which wraps its own), the database connection's. */
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** No room to write: a full file system, a quota, a file-size limit (ulimit -f). */
const NO_ROOM_ERRNOS = new Set(['ENOSPC', 'EFBIG', 'EDQUOT']);

/** A local file that could not be written or read, `what` saying which and what for. */
export function fileError(err: unknown, what: string): ReconError {
  if (err instanceof ReconError) return err;
  const code = systemErrorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const hint = code !== null && NO_ROOM_ERRNOS.has(code) ? ' (no room left: the file system is full, or over a quota or file-size limit)' : '';
  return new ReconError('FILESYSTEM', `${what}: ${message}${hint}`, { cause: err, facts: { errno: code ?? undefined } });
}

/** Turns anything thrown into a ReconError, keeping the original as `cause`. */
export function coerceError(err: unknown): ReconError {
  if (err instanceof ReconError) return err;
  if (err instanceof Error) {
    const state = sqlState(err);
    // Checked first: 57P01-57P03 (shutdown, crash) and class 08 (connection exception) are
    // SQLSTATEs too, but what a person needs to read is that the connection went away.
    if (state !== null && /^(57P0[1-3]|08[0-9A-Z]{3})$/.test(state)) {
      return new ReconError('DATABASE', `database connection lost (${state}): ${err.message}`, { cause: err });
    }
    if (state !== null) return new ReconError('DATABASE', `database error ${state}: ${err.message}`, { cause: err });
    const errno = systemErrorCode(err);
    if (errno !== null && CONNECTION_ERRNOS.has(errno)) {
      return new ReconError('DATABASE', `database connection lost (${errno}): ${err.message}`, { cause: err });
    }
    if (errno !== null) {
      const path = (err as { path?: unknown }).path;
      return fileError(err, typeof path === 'string' ? `local file ${path}` : 'local file');
    }
    return new ReconError('INTERNAL', err.message, { cause: err });
  }
  return new ReconError('INTERNAL', String(err));
}
