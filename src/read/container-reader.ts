/**
 * Reading a CLFS container through a Target: find the root, read and decode inodes, walk a
 * directory's entries (inline DIRENTS piece, then directory segments through the block map),
 * resolve byte paths and stream file content. Memory: one directory piece, one segment and one
 * indirect block per tree level at a time.
 */
import {
  Btype,
  blobListPrefix,
  blobName,
  btypeToFtype,
  decodeBlob,
  decodeObject,
  Ftype,
  ftypeToBtype,
  INITIAL_VERSION,
  parseBlobName,
  ROOT_ID,
  rootBlobName,
  segmentIdsOf,
  FILEHANDLE_BYTES,
} from '../codec/index.js';
import type { Bmap, DecodedObject, Dirent, Vattr } from '../codec/index.js';
import { ClfsError, isClfsError } from '../errors/index.js';
import { displayPath, parseDisplayPath, utf8SequenceLength } from '../scan/index.js';
import type { Target } from '../targets/target.js';
import { installNativeLz4 } from '../codec/lz4-native.js';
import { nativeLz4Functions } from '../targets/native-addon.js';

export type InodeObject = Extract<DecodedObject, { kind: 'inode' }>;

/** An inode as read: its handle (the id in its name), the blob it came from and its decoded body. */
export interface Inode {
  handle: Buffer;
  blob: string;
  /** version in the blob name */
  version: number;
  obj: InodeObject;
}

export interface ReadOptions {
  abortSignal?: AbortSignal;
}

const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

export function isDotOrDotDot(name: Buffer): boolean {
  return name.equals(DOT) || name.equals(DOTDOT);
}

/** Btype of the inode a handle names: root → DIR; generated handles carry the Ftype in byte 6 (format.md §1.1). */
export function inodeBtypeOf(handle: Buffer): Btype | undefined {
  if (handle.equals(ROOT_ID)) return Btype.DIR;
  if (handle.length !== FILEHANDLE_BYTES) return undefined;
  const ftype = handle[6]! as Ftype;
  if (ftype < Ftype.DIR || ftype > Ftype.FIFO) return undefined;
  return ftypeToBtype(ftype);
}

/** The Ftype of a decoded inode (from its VATTR btype). */
export function ftypeOfInode(obj: InodeObject): Ftype | undefined {
  return btypeToFtype(obj.vattr.btype);
}

function notFound(e: unknown): boolean {
  return isClfsError(e) && e.code === 'E_TARGET_NOT_FOUND';
}

/** Printable path from bytes: invalid UTF-8 and control bytes shown as \xNN (the tool's one printer, src/scan/display-path.ts). */
export function escapeName(bytes: Buffer): string {
  return displayPath(bytes);
}

/**
 * format.md §6.2: the reference stores a symlink's size as Python's character count of the target
 * decoded with surrogateescape (one per valid UTF-8 sequence, one per stray byte).
 */
export function pythonCharCount(b: Buffer): number {
  let count = 0;
  let i = 0;
  while (i < b.length) {
    const n = utf8SequenceLength(b, i);
    i += n === 0 ? 1 : n;
    count++;
  }
  return count;
}

/** "/" for the root, else "/a/b" with escaped bytes. */
export function displayClfsPath(parts: readonly Buffer[]): string {
  if (parts.length === 0) return '/';
  return parts.map((p) => '/' + escapeName(p)).join('');
}

/** Split a byte path on '/', dropping empty and '.' components. */
export function splitPath(path: Buffer | string): Buffer[] {
  const b = typeof path === 'string' ? Buffer.from(path, 'utf8') : path;
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= b.length; i++) {
    if (i === b.length || b[i] === 0x2f) {
      const part = b.subarray(start, i);
      if (part.length > 0 && !part.equals(DOT)) out.push(Buffer.from(part));
      start = i + 1;
    }
  }
  return out;
}

export class ContainerReader {
  readonly target: Target;
  readonly root: Inode;

  private constructor(target: Target, root: Inode) {
    this.target = target;
    this.root = root;
  }

  /**
   * Finds the final root (the highest version listed under the root's prefix). A container that
   * only has the `tmp` root was never finalized (format.md §3.6): E_NOT_FINALIZED.
   */
  static async open(target: Target, options: ReadOptions = {}): Promise<ContainerReader> {
    // blocks decoded through the addon's C where it agrees with the TypeScript (codec/lz4-native.ts)
    installNativeLz4(nativeLz4Functions(process.env));
    const name = await findRootName(target, options);
    const obj = await readDecoded(target, name, options);
    if (obj.kind !== 'inode' || obj.vattr.btype !== Btype.DIR) {
      throw new ClfsError('E_FORMAT_CORRUPT', `${name}: the root blob is not a directory inode`, { subject: name });
    }
    const version = parseBlobName(name)?.version ?? INITIAL_VERSION;
    return new ContainerReader(target, { handle: ROOT_ID, blob: name, version, obj });
  }

