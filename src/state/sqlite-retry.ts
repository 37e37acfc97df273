/**
 * What a state connection does when SQLite fails. Lock contention (SQLITE_BUSY, SQLITE_LOCKED),
 * WAL recovery by another connection and transient I/O errors are waited out and retried with
 * backoff; a persistent failure (retries exhausted, disk full, read-only or damaged state)
 * becomes E_STATE_IO naming the state folder. Everything is synchronous, like better-sqlite3:
 * a retry blocks the thread it runs on. Loaded by the encode workers too: imports no zod.
 */
import * as fs from 'node:fs';
import type Database from 'better-sqlite3';
import { ClfsError } from '../errors/index.js';
import type { FaultInjector, StateFaultOp } from './state-faults.js';

export interface StateRetryPolicy {
  /**
   * SQLite's busy timeout on every connection: how long one statement waits for a lock another
   * connection holds before failing with SQLITE_BUSY. A slow disk makes others hold locks longer.
   */
  busyTimeoutMs: number;
  /** the first wait after a transient failure; doubled on each further failure */
  firstDelayMs: number;
  maxDelayMs: number;
  /** a failure still transient this long after it first occurred is given up on (E_STATE_IO) */
  totalMs: number;
}

export const DEFAULT_STATE_RETRY: Readonly<StateRetryPolicy> = { busyTimeoutMs: 10_000, firstDelayMs: 50, maxDelayMs: 2000, totalMs: 60_000 };

/** One transient failure about to be retried (wired by the caller to its log). */
export interface StateRetryEvent {
  dir: string;
  what: 'open' | 'transaction' | 'statement';
  code: string;
  message: string;
  /** 1 for the first retry */
  attempt: number;
  delayMs: number;
  /** since the failure first occurred */
  elapsedMs: number;
}
export type StateRetryListener = (event: StateRetryEvent) => void;

/**
 * Codes worth waiting out. Lock contention and another connection's WAL recovery always pass.
 * Of the I/O errors, those a flaky or network disk produces once and not again (read, write,
 * sync, lock and shared-memory calls that failed); not those that mean damage (IOERR_DATA,
 * IOERR_CORRUPTFS), a replaced file (IOERR_VNODE), no memory or a misconfigured system.
 * SQLITE_READONLY_RECOVERY: a reader without write access to the -shm met a WAL that needs
 * recovery, which the writer does.
 */
const TRANSIENT = new Set([
  'SQLITE_BUSY', 'SQLITE_BUSY_RECOVERY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_TIMEOUT',
  'SQLITE_LOCKED', 'SQLITE_LOCKED_SHAREDCACHE',
  'SQLITE_PROTOCOL', 'SQLITE_READONLY_RECOVERY',
  'SQLITE_IOERR', 'SQLITE_IOERR_READ', 'SQLITE_IOERR_SHORT_READ', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_FSYNC',
  'SQLITE_IOERR_DIR_FSYNC', 'SQLITE_IOERR_TRUNCATE', 'SQLITE_IOERR_FSTAT', 'SQLITE_IOERR_UNLOCK',
  'SQLITE_IOERR_RDLOCK', 'SQLITE_IOERR_LOCK', 'SQLITE_IOERR_CHECKRESERVEDLOCK', 'SQLITE_IOERR_CLOSE',
  'SQLITE_IOERR_DIR_CLOSE', 'SQLITE_IOERR_SHMOPEN', 'SQLITE_IOERR_SHMSIZE', 'SQLITE_IOERR_SHMLOCK',
  'SQLITE_IOERR_SHMMAP', 'SQLITE_IOERR_SEEK', 'SQLITE_IOERR_MMAP', 'SQLITE_IOERR_ACCESS',
  'SQLITE_IOERR_DELETE', 'SQLITE_IOERR_IN_PAGE',
]);

