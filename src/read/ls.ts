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
  /**
   * 'name' (default): each directory's entries by name bytes (memcmp order), which holds the
   * directory's names and handles in memory; 'stored': in the order the directory stores them,
   * streamed.
   */
  order?: 'name' | 'stored';
  /** inodes read at once (default 16) */
  concurrency?: number;
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
 * Entries of the directory at `path` ('' or '/' for the root), by name bytes (or in stored order,
 * `order: 'stored'`); with `recursive`, each directory's subdirectories are listed after its
 * entries (depth first). A non-directory path yields itself. Memory: one directory's names and
 * handles (none with 'stored'), and `concurrency` inodes.
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

/** Yields fn(item) for each item in order, with up to `width` calls in flight. */
async function* mapOrdered<T, R>(items: AsyncIterable<T> | Iterable<T>, width: number, fn: (item: T) => Promise<R>): AsyncIterable<R> {
  const window: Array<Promise<R>> = [];
  try {
    for await (const item of items) {
      const p = fn(item);
      // a rejection is seen when its turn comes; until then it must not count as unhandled
      p.catch(() => undefined);
      window.push(p);
      if (window.length >= width) yield await window.shift()!;
    }
    while (window.length > 0) yield await window.shift()!;
  } finally {
    await Promise.allSettled(window);
  }
}

async function* namesOf(reader: ContainerReader, dir: Inode, options: LsOptions): AsyncIterable<{ name: Buffer; handle: Buffer }> {
  if (options.order === 'stored') {
    for await (const d of reader.dirents(dir, options)) if (!isDotOrDotDot(d.name)) yield d;
    return;
  }
  // names and handles only (not inodes): a directory of a million names holds ~100 MB here
  const all: Array<{ name: Buffer; handle: Buffer }> = [];
  for await (const d of reader.dirents(dir, options)) if (!isDotOrDotDot(d.name)) all.push({ name: d.name, handle: d.handle });
  all.sort((a, b) => Buffer.compare(a.name, b.name));
  yield* all;
}

async function* listDir(reader: ContainerReader, dir: Inode, prefix: Buffer, options: LsOptions): AsyncIterable<LsEntry> {
  const subdirs: Array<{ handle: Buffer; path: Buffer }> = [];
  const width = Math.max(1, options.concurrency ?? 16);
  const read = async (d: { name: Buffer; handle: Buffer }) => ({ d, child: await reader.readInode(d.handle, dir.handle, options) });
  for await (const { d, child } of mapOrdered(namesOf(reader, dir, options), width, read)) {
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
