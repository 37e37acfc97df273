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
  parent_id: number | null;
  name: Buffer;
  path: Buffer | null;
  ftype: number;
  fh: Buffer;
  state: EntryState;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime_s: number;
  mtime_ns: number;
  ctime_s: number;
  ctime_ns: number;
  atime_s: number;
  atime_ns: number;
  ino: string;
  dev: string;
  rdev: string;
  nlink: number;
  link_of: number | null;
  pending: number;
  reconcile: number;
  planned_segments: number;
  written_size: number | null;
  error: string | null;
}

/**
 * What encoding a non-directory needs (fewer columns: building row objects was the largest cost
 * of claiming work). The other EntryRow fields are absent from rows read with it.
 */
const WRITER_COLUMNS =
  'id, parent_id, name, ftype, fh, state, mode, uid, gid, size, mtime_s, mtime_ns, ctime_s, ctime_ns, atime_s, atime_ns, ino, rdev, nlink, link_of, reconcile, planned_segments';

/** Files up to this size are one object (inode with the data inline, spec §6.1). */
export const SINGLE_OBJECT_MAX_BYTES = 16384;

/**
 * The pending one-object entries with ids in [first, last], with what encoding them needs of
 * their parent. Read by the encode workers on their own read-only connections.
 */
export const SINGLE_OBJECT_ROWS_SQL = `SELECT ${WRITER_COLUMNS
  .split(', ')
  .map((c) => `e.${c}`)
  .join(', ')}, p.fh AS parent_fh, p.path AS parent_path
  FROM entries e JOIN entries p ON p.id = e.parent_id
  WHERE e.id BETWEEN ? AND ? AND e.state = ${EntryState.PENDING} AND e.ftype != 1 AND (e.ftype != 2 OR e.size <= ${SINGLE_OBJECT_MAX_BYTES})
  ORDER BY e.id`;

export type SingleObjectRow = EntryRow & { parent_fh: Buffer; parent_path: Buffer };
