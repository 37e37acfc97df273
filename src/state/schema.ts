/**
 * The local state of one transfer, in SQLite (WAL). docs/architecture.md ("Resume model")
 * explains how the states below drive a resume.
 */
export const STATE_FORMAT_VERSION = 1;

/** Life of one row of `entries` (one directory entry of the source). */
export enum EntryState {
  /** inserted by a directory scan still in progress: invisible until the scan completes */
  HELD = 0,
  /** known, nothing written yet (directories: not scanned yet) */
  PENDING = 1,
  /** directory whose children are being inserted */
  SCANNING = 2,
  /** directory scanned; waits for its children to finish before its own objects are written */
  SCANNED = 3,
  /** directory whose children are all finished: its segments and inode can be written */
  READY = 4,
  /** objects of this entry are being written (segments may exist in the target) */
  WRITING = 5,
  /** every object of this entry is in the target under its final name */
  DONE = 6,
  /** failed; left out of its directory, listed in problems.txt, retried on resume */
  ERROR = 7,
  /** written under the in-progress owner; reconcile rewrites it (hard links) */
  INPROGRESS = 8,
  /** rewritten under its final name; cleanup deletes the in-progress blob */
  RECONCILED = 9,
  /**
   * another name of a hard-linked inode whose object is not finished yet: it becomes DONE or
   * ERROR with its inode, so its directory never names an inode that failed or is still unwritten
   */
  LINKWAIT = 10,
}

/** States in which an entry counts as finished for its directory (the others keep it waiting). */
export const FINISHED_STATES = [EntryState.DONE, EntryState.ERROR, EntryState.INPROGRESS, EntryState.RECONCILED] as const;
export const FINISHED_SQL = FINISHED_STATES.join(', ');
/** Finished with its object stored: a directory names such a child, and another name of such an inode is DONE. */
export const STORED_STATES: ReadonlySet<EntryState> = new Set([EntryState.DONE, EntryState.INPROGRESS, EntryState.RECONCILED]);
/**
 * What another name of a hard link (a row with `link_of`) follows from its inode's row: DONE once
 * the inode is stored, ERROR when it failed (or its row is gone), LINKWAIT until then.
 */
export const LINK_OUTCOME_SQL = `COALESCE((SELECT CASE WHEN p.state IN (${[...STORED_STATES].join(', ')}) THEN ${EntryState.DONE}
    WHEN p.state = ${EntryState.ERROR} THEN ${EntryState.ERROR} ELSE ${EntryState.LINKWAIT} END
    FROM entries p WHERE p.id = entries.link_of), ${EntryState.ERROR})`;
/** ftype of an ERROR row for a child whose lstat failed: its type is unknown, it has no handle */
export const FTYPE_UNKNOWN = 0;

export enum Phase {
  INIT = 'init',
  TRANSFER = 'transfer',
  RECONCILE = 'reconcile',
  CLEANUP = 'cleanup',
  FINALIZE = 'finalize',
  DONE = 'done',
}

/**
 * `segment_progress`: for a large file being written (WRITING), how many of its 8 MiB segments,
 * counted from the first, are durably stored, and the identity of the file (handle, size, mtime
 * and ctime in ns) they were read from. A resume continues from the next segment only when the
 * file is still that one; any other row is ignored. A table of its own (not columns of
 * `entries`), so a state folder created before it is read unchanged: CREATE TABLE IF NOT EXISTS
 * adds it.
 */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
  id INTEGER PRIMARY KEY,
  parent_id INTEGER,
  name BLOB NOT NULL,
  path BLOB,
  ftype INTEGER NOT NULL,
  fh BLOB NOT NULL,
  state INTEGER NOT NULL,
  mode INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  gid INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime_s INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  ctime_s INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
  atime_s INTEGER NOT NULL, atime_ns INTEGER NOT NULL,
  ino TEXT NOT NULL,
  dev TEXT NOT NULL,
  rdev TEXT NOT NULL,
  nlink INTEGER NOT NULL,
  link_of INTEGER,
  pending INTEGER NOT NULL DEFAULT 0,
  reconcile INTEGER NOT NULL DEFAULT 0,
  planned_segments INTEGER NOT NULL DEFAULT 0,
  written_size INTEGER,
  error TEXT,
  gen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entries_children ON entries(parent_id, id);
CREATE INDEX IF NOT EXISTS entries_work ON entries(state, id);
CREATE INDEX IF NOT EXISTS entries_dirs ON entries(state, id) WHERE ftype = 1;
CREATE INDEX IF NOT EXISTS entries_links ON entries(link_of) WHERE link_of IS NOT NULL;
CREATE TABLE IF NOT EXISTS inodes (
  dev TEXT NOT NULL, ino TEXT NOT NULL, ftype INTEGER NOT NULL,
  primary_id INTEGER NOT NULL, links INTEGER NOT NULL,
  PRIMARY KEY (dev, ino, ftype)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segment_progress (
  id INTEGER PRIMARY KEY,
  fh BLOB NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns TEXT NOT NULL,
  ctime_ns TEXT NOT NULL,
  segments INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS update_deletes (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS update_attrs (entry_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS update_rewrites (entry_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS known_blobs (entry_id INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (entry_id, name)) WITHOUT ROWID;
`;

/**
 * Columns added after format 1 was released, with their ALTER: an older state folder gains them
 * when it is opened (a default that means what the older code did), so it still resumes.
 */
export const ADDED_COLUMNS: ReadonlyArray<{ table: string; column: string; sql: string }> = [
  // a file's data generation: bumped when an update rewrites its data, so its new segments get new names
  { table: 'entries', column: 'gen', sql: 'ALTER TABLE entries ADD COLUMN gen INTEGER NOT NULL DEFAULT 0' },
];
