import { Ftype } from '../codec/index.js';
import { isClfsError } from '../errors/index.js';
import { displayPath, joinPath, skipEntryOf } from '../scan/index.js';
import { walkDirectory } from './tree-walk.js';
import type { SourceEntry, SourceKind } from '../scan/index.js';
import { EntryState } from '../state/index.js';
import type { Counters, EntryRow, NewEntry } from '../state/index.js';
export { unreadableChild } from './tree-walk.js';
import type { LoadRun } from './load-run.js';
import type { Listing } from './dir-lister.js';

export const FTYPE_OF_KIND: Readonly<Record<SourceKind, Ftype>> = {
  dir: Ftype.DIR,
  file: Ftype.REG,
  symlink: Ftype.LNK,
  blockdev: Ftype.BLK,
  chardev: Ftype.CHR,
  socket: Ftype.SOCK,
  fifo: Ftype.FIFO,
};

/** The kind of a row's ftype, in the one vocabulary of the dry run, the load summary and ls. */
export const KIND_OF_FTYPE: ReadonlyMap<number, SourceKind> = new Map(Object.entries(FTYPE_OF_KIND).map(([k, f]) => [f, k as SourceKind]));

/** The reference's limit of backpointers per inode (spec §8.6). */
export const MAX_LINKS_PER_INODE = 1023;

function splitNs(ns: bigint): [number, number] {
  // floor division so times before 1970 keep a non-negative nanosecond part
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return [Number(sec), Number(nsec)];
}

export function newEntryFrom(e: SourceEntry, parentId: number | null, fh: Buffer, path: Buffer | null, state: EntryState): NewEntry {
  const [mtimeSec, mtimeNsec] = splitNs(e.mtimeNs);
  const [ctimeSec, ctimeNsec] = splitNs(e.ctimeNs);
  const [atimeSec, atimeNsec] = splitNs(e.atimeNs);
  return {
    parentId: parentId,
    name: e.name,
    path,
    ftype: FTYPE_OF_KIND[e.kind],
    fh,
    state,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    sizeBytes: Number(e.sizeBytes),
    mtimeSec,
    mtimeNsec,
    ctimeSec,
    ctimeNsec,
    atimeSec,
    atimeNsec,
    ino: e.ino.toString(),
    dev: e.dev.toString(),
    rdev: e.rdev.toString(),
    nlink: e.nlink,
    linkOf: null,
    reconcile: 0,
  };
}

/**
 * Insert one scanned child (inside the caller's transaction): a row with a new filehandle, or, for
 * another name of a hard-linked inode already in the tree, a row that shares its handle and
 * follows its outcome. Returns whether the child got an object of its own.
 */
export function insertChild(run: LoadRun, dir: EntryRow, e: SourceEntry, preserveHardlinks: boolean, counters: Counters, state: EntryState): number {
  const db = run.db;
  const ftype = FTYPE_OF_KIND[e.kind];
  if (preserveHardlinks && e.kind !== 'dir' && e.nlink !== 1) {
    const dev = e.dev.toString();
    const ino = e.ino.toString();
    const known = db.findInode(dev, ino, ftype);
    if (known !== undefined && known.links < MAX_LINKS_PER_INODE) {
      // another name of an inode already in the tree: a dirent and a backpointer, no object
      const primary = db.entry(known.primary_id)!;
      // an inode already reconciled (a directory retried after RECONCILE) gains a name: its
      // nlink and backpointers are written again
      if (primary.state === EntryState.DONE || primary.state === EntryState.RECONCILED) db.reconcileAgain(primary.id);
      // HELD until the scan ends, whatever `state` says: finishScan gives it its inode's outcome
      const row = newEntryFrom(e, dir.id, primary.fh, null, EntryState.HELD);
      row.linkOf = primary.id;
      const id = db.insertEntry(row);
      db.bumpInode(dev, ino, ftype);
      return id;
    }
    if (known !== undefined) {
      // the reference's behaviour past 1,023 names: the extra names get a new inode of their own
      run.stats.linkSplits += 1;
      run.log.warn(`${displayPath(joinPath(dir.path!, e.name))}: more than ${MAX_LINKS_PER_INODE} names of one inode; this name and the next ones get a new inode (as the reference does)`);
    }
    // the first name met in this shard: the same handle in every shard that meets the inode
    const shared = known === undefined ? run.shard?.linkHandle?.(e, ftype) : undefined;
    const fh = shared ?? run.allocateHandle(dir.fh, ftype, counters);
    const row = newEntryFrom(e, dir.id, fh, null, state);
    row.reconcile = 1;
    const id = db.insertEntry(row);
    db.putInode(dev, ino, ftype, id);
    return id;
  }
  const fh = run.allocateHandle(dir.fh, ftype, counters);
  return db.insertEntry(newEntryFrom(e, dir.id, fh, e.kind === 'dir' ? joinPath(dir.path!, e.name) : null, state));
}

/**
 * Scan one directory into the state (tree-walk.ts), each child given its CLFS filehandle (spec
 * §1.1) and, for other names of a hard-linked inode, the inode's. Its children come from `listing`
 * (ScanAhead.listing). Nothing is written to the target.
 */
export async function scanDirectory(run: LoadRun, dir: EntryRow, listing: Listing, preserveHardlinks: boolean): Promise<void> {
  await walkDirectory(run.db, dir, listing, {
    insertChild: (d, e, counters, state) => insertChild(run, d, e, preserveHardlinks, counters, state),
    skip: skipEntryOf(run.filter, run.rootPath, () => (run.stats.entriesExcluded += 1)),
    onFailedChild: (message) => {
      run.countError(message);
      run.stats.entriesFinished += 1;
    },
    // per batch, so a walk that fails part way has counted the rows its failure then drops
    onRecorded: (entries, fileBytes) => {
      run.stats.entriesScanned += entries;
      run.stats.bytesScanned += fileBytes;
    },
  });
}

/** A directory that cannot be read (at all, or to the end) fails whole: its child rows are dropped with it. */
export function failScan(run: LoadRun, dir: EntryRow, message: string): void {
  let dropped = 0;
  run.db.tx(() => {
    dropped = run.db.dropChildren(dir.id);
    run.db.completeInTx([{ id: dir.id, parentId: dir.parentId, state: EntryState.ERROR, error: message }]);
  });
  run.stats.entriesScanned -= dropped;
  run.countError(message);
  run.stats.entriesFinished += 1;
}

/** A directory that cannot be read at all becomes an ERROR entry (left out of its parent). */
export function scanFailure(err: unknown, dir: EntryRow): string {
  if (isClfsError(err)) return err.message;
  return `${displayPath(dir.path ?? dir.name)}: cannot read directory (${(err as Error)?.message ?? String(err)})`;
}
