/** `ls`: the entries of a directory (or one entry) in a container, optionally recursive. */
import { Btype, type ClfsTime } from '../codec/index.js';
import type { Target } from '../targets/target.js';
import { ContainerReader, type Inode, inodeBtypeOf, isDotOrDotDot, type ReadOptions } from './container-reader.js';

export type EntryType = 'dir' | 'file' | 'symlink' | 'fifo' | 'socket' | 'chardev' | 'blockdev';

const TYPE_OF_BTYPE: Readonly<Partial<Record<Btype, EntryType>>> = Object.freeze({
  [Btype.DIR]: 'dir',
  [Btype.REG]: 'file',
  [Btype.LNK]: 'symlink',
  [Btype.FIFO]: 'fifo',
  [Btype.SOCK]: 'socket',
  [Btype.CHR]: 'chardev',
  [Btype.BLK]: 'blockdev',
});

export function entryTypeOf(btype: Btype): EntryType | undefined {
  return TYPE_OF_BTYPE[btype];
}

export interface LsEntry {
  /** path relative to the listed directory, '/'-separated bytes ('' for a listed file itself: then name) */
  path: Buffer;
  name: Buffer;
  type: EntryType;
  /** full st_mode, type bits included */
  mode: number;
  uid: number;
  gid: number;
  sizeBytes: bigint;
  mtime: ClfsTime;
  nlink: number;
  rdevMajor: number;
  rdevMinor: number;
  /** symlinks only */
  symlinkTarget?: Buffer;
}

export interface LsOptions extends ReadOptions {
  /** accepted for symmetry with the CLI; every entry carries its attributes either way */
  long?: boolean;
  recursive?: boolean;
}

function entryOf(inode: Inode, name: Buffer, path: Buffer): LsEntry {
  const v = inode.obj.vattr;
  const e: LsEntry = {
    path,
    name,
    type: entryTypeOf(v.btype) ?? 'file',
    mode: v.mode,
    uid: v.uid,
    gid: v.gid,
    sizeBytes: v.sizeBytes,
    mtime: v.mtime,
    nlink: v.nlink,
    rdevMajor: v.rdevMajor,
    rdevMinor: v.rdevMinor,
  };
  if (v.btype === Btype.LNK) e.symlinkTarget = inode.obj.data ?? Buffer.alloc(0);
  return e;
}

const SLASH = Buffer.from('/');

/**
 * Entries of the directory at `path` ('' or '/' for the root), in stored order; with `recursive`,
 * each directory's entries follow it (depth first). A non-directory path yields itself.
 * Streams: one directory piece and one inode at a time.
 */
export async function* ls(target: Target, path: Buffer | string, options: LsOptions = {}): AsyncIterable<LsEntry> {
  const reader = await ContainerReader.open(target, options);
  const { inode, name } = await reader.resolve(path, options);
  if (inode.obj.vattr.btype !== Btype.DIR) {
    yield entryOf(inode, name, name);
    return;
  }
  yield* listDir(reader, inode, Buffer.alloc(0), options);
}

async function* listDir(reader: ContainerReader, dir: Inode, prefix: Buffer, options: LsOptions): AsyncIterable<LsEntry> {
  const subdirs: Array<{ handle: Buffer; path: Buffer }> = [];
  for await (const d of reader.dirents(dir, options)) {
    if (isDotOrDotDot(d.name)) continue;
    const child = await reader.readInode(d.handle, dir.handle, options);
    const path = prefix.length === 0 ? d.name : Buffer.concat([prefix, SLASH, d.name]);
    const entry = entryOf(child, d.name, path);
    yield entry;
    if (options.recursive === true && inodeBtypeOf(d.handle) === Btype.DIR && child.obj.vattr.btype === Btype.DIR) {
      // only handles are kept between a directory's listing and its subdirectories' listing
      subdirs.push({ handle: d.handle, path });
    }
  }
  for (const s of subdirs) {
    const child = await reader.readInode(s.handle, dir.handle, options);
    yield* listDir(reader, child, s.path, options);
  }
}

const TYPE_CHAR: Readonly<Record<EntryType, string>> = Object.freeze({
  dir: 'd',
  file: '-',
  symlink: 'l',
  fifo: 'p',
  socket: 's',
  chardev: 'c',
  blockdev: 'b',
});

/** `ls -l` mode string, e.g. `-rw-r--r--`, `drwxr-sr-x`, `-rwsr-xr-x`, `drwxrwxrwt`. */
export function modeString(type: EntryType, mode: number): string {
  const rwx = (bits: number, special: boolean, specialChar: string): string => {
    const x = (bits & 1) !== 0;
    const last = special ? (x ? specialChar : specialChar.toUpperCase()) : x ? 'x' : '-';
    return ((bits & 4) !== 0 ? 'r' : '-') + ((bits & 2) !== 0 ? 'w' : '-') + last;
  };
  return (
    TYPE_CHAR[type] +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') +
    rwx(mode & 7, (mode & 0o1000) !== 0, 't')
  );
}
