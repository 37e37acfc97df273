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

/**
 * What encoding a non-directory needs (fewer columns: building row objects was the largest cost
 * of claiming work). The other EntryRow fields are absent from rows read with it.
 */
const WRITER_COLUMNS =
  'id, parent_id, name, ftype, fh, state, mode, uid, gid, size, mtime_s, mtime_ns, ctime_s, ctime_ns, atime_s, atime_ns, ino, rdev, nlink, link_of, reconcile, planned_segments';

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

/** Files up to this size are one object (inode with the data inline, spec §6.1). */
export const SINGLE_OBJECT_MAX_BYTES = 16384;

/**
 * The pending one-object entries with ids in [first, last], with what encoding them needs of
 * their parent. Read by the encode workers on their own read-only connections.
 */
export const SINGLE_OBJECT_ROWS_SQL = `SELECT ${selectAs(WRITER_COLUMNS, 'e.')}, p.fh AS parentFh, p.path AS parentPath
  FROM entries e JOIN entries p ON p.id = e.parent_id
  WHERE e.id BETWEEN ? AND ? AND e.state = ${EntryState.PENDING} AND e.ftype != 1 AND (e.ftype != 2 OR e.size <= ${SINGLE_OBJECT_MAX_BYTES})
  ORDER BY e.id`;

export type SingleObjectRow = EntryRow & { parentFh: Buffer; parentPath: Buffer };