export type StateFailure = 'transient' | 'full' | 'readonly' | 'corrupt' | 'fatal';

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A failure of SQLite itself (better-sqlite3's SqliteError), as opposed to one of the caller's code. */
export function isSqliteFailure(err: unknown): boolean {
  return err instanceof Error && codeOf(err)?.startsWith('SQLITE_') === true;
}

/** Whether the folder a writer needs is writable: 'readonly', 'gone' or undefined (it is). */
function probeFolder(folder: string): 'readonly' | 'gone' | undefined {
  try {
    fs.accessSync(folder, fs.constants.W_OK);
    return undefined;
  } catch (probe) {
    const c = codeOf(probe);
    return c === 'ENOENT' || c === 'ENOTDIR' ? 'gone' : 'readonly';
  }
}

/**
 * How a failure is treated. `writableFolder`: the state folder of a writing connection, probed
 * when an I/O error may really be a file system gone read-only or a folder removed (SQLite
 * reports EROFS on write as SQLITE_IOERR_WRITE, and a read-only file system at open as
 * SQLITE_CANTOPEN, since the -wal and -shm files cannot be created), which no retry fixes.
 */
export function classifyStateFailure(err: unknown, writableFolder?: string): StateFailure {
  const code = codeOf(err) ?? '';
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return 'full';
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' || code === 'SQLITE_IOERR_DATA' || code === 'SQLITE_IOERR_CORRUPTFS') return 'corrupt';
  if (code.startsWith('SQLITE_READONLY') && code !== 'SQLITE_READONLY_RECOVERY') return 'readonly';
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return 'readonly';
  const probed = writableFolder !== undefined && (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN')) ? probeFolder(writableFolder) : undefined;
  if (probed === 'readonly') return 'readonly';
  if (probed === 'gone') return 'fatal';
  return TRANSIENT.has(code) ? 'transient' : 'fatal';
}

/**
 * The one-line E_STATE_IO for a failure no retry fixes; a run stopped by it resumes. `kind` when
 * the caller classified it already (with the probe), `exhaustedAfterMs` when retries ran out.
 */
export function stateIo(dir: string, err: unknown, how: { kind?: StateFailure; exhaustedAfterMs?: number } = {}): ClfsError {
  const code = codeOf(err);
  const text = (err as Error)?.message ?? String(err);
  const what = code !== undefined && !text.includes(code) ? `${text} (${code})` : text;
  const resume = 're-run the load (without --new) to resume';
  let message: string;
  if (how.exhaustedAfterMs !== undefined) {
    message = `state folder ${dir}: ${what}, still failing after ${Math.round(how.exhaustedAfterMs / 1000)} s of retries (another process may hold the state database, or its disk is failing); ${resume}`;
  } else {
    switch (how.kind ?? classifyStateFailure(err)) {
      case 'full':
        message = `state folder ${dir}: disk full; free space there and ${resume}`;
        break;
      case 'readonly':
        message = `state folder ${dir} is not writable (a read-only file system or permissions; SQLite: ${what}); make it writable and ${resume}`;
        break;
      case 'corrupt':
        message = `state folder ${dir}: the state database reads as damaged (${what}); ${resume}, and if it fails the same way, remove the folder and start again with --new`;
        break;
      default:
        message = `state folder ${dir}: ${what}; ${resume}`;
    }
  }
  return new ClfsError('E_STATE_IO', message, { subject: dir, cause: err });
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Block this thread (the state API is synchronous; so is SQLite's own busy wait). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * The retry policy, fault seam and error mapping of one connection. Statements go through
 * GuardedStatement, whose path without a failure is one try block (and one field test when a
 * fault plan is set): insertEntry runs once per scanned entry.
 */
export class ConnectionGuard {
  db: Database.Database | undefined;

  constructor(
    readonly dir: string,
    /** the state folder when this connection writes (probed on I/O errors), else undefined */
    readonly writableFolder: string | undefined,
    readonly policy: Readonly<StateRetryPolicy>,
    public onRetry: StateRetryListener | undefined,
    readonly faults: FaultInjector | undefined,
  ) {}

  /** After `firstError`, run `again` until it succeeds, or the failure is not transient, or time is up. */
  retry<T>(what: StateRetryEvent['what'], firstError: unknown, again: () => T): T {
    let err = firstError;
    const since = Date.now();
    let delay = this.policy.firstDelayMs;
    for (let attempt = 1; ; attempt += 1) {
      // the caller's own errors (a ClfsError, a bug) are not the state store's to handle
      if (!isSqliteFailure(err)) throw err;
      const kind = classifyStateFailure(err, this.writableFolder);
      if (kind !== 'transient') throw stateIo(this.dir, err, { kind });
      const elapsed = Date.now() - since;
      if (elapsed + delay > this.policy.totalMs) throw stateIo(this.dir, err, { exhaustedAfterMs: elapsed });
      this.onRetry?.({ dir: this.dir, what, code: codeOf(err)!, message: (err as Error).message, attempt, delayMs: delay, elapsedMs: elapsed });
      sleepSync(delay);
      delay = Math.min(delay * 2, this.policy.maxDelayMs);
      try {
        return again();
      } catch (next) {
        err = next;
      }
    }
  }

  attempt<T>(what: StateRetryEvent['what'], fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      return this.retry(what, err, fn);
    }
  }

  prepare(sql: string): GuardedStatement {
    const db = this.db!;
    try {
      return new GuardedStatement(this, db.prepare(sql));
    } catch (err) {
      // inside a transaction the transaction is what is retried
      if (db.inTransaction) throw err;
      return this.retry('statement', err, () => new GuardedStatement(this, db.prepare(sql)));
    }
  }

  exec(sql: string): void {
    const db = this.db!;
    const once = () => {
      this.faults?.hit('write');
      db.exec(sql);
    };
    try {
      once();
    } catch (err) {
      this.statementFailed(err, db, 'write', once);
    }
  }

  /**
   * Run `fn` in one IMMEDIATE transaction, again from the start after a transient failure.
   * IMMEDIATE takes the write lock at BEGIN, where SQLite's busy timeout applies: a deferred
   * transaction that reads first fails at its first write with SQLITE_BUSY at once, without
   * waiting, whenever another connection holds the lock.
   */
  tx<T>(fn: () => T): T {
    const db = this.db!;
    // nested: a savepoint; a failure goes up to the outermost transaction, which runs it all again
    if (db.inTransaction) return db.transaction(fn)();
    const faults = this.faults;
    const body = faults === undefined ? fn : () => {
      const result = fn();
      faults.hit('commit');
      return result;
    };
    const run = db.transaction(body).immediate;
    const mark = faults?.mark();
    try {
      return run();
    } catch (err) {
      return this.retry('transaction', err, () => {
        if (mark !== undefined) faults!.rewind(mark);
        // better-sqlite3 rolls back when it can; a failed rollback leaves it to us
        if (db.inTransaction) db.exec('ROLLBACK');
        return run();
      });
    }
  }

  /** A statement failed: inside a transaction the transaction retries; alone, the statement does. */
  statementFailed<T>(err: unknown, db: Database.Database, op: StateFaultOp, once: () => T): T {
    if (db.inTransaction) throw err;
    return this.retry('statement', err, () => {
      this.faults?.rewind(op);
      return once();
    });
  }
}

/** A prepared statement whose failures follow the connection's guard. */
export class GuardedStatement {
  private readonly op: StateFaultOp;

  constructor(
    private readonly guard: ConnectionGuard,
    readonly inner: Database.Statement,
  ) {
    this.op = inner.reader ? 'read' : 'write';
  }

  // Kept out of run/get/all: a closure there (capturing `this`) costs a context allocation on
  // every call, and `arguments` forwarded with apply instead of a rest parameter spares an array
  // (100k insertEntry calls: 7% more CPU than on the bare statement with those; now within noise).
  private failed(err: unknown, method: 'run' | 'get' | 'all', params: unknown[]): unknown {
    const again = Array.from(params);
    const fn = this.inner[method] as (...p: unknown[]) => unknown;
    return this.guard.statementFailed(err, this.inner.database, this.op, () => {
      this.guard.faults?.hit(this.op);
      return fn.apply(this.inner, again);
    });
  }

  raw(on = true): this {
    this.inner.raw(on);
    return this;
  }

  pluck(on = true): this {
    this.inner.pluck(on);
    return this;
  }

  run(...params: unknown[]): Database.RunResult;
  run(): Database.RunResult {
    // eslint-disable-next-line prefer-rest-params
    const params = arguments as unknown as unknown[];
    try {
      if (this.guard.faults !== undefined) this.guard.faults.hit(this.op);
      return this.inner.run.apply(this.inner, params);
    } catch (err) {
      return this.failed(err, 'run', params) as Database.RunResult;
    }
  }

  get(...params: unknown[]): unknown;
  get(): unknown {
    // eslint-disable-next-line prefer-rest-params
    const params = arguments as unknown as unknown[];
    try {
      if (this.guard.faults !== undefined) this.guard.faults.hit(this.op);
      return this.inner.get.apply(this.inner, params);
    } catch (err) {
      return this.failed(err, 'get', params);
    }
  }

  all(...params: unknown[]): unknown[];
  all(): unknown[] {
    // eslint-disable-next-line prefer-rest-params
    const params = arguments as unknown as unknown[];
    try {
      if (this.guard.faults !== undefined) this.guard.faults.hit(this.op);
      return this.inner.all.apply(this.inner, params);
    } catch (err) {
      return this.failed(err, 'all', params) as unknown[];
    }
  }
}
