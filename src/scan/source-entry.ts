import * as fs from 'node:fs';
import { ClfsError, isClfsError } from '../errors/index.js';
import { displayPath } from './display-path.js';
import { sourceFs } from './source-fs.js';

/** What the loader needs to know of one source entry, from one lstat (never following symlinks). */
export interface SourceEntry {
  /** raw name bytes as the file system returned them (non-UTF-8 names survive) */
  name: Buffer;
  kind: SourceKind;
  mode: number;
  uid: number;
  gid: number;
  sizeBytes: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  atimeNs: bigint;
  ino: bigint;
  dev: bigint;
  rdev: bigint;
  nlink: number;
}

export type SourceKind = 'dir' | 'file' | 'symlink' | 'fifo' | 'socket' | 'chardev' | 'blockdev';

const S_IFMT = 0o170000;
const KIND_BY_IFMT: ReadonlyMap<number, SourceKind> = new Map([
  [0o040000, 'dir'],
  [0o100000, 'file'],
  [0o120000, 'symlink'],
  [0o010000, 'fifo'],
  [0o140000, 'socket'],
  [0o020000, 'chardev'],
  [0o060000, 'blockdev'],
]);

export function kindOfMode(mode: number): SourceKind | undefined {
  return KIND_BY_IFMT.get(mode & S_IFMT);
}

/** Join a directory path and a child name as bytes. */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  const needsSlash = dir.length === 0 || dir[dir.length - 1] !== 0x2f;
  return needsSlash ? Buffer.concat([dir, SLASH, name]) : Buffer.concat([dir, name]);
}
const SLASH = Buffer.from('/');

/** lstat one path; per-entry failures become recoverable ClfsErrors naming the path. */
export function lstatEntry(path: Buffer, name: Buffer): SourceEntry {
  let st: fs.BigIntStats;
  try {
    st = sourceFs.lstatSync(path, { bigint: true });
  } catch (err) {
    throw sourceError(path, err);
  }
  return entryFromStats(name, st, path);
}

export function entryFromStats(name: Buffer, st: fs.BigIntStats, path: Buffer): SourceEntry {
  const mode = Number(st.mode);
  const kind = kindOfMode(mode);
  if (kind === undefined) {
    throw new ClfsError('E_SOURCE_UNSUPPORTED', `${displayPath(path)}: file type ${(mode & S_IFMT).toString(8)} has no CLFS equivalent; entry skipped`, {
      subject: displayPath(path),
      recoverable: true,
    });
  }
  return {
    name,
    kind,
    mode,
    uid: Number(st.uid),
    gid: Number(st.gid),
    sizeBytes: st.size,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    atimeNs: st.atimeNs,
    ino: st.ino,
    dev: st.dev,
    rdev: st.rdev,
    nlink: Number(st.nlink),
  };
}

export function sourceError(path: Buffer, err: unknown): ClfsError {
  // a bad CLFSLOAD_SOURCE_FAULTS plan is the user's to fix, not this entry's failure
  if (isClfsError(err) && err.code === 'E_USAGE') return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const shown = displayPath(path);
  if (code === 'ENOENT') {
    return new ClfsError('E_SOURCE_CHANGED', `${shown}: vanished while loading (ENOENT); entry skipped`, { subject: shown, cause: err, recoverable: true });
  }
  const reason = code === 'EACCES' || code === 'EPERM' ? 'permission denied: run as a user who can read it' : (err as Error)?.message ?? String(err);
  return new ClfsError('E_SOURCE_UNREADABLE', `${shown}: cannot read (${reason})`, { subject: shown, cause: err, recoverable: true });
}

/** A filter on listed names (filter.ts): true leaves the child out, unread. */
export type SkipEntry = (name: Buffer, childPath: Buffer, isDir: () => boolean) => boolean;

/** Whether a listed child is a directory: from the listing's type, or an lstat when the file system gives none. */
function direntIsDir(dirent: fs.Dirent, childPath: Buffer): () => boolean {
  return () => {
    if (dirent.isDirectory()) return true;
    if (dirent.isFile() || dirent.isSymbolicLink() || dirent.isFIFO() || dirent.isSocket() || dirent.isCharacterDevice() || dirent.isBlockDevice()) return false;
    try {
      return sourceFs.lstatSync(childPath as unknown as string).isDirectory();
    } catch {
      // the lstat that follows reports it
      return false;
    }
  };
}

/**
 * Read a directory in readdir order, in batches, without listing it whole into memory.
 * Each batch holds the lstat of up to `batchSize` children; a child whose lstat fails is
 * reported through `onError` and left out (spec §6.3: the reference skips it too).
 */
export function* readDirectoryBatches(
  dirPath: Buffer,
  batchSize: number,
  onError: (error: ClfsError, name: Buffer) => void,
  skip?: SkipEntry,
): Generator<SourceEntry[]> {
  let dir: fs.Dir;
  try {
    dir = sourceFs.opendirSync(dirPath as unknown as string, { encoding: 'buffer' as BufferEncoding, bufferSize: 256 });
  } catch (err) {
    throw sourceError(dirPath, err);
  }
  try {
    let batch: SourceEntry[] = [];
    for (;;) {
      let dirent: fs.Dirent | null;
      try {
        dirent = dir.readSync();
      } catch (err) {
        throw sourceError(dirPath, err);
      }
      if (dirent === null) break;
      const name = dirent.name as unknown as Buffer;
      const childPath = joinPath(dirPath, name);
      // filters decide before the lstat, so an excluded entry is never read (a NAS .snapshot)
      if (skip !== undefined && skip(name, childPath, direntIsDir(dirent, childPath))) continue;
      try {
        batch.push(lstatEntry(childPath, name));
      } catch (err) {
        onError(err as ClfsError, name);
        continue;
      }
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  } finally {
    dir.closeSync();
  }
}
