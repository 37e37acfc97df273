/**
 * What a sharded load (issue 14: src/load/plan.ts, shard.ts, finalize-plan.ts) changes in an
 * ordinary load, as one object passed in LoadOptions.shard. The plan fixes the identity, the
 * handles of every directory above the cut and of its children, and a disjoint sequence range per
 * shard; a shard then loads only its subtrees, under their final names, into the shared container.
 */
import type { Ftype } from '../codec/index.js';
import type { SourceEntry } from '../scan/index.js';
import type { EntryRow, StateDb, TransferIdentity } from '../state/index.js';
import type { LoadRun } from './load-run.js';

export interface ShardSeam {
  /** the plan's identity (container id, fsid, bucket UUID, id secret): every shard shares it */
  identity: TransferIdentity;
  /** instead of the root row alone, the rows this run starts from (inside the state's first transaction) */
  seed(db: StateDb): void;
  /** sequence numbers this run may hand out are below this (the shard's range ends there) */
  seqEnd: number;
  /** false for a directory this run must not write (above the cut: the finalize writes it) */
  writesDirectory(row: EntryRow): boolean;
  /** the handle of a hard-linked inode first met here: the same in every shard that meets it */
  linkHandle?(e: SourceEntry, ftype: Ftype): Buffer;
  /**
   * replaces RECONCILE, CLEANUP and FINALIZE: a shard leaves its hard-linked inodes in progress
   * for the plan's finalize, and reports what it stored instead of finalizing the container
   */
  finish?(run: LoadRun): Promise<void>;
}
