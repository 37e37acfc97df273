import { Btype, encodeTime, ftypeToBtype, rdevSplit } from '../codec/index.js';
import type { ClfsTime, Vattr } from '../codec/index.js';
import { displayPath } from '../scan/index.js';
import type { EntryRow, TransferIdentity } from '../state/index.js';

const MAX_SEC = 0xffffffffn;

/** The warning for a clamped time (one wording wherever it is reported). */
export function clampWarning(path: Buffer, which: string): string {
  return `${displayPath(path)}: ${which} outside the range CLFS can store (1970 to 2106); clamped`;
}

/**
 * Encode one stat time the way the reference does (spec §8.3). A time the format cannot hold
 * (before 1970, at or past 2^32 s) is clamped to the nearest end instead of failing the entry
 * (the reference fails it and leaves a dangling dirent); `onClamp` reports it.
 */
export function clfsTime(sec: number, nsec: number, onClamp: () => void): ClfsTime {
  const encoded = encodeTime(BigInt(sec), BigInt(nsec));
  if (encoded !== undefined) return encoded;
  onClamp();
  return BigInt(sec) < 0n ? { sec: 0, nsec: 0 } : { sec: Number(MAX_SEC), nsec: 0 };
}

export interface VattrOverrides {
  sizeBytes: bigint;
  nlink: number;
}

/** VATTR of an entry from its stored lstat; size and nlink come from what was written. */
export function vattrOf(row: EntryRow, identity: TransferIdentity, o: VattrOverrides, onClamp: (which: string) => void): Vattr {
  const btype: Btype = ftypeToBtype(row.ftype);
  const { major, minor } = rdevSplit(BigInt(row.rdev));
  return {
    mode: row.mode & 0xffff,
    btype,
    uid: row.uid,
    gid: row.gid,
    sizeBytes: o.sizeBytes,
    mtime: clfsTime(row.mtimeSec, row.mtimeNsec, () => onClamp('mtime')),
    ctime: clfsTime(row.ctimeSec, row.ctimeNsec, () => onClamp('ctime')),
    atime: clfsTime(row.atimeSec, row.atimeNsec, () => onClamp('atime')),
    usedBytes: o.sizeBytes,
    fsid: BigInt(identity.fsid),
    fileid: BigInt(row.ino),
    rdevMajor: major,
    rdevMinor: minor,
    nlink: o.nlink,
    containerId: BigInt(identity.containerId),
  };
}
