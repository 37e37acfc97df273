import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { ClfsError } from '../errors/index.js';
import { ADDED_COLUMNS, EntryState, FINISHED_SQL, LINK_OUTCOME_SQL, Phase, SCHEMA_SQL, STATE_FORMAT_VERSION, STORED_STATES } from './schema.js';
import { ENTRY_COLUMNS, PARENT_OF_ROWS_SQL, SINGLE_OBJECT_MAX_BYTES, SINGLE_OBJECT_ROWS_SQL, STATE_DB_FILE, withParents } from './rows.js';
import type { EntryRow, SingleObjectRow } from './rows.js';
import { ConnectionGuard, DEFAULT_STATE_RETRY, stateIo } from './sqlite-retry.js';
import type { GuardedStatement } from './sqlite-retry.js';
import type { StateRetryListener, StateRetryPolicy } from './sqlite-retry.js';
import { FaultInjector } from './state-faults.js';
import type { StateFaultPlan, StateFaultStats } from './state-faults.js';

/** Who this transfer is: checked on every resume so state is never applied to another load. */
export const TransferIdentitySchema = z.object({
  formatVersion: z.literal(STATE_FORMAT_VERSION),
  /** absolute source root, hex of its bytes */
  sourceRootHex: z.string(),
  /** target without credentials, e.g. "azure:acct/cont" or "file:/abs/dir" */
  targetKey: z.string(),
  compression: z.enum(['lz4', 'disabled']),
  preserveHardlinks: z.boolean(),
  containerId: z.number().int().min(1).max(0xffffffff),
  fsid: z.number().int().min(1).max(0xffffffff),
  bucketUuid: z.string().length(36),
  massUuid: z.string().length(36),
  wipeEpoch: z.string().length(36),
  /** key for the deterministic segment / indirect-block ids (hex, 32 bytes) */
  idSecretHex: z.string().length(64),
  createdAt: z.string(),
  /**
   * What the load leaves out (src/scan/filter.ts's FilterSpec): part of the transfer, so a resume
   * cannot change it silently. Absent in states written before filters: nothing was left out.
   */
  filters: z
    .object({ exclude: z.array(z.string()), include: z.array(z.string()), excludeIfPresent: z.array(z.string()), keepSnapshotDirs: z.boolean() })
    .optional(),
  /** a shard of a planned load: the version its in-progress hard-link inodes are written at (src/load/shard.ts) */
  inprogressVersion: z.number().int().min(10).optional(),
});
export type TransferIdentity = z.infer<typeof TransferIdentitySchema>;

const CountersSchema = z.object({ seqNext: z.number().int(), dmidCounter: z.number().int() });
export type Counters = z.infer<typeof CountersSchema>;

export type ChildRow = Pick<EntryRow, 'id' | 'name' | 'fh' | 'ftype' | 'state' | 'linkOf'>;

/**
 * One child row as the update's diff reads it (StateDb.diffChildren): a raw array, its columns at
 * the DIFF_CHILD indices. ino and rdev are the stored decimal text.
 */
export type DiffChild = [
  id: number, name: Buffer, ftype: number, state: number, mode: number, uid: number, gid: number, size: number,
  mtimeSec: number, mtimeNsec: number, ctimeSec: number, ctimeNsec: number, ino: string, rdev: string, nlink: number, linkOf: number | null, reconcile: number,
];

/** Where each column of a DiffChild is. */
export const DIFF_CHILD = {
  id: 0, name: 1, ftype: 2, state: 3, mode: 4, uid: 5, gid: 6, size: 7,
  mtimeSec: 8, mtimeNsec: 9, ctimeSec: 10, ctimeNsec: 11, ino: 12, rdev: 13, nlink: 14, linkOf: 15, reconcile: 16,
} as const;

/** Entries, file bytes, and the finished of each: the columns of the progress and summary totals. */
const TOTALS_SQL = `COUNT(*) AS n, COALESCE(SUM(CASE WHEN ftype = 2 AND link_of IS NULL THEN size ELSE 0 END), 0) AS bytes,
  COALESCE(SUM(CASE WHEN state IN (${FINISHED_SQL}) THEN 1 ELSE 0 END), 0) AS done,
  COALESCE(SUM(CASE WHEN state IN (${FINISHED_SQL}) AND ftype = 2 AND link_of IS NULL THEN size ELSE 0 END), 0) AS doneBytes`;

const DIFF_CHILDREN_SQL = `SELECT id, name, ftype, state, mode, uid, gid, size, mtime_s, mtime_ns, ctime_s, ctime_ns, ino, rdev, nlink, link_of, reconcile
  FROM entries WHERE parent_id = ? ORDER BY id`;

export type NewEntry = Omit<EntryRow, 'id' | 'pending' | 'plannedSegments' | 'writtenSizeBytes' | 'error' | 'gen'> & {
  /** why the entry failed, for a row inserted as ERROR (a child whose lstat failed) */
  error?: string | null;
};

export interface Completion {
  id: number;
  parentId: number | null;
  state: EntryState.DONE | EntryState.ERROR | EntryState.INPROGRESS;
  error?: string;
  writtenSize?: number;
  /** the entry may be the first name of a hard-linked inode: its other names finish with it */
  linked?: boolean;
}

/** Rows per statement of finishMany (3 parameters each). */
const FINISH_MANY = 64;

/** Stored, with no other names of a hard link to finish with it: recorded by finishMany. */
function isPlainCompletion(c: Completion): boolean {
  return c.state !== EntryState.ERROR && c.error === undefined && c.linked !== true;
}

/** How far a large file's segments are stored, and from which file (spec of the table: schema.ts). */
export interface SegmentProgress {
  id: number;
  fh: Buffer;
  sizeBytes: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** segments 1..segments are stored */
  segments: number;
}

