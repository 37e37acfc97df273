import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';

/**
 * Every blob name of a container with its size and whether the walk reached it, for verify.
 * Names stay in memory up to `memoryLimit` (the common case: fast, nothing on disk); past that
 * they move to a temporary SQLite file, so checking a container of tens of millions of blobs
 * needs no more memory than a small one (issue 6: memory bounded).
 */
export class BlobNameSet {
  #memory: Map<string, number> | undefined = new Map();
  #db: Database.Database | undefined;
  #dir: string | undefined;
  #stmts: { insert: Database.Statement; get: Database.Statement; reach: Database.Statement; unreached: Database.Statement } | undefined;
  #pending: Array<[string, number]> = [];

  constructor(private readonly memoryLimit = 500_000) {}

  /** A listed blob (not reached yet). */
  add(name: string, sizeBytes: number): void {
    if (this.#memory !== undefined) {
      this.#memory.set(name, sizeBytes);
      if (this.#memory.size > this.memoryLimit) this.#spill();
      return;
    }
    this.#pending.push([name, sizeBytes]);
    if (this.#pending.length >= 10_000) this.#flush();
  }

  has(name: string): boolean {
    return this.#get(name) !== undefined;
  }

  /** Size of a listed blob, undefined when not listed. */
  sizeOf(name: string): number | undefined {
    const v = this.#get(name);
    return v === undefined ? undefined : v < 0 ? -v - 1 : v;
  }

  /** Marks a blob reached; returns true when it already was. */
  reach(name: string): boolean {
    const v = this.#get(name);
    if (v === undefined) return false;
    if (v < 0) return true;
    if (this.#memory !== undefined) this.#memory.set(name, -(v + 1));
    else {
      this.#stmts!.reach.run(name);
      this.#tick();
    }
    return false;
  }

  /** Listed blobs the walk never reached, in name order when on disk. */
  *unreached(): Iterable<string> {
    if (this.#memory !== undefined) {
      for (const [name, v] of this.#memory) if (v >= 0) yield name;
      return;
    }
    this.#flush();
    for (const row of this.#stmts!.unreached.iterate() as Iterable<{ name: string }>) yield row.name;
  }

  close(): void {
    if (this.#db?.inTransaction) this.#db.exec('ROLLBACK');
    this.#db?.close();
    if (this.#dir !== undefined) fs.rmSync(this.#dir, { recursive: true, force: true });
    this.#db = undefined;
  }

  /** value: size, or -(size + 1) once reached */
  #get(name: string): number | undefined {
    if (this.#memory !== undefined) return this.#memory.get(name);
    this.#flush();
    const row = this.#stmts!.get.get(name) as { v: number } | undefined;
    return row?.v;
  }

  #spill(): void {
    this.#dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-verify-'));
    const db = new Database(path.join(this.#dir, 'names.db'));
    // a scratch file: no journal, no syncs, a bounded page cache, and one long transaction
    // committed every few thousand changes (a commit per update cost ~100 µs each)
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -65536');
    db.exec('CREATE TABLE names (name TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID');
    this.#stmts = {
      insert: db.prepare('INSERT OR REPLACE INTO names (name, v) VALUES (?, ?)'),
      get: db.prepare('SELECT v FROM names WHERE name = ?'),
      reach: db.prepare('UPDATE names SET v = -(v + 1) WHERE name = ? AND v >= 0'),
      unreached: db.prepare('SELECT name FROM names WHERE v >= 0 ORDER BY name'),
    };
    this.#db = db;
    db.exec('BEGIN');
    this.#pending = [...this.#memory!];
    this.#memory = undefined;
    this.#flush();
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const rows = this.#pending;
    this.#pending = [];
    for (const [name, v] of rows) this.#stmts!.insert.run(name, v);
    this.#changes += rows.length;
    this.#tick();
  }

  #changes = 0;

  #tick(): void {
    if (++this.#changes < 20_000) return;
    this.#changes = 0;
    this.#db!.exec('COMMIT; BEGIN');
  }
}