  /** get + decodeBlob + decodeObject. */
  async readObject(name: string, options: ReadOptions = {}): Promise<DecodedObject> {
    return readDecoded(this.target, name, options);
  }

  /**
   * The blob name of the inode `handle` found in directory `owner`: btype from handle byte 6,
   * version 9. Returns undefined when the handle's type byte names no inode type.
   */
  expectedInodeName(handle: Buffer, owner: Buffer): string | undefined {
    if (handle.equals(ROOT_ID)) return this.root.blob;
    const btype = inodeBtypeOf(handle);
    if (btype === undefined) return undefined;
    return blobName(handle, btype, owner, INITIAL_VERSION);
  }

  /**
   * Finds an inode's blob: the computed name first; then (hard links under --preserve-hardlinks
   * are named with owner = first backpointer at version 11, reconciled directories likewise) the
   * highest version listed under the id's prefix. Undefined when no blob exists.
   */
  async findInodeBlob(handle: Buffer, owner: Buffer, options: ReadOptions = {}): Promise<string | undefined> {
    const expected = this.expectedInodeName(handle, owner);
    if (expected !== undefined && (await this.target.exists(expected, options))) return expected;
    return highestVersion(this.target, blobListPrefix(handle), options);
  }

  /** Reads the inode `handle` found in directory `owner`; E_TARGET_NOT_FOUND when it has no blob. */
  async readInode(handle: Buffer, owner: Buffer, options: ReadOptions = {}): Promise<Inode> {
    if (handle.equals(ROOT_ID)) return this.root;
    const expected = this.expectedInodeName(handle, owner);
    let blob: string | undefined;
    if (expected !== undefined) {
      try {
        return this.inodeFrom(handle, expected, await this.target.get(expected, options));
      } catch (e) {
        if (!notFound(e)) throw e;
      }
    }
    blob = await highestVersion(this.target, blobListPrefix(handle), options);
    if (blob === undefined) {
      throw new ClfsError('E_TARGET_NOT_FOUND', `no inode blob for handle ${handle.toString('hex').toUpperCase()}`, {
        subject: expected ?? handle.toString('hex'),
      });
    }
    return this.inodeFrom(handle, blob, await this.target.get(blob, options));
  }

  private inodeFrom(handle: Buffer, blob: string, bytes: Buffer): Inode {
    const obj = decodeObject(decodeBlob(bytes, blob), blob);
    if (obj.kind !== 'inode') {
      throw new ClfsError('E_FORMAT_CORRUPT', `${blob}: expected an inode, found a ${obj.kind}`, { subject: blob });
    }
    return { handle, blob, version: parseBlobName(blob)?.version ?? INITIAL_VERSION, obj };
  }

  /** Name of a data or directory segment (owner = the inode, version 9). */
  segmentName(segmentId: Buffer, owner: Buffer): string {
    return blobName(segmentId, Btype.SEGMENT, owner, INITIAL_VERSION);
  }

  indirectName(indirectId: Buffer, owner: Buffer): string {
    return blobName(indirectId, Btype.INDIRECT, owner, INITIAL_VERSION);
  }

  /** The data segment ids of an inode in block order, loading indirect blocks on demand. */
  segmentIds(inode: Inode, options: ReadOptions = {}): AsyncIterable<{ block: number; id: Buffer }> {
    return segmentIdsOf(inode.obj.bmap, async (id) => {
      const name = this.indirectName(id, inode.handle);
      const obj = await this.readObject(name, options);
      if (obj.kind !== 'indirect') throw new ClfsError('E_FORMAT_CORRUPT', `${name}: expected an indirect block, found a ${obj.kind}`, { subject: name });
      return obj.pointers;
    });
  }

  /** Every dirent of a directory, `.` and `..` included, in stored order. */
  async *dirents(dir: Inode, options: ReadOptions = {}): AsyncIterable<Dirent> {
    yield* dir.obj.dirents ?? [];
    for await (const { id } of this.segmentIds(dir, options)) {
      const name = this.segmentName(id, dir.handle);
      const obj = await this.readObject(name, options);
      if (obj.kind !== 'dir-segment') throw new ClfsError('E_FORMAT_CORRUPT', `${name}: expected a directory segment, found a ${obj.kind}`, { subject: name });
      yield* obj.dirents;
    }
  }

