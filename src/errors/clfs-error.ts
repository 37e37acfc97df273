/**
 * One error class for the whole library. Every failure a caller may branch on carries a `code`,
 * the `subject` it is about (a path, blob name or option), a one-line message that names the
 * subject and the fix, and whether the failure is `recoverable` (per-entry: counted, reported,
 * retried on resume) or fatal (the run stops).
 */
export const CLFS_ERROR_CODES = [
  // bad input from the user (options, paths): fatal, before anything is written
  'E_USAGE',
  'E_SOURCE_NOT_FOUND',
  // one source entry could not be read or encoded: recoverable
  'E_SOURCE_UNREADABLE',
  'E_SOURCE_CHANGED',
  'E_SOURCE_UNSUPPORTED',
  // the target
  'E_TARGET_NOT_FOUND',
  'E_TARGET_NOT_EMPTY',
  'E_TARGET_AUTH',
  'E_TARGET_SAS_EXPIRED',
  'E_TARGET_PERMISSION',
  'E_TARGET_CONTAINER_MISSING',
  'E_TARGET_THROTTLED',
  'E_TARGET_TRANSIENT',
  'E_TARGET_TIMEOUT',
  'E_TARGET_IO',
  // blob bytes that do not decode
  'E_FORMAT_CORRUPT',
  'E_FORMAT_UNSUPPORTED',
  'E_FORMAT_LIMIT',
  // a container whose load never finished: only the tmp root exists (resume the load)
  'E_NOT_FINALIZED',
  // local state
  'E_STATE_MISMATCH',
  'E_STATE_EXISTS',
  'E_STATE_CORRUPT',
  'E_STATE_IO',
  // a planned load's finalize while a shard has not finished (src/load/finalize-plan.ts)
  'E_SHARDS_INCOMPLETE',
  'E_ABORTED',
  'E_INTERNAL',
] as const;

export type ClfsErrorCode = (typeof CLFS_ERROR_CODES)[number];

const KNOWN_CODES: ReadonlySet<string> = new Set(CLFS_ERROR_CODES);

/**
 * Codes that stop a whole run (the state is kept, a re-run resumes) whatever the entry: the
 * credentials or the container are gone, the state cannot be written, or the loader is wrong.
 */
const RUN_FATAL_CODES: ReadonlySet<ClfsErrorCode> = new Set(['E_TARGET_AUTH', 'E_TARGET_SAS_EXPIRED', 'E_TARGET_PERMISSION', 'E_TARGET_CONTAINER_MISSING', 'E_STATE_IO', 'E_STATE_CORRUPT', 'E_INTERNAL']);

/**
 * The one place that decides whether a failure stops the run or fails one entry. A target I/O
 * failure stops the run unless the target marked it as about one blob (recoverable): a full
 * disk must stop the load at once, not fail every entry until the error budget runs out.
 */
export function stopsRun(err: unknown): boolean {
  if (!isClfsError(err)) return false;
  return RUN_FATAL_CODES.has(err.code) || (err.code === 'E_TARGET_IO' && !err.recoverable);
}

/** A ClfsError as plain data, to cross a thread or process boundary (structured clone drops the class). */
export interface ClfsErrorJson {
  code: ClfsErrorCode;
  message: string;
  subject?: string;
  recoverable?: boolean;
  retryable?: boolean;
  statusCode?: number;
  unreachable?: boolean;
}

const BRAND = Symbol.for('clfsload.ClfsError');

export interface ClfsErrorOptions {
  subject?: string;
  cause?: unknown;
  recoverable?: boolean;
  /** retrying the same request may succeed (transient target failures) */
  retryable?: boolean;
  /** seconds the service asked us to wait (Retry-After) */
  retryAfterSeconds?: number;
  /** HTTP status, when the failure came from a blob service */
  statusCode?: number;
  /** byte offset inside a blob, for E_FORMAT_* */
  offset?: number;
  /**
   * the request never reached the service (host name not resolved, connection refused, no
   * route): a retry wrapper tries only a few times, since a wrong URL or a down network does not
   * mend itself in a request's retry budget
   */
  unreachable?: boolean;
}

export class ClfsError extends Error {
  readonly code: ClfsErrorCode;
  readonly subject: string | undefined;
  readonly recoverable: boolean;
  readonly retryable: boolean;
  readonly retryAfterSeconds: number | undefined;
  readonly statusCode: number | undefined;
  readonly offset: number | undefined;
  readonly unreachable: boolean;
  readonly [BRAND] = true;

  constructor(code: ClfsErrorCode, message: string, options: ClfsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClfsError';
    this.code = code;
    this.subject = options.subject;
    this.recoverable = options.recoverable ?? false;
    this.retryable = options.retryable ?? false;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.statusCode = options.statusCode;
    this.offset = options.offset;
    this.unreachable = options.unreachable ?? false;
  }
}

/** The error as data (see ClfsErrorJson); anything else becomes E_INTERNAL with its message. */
export function errorToJson(err: unknown): ClfsErrorJson {
  if (isClfsError(err)) {
    return { code: err.code, message: err.message, subject: err.subject, recoverable: err.recoverable, retryable: err.retryable, statusCode: err.statusCode, unreachable: err.unreachable };
  }
  return { code: 'E_INTERNAL', message: (err as Error)?.message ?? String(err) };
}

/** Rebuild an error sent as data; an unknown code (another version of the sender) is E_INTERNAL. */
export function errorFromJson(data: ClfsErrorJson): ClfsError {
  const code: ClfsErrorCode = KNOWN_CODES.has(data.code) ? data.code : 'E_INTERNAL';
  return new ClfsError(code, data.message, { subject: data.subject, recoverable: data.recoverable, retryable: data.retryable, statusCode: data.statusCode, unreachable: data.unreachable });
}

/** Brand check that also works when two copies of the library are loaded. */
export function isClfsError(value: unknown): value is ClfsError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** Helper for decoders: a corrupt blob, naming the blob and the byte offset. */
export function formatCorrupt(blobName: string, offset: number, what: string): ClfsError {
  return new ClfsError('E_FORMAT_CORRUPT', `${blobName}: corrupt at byte ${offset}: ${what}`, {
    subject: blobName,
    offset,
  });
}
