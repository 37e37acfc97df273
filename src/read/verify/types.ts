import type { FilterSpec } from '../../scan/index.js';

/** The public shapes of verify: its options, problems and report (re-exported by src/read/index.ts). */

export type VerifyProblemCode =
  | 'bad-name'
  | 'unknown-blob'
  | 'not-finalized'
  | 'in-progress-left'
  | 'bucket'
  | 'root'
  | 'missing-inode'
  | 'corrupt'
  | 'wrong-type'
  | 'bad-dirent'
  | 'backpointer'
  | 'nlink'
  | 'bmap'
  | 'missing-segment'
  | 'bad-segment'
  | 'missing-indirect'
  | 'bad-indirect'
  | 'size'
  | 'unreachable'
  | 'source-mismatch'
  /** hard-link structure differs between the source and the container */
  | 'hardlink';

export interface VerifyProblem {
  /** the entry's path in the container ('/' = root), or '' for a blob no path leads to */
  path: string;
  blob?: string;
  code: VerifyProblemCode;
  message: string;
}

export interface VerifyCounts {
  dirs: number;
  files: number;
  symlinks: number;
  /** fifos, sockets, devices */
  special: number;
  /** further names of an inode already counted */
  hardlinkRepeats: number;
  /** CLFS-named blobs in the container */
  blobs: number;
  segments: number;
  indirect: number;
  /** regular file bytes (by VATTR size) */
  bytes: number;
}

export interface VerifyReport {
  ok: boolean;
  problems: VerifyProblem[];
  counts: VerifyCounts;
  /**
   * With a source: how its hard links were judged. 'preserved': names that share a source inode
   * must share a container inode; 'copied': each name may be its own inode. Either way names that
   * share a container inode must share a source inode.
   */
  hardlinks?: 'preserved' | 'copied';
}

export interface VerifyProgress {
  counts: VerifyCounts;
  problems: number;
  /** the directory just finished */
  path: string;
}

export interface VerifyOptions {
  /** compare with this source tree (implies readData); bytes for a path that is not valid UTF-8 */
  source?: string | Buffer;
  /** download every data segment and check it decodes, its owner, offset and length */
  readData?: boolean;
  /** blob requests in flight while checking one directory's children (default: the target's maxConnections) */
  concurrency?: number;
  abortSignal?: AbortSignal;
  onProgress?: (progress: VerifyProgress) => void;
  /**
   * Fields not to compare with the source for some paths ('/a/b' as in problems), for entries
   * whose source value is known not to be restorable (e.g. a symlink's mtime after some tar runs).
   */
  skipSourceField?: (path: string, field: 'mtime' | 'mode' | 'owner') => boolean;
  /** stop collecting after this many problems (default 10000) */
  maxProblems?: number;
  /** blob names kept in memory before the set moves to a temporary SQLite file (default 500,000) */
  namesInMemory?: number;
  /**
   * Whether the load preserved hard links (load's preserveHardlinks). Left out, verify decides
   * from the container: links were preserved when some non-directory inode has nlink > 1 or
   * several backpointers (a load without preserveHardlinks writes none). Only matters with a source.
   */
  preserveHardlinks?: boolean;
  /**
   * With a source: the load's filters (src/scan/filter.ts), so what they left out is not reported
   * missing (default DEFAULT_FILTERS, as a load without filter options: .snapshot and .zfs left out).
   */
  filters?: FilterSpec;
}
