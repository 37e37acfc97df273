import Database from 'better-sqlite3';

/**
 * The names verify must check as hard links: every dirent that reaches an inode a second time,
 * and the first dirent of an inode that has (or whose source has) more than one name. A tree can
 * hold millions of them, so they live in a private temporary SQLite database (the empty file
 * name): SQLite keeps it in its page cache while it is small and writes it to an unlinked
 * temporary file past the cache size, so memory stays bounded (issue 11) and nothing is left on
 * disk even after a crash. The database is only opened at the first row: a tree without hard
 * links costs nothing.
 */

/** What the first visit of an inode found, for comparing its further names with the source. */
export interface StoredAttrs {
  btype: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  size: string;
  /** symlink target, hex */
  link?: string;
}

export interface LinkName {
  /** the container inode: its blob name */
  cont: string;
  path: string;
  /** the directory holding this dirent, hex of its handle */
  dir: string;
  /** the source entry's dev:ino, null without a source or when it is missing */
  src: string | null;
  /** the source entry's path, for a further name (compared at the end) */
  srcPath: Buffer | null;
}

export interface LinkFirst extends LinkName {
  /** the inode's nlink; -1 when its blob could not be read (already reported) */
  nlink: number;
  /** BACK, hex handles */
  back: string[];
  attrs: StoredAttrs | null;
  /** SHA-256 of the container content when it was hashed */
  sha: string | null;
}

export interface LinkRow {
  seq: number;
  cont: string;
  path: string;
  dir: string;
  src: string | null;
  srcPath: Buffer | null;
  first: number;
  nlink: number | null;
  back: string | null;
  attrs: string | null;
  sha: string | null;
}

/** A further name joined with the first visit of its inode. */
export interface RepeatRow {
  path: string;
  cont: string;
  src: string | null;
  srcPath: Buffer;
  firstSrc: string | null;
  firstPath: string;
  attrs: string | null;
  sha: string | null;
}

/** Names of one source inode that reach one container inode. */
export interface SourceGroupRow {
  src: string;
  cont: string;
  n: number;
  seq: number;
}

const COMMIT_EVERY = 20_000;

export class LinkTable {
  #db: Database.Database | undefined;
  #insert: Database.Statement | undefined;
  #changes = 0;
  #rows = 0;
  #seq = 0;
  #indexed = false;

  get size(): number {
    return this.#rows;
  }

  addFirst(row: LinkFirst): void {
    this.#add(row, 1, row.nlink, row.back.join(','), row.attrs === null ? null : JSON.stringify(row.attrs), row.sha);
  }

  addRepeat(row: LinkName): void {
    this.#add(row, 0, null, null, null, null);
  }

  /** Every row, grouped by container inode, its first visit (when recorded) first. */
  *byInode(): Iterable<LinkRow> {
    if (!this.#ready()) return;
    yield* this.#db!.prepare(
      'SELECT seq, cont, path, dir, src, srcpath AS srcPath, first, nlink, back, attrs, sha FROM names ORDER BY cont, first DESC, seq',
    ).iterate() as Iterable<LinkRow>;
  }

  /** Further names with a source path, with what the first visit of their inode stored. */
  *repeats(): Iterable<RepeatRow> {
    if (!this.#ready()) return;
    yield* this.#db!.prepare(
      `SELECT r.path, r.cont, r.src, r.srcpath AS srcPath, f.src AS firstSrc, f.path AS firstPath, f.attrs, f.sha
         FROM names r JOIN names f ON f.cont = r.cont AND f.first = 1
        WHERE r.first = 0 AND r.srcpath IS NOT NULL AND f.nlink >= 0
        ORDER BY r.seq`,
    ).iterate() as Iterable<RepeatRow>;
  }

  /**
   * Per source inode (dev:ino) the container inodes its names reach, the one with most names
   * first; names of unreadable inodes are left out (already reported).
   */
  *sourceGroups(): Iterable<SourceGroupRow> {
    if (!this.#ready()) return;
    yield* this.#db!.prepare(
      `SELECT src, cont, COUNT(*) AS n, MIN(seq) AS seq FROM names
        WHERE src IS NOT NULL AND cont NOT IN (SELECT cont FROM names WHERE first = 1 AND nlink < 0)
        GROUP BY src, cont ORDER BY src, n DESC, seq`,
    ).iterate() as Iterable<SourceGroupRow>;
  }

  /** The source inode most names of container inode `cont` have (the earliest on a tie), with its first path. */
  mainSourceOf(cont: string): { src: string; path: string } | undefined {
    if (!this.#ready()) return undefined;
    const row = this.#db!.prepare(
      'SELECT src, COUNT(*) AS n, MIN(seq) AS s FROM names WHERE cont = ? AND src IS NOT NULL GROUP BY src ORDER BY n DESC, s LIMIT 1',
    ).get(cont) as { src: string } | undefined;
    if (row === undefined) return undefined;
    return { src: row.src, path: this.pathsOf(row.src, cont, 1)[0]! };
  }

  /** Names of container inode `cont` whose source entry is another inode than `src`, in visit order. */
  pathsNotOf(cont: string, src: string, limit: number): string[] {
    if (!this.#ready()) return [];
    const rows = this.#db!.prepare('SELECT path FROM names WHERE cont = ? AND src IS NOT NULL AND src <> ? ORDER BY seq LIMIT ?').all(cont, src, limit) as Array<{ path: string }>;
    return rows.map((r) => r.path);
  }

  /** Paths of the names of source inode `src` that reach container inode `cont`, in visit order. */
  pathsOf(src: string, cont: string, limit: number): string[] {
    if (!this.#ready()) return [];
    const rows = this.#db!.prepare('SELECT path FROM names WHERE src = ? AND cont = ? ORDER BY seq LIMIT ?').all(src, cont, limit) as Array<{ path: string }>;
    return rows.map((r) => r.path);
  }

  close(): void {
    if (this.#db?.inTransaction) this.#db.exec('ROLLBACK');
    this.#db?.close();
    this.#db = undefined;
  }

  #add(row: LinkName, first: number, nlink: number | null, back: string | null, attrs: string | null, sha: string | null): void {
    if (this.#db === undefined) this.#open();
    this.#insert!.run(this.#seq++, row.cont, row.path, row.dir, row.src, row.srcPath, first, nlink, back, attrs, sha);
    this.#rows++;
    if (++this.#changes >= COMMIT_EVERY) {
      this.#changes = 0;
      this.#db!.exec('COMMIT; BEGIN');
    }
  }

  #open(): void {
    const db = new Database('');
    // a scratch database: no journal, no syncs, a bounded page cache, one long transaction
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -16384');
    db.exec(`CREATE TABLE names (
      seq INTEGER PRIMARY KEY, cont TEXT NOT NULL, path TEXT NOT NULL, dir TEXT NOT NULL, src TEXT, srcpath BLOB,
      first INTEGER NOT NULL, nlink INTEGER, back TEXT, attrs TEXT, sha TEXT)`);
    this.#insert = db.prepare('INSERT INTO names VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    db.exec('BEGIN');
    this.#db = db;
  }

  /** Commits and builds the indexes the queries need (once the walk is over). */
  #ready(): boolean {
    if (this.#db === undefined) return false;
    if (!this.#indexed) {
      this.#indexed = true;
      if (this.#db.inTransaction) this.#db.exec('COMMIT');
      this.#db.exec('CREATE INDEX names_cont ON names (cont, first, seq); CREATE INDEX names_src ON names (src, cont, seq)');
    }
    return true;
  }
}
