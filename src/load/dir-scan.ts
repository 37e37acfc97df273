import { Ftype } from '../codec/index.js';
import { isClfsError } from '../errors/index.js';
import { displayPath, joinPath, readDirectoryBatches } from '../scan/index.js';
import type { SourceEntry, SourceKind } from '../scan/index.js';
import { EntryState } from '../state/index.js';
import type { EntryRow, NewEntry } from '../state/index.js';
import type { LoadRun } from './load-run.js';

const FTYPE_OF_KIND: Record<SourceKind, Ftype> = {
  dir: Ftype.DIR,
  file: Ftype.REG,
  symlink: Ftype.LNK,
  blockdev: Ftype.BLK,
  chardev: Ftype.CHR,
  socket: Ftype.SOCK,
  fifo: Ftype.FIFO,
};

/** The reference's limit of backpointers per inode (spec §8.6). */
export const MAX_LINKS_PER_INODE = 1023;
const SCAN_BATCH = 1000;

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
  const [mtime_s, mtime_ns] = splitNs(e.mtimeNs);
  const [ctime_s, ctime_ns] = splitNs(e.ctimeNs);
  const [atime_s, atime_ns] = splitNs(e.atimeNs);
  return {
    parent_id: parentId,
    name: e.name,
    path,
    ftype: FTYPE_OF_KIND[e.kind],
    fh,
    state,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    size: Number(e.sizeBytes),
    mtime_s,
    mtime_ns,
    ctime_s,
    ctime_ns,
    atime_s,
    atime_ns,
    ino: e.ino.toString(),
    dev: e.dev.toString(),
    rdev: e.rdev.toString(),
    nlink: e.nlink,
    link_of: null,
    reconcile: 0,
  };
}

/**
 * Scan one directory into the state: children are inserted in readdir order, in batches, as HELD
 * rows (invisible to the writers) and released together when the scan completes, so an
 * interrupted scan is simply redone. Nothing is written to the target here.
 */
export function scanDirectory(run: LoadRun, dir: EntryRow, preserveHardlinks: boolean): void {
  const db = run.db;
  const dirPath = dir.path!;
  db.tx(() => db.setState(dir.id, EntryState.SCANNING));
  const batches = readDirectoryBatches(dirPath, SCAN_BATCH, (err) => {
    run.countError(err.message);
  });
  for (const batch of batches) {
    db.tx(() => {
      const counters = db.counters;
      for (const e of batch) {
        const ftype = FTYPE_OF_KIND[e.kind];
        const childPath = e.kind === 'dir' ? joinPath(dirPath, e.name) : null;
        if (preserveHardlinks && e.kind !== 'dir' && e.nlink !== 1) {
          const dev = e.dev.toString();
          const ino = e.ino.toString();
          const known = db.findInode(dev, ino, ftype);
          if (known !== undefined && known.links < MAX_LINKS_PER_INODE) {
            // another name of an inode already in the tree: a dirent and a backpointer, no object
            const primary = db.entry(known.primary_id)!;
            const row = newEntryFrom(e, dir.id, primary.fh, null, EntryState.DONE);
            row.link_of = primary.id;
            db.insertEntry(row);
            db.bumpInode(dev, ino, ftype);
            run.stats.entriesScanned += 1;
            continue;
          }
          const fh = run.allocateHandle(dir.fh, ftype, counters);
          const row = newEntryFrom(e, dir.id, fh, null, EntryState.HELD);
          row.reconcile = 1;
          const id = db.insertEntry(row);
          db.putInode(dev, ino, ftype, id);
        } else {
          const fh = run.allocateHandle(dir.fh, ftype, counters);
          db.insertEntry(newEntryFrom(e, dir.id, fh, childPath, EntryState.HELD));
        }
        run.stats.entriesScanned += 1;
        if (e.kind === 'file') run.stats.bytesScanned += Number(e.sizeBytes);
      }
      db.setCounters(counters);
    });
  }
  db.tx(() => db.finishScan(dir.id));
}

/** A directory that cannot be read at all becomes an ERROR entry (left out of its parent). */
export function scanFailure(err: unknown, dir: EntryRow): string {
  if (isClfsError(err)) return err.message;
  return `${displayPath(dir.path ?? dir.name)}: cannot read directory (${(err as Error)?.message ?? String(err)})`;
}
