/**
 * The batched walk of one source directory into the state, with nothing of CLFS in it: children
 * are inserted in readdir order, one transaction per batch, as HELD rows (invisible to any
 * writer) and released together when the listing completes (a listing of one batch goes in
 * PENDING in the transaction that completes it). A walk starts from a clean slate
 * (whatever an earlier attempt inserted is dropped first), so an interrupted or failed walk is
 * simply redone. The listing itself (readdir and lstat) runs on a lister thread (dir-lister.ts);
 * this thread only inserts rows. A child whose lstat fails becomes an ERROR row (no type, no ids) that a retry
 * lstats again. What ids a child needs is the caller's: `insertChild` makes its row (`load`
 * allocates CLFS filehandles there; a copy would allocate nothing).
 */
import { isClfsError } from '../errors/index.js';
import { joinPath } from '../scan/index.js';
import type { SkipEntry, SourceEntry } from '../scan/index.js';
import { EntryState, FTYPE_UNKNOWN } from '../state/index.js';
import type { Counters, EntryRow, NewEntry, StateDb } from '../state/index.js';
import { entryOfChunk } from './dir-lister.js';
import type { Listing } from './dir-lister.js';

/** Children per transaction: also what one kill can cost a scan, and the memory one batch holds. */
export const WALK_BATCH = 1000;

export interface WalkHooks {
  /**
   * Insert the row of one listed child inside the walk's transaction, in `state`: HELD, or PENDING
   * when this transaction also ends the scan. Another name of a hard-linked inode goes in HELD
   * whatever `state` says (finishScan derives its state from its inode's).
   */
  insertChild(dir: EntryRow, entry: SourceEntry, counters: Counters, state: EntryState): void;
  /** A child that could not be lstat'ed (already recorded as an ERROR row): counted, logged. */
  onFailedChild?(message: string): void;
  /** the filters (scan/filter.ts skipEntryOf): a child it skips gets no row, and a directory it skips is never listed */
  skip?: SkipEntry;
  /** After each batch's transaction: the rows it added (unreadable children included) and their file bytes. */
  onRecorded?(entries: number, fileBytes: number): void;
}

export interface WalkResult {
  entries: number;
  fileBytes: number;
}

/** The row of a child whose lstat failed: no type, no handle; an ERROR a resume retries by lstat again. */
export function unreadableChild(parentId: number, name: Buffer, message: string): NewEntry & { error: string } {
  return {
    parentId: parentId, name, path: null, ftype: FTYPE_UNKNOWN, fh: Buffer.alloc(0), state: EntryState.ERROR,
    mode: 0, uid: 0, gid: 0, sizeBytes: 0, mtimeSec: 0, mtimeNsec: 0, ctimeSec: 0, ctimeNsec: 0, atimeSec: 0, atimeNsec: 0,
    ino: '0', dev: '0', rdev: '0', nlink: 0, linkOf: null, reconcile: 0, error: message,
  };
}

/**
 * Walk `dir` (a row with a path) into `db`, its children read from `listing` (DirLister.stream:
 * listed and lstatted on a lister thread, a few chunks ahead; or a LocalListing). Throws the source error when the
 * listing itself fails (at once or part way): the caller fails the directory whole
 * (StateDb.dropChildren). Transactions are re-runnable (the state retries them on a busy disk):
 * nothing outside the state changes inside them.
 */
export async function walkDirectory(db: StateDb, dir: EntryRow, listing: Listing, hooks: WalkHooks): Promise<WalkResult> {
  db.tx(() => db.beginScan(dir.id));
  const dirPath = dir.path!;
  const result: WalkResult = { entries: 0, fileBytes: 0 };
  const batch: SourceEntry[] = [];
  const failed: Array<{ name: Buffer; message: string }> = [];
  let recorded = false;
  const record = (last: boolean) => {
    // a listing recorded in one transaction with its scan's end is never seen half done: its rows
    // go in PENDING at once (other names of hard links stay HELD: finishScan gives them their
    // inode's outcome), which spares rewriting each row (and its index entry) from HELD to PENDING
    const state = last && !recorded ? EntryState.PENDING : EntryState.HELD;
    recorded = true;
    db.tx(() => {
      const counters = db.counters;
      for (const e of batch) hooks.insertChild(dir, e, counters, state);
      for (const f of failed) db.insertEntry(unreadableChild(dir.id, f.name, f.message));
      db.setCounters(counters);
      if (last) db.finishScan(dir.id);
    });
    let fileBytes = 0;
    for (const e of batch) if (e.kind === 'file') fileBytes += Number(e.sizeBytes);
    result.fileBytes += fileBytes;
    result.entries += batch.length;
    hooks.onRecorded?.(batch.length + failed.length, fileBytes);
    for (const f of failed) hooks.onFailedChild?.(f.message);
    batch.length = 0;
    failed.length = 0;
  };
  const skip = hooks.skip;
  for (;;) {
    const chunk = await listing.next();
    const names = Buffer.from(chunk.names);
    let start = 0;
    for (let i = 0; i < chunk.count; i++) {
      const end = chunk.nameEnds[i]!;
      // a view of the chunk's buffer: the row's insert copies the bytes
      const name = names.subarray(start, end);
      start = end;
      const e = entryOfChunk(chunk, i, name, dirPath);
      // the filter sees the child after the lister's lstat; an excluded directory is never read
      if (skip !== undefined) {
        const isDir = () => (isClfsError(e) ? chunk.hints[i] === 1 : e.kind === 'dir');
        if (skip(name, joinPath(dirPath, name), isDir)) continue;
      }
      if (isClfsError(e)) failed.push({ name, message: e.message });
      else batch.push(e);
      if (batch.length + failed.length >= WALK_BATCH) record(false);
    }
    if (chunk.done) break;
  }
  record(true);
  return result;
}
