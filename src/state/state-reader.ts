/**
 * A read-only connection to a transfer's state, for the encode workers (WAL lets readers run
 * beside the main thread's writer). Loaded by a worker on its first range of small files only.
 *
 * Read-only (SQLITE_OPEN_READONLY) rather than a read-write connection with `PRAGMA
 * query_only`: SQLite still opens the -shm read-write for it, so in WAL mode it takes the same
 * locks and can even run WAL-index recovery itself; the read-only-only failures
 * (SQLITE_READONLY_RECOVERY, _CANTINIT) need a -shm it cannot write, which a writer in the
 * same folder and process rules out. And a read-only connection never writes the database, not
 * even the checkpoint a read-write one runs when it is the last to close. What it shares with
 * every connection is SQLITE_BUSY while another connection recovers the WAL or holds the lock a
 * reader briefly needs: the busy timeout and the retries of the guard cover open, prepare and
 * each query.
 */
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { PARENT_OF_ROWS_SQL, SINGLE_OBJECT_ROWS_SQL, STATE_DB_FILE, withParents } from './rows.js';
import type { EntryRow, SingleObjectRow } from './rows.js';
import { ConnectionGuard, DEFAULT_STATE_RETRY, GuardedStatement, stateIo } from './sqlite-retry.js';
import type { StateRetryListener, StateRetryPolicy } from './sqlite-retry.js';
import { FaultInjector } from './state-faults.js';
import type { StateFaultPlan } from './state-faults.js';
import { ClfsError } from '../errors/index.js';

export interface StateReaderOptions {
  /** the rules with `conn: 'reader'` apply; default: the plan in CLFSLOAD_STATE_FAULTS, if set */
  faults?: StateFaultPlan;
  retry?: Partial<StateRetryPolicy>;
  onRetry?: StateRetryListener;
}

export class StateReader {
  private readonly db: Database.Database;
  private readonly rows: GuardedStatement;
  private readonly parent: GuardedStatement;
  private readonly guard: ConnectionGuard;

  constructor(dir: string, options: StateReaderOptions = {}) {
    const file = path.join(dir, STATE_DB_FILE);
    const policy = { ...DEFAULT_STATE_RETRY, ...options.retry };
    const plan = options.faults;
    this.guard = new ConnectionGuard(dir, undefined, policy, options.onRetry, plan === undefined ? undefined : new FaultInjector(plan, 'reader'));
    const guard = this.guard;
    try {
      [this.db, this.rows, this.parent] = guard.attempt('open', () => {
        const db = new Database(file, { readonly: true, fileMustExist: true, timeout: policy.busyTimeoutMs });
        try {
          guard.db = db;
          // prepare reads the schema: the first read of the connection
          return [db, new GuardedStatement(guard, db.prepare(SINGLE_OBJECT_ROWS_SQL)), new GuardedStatement(guard, db.prepare(PARENT_OF_ROWS_SQL))] as const;
        } catch (err) {
          db.close();
          throw err;
        }
      });
    } catch (err) {
      if (err instanceof ClfsError) throw err;
      throw stateIo(dir, err);
    }
  }

  singleObjectRows(firstId: number, lastId: number): SingleObjectRow[] {
    return withParents(this.rows.all(firstId, lastId) as EntryRow[], (id) => this.parent.get(id) as { fh: Buffer; path: Buffer } | undefined);
  }

  close(): void {
    this.db.close();
    this.guard.faults?.close();
  }
}
