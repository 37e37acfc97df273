/**
 * A read-only connection to a transfer's state, for the encode workers (WAL lets readers run
 * beside the main thread's writer). Loaded by a worker on its first range of small files only.
 */
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { SINGLE_OBJECT_ROWS_SQL, STATE_DB_FILE } from './rows.js';
import type { SingleObjectRow } from './rows.js';

export class StateReader {
  private readonly db: Database.Database;
  private readonly rows: Database.Statement;

  constructor(dir: string) {
    this.db = new Database(path.join(dir, STATE_DB_FILE), { readonly: true, fileMustExist: true });
    this.rows = this.db.prepare(SINGLE_OBJECT_ROWS_SQL);
  }

  singleObjectRows(firstId: number, lastId: number): SingleObjectRow[] {
    return this.rows.all(firstId, lastId) as SingleObjectRow[];
  }

  close(): void {
    this.db.close();
  }
}