export interface StateOpenOptions {
  create: boolean;
  /** failures to inject (tests; the CLI takes a plan from CLFSLOAD_STATE_FAULTS) */
  faults?: StateFaultPlan;
  /** busy timeout and retry backoff (DEFAULT_STATE_RETRY) */
  retry?: Partial<StateRetryPolicy>;
  /** told of each transient failure before it is retried */
  onRetry?: StateRetryListener;
}

/**
 * Typed access to the transfer's SQLite state. Every method is synchronous (better-sqlite3) and
 * every multi-row change is one transaction, so a kill at any instant leaves a consistent state.
 * A statement outside a transaction that fails transiently is retried alone, like `tx`.
 */
export class StateDb {
  readonly dir: string;
  private readonly db: Database.Database;
  private readonly guard: ConnectionGuard;
  private readonly stmts;
  /** finishMany's statements, by row count */
  private readonly finishManyStmts: Array<GuardedStatement | undefined> = [];
  /** statements of the update's queries, prepared once on first use (below) */
  private readonly updateStmts = new Map<string, GuardedStatement>();

  private constructor(dir: string, db: Database.Database, guard: ConnectionGuard) {
    this.dir = dir;
    this.db = db;
    this.guard = guard;
    const p = (sql: string) => guard.prepare(sql);
    this.stmts = {
      getMeta: p('SELECT value FROM meta WHERE key = ?'),
      setMeta: p('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      insert: p(`INSERT INTO entries (parent_id, name, path, ftype, fh, state, mode, uid, gid, size,
        mtime_s, mtime_ns, ctime_s, ctime_ns, atime_s, atime_ns, ino, dev, rdev, nlink, link_of, reconcile, error)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      get: p(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE id = ?`),
      root: p(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE parent_id IS NULL`),
      setState: p('UPDATE entries SET state = ? WHERE id = ?'),
      setWriting: p('UPDATE entries SET state = ?, planned_segments = ? WHERE id = ?'),
      // only an unfinished entry finishes: a completion recorded twice must not count twice
      finish: p(`UPDATE entries SET state = ?, error = ?, written_size = COALESCE(?, written_size) WHERE id = ? AND state NOT IN (${FINISHED_SQL})`),
      decParent: p('UPDATE entries SET pending = pending - ? WHERE id = ?'),
      readyIfDone: p(`UPDATE entries SET state = ${EntryState.READY} WHERE id = ? AND state = ${EntryState.SCANNED} AND pending <= 0`),
      // HELD children become visible; another name of a hard link follows its inode's outcome
      releaseHeld: p(`UPDATE entries SET state = CASE WHEN link_of IS NULL THEN ${EntryState.PENDING} ELSE ${LINK_OUTCOME_SQL} END
        WHERE parent_id = ? AND state = ${EntryState.HELD}`),
      countUnfinished: p(`SELECT COUNT(*) AS n FROM entries WHERE parent_id = ? AND state NOT IN (${FINISHED_SQL})`),
      finishScan: p('UPDATE entries SET state = ?, pending = ? WHERE id = ?'),
      waitingLinks: p(`SELECT parent_id, COUNT(*) AS n FROM entries WHERE link_of = ? AND state = ${EntryState.LINKWAIT} GROUP BY parent_id`),
      finishLinks: p(`UPDATE entries SET state = ?, error = ? WHERE link_of = ? AND state = ${EntryState.LINKWAIT}`),
      deleteChildren: p('DELETE FROM entries WHERE parent_id = ?'),
      reconcileAgain: p(`UPDATE entries SET state = ${EntryState.INPROGRESS} WHERE id = ? AND reconcile = 1 AND state IN (${EntryState.DONE}, ${EntryState.RECONCILED})`),
      reconcileLinkedFrom: p(`UPDATE entries SET state = ${EntryState.INPROGRESS} WHERE reconcile = 1 AND state IN (${EntryState.DONE}, ${EntryState.RECONCILED})
        AND id IN (SELECT link_of FROM entries WHERE parent_id = ? AND link_of IS NOT NULL)`),
      pendingFileIds: p(`SELECT id, (ftype != 2 OR size <= ${SINGLE_OBJECT_MAX_BYTES}) AS single FROM entries WHERE state = ${EntryState.PENDING} AND ftype != 1 AND id > ? ORDER BY id LIMIT ?`).raw(true),
      singleObjectRows: p(SINGLE_OBJECT_ROWS_SQL),
      parentOfRows: p(PARENT_OF_ROWS_SQL),
      pendingDirs: p(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE state = ${EntryState.PENDING} AND ftype = 1 AND id > ? ORDER BY id LIMIT ?`),
      readyDirs: p(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE state = ${EntryState.READY} AND id > ? ORDER BY id LIMIT ?`),
      writingEntries: p(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE state = ${EntryState.WRITING} ORDER BY id`),
      children: p('SELECT id, name, fh, ftype, state, link_of AS linkOf FROM entries WHERE parent_id = ? AND id > ? ORDER BY id LIMIT ?'),
      hasChildren: p('SELECT 1 FROM entries WHERE parent_id = ? LIMIT 1'),
      byState: p(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE state = ? AND id > ? ORDER BY id LIMIT ?`),
      countByState: p('SELECT state, COUNT(*) AS n, SUM(size) AS bytes FROM entries GROUP BY state'),
      countAll: p('SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN ftype = 2 AND link_of IS NULL THEN size ELSE 0 END), 0) AS bytes FROM entries'),
      summaryTotals: p(`SELECT ftype, state IN (${[...STORED_STATES].join(', ')}) AS stored, ${TOTALS_SQL} FROM entries GROUP BY 1, 2`),
      progressTotals: p(`SELECT ${TOTALS_SQL} FROM entries`),
      findInode: p('SELECT primary_id, links FROM inodes WHERE dev = ? AND ino = ? AND ftype = ?'),
      putInode: p('INSERT INTO inodes(dev, ino, ftype, primary_id, links) VALUES (?, ?, ?, ?, 1) ON CONFLICT(dev, ino, ftype) DO UPDATE SET primary_id = excluded.primary_id, links = 1'),
      bumpInode: p('UPDATE inodes SET links = links + 1 WHERE dev = ? AND ino = ? AND ftype = ?'),
      linksOf: p(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE link_of = ? ORDER BY id`),
      scanningDirs: p(`SELECT id FROM entries WHERE state = ${EntryState.SCANNING}`),
      errorsAfter: p(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE state = ${EntryState.ERROR} AND id > ? ORDER BY id LIMIT ?`),
      getProgress: p('SELECT id, fh, size AS sizeBytes, mtime_ns AS mtimeNs, ctime_ns AS ctimeNs, segments FROM segment_progress WHERE id = ?'),
      allProgress: p('SELECT id, fh, size AS sizeBytes, mtime_ns AS mtimeNs, ctime_ns AS ctimeNs, segments FROM segment_progress ORDER BY id'),
      setProgress: p(`INSERT INTO segment_progress(id, fh, size, mtime_ns, ctime_ns, segments) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET fh = excluded.fh, size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, segments = excluded.segments`),
      clearProgress: p('DELETE FROM segment_progress WHERE id = ?'),
      countErrors: p(`SELECT COUNT(*) AS n FROM entries WHERE state = ${EntryState.ERROR}`),
    };
  }