  /** A file's bytes: inline DATA, then each segment in block order. Symlinks yield their target. */
  async *content(inode: Inode, options: ReadOptions = {}): AsyncIterable<Buffer> {
    const inline = inode.obj.data ?? Buffer.alloc(0);
    if (inline.length > 0) yield inline;
    if (inode.obj.vattr.btype !== Btype.REG) return;
    for await (const { id } of this.segmentIds(inode, options)) {
      const name = this.segmentName(id, inode.handle);
      const obj = await this.readObject(name, options);
      if (obj.kind !== 'file-segment') throw new ClfsError('E_FORMAT_CORRUPT', `${name}: expected a file segment, found a ${obj.kind}`, { subject: name });
      if (obj.data.length > 0) yield obj.data;
    }
  }

  /**
   * Walks a path from the root. Returns the inode and the directory it was found in (the root's
   * parent is the root). E_USAGE when a component does not exist or is not a directory.
   */
  async resolve(path: Buffer | string, options: ReadOptions = {}): Promise<{ inode: Inode; parent: Inode; name: Buffer; parts: Buffer[] }> {
    const parts = splitPath(path);
    let cur = this.root;
    let parent = this.root;
    let name = this.root.obj.name;
    const walked: Buffer[] = [];
    const stack: Inode[] = [];
    for (const part of parts) {
      if (part.equals(DOTDOT)) {
        cur = stack.pop() ?? this.root;
        walked.pop();
        parent = stack[stack.length - 1] ?? this.root;
        continue;
      }
      walked.push(part);
      if (cur.obj.vattr.btype !== Btype.DIR) {
        throw new ClfsError('E_USAGE', `${displayClfsPath(walked)}: not found (${displayClfsPath(walked.slice(0, -1))} is not a directory)`, {
          subject: displayClfsPath(walked),
        });
      }
      // a component typed as a string may be the escaped spelling `ls` prints (`caf\xe9.txt`)
      // or the name itself; the escaped reading wins when both exist, as it is what ls showed
      const escaped = typeof path === 'string' ? parseDisplayPath(part.toString('utf8')) : undefined;
      const wanted = escaped !== undefined && !escaped.equals(part) ? [escaped, part] : [part];
      let found: Buffer | undefined;
      let foundRank = wanted.length;
      for await (const d of this.dirents(cur, options)) {
        const rank = wanted.findIndex((w) => d.name.equals(w));
        if (rank < 0 || rank >= foundRank) continue;
        found = d.handle;
        foundRank = rank;
        walked[walked.length - 1] = wanted[rank]!;
        if (rank === 0) break;
      }
      if (found === undefined) {
        throw new ClfsError('E_USAGE', `${displayClfsPath(walked)}: no such file or directory in the container`, { subject: displayClfsPath(walked) });
      }
      stack.push(cur);
      parent = cur;
      cur = await this.readInode(found, cur.handle, options);
      name = walked[walked.length - 1]!;
    }
    return { inode: cur, parent, name, parts: walked };
  }
}

async function readDecoded(target: Target, name: string, options: ReadOptions): Promise<DecodedObject> {
  const bytes = await target.get(name, options);
  return decodeObject(decodeBlob(bytes, name), name);
}

/** Highest-version CLFS blob listed under a prefix (first listed wins a tie); tmp names excluded. */
export async function highestVersion(target: Target, prefix: string, options: ReadOptions = {}): Promise<string | undefined> {
  let best: string | undefined;
  let bestVersion = -1;
  for await (const info of target.list(prefix, options)) {
    const p = parseBlobName(info.name);
    if (p === undefined || p.tmp) continue;
    if (p.version > bestVersion) {
      best = info.name;
      bestVersion = p.version;
    }
  }
  return best;
}

async function findRootName(target: Target, options: ReadOptions): Promise<string> {
  const standard = rootBlobName();
  if (await target.exists(standard, options)) return standard;
  const listed = await highestVersion(target, blobListPrefix(ROOT_ID), options);
  if (listed !== undefined) return listed;
  for await (const info of target.list('tmp' + blobListPrefix(ROOT_ID), options)) {
    throw new ClfsError(
      'E_NOT_FINALIZED',
      `${target.description}: load not finalized: only the tmp root ${info.name} exists; resume the load to finish it`,
      { subject: info.name },
    );
  }
  throw new ClfsError('E_FORMAT_CORRUPT', `${target.description}: no root inode (${standard}); not a CLFS container, or empty`, {
    subject: standard,
  });
}

export type { Bmap, Dirent, Vattr };
