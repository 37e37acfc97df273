/**
 * The resume state of one copy shard (`clfsload copy`, src/copy): one SQLite file per shard (`copy-K-of-N.sqlite` in the
 * state folder), the model of `load`'s state. A row says an entry is done only after its
 * destination is complete (data written, owner and times set, closed), so a kill -9 anywhere
 * loses at most the last unflushed batch of rows; those entries are checked against the
 * destination again on the re-run (size + mtime), which also rewrites a file that was half written.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClfsError } from '../errors/index.js';

/**
 * 2: the source and destination are stored as their bytes (hex), so a path that is not UTF-8 is
 * told apart; a version-1 state (paths as strings) is read and upgraded when its strings are
 * those bytes, and refused with the fix (--new) when they are not (a name that lost bytes).
 */
export const COPY_STATE_VERSION = 2;

export interface DoneRow {
  kind: string;
  size: bigint;
  mtimeNs: bigint;
  status: 'done' | 'failed';
}

export interface PendingRow {
  path: Buffer;
  kind: string;
  size: bigint;
  mtimeNs: bigint;
  status: 'done' | 'failed';
  error?: string;
}

export interface StateIdentity {
  /** absolute paths, as bytes */
  source: Buffer;
  dest: Buffer;
  shard: string;
}

/** A path for a message: as it is when UTF-8, else each byte that is not as \xHH. */
function shown(b: Buffer): string {
  const text = b.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(b)) return text;
  let out = '';
  for (const c of b.toString('latin1')) out += c.charCodeAt(0) < 0x80 ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  return out;
}

export class CopyState {
  private readonly db: Database.Database;
  private pending: PendingRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly getStmt: Database.Statement;
  private readonly putStmt: Database.Statement;
  readonly file: string;
  readonly run: number;

  constructor(dir: string, shardName: string, identity: StateIdentity, fresh: boolean) {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new ClfsError('E_STATE_IO', `${dir}: cannot create the state folder (${(err as Error).message}); pass --state-dir DIR on a writable disk`, { subject: dir, cause: err });
    }
    this.file = path.join(dir, `copy-${shardName}.sqlite`);
    if (fresh) for (const f of [this.file, `${this.file}-wal`, `${this.file}-shm`]) fs.rmSync(f, { force: true });
    try {
      this.db = new Database(this.file);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS entries (
          path BLOB PRIMARY KEY, kind TEXT NOT NULL, size TEXT NOT NULL, mtime_ns TEXT NOT NULL,
          status TEXT NOT NULL, error TEXT, run INTEGER NOT NULL
        ) WITHOUT ROWID;`);
    } catch (err) {
      throw new ClfsError('E_STATE_CORRUPT', `${this.file}: cannot open the copy state (${(err as Error).message}); remove it or pass --new to start over`, { subject: this.file, cause: err });
    }
    const meta = new Map((this.db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string; value: string }>).map((r) => [r.key, r.value]));
    const version = meta.get('version');
    if (version !== undefined && Number(version) !== COPY_STATE_VERSION && Number(version) !== 1) {
      this.db.close();
      throw new ClfsError('E_STATE_MISMATCH', `${this.file}: copy state version ${version}, this clfsload reads ${COPY_STATE_VERSION} (and 1); pass --new to start over`, { subject: this.file });
    }
    const mismatch = (k: string, was: string, now: string): never => {
      this.db.close();
      throw new ClfsError('E_STATE_MISMATCH', `${this.file}: this state is of another copy (${k} was ${was}, now ${now}); pass --state-dir DIR for a new copy, or --new to start over`, { subject: this.file });
    };
    for (const k of ['source', 'dest'] as const) {
      const now = identity[k];
      const hex = meta.get(`${k}_bytes`);
      const was = meta.get(k);
      // version 1 kept the path as a string: the same path when its UTF-8 is these bytes
      const wasBytes = hex !== undefined ? Buffer.from(hex, 'hex') : was !== undefined ? Buffer.from(was, 'utf8') : undefined;
      if (wasBytes !== undefined && !wasBytes.equals(now)) {
        if (hex === undefined && was!.includes('\ufffd')) {
          this.db.close();
          throw new ClfsError('E_STATE_MISMATCH', `${this.file}: this version-1 state names the ${k} as ${was}, which lost the bytes that are not UTF-8 (now ${shown(now)}); pass --new to start over (the destination is checked, not wiped)`, { subject: this.file });
        }
        mismatch(k, hex !== undefined ? shown(wasBytes) : was!, shown(now));
      }
    }
    const wasShard = meta.get('shard');
    if (wasShard !== undefined && wasShard !== identity.shard) mismatch('shard', wasShard, identity.shard);
    this.run = Number(meta.get('run') ?? '0') + 1;
    const setMeta = this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
    this.db.transaction(() => {
      setMeta.run('version', String(COPY_STATE_VERSION));
      for (const k of ['source', 'dest'] as const) {
        setMeta.run(k, shown(identity[k]));
        setMeta.run(`${k}_bytes`, identity[k].toString('hex'));
      }
      setMeta.run('shard', identity.shard);
      setMeta.run('run', String(this.run));
    })();
    this.getStmt = this.db.prepare('SELECT kind, size, mtime_ns AS mtimeNs, status FROM entries WHERE path = ?');
    this.putStmt = this.db.prepare('INSERT OR REPLACE INTO entries (path, kind, size, mtime_ns, status, error, run) VALUES (?, ?, ?, ?, ?, ?, ?)');
  }

  get(rel: Buffer): DoneRow | undefined {
    const r = this.getStmt.get(rel) as { kind: string; size: string; mtimeNs: string; status: 'done' | 'failed' } | undefined;
    if (r === undefined) return undefined;
    return { kind: r.kind, size: BigInt(r.size), mtimeNs: BigInt(r.mtimeNs), status: r.status };
  }

  /** Queued, written in one transaction every 200 ms or 2,000 rows. */
  put(row: PendingRow): void {
    this.pending.push(row);
    if (this.pending.length >= 2000) this.flush();
    else if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), 200);
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const rows = this.pending;
    this.pending = [];
    try {
      this.db.transaction(() => {
        for (const r of rows) this.putStmt.run(r.path, r.kind, r.size.toString(), r.mtimeNs.toString(), r.status, r.error ?? null, this.run);
      })();
    } catch (err) {
      throw new ClfsError('E_STATE_IO', `${this.file}: cannot write the copy state (${(err as Error).message})`, { subject: this.file, cause: err });
    }
  }

  forget(rel: Buffer): void {
    this.flush();
    this.db.prepare('DELETE FROM entries WHERE path = ?').run(rel);
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}