  /**
   * Open an existing state folder, or create one when `create` is set (refusing a folder holding
   * another transfer). Every statement waits out locks and transient I/O errors
   * (src/state/sqlite-retry.ts); what persists becomes E_STATE_IO.
   */
  static open(dir: string, options: StateOpenOptions): StateDb {
    const file = path.join(dir, STATE_DB_FILE);
    const exists = fs.existsSync(file);
    if (!exists && !options.create) {
      throw new ClfsError('E_STATE_CORRUPT', `no transfer state in ${dir}: start a new load with --new`, { subject: dir });
    }
    if (options.create) StateDb.refuseExisting(dir);
    const policy = { ...DEFAULT_STATE_RETRY, ...options.retry };
    const plan = options.faults;
    const guard = new ConnectionGuard(dir, dir, policy, options.onRetry, plan === undefined ? undefined : new FaultInjector(plan, 'main'));
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      return guard.attempt('open', () => {
        const db = new Database(file, { timeout: policy.busyTimeoutMs });
        try {
          db.pragma('journal_mode = WAL');
          db.pragma('synchronous = NORMAL');
          db.pragma('cache_size = -8000');
          db.exec(SCHEMA_SQL);
          for (const c of ADDED_COLUMNS) {
            const cols = db.prepare(`PRAGMA table_info(${c.table})`).all() as Array<{ name: string }>;
            if (!cols.some((x) => x.name === c.column)) db.exec(c.sql);
          }
          guard.db = db;
          return new StateDb(dir, db, guard);
        } catch (err) {
          db.close();
          throw err;
        }
      });
    } catch (err) {
      guard.faults?.close();
      if (err instanceof ClfsError) throw err;
      throw stateIo(dir, err);
    }
  }

  close(): void {
    if (!this.db.open) return;
    this.db.close();
    this.guard.faults?.close();
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  /** Told of each transient failure before it is retried (e.g. to write it to the run log). */
  get onRetry(): StateRetryListener | undefined {
    return this.guard.onRetry;
  }

  set onRetry(listener: StateRetryListener | undefined) {
    this.guard.onRetry = listener;
  }

  /** The fault plan in force (for the encode workers' StateReader), if any. */
  get faultPlan(): StateFaultPlan | undefined {
    return this.guard.faults?.plan;
  }

  /** Write, read and commit points reached so far; only counted while a fault plan is set (`{ rules: [] }` counts only). */
  get faultStats(): StateFaultStats | undefined {
    return this.guard.faults?.stats;
  }

  /** A new transfer may not take a state folder that holds one (E_STATE_EXISTS). */
  static refuseExisting(dir: string): void {
    if (StateDb.holdsTransfer(dir)) {
      throw new ClfsError('E_STATE_EXISTS', `state folder ${dir} already holds a transfer: resume it (run without --new) or remove the folder first`, { subject: dir });
    }
  }

  /**
   * Whether a state folder holds a transfer. A database without an identity is the shell left by
   * a run killed during INIT, before anything was written to the target: it can be started over.
   */
  static holdsTransfer(dir: string): boolean {
    const file = path.join(dir, STATE_DB_FILE);
    if (!fs.existsSync(file)) return false;
    try {
      const db = new Database(file, { readonly: true, timeout: DEFAULT_STATE_RETRY.busyTimeoutMs });
      try {
        const hasMeta = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
        return hasMeta && db.prepare("SELECT 1 FROM meta WHERE key = 'identity'").get() !== undefined;
      } finally {
        db.close();
      }
    } catch {
      return true;
    }
  }

  /**
   * Run `fn` in one transaction (IMMEDIATE: it holds the write lock from the start). After a
   * transient SQLite failure (a lock, a flaky disk: src/state/sqlite-retry.ts) the transaction
   * is rolled back and `fn` runs again from the start, with backoff, for up to a minute; a
   * failure that persists becomes E_STATE_IO naming the folder. So `fn` must be re-runnable:
   * whatever it changes outside the database (counters, stats, allocated ids, queues) is either
   * derived from what it reads inside the transaction or applied only after `tx` returns. Only
   * the attempt that commits returns. Errors thrown by `fn` itself (a ClfsError, a bug) roll
   * back and propagate unchanged, without a retry. A nested `tx` is a savepoint of the outer one,
   * which is what retries.
   */
  tx<T>(fn: () => T): T {
    return this.guard.tx(fn);
  }

  getMeta<T>(key: string, schema: z.ZodType<T>): T | undefined {
    const row = this.stmts.getMeta.get(key) as { value: string } | undefined;
    if (row === undefined) return undefined;
    const parsed = schema.safeParse(JSON.parse(row.value));
    if (!parsed.success) {
      throw new ClfsError('E_STATE_CORRUPT', `state folder ${this.dir}: stored ${key} is invalid (${parsed.error.issues[0]?.message}); remove the folder and start again with --new`, { subject: this.dir });
    }
    return parsed.data;
  }

  setMeta(key: string, value: unknown): void {
    this.stmts.setMeta.run(key, JSON.stringify(value));
  }

  get identity(): TransferIdentity | undefined {
    return this.getMeta('identity', TransferIdentitySchema);
  }

  get phase(): Phase {
    return this.getMeta('phase', z.nativeEnum(Phase)) ?? Phase.INIT;
  }

  setPhase(phase: Phase): void {
    this.tx(() => this.setMeta('phase', phase));
  }

  get counters(): Counters {
    return this.getMeta('counters', CountersSchema) ?? { seqNext: 1001, dmidCounter: 0 };
  }

  setCounters(c: Counters): void {
    this.setMeta('counters', c);
  }

  insertEntry(e: NewEntry): number {
    // positional, not named: binding 22 parameters by name took twice as long (20,000 rows:
    // 120 ms against 65 ms), once per scanned entry on the main thread
    const info = this.stmts.insert.run(
      e.parentId, e.name, e.path, e.ftype, e.fh, e.state, e.mode, e.uid, e.gid, e.sizeBytes,
      e.mtimeSec, e.mtimeNsec, e.ctimeSec, e.ctimeNsec, e.atimeSec, e.atimeNsec, e.ino, e.dev, e.rdev, e.nlink, e.linkOf, e.reconcile, e.error ?? null,
    );
    return Number(info.lastInsertRowid);
  }

  entry(id: number): EntryRow | undefined {
    return this.stmts.get.get(id) as EntryRow | undefined;
  }

  rootEntry(): EntryRow | undefined {
    return this.stmts.root.get() as EntryRow | undefined;
  }

  setState(id: number, state: EntryState): void {
    this.stmts.setState.run(state, id);
  }

  setWriting(id: number, plannedSegments: number): void {
    this.stmts.setWriting.run(EntryState.WRITING, plannedSegments, id);
  }

  /** How far the segments of a large file are stored (undefined: none recorded). */
  segmentProgress(id: number): SegmentProgress | undefined {
    const r = this.stmts.getProgress.get(id) as (Omit<SegmentProgress, 'mtimeNs' | 'ctimeNs'> & { mtimeNs: string; ctimeNs: string }) | undefined;
    return r === undefined ? undefined : { ...r, mtimeNs: BigInt(r.mtimeNs), ctimeNs: BigInt(r.ctimeNs) };
  }

  /** Every recorded segment progress (state check, tests). */
  allSegmentProgress(): SegmentProgress[] {
    const rows = this.stmts.allProgress.all() as Array<Omit<SegmentProgress, 'mtimeNs' | 'ctimeNs'> & { mtimeNs: string; ctimeNs: string }>;
    return rows.map((r) => ({ ...r, mtimeNs: BigInt(r.mtimeNs), ctimeNs: BigInt(r.ctimeNs) }));
  }

  /** Segments 1..p.segments of the file are durably stored (the caller made them durable first). */
  setSegmentProgress(p: SegmentProgress): void {
    this.tx(() => this.stmts.setProgress.run(p.id, p.fh, p.sizeBytes, p.mtimeNs.toString(), p.ctimeNs.toString(), p.segments));
  }

  /** The file's segments are no longer a prefix to continue from (it finished, or starts over). */
  clearSegmentProgress(id: number): void {
    this.tx(() => this.stmts.clearProgress.run(id));
  }

  /** A directory scan is complete: its held children become visible, and it waits for them. */
  finishScan(dirId: number): void {
    this.stmts.releaseHeld.run(dirId);
    const unfinished = (this.stmts.countUnfinished.get(dirId) as { n: number }).n;
    this.stmts.finishScan.run(unfinished === 0 ? EntryState.READY : EntryState.SCANNED, unfinished, dirId);
  }

  /**
   * A directory scan starts, or starts again, from a clean slate: every child row a previous
   * attempt left (held or not, other names of hard links included) is dropped in the same
   * transaction, so a scan is never trusted half done.
   */
  beginScan(dirId: number): void {
    this.dropChildren(dirId);
    this.stmts.setState.run(EntryState.SCANNING, dirId);
  }

  /**
   * A hard-linked inode whose names changed after it was reconciled goes back to INPROGRESS, so
   * RECONCILE writes its nlink and backpointers again. Call inside tx.
   */
  reconcileAgain(primaryId: number): void {
    this.stmts.reconcileAgain.run(primaryId);
  }

  /** Drop a directory's child rows and what the inode map held of them. Call inside tx. */
  dropChildren(dirId: number): number {
    // inodes that lose a name here must be reconciled again if they already were
    this.stmts.reconcileLinkedFrom.run(dirId);
    const removed = this.stmts.deleteChildren.run(dirId).changes;
    if (removed > 0) this.repairInodeMap();
    return removed;
  }

  /** The inode map derived again from the rows: no inode whose first name is gone, link counts counted. */
  repairInodeMap(): void {
    this.guard.exec('DELETE FROM inodes WHERE NOT EXISTS (SELECT 1 FROM entries WHERE entries.id = inodes.primary_id)');
    this.guard.exec('UPDATE inodes SET links = 1 + (SELECT COUNT(*) FROM entries WHERE entries.link_of = inodes.primary_id)');
  }

  /** Record finished entries and let their parents become ready; one transaction per batch. */
  complete(batch: readonly Completion[]): void {
    if (batch.length === 0) return;
    this.tx(() => this.completeInTx(batch));
  }

  /** complete() inside a transaction the caller holds (a scan failure and its cleanup are one). */
  completeInTx(batch: readonly Completion[]): void {
    // children of one directory usually finish together: one decrement per parent, not per child
    const perParent = new Map<number, number>();
    const count = (parentId: number, n: number) => perParent.set(parentId, (perParent.get(parentId) ?? 0) + n);
    // the plain ones (stored, no other names to finish with them) in statements of up to
    // FINISH_MANY rows: 4-7 us a row against 9-12 one by one (20,000 rows, 64 a transaction)
    const plain: Completion[] = [];
    const rest: Completion[] = [];
    for (const c of batch) (isPlainCompletion(c) ? plain : rest).push(c);
    for (let i = 0; i < plain.length; i += FINISH_MANY) {
      for (const parentId of this.finishMany(plain.slice(i, i + FINISH_MANY))) if (parentId !== null) count(parentId, 1);
    }
    for (const c of rest) {
      const changed = this.stmts.finish.run(c.state, c.error ?? null, c.writtenSize ?? null, c.id).changes;
      if (changed === 0) continue;
      if (c.parentId !== null) count(c.parentId, 1);
      if (c.linked || c.state === EntryState.ERROR) {
        const waiting = this.stmts.waitingLinks.all(c.id) as Array<{ parent_id: number; n: number }>;
        if (waiting.length === 0) continue;
        const failed = c.state === EntryState.ERROR;
        this.stmts.finishLinks.run(failed ? EntryState.ERROR : EntryState.DONE, failed ? `another name of an inode that failed: ${c.error ?? ''}` : null, c.id);
        for (const w of waiting) count(w.parent_id, w.n);
      }
    }
    for (const [parentId, n] of perParent) {
      this.stmts.decParent.run(n, parentId);
      this.stmts.readyIfDone.run(parentId);
    }
  }

  /** finish for many plain completions in one statement; the parents of the rows it changed (one per row). */
  private finishMany(part: readonly Completion[]): Array<number | null> {
    const n = part.length;
    let stmt = this.finishManyStmts[n];
    if (stmt === undefined) {
      stmt = this.guard
        .prepare(
          `UPDATE entries SET state = v.column2, error = NULL, written_size = COALESCE(v.column3, entries.written_size)
           FROM (VALUES ${Array.from({ length: n }, () => '(?, ?, ?)').join(', ')}) AS v
           WHERE entries.id = v.column1 AND entries.state NOT IN (${FINISHED_SQL}) RETURNING entries.parent_id`,
        )
        .pluck();
      this.finishManyStmts[n] = stmt;
    }
    const args: unknown[] = new Array(3 * n);
    for (let i = 0; i < n; i++) {
      const c = part[i]!;
      args[3 * i] = c.id;
      args[3 * i + 1] = c.state;
      args[3 * i + 2] = c.writtenSize ?? null;
    }
    return stmt.all(...args) as Array<number | null>;
  }

  /** A directory back to waiting, its count of unfinished children derived from the rows. */
  waitForChildren(dirId: number): void {
    const unfinished = (this.stmts.countUnfinished.get(dirId) as { n: number }).n;
    this.stmts.finishScan.run(unfinished === 0 ? EntryState.READY : EntryState.SCANNED, unfinished, dirId);
  }

  /**
   * A finished directory that must be written again (a child retried, a name added back): it
   * waits for its children like a scanned one. Its own name does not change, so its parent,
   * already written, need not be. Call inside tx; counts are derived afterwards (recountPending).
   */
  reopen(dirId: number): void {
    this.run(`UPDATE entries SET state = ${EntryState.SCANNED} WHERE id = ? AND ftype = 1 AND state IN (${EntryState.DONE}, ${EntryState.READY})`, dirId);
  }

  /** Make a directory's held children visible (finishScan's release, without its count). Call inside tx. */
  releaseHeld(dirId: number): void {
    this.stmts.releaseHeld.run(dirId);
  }

  /** How many directory segments a directory's objects were last written with (to delete extras on a redo). */
  setPlannedSegments(id: number, segments: number): void {
    this.tx(() => this.guard.prepare('UPDATE entries SET planned_segments = ? WHERE id = ?').run(segments, id));
  }

  /** An entry (and the other names of its inode) failed after it was finished: every name is left out and its directory written again. Call inside tx. */
  failFinishedInode(id: number, message: string): void {
    const row = this.entry(id)!;
    this.guard.prepare('UPDATE entries SET state = ?, error = ? WHERE id = ?').run(EntryState.ERROR, message, id);
    if (row.parentId !== null) this.reopen(row.parentId);
    for (const link of this.linksOf(id)) {
      this.guard.prepare('UPDATE entries SET state = ?, error = ? WHERE id = ?').run(EntryState.ERROR, `another name of an inode that failed: ${message}`, link.id);
      this.reopen(link.parentId!);
    }
  }

  /** A failed entry back to work in `state` (PENDING, READY, LINKWAIT or DONE), its error cleared. Call inside tx. */
  markForRetry(id: number, state: EntryState): void {
    this.guard.prepare('UPDATE entries SET state = ?, error = NULL WHERE id = ?').run(state, id);
  }

  /** A failed entry that failed again: its error, new. Call inside tx. */
  setError(id: number, message: string): void {
    this.guard.prepare('UPDATE entries SET error = ? WHERE id = ?').run(message, id);
  }

  /** Remove one row (a child whose lstat failed, replaced by the row of its new lstat). Call inside tx. */
  deleteEntry(id: number): void {
    this.guard.prepare('DELETE FROM entries WHERE id = ?').run(id);
  }

  /** Entries not yet finished for their directory (anything but DONE, ERROR, INPROGRESS, RECONCILED). */
  countUnfinished(): number {
    return (this.guard.prepare(`SELECT COUNT(*) AS n FROM entries WHERE state NOT IN (${FINISHED_SQL})`).get() as { n: number }).n;
  }

  /** Hard-linked inodes waiting for RECONCILE or CLEANUP. */
  countAwaitingReconcile(): number {
    return (this.guard.prepare(`SELECT COUNT(*) AS n FROM entries WHERE state IN (${EntryState.INPROGRESS}, ${EntryState.RECONCILED})`).get() as { n: number }).n;
  }

  /** A file's attributes read again from the source (it changed while it was read). */
  refreshAttributes(id: number, a: Pick<EntryRow, 'sizeBytes' | 'mode' | 'uid' | 'gid' | 'mtimeSec' | 'mtimeNsec' | 'ctimeSec' | 'ctimeNsec' | 'atimeSec' | 'atimeNsec' | 'plannedSegments'>): void {
    this.tx(() =>
      this.guard
        .prepare('UPDATE entries SET size = ?, mode = ?, uid = ?, gid = ?, mtime_s = ?, mtime_ns = ?, ctime_s = ?, ctime_ns = ?, atime_s = ?, atime_ns = ?, planned_segments = ? WHERE id = ?')
        .run(a.sizeBytes, a.mode, a.uid, a.gid, a.mtimeSec, a.mtimeNsec, a.ctimeSec, a.ctimeNsec, a.atimeSec, a.atimeNsec, a.plannedSegments, id),
    );
  }

  /** Whether a directory has child rows (it was scanned). */
  hasChildren(dirId: number): boolean {
    return this.stmts.hasChildren.get(dirId) !== undefined;
  }

  /** Pending non-directories after a cursor: ids only, and whether each is a one-object entry. */
  pendingFileIds(afterId: number, limit: number): Array<[number, number]> {
    return this.stmts.pendingFileIds.all(afterId, limit) as Array<[number, number]>;
  }

  singleObjectRows(firstId: number, lastId: number): SingleObjectRow[] {
    return withParents(this.stmts.singleObjectRows.all(firstId, lastId) as EntryRow[], (id) => this.stmts.parentOfRows.get(id) as { fh: Buffer; path: Buffer } | undefined);
  }

  pendingDirs(afterId: number, limit: number): EntryRow[] {
    return this.stmts.pendingDirs.all(afterId, limit) as EntryRow[];
  }

  readyDirs(afterId: number, limit: number): EntryRow[] {
    return this.stmts.readyDirs.all(afterId, limit) as EntryRow[];
  }

  writingEntries(): EntryRow[] {
    return this.stmts.writingEntries.all() as EntryRow[];
  }

  /** A directory's children in scan order: only what a dirent needs. */
  children(dirId: number, afterId: number, limit: number): ChildRow[] {
    return this.stmts.children.all(dirId, afterId, limit) as ChildRow[];
  }

  entriesInState(state: EntryState, afterId: number, limit: number): EntryRow[] {
    return this.stmts.byState.all(state, afterId, limit) as EntryRow[];
  }

  linksOf(primaryId: number): EntryRow[] {
    return this.stmts.linksOf.all(primaryId) as EntryRow[];
  }

  findInode(dev: string, ino: string, ftype: number): { primary_id: number; links: number } | undefined {
    return this.stmts.findInode.get(dev, ino, ftype) as { primary_id: number; links: number } | undefined;
  }

  putInode(dev: string, ino: string, ftype: number, primaryId: number): void {
    this.stmts.putInode.run(dev, ino, ftype, primaryId);
  }

  bumpInode(dev: string, ino: string, ftype: number): void {
    this.stmts.bumpInode.run(dev, ino, ftype);
  }

  /** Directories whose scan was interrupted: every child row is dropped so the scan is redone from a clean slate. */
  resetInterruptedScans(): number {
    const dirs = this.stmts.scanningDirs.all() as Array<{ id: number }>;
    this.tx(() => {
      for (const { id } of dirs) {
        this.stmts.deleteChildren.run(id);
        this.stmts.setState.run(EntryState.PENDING, id);
      }
      if (dirs.length > 0) this.repairInodeMap();
    });
    return dirs.length;
  }

  /**
   * Derive every waiting directory's count of unfinished children from the rows, and its state
   * from the count (counts are only decremented during a run; a resume never trusts them).
   * Returns how many directories had a wrong count.
   */
  recountPending(): number {
    const waiting = `ftype = 1 AND state IN (${EntryState.SCANNED}, ${EntryState.READY})`;
    const actual = `(SELECT COUNT(*) FROM entries c WHERE c.parent_id = entries.id AND c.state NOT IN (${FINISHED_SQL}))`;
    let wrong = 0;
    this.tx(() => {
      wrong = (this.guard.prepare(`SELECT COUNT(*) AS n FROM entries WHERE ${waiting} AND pending != ${actual}`).get() as { n: number }).n;
      this.guard.exec(`UPDATE entries SET pending = ${actual} WHERE ${waiting}`);
      this.guard.exec(`UPDATE entries SET state = CASE WHEN pending > 0 THEN ${EntryState.SCANNED} ELSE ${EntryState.READY} END WHERE ${waiting}`);
    });
    return wrong;
  }

  errorsAfter(afterId: number, limit: number): EntryRow[] {
    return this.stmts.errorsAfter.all(afterId, limit) as EntryRow[];
  }

  errorCount(): number {
    return (this.stmts.countErrors.get() as { n: number }).n;
  }

  totals(): { entries: number; fileBytes: number } {
    const r = this.stmts.countAll.get() as { n: number; bytes: number };
    return { entries: r.n, fileBytes: r.bytes };
  }

  /**
   * Every entry and file byte of the transfer, and those finished (stored or failed), in one pass:
   * what progress counts done against total, resumed parts included.
   */
  progressTotals(): { entries: number; fileBytes: number; doneEntries: number; doneFileBytes: number } {
    const r = this.stmts.progressTotals.get() as { n: number; bytes: number; done: number; doneBytes: number };
    return { entries: r.n, fileBytes: r.bytes, doneEntries: r.done, doneFileBytes: r.doneBytes };
  }

  /**
   * progressTotals, and the stored entries (names) by ftype (what the container holds), in one
   * pass over the rows: the summary of a run wants both, and each pass reads every row (a tenth
   * of a second at 200,000 entries).
   */
  summaryTotals(): { entries: number; fileBytes: number; doneEntries: number; doneFileBytes: number; stored: Map<number, number> } {
    const rows = this.stmts.summaryTotals.all() as Array<{ ftype: number; stored: number; n: number; bytes: number; done: number; doneBytes: number }>;
    const t = { entries: 0, fileBytes: 0, doneEntries: 0, doneFileBytes: 0, stored: new Map<number, number>() };
    for (const r of rows) {
      t.entries += r.n;
      t.fileBytes += r.bytes;
      t.doneEntries += r.done;
      t.doneFileBytes += r.doneBytes;
      if (r.stored === 1) t.stored.set(r.ftype, (t.stored.get(r.ftype) ?? 0) + r.n);
    }
    return t;
  }

  countsByState(): Map<EntryState, { n: number; bytes: number }> {
    const rows = this.stmts.countByState.all() as Array<{ state: number; n: number; bytes: number }>;
    return new Map(rows.map((r) => [r.state as EntryState, { n: r.n, bytes: r.bytes ?? 0 }]));
  }

  // ---- load --update (src/load/update.ts): the diff's changes, the blobs it will delete, the inodes whose attributes it patches

  /** Whether a finalize of this transfer put problems.txt into the container (a later clean finalize deletes it). */
  get problemsUploaded(): boolean {
    return this.getMeta('problemsUploaded', z.boolean()) === true;
  }

  setProblemsUploaded(uploaded: boolean): void {
    this.setMeta('problemsUploaded', uploaded);
  }

  /** Where an update stands: 'scan' (comparing; the container unchanged or its root moved to tmp), 'write' (the load's phases at work). */
  get updateStage(): 'scan' | 'write' | undefined {
    return this.getMeta('update', z.enum(['scan', 'write']));
  }

  setUpdateStage(stage: 'scan' | 'write' | undefined): void {
    this.tx(() => {
      if (stage !== undefined) return this.setMeta('update', stage);
      this.deleteMeta('update');
      this.deleteMeta('updateCheck');
      this.exec('DELETE FROM update_rewrites');
      // what the rebuild listed is no longer the whole container once an update wrote to it:
      // later updates check the container against the rows, as for a load's own state
      this.deleteMeta('rebuilt');
    });
  }

  /**
   * The check that the container holds only what clfsload wrote, while it is still to pass: the
   * inode count the listing is compared with, taken before the diff changed any row (the check
   * runs beside the diff, src/load/update.ts compareChecked). Undefined: no check is pending.
   */
  get pendingUpdateCheck(): number | undefined {
    return this.getMeta('updateCheck', z.number().int().min(0));
  }

  setPendingUpdateCheck(expectedInodes: number | undefined): void {
    this.tx(() => (expectedInodes === undefined ? this.deleteMeta('updateCheck') : this.setMeta('updateCheck', expectedInodes)));
  }

  /**
   * An entry an update writes again whose old object stays in place until then (same name): its
   * directory, which names it, is not unfinished for it (the state check leaves that directory
   * alone). Call inside tx.
   */
  markRewrite(id: number): void {
    this.updateStmt('INSERT OR IGNORE INTO update_rewrites(entry_id) VALUES (?)').run(id);
  }

  /** Whether this state was rebuilt from the container (the load's own state was not there). */
  get isRebuilt(): boolean {
    return this.getMeta('rebuilt', z.boolean()) ?? false;
  }

  deleteMeta(key: string): void {
    this.run('DELETE FROM meta WHERE key = ?', key);
  }

  private updateStmt(sql: string, raw = false): GuardedStatement {
    let s = this.updateStmts.get(sql);
    if (s === undefined) {
      s = this.guard.prepare(sql);
      if (raw) s.raw(true);
      this.updateStmts.set(sql, s);
    }
    return s;
  }

  /**
   * What the update's diff compares of a directory's children, in scan order: one indexed query
   * per directory, each row a raw array (DIFF_CHILD columns), no row objects (building them was
   * most of the diff's cost). A row that differs is read whole with entry().
   */
  diffChildren(dirId: number): DiffChild[] {
    return this.updateStmt(DIFF_CHILDREN_SQL, true).all(dirId) as DiffChild[];
  }

  /**
   * The inode map after rows were removed (inside the caller's transaction): the inodes whose
   * first name went, and the link counts of those that lost other names, derived again from the
   * rows. What repairInodeMap does for the whole map, for these rows only.
   */
  repairInodesOf(removed: ReadonlyArray<Pick<EntryRow, 'id' | 'linkOf'>>): void {
    const del = this.updateStmt('DELETE FROM inodes WHERE primary_id = ?');
    const recount = this.updateStmt('UPDATE inodes SET links = 1 + (SELECT COUNT(*) FROM entries WHERE entries.link_of = inodes.primary_id) WHERE primary_id = ?');
    const primaries = new Set<number>();
    for (const r of removed) {
      del.run(r.id);
      if (r.linkOf !== null) primaries.add(r.linkOf);
    }
    for (const p of primaries) recount.run(p);
  }

  /** Every child row of a directory, in scan order. */
  childRows(dirId: number): EntryRow[] {
    return this.all<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE parent_id = ? ORDER BY id`, dirId);
  }

  /** Every row below a directory (not the directory itself). */
  subtreeRows(dirId: number): EntryRow[] {
    return this.all<EntryRow>(
      `WITH RECURSIVE sub(id) AS (SELECT id FROM entries WHERE parent_id = ? UNION ALL SELECT e.id FROM entries e JOIN sub ON e.parent_id = sub.id)
       SELECT ${ENTRY_COLUMNS} FROM entries WHERE id IN (SELECT id FROM sub) ORDER BY id`,
      dirId,
    );
  }

  /** Remove rows (and what the known-blob table held of them). Call inside tx. */
  deleteRows(ids: readonly number[]): void {
    const del = this.updateStmt('DELETE FROM entries WHERE id = ?');
    const known = this.updateStmt('DELETE FROM known_blobs WHERE entry_id = ?');
    const attrs = this.updateStmt('DELETE FROM update_attrs WHERE entry_id = ?');
    for (const id of ids) {
      del.run(id);
      known.run(id);
      attrs.run(id);
    }
  }

  /**
   * An entry's stored lstat replaced by the source's, and its state set (PENDING to write it
   * again, or unchanged). `newGeneration` starts a new data generation: its segments get new
   * names and the old ones are the caller's to delete. Call inside tx.
   */
  refreshFromSource(id: number, e: NewEntry, state: EntryState | undefined, newGeneration: boolean): void {
    this.updateStmt(
        `UPDATE entries SET mode = ?, uid = ?, gid = ?, size = ?, mtime_s = ?, mtime_ns = ?, ctime_s = ?, ctime_ns = ?, atime_s = ?, atime_ns = ?,
          ino = ?, dev = ?, rdev = ?, nlink = ?, state = COALESCE(?, state), error = CASE WHEN ? IS NULL THEN error ELSE NULL END,
          gen = gen + ?, planned_segments = CASE WHEN ? = 1 THEN 0 ELSE planned_segments END, written_size = CASE WHEN ? = 1 THEN NULL ELSE written_size END
         WHERE id = ?`,
      )
      .run(e.mode, e.uid, e.gid, e.sizeBytes, e.mtimeSec, e.mtimeNsec, e.ctimeSec, e.ctimeNsec, e.atimeSec, e.atimeNsec, e.ino, e.dev, e.rdev, e.nlink,
        state ?? null, state ?? null, newGeneration ? 1 : 0, newGeneration ? 1 : 0, newGeneration ? 1 : 0, id);
  }

  /** Blob names an update deletes once everything new is in place (FINALIZE). Call inside tx. */
  addDeletes(names: Iterable<string>): void {
    const ins = this.updateStmt('INSERT OR IGNORE INTO update_deletes(name) VALUES (?)');
    for (const n of names) ins.run(n);
  }

  /** A name that is written again after all (the inode of a rewritten entry) is not deleted. Call inside tx. */
  keepBlob(name: string): void {
    this.run('DELETE FROM update_deletes WHERE name = ?', name);
  }

  pendingDeletes(limit: number): string[] {
    return this.all<{ name: string }>('SELECT name FROM update_deletes ORDER BY name LIMIT ?', limit).map((r) => r.name);
  }

  deletesDone(names: readonly string[]): void {
    this.tx(() => {
      const del = this.guard.prepare('DELETE FROM update_deletes WHERE name = ?');
      for (const n of names) del.run(n);
    });
  }

  countDeletes(): number {
    return this.all<{ n: number }>('SELECT COUNT(*) AS n FROM update_deletes')[0]!.n;
  }

  /** An inode whose attributes alone changed: rewritten from its stored blob, data untouched. Call inside tx. */
  addAttrPatch(id: number): void {
    this.updateStmt('INSERT OR IGNORE INTO update_attrs(entry_id) VALUES (?)').run(id);
  }

  attrPatches(limit: number): EntryRow[] {
    return this.all<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE id IN (SELECT entry_id FROM update_attrs ORDER BY entry_id LIMIT ?)`, limit);
  }

  attrPatched(id: number): void {
    this.tx(() => this.run('DELETE FROM update_attrs WHERE entry_id = ?', id));
  }

  countAttrPatches(): number {
    return this.all<{ n: number }>('SELECT COUNT(*) AS n FROM update_attrs')[0]!.n;
  }

  /** Blob names of an entry as read from the container (a state rebuilt from it), beyond those derived from the row. */
  knownBlobs(id: number): string[] {
    return this.updateStmt('SELECT name FROM known_blobs WHERE entry_id = ?').pluck().all(id) as string[];
  }

  addKnownBlobs(id: number, names: Iterable<string>): void {
    const ins = this.guard.prepare('INSERT OR IGNORE INTO known_blobs(entry_id, name) VALUES (?, ?)');
    for (const n of names) ins.run(id, n);
  }

  /** Call inside tx. */
  clearKnownBlobs(id: number): void {
    this.updateStmt('DELETE FROM known_blobs WHERE entry_id = ?').run(id);
  }

  /** Rows that own an inode object in the container: every entry but the root, other names of hard links and failed entries. */
  countInodeRows(): number {
    return this.all<{ n: number }>(`SELECT COUNT(*) AS n FROM entries WHERE parent_id IS NOT NULL AND link_of IS NULL AND state IN (${EntryState.DONE}, ${EntryState.RECONCILED}, ${EntryState.INPROGRESS})`)[0]!.n;
  }

  /** A row rebuilt from the container turns out to be an inode with several names (it is reconciled when written again). Call inside tx. */
  markLinked(id: number): void {
    this.run('UPDATE entries SET reconcile = 1 WHERE id = ?', id);
  }

  /** Blob names a rebuilt state found reachable. */
  allKnownBlobs(): Set<string> {
    return new Set(this.all<{ name: string }>('SELECT name FROM known_blobs').map((r) => r.name));
  }

  /** Entries not DONE (anything an update must still write). */
  countNotDone(): number {
    return this.all<{ n: number }>(`SELECT COUNT(*) AS n FROM entries WHERE state != ${EntryState.DONE}`)[0]!.n;
  }

  /**
   * Raw SQL, for src/state itself (the consistency check) only: everything else uses the named
   * transitions above (test/layering.test.ts fails on raw SQL outside src/state).
   * @internal
   */
  exec(sql: string): void {
    this.guard.exec(sql);
  }

  run(sql: string, ...params: unknown[]): void {
    this.guard.prepare(sql).run(...params);
  }

  all<T>(sql: string, ...params: unknown[]): T[] {
    return this.guard.prepare(sql).all(...params) as T[];
  }
}
