/**
 * The entries table's row shapes and the queries the main thread and the encode workers share.
 * Kept apart from state-db.ts (which validates stored metadata with zod) so that a worker reading
 * rows loads SQLite and nothing else.
 */
import { EntryState } from './schema.js';

/** The state database's file name inside a state folder. */
export const STATE_DB_FILE = 'state.db';

export interface EntryRow {
  id: number;
  parentId: number | null;
  name: Buffer;
  path: Buffer | null;
  ftype: number;
  fh: Buffer;
  state: EntryState;
  mode: number;
  uid: number;
  gid: number;
  sizeBytes: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
  atimeSec: number;
  atimeNsec: number;
  ino: string;
  dev: string;
  rdev: string;
  nlink: number;
  linkOf: number | null;
  pending: number;
  reconcile: number;
  plannedSegments: number;
  writtenSizeBytes: number | null;
  error: string | null;
  /** data generation (0 for a load; an update that rewrites a file's data bumps it: new segment names) */
  gen: number;
}

/** Column names of the entries table (snake_case, as stored) and the row fields they are read into (camelCase, with units). */
const FIELD_OF: Readonly<Record<string, string>> = {
  parent_id: 'parentId', size: 'sizeBytes', mtime_s: 'mtimeSec', mtime_ns: 'mtimeNsec', ctime_s: 'ctimeSec', ctime_ns: 'ctimeNsec',
  atime_s: 'atimeSec', atime_ns: 'atimeNsec', link_of: 'linkOf', planned_segments: 'plannedSegments', written_size: 'writtenSizeBytes',
};

/** A select list reading `columns` (of table alias `alias`, if given) into EntryRow's field names. */
export function selectAs(columns: string, alias = ''): string {
  return columns
    .split(', ')
    .map((c) => `${alias}${c}${FIELD_OF[c] === undefined ? '' : ` AS ${FIELD_OF[c]}`}`)
    .join(', ');
}

/** Every column of an entry, read as an EntryRow. */
export const ENTRY_COLUMNS = selectAs(
  'id, parent_id, name, path, ftype, fh, state, mode, uid, gid, size, mtime_s, mtime_ns, ctime_s, ctime_ns, atime_s, atime_ns, ino, dev, rdev, nlink, link_of, pending, reconcile, planned_segments, written_size, error, gen',
);

/**
 * What encoding a one-object entry needs (SingleObjectEncoder, encodeRange): building row objects
 * was the largest cost of claiming work, so no other column. The other EntryRow fields are absent
 * from rows read with it.
 */
const SINGLE_OBJECT_COLUMNS = 'id, parent_id, name, ftype, fh, mode, uid, gid, size, mtime_s, mtime_ns, ctime_s, ctime_ns, atime_s, atime_ns, ino, rdev, reconcile';

/** Files up to this size are one object (inode with the data inline, spec §6.1). */
export const SINGLE_OBJECT_MAX_BYTES = 16384;

/**
 * The pending one-object entries with ids in [first, last], with what encoding them needs of
 * their parent. Read by the encode workers on their own read-only connections.
 */
export const SINGLE_OBJECT_ROWS_SQL = `SELECT ${selectAs(SINGLE_OBJECT_COLUMNS)} FROM entries
  WHERE id BETWEEN ? AND ? AND state = ${EntryState.PENDING} AND ftype != 1 AND (ftype != 2 OR size <= ${SINGLE_OBJECT_MAX_BYTES})
  ORDER BY id`;

/** A parent's handle and path, for the one-object rows below it (withParents). */
export const PARENT_OF_ROWS_SQL = 'SELECT fh, path FROM entries WHERE id = ?';

/** A one-object row: the columns above (the other EntryRow fields are absent), with its parent's handle and path. */
export type SingleObjectRow = EntryRow & { parentFh: Buffer; parentPath: Buffer };

/**
 * The rows of SINGLE_OBJECT_ROWS_SQL with their parents' handle and path, each parent read once
 * per run of its children (a range's rows are a directory's children, inserted together) rather
 * than joined into every row: two Buffers and a join less per row (a third of the rows' cost on
 * the bench's small files). A row whose parent is gone is left out, as the join left it out.
 */
export function withParents(rows: EntryRow[], parentOf: (id: number) => { fh: Buffer; path: Buffer } | undefined): SingleObjectRow[] {
  const out = rows as SingleObjectRow[];
  let parentId: number | null = null;
  let parent: { fh: Buffer; path: Buffer } | undefined;
  let kept = 0;
  for (const row of out) {
    if (row.parentId !== parentId || parent === undefined) {
      parentId = row.parentId;
      parent = parentId === null ? undefined : parentOf(parentId);
    }
    if (parent === undefined) continue;
    row.parentFh = parent.fh;
    row.parentPath = parent.path;
    out[kept++] = row;
  }
  out.length = kept;
  return out;
}
