/**
 * The source pass: the container against the tree it was loaded from. Each directory's names
 * against the source directory's, each inode's stored type, mode, owner, mtime, size and symlink
 * target against its source entry's lstat (content is hashed by the data pass).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Btype, encodeTimeNs } from '../../codec/index.js';
import { holdsMarker, joinPath, kindOfMode } from '../../scan/index.js';
import type { SourceFilter } from '../../scan/index.js';
import type { FolderReader, SourceProbe, SourceStat } from '../../targets/folder-reader.js';
import { hashToEndSync } from '../../targets/hash-to-end.js';
import { displayClfsPath, escapeName, type Inode } from '../container-reader.js';
import { entryTypeOf } from '../ls.js';
import { msgOf, type ProblemSink, type VerifyContext } from './context.js';
import type { StoredAttrs } from './link-table.js';

export function lstatOrUndefined(path: Buffer): fs.BigIntStats | undefined {
  try {
    return fs.lstatSync(path as unknown as string, { bigint: true });
  } catch {
    return undefined;
  }
}

/** A source inode: the loader matches hard links by the same pair. */
export function sourceKey(st: SourceStat): string {
  return `${st.dev}:${st.ino}`;
}

/** Files up to this size are read whole with synchronous calls (see sha256OfFile). */
const SYNC_READ_BYTES = 256 * 1024;
/** Source files up to this size come back whole from a probe, to be compared byte for byte. */
const PROBE_BYTES = 64 * 1024;

/**
 * A source entry's lstat, and a regular file's content (bytes up to PROBE_BYTES, else its SHA-256
 * up to SYNC_READ_BYTES), in one trip to the reader threads; undefined when it cannot be statted
 * (compareNames reports a missing name). Without threads, the lstat alone, here.
 */
export async function probeSource(path: Buffer, threads?: FolderReader): Promise<SourceProbe | undefined> {
  if (threads === undefined) {
    const st = lstatOrUndefined(path);
    return st === undefined ? undefined : { st };
  }
  try {
    return await threads.probe(path, PROBE_BYTES, SYNC_READ_BYTES);
  } catch {
    return undefined;
  }
}
const STREAM_CHUNK_BYTES = 1024 * 1024;

/**
 * SHA-256 of a source file. A small file is read whole with synchronous calls: through the thread
 * pool its open, stat, read and close cost four times the CPU (a tree of 30,000 small files: 3.2 s
 * against 0.8 s). With `threads` (verify --source) that is done on those reader threads, several
 * files at once and none of it on the walk's thread; without, here. Larger files stream.
 */
export async function sha256OfFile(path: Buffer, threads?: FolderReader): Promise<string> {
  if (threads !== undefined) {
    const r = await threads.sha256(path, SYNC_READ_BYTES);
    if (typeof r === 'string') return r;
  }
  const h = createHash('sha256');
  const fd = fs.openSync(path as unknown as string, 'r');
  let streamed = false;
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= SYNC_READ_BYTES) {
      hashToEndSync(fd, size, h);
      return h.digest('hex');
    }
    streamed = true;
    const stream = fs.createReadStream(path as unknown as string, { fd, highWaterMark: STREAM_CHUNK_BYTES, start: 0 });
    for await (const chunk of stream) h.update(chunk as Buffer);
    return h.digest('hex');
  } finally {
    if (!streamed) fs.closeSync(fd);
  }
}

/** What an inode stores that is compared with its source entry. */
export function attrsOf(inode: Inode): StoredAttrs {
  const v = inode.obj.vattr;
  const a: StoredAttrs = { btype: v.btype, mode: v.mode, uid: v.uid, gid: v.gid, mtimeSec: v.mtime.sec, size: v.sizeBytes.toString() };
  if (v.btype === Btype.LNK) a.link = (inode.obj.data ?? Buffer.alloc(0)).toString('hex');
  return a;
}

/** The root inode against the source root; an unreadable source root is reported by compareNames. */
export function compareRoot(ctx: VerifyContext, root: Inode, source: Buffer): void {
  const st = lstatOrUndefined(source);
  if (st !== undefined) compareEntry(ctx, ctx.problems, '/', attrsOf(root), st, source, root.blob);
}

/** Compares what an inode stores with its source entry; false when the types differ. */
export function compareEntry(ctx: VerifyContext, out: ProblemSink, path: string, a: StoredAttrs, st: SourceStat, source: Buffer, blob: string): boolean {
  const mode = Number(st.mode);
  const kind = kindOfMode(mode);
  const type = entryTypeOf(a.btype);
  const typeName = (k: string | undefined): string => k ?? 'unknown';
  if (kind !== type) {
    out.add(path, 'source-mismatch', `type ${typeName(type)} but the source is a ${typeName(kind)}`, blob);
    return false;
  }
  const skip = ctx.options.skipSourceField ?? (() => false);
  if ((a.mode & 0xffff) !== (mode & 0xffff) && !skip(path, 'mode')) {
    out.add(path, 'source-mismatch', `mode ${a.mode.toString(8)} but the source has ${mode.toString(8)}`, blob);
  }
  if ((a.uid !== Number(st.uid) || a.gid !== Number(st.gid)) && !skip(path, 'owner')) {
    out.add(path, 'source-mismatch', `owner ${a.uid}:${a.gid} but the source has ${st.uid}:${st.gid}`, blob);
  }
  // format.md §8.3: the stored seconds come from the reference's double round trip
  const want = encodeTimeNs(st.mtimeNs);
  if (want !== undefined && a.mtimeSec !== want.sec && !skip(path, 'mtime')) {
    out.add(path, 'source-mismatch', `mtime ${new Date(a.mtimeSec * 1000).toISOString()} but the source has ${new Date(want.sec * 1000).toISOString()}`, blob);
  }
  if (kind === 'file' && a.size !== st.size.toString()) {
    out.add(path, 'source-mismatch', `size ${a.size} but the source has ${st.size} bytes`, blob);
  }
  if (kind === 'symlink') compareLinkTarget(out, path, a, source, blob);
  return true;
}

function compareLinkTarget(out: ProblemSink, path: string, a: StoredAttrs, source: Buffer, blob: string): void {
  const stored = Buffer.from(a.link ?? '', 'hex');
  try {
    const target = fs.readlinkSync(source as unknown as string, { encoding: 'buffer' }) as unknown as Buffer;
    if (!target.equals(stored)) {
      out.add(path, 'source-mismatch', `symlink target "${escapeName(stored)}" but the source points to "${escapeName(target)}"`, blob);
    }
  } catch (e) {
    out.add(path, 'source-mismatch', `cannot read the source symlink: ${msgOf(e)}`);
  }
}

/** Whether the load's filters leave out the source entry `name` of the directory at `parts` (below the root). */
function filteredOut(filter: SourceFilter, parts: Buffer[], source: Buffer, entry: fs.Dirent): boolean {
  const name = entry.name as unknown as Buffer;
  let isDir = entry.isDirectory();
  if (!isDir && !entry.isFile() && !entry.isSymbolicLink() && !entry.isFIFO() && !entry.isSocket() && !entry.isCharacterDevice() && !entry.isBlockDevice()) {
    isDir = lstatOrUndefined(joinPath(source, name))?.isDirectory() === true;
  }
  // the relative path only for a filter that reads it (the default one looks at directory names alone)
  const rel = filter.needsPath(isDir) ? Buffer.concat([...parts, name].flatMap((p, i) => (i === 0 ? [p] : [SLASH, p]))) : name;
  return filter.excluded(rel, name, isDir) || (isDir && filter.markers.length > 0 && holdsMarker(filter.markers, joinPath(source, name)));
}
const SLASH = Buffer.from('/');

/**
 * A directory's names (hex) against its source directory's. What the filters leave out of the
 * load is not expected in the container, and is reported when it is there.
 */
export function compareNames(out: ProblemSink, parts: Buffer[], source: Buffer, names: Set<string>, filter?: SourceFilter): void {
  const path = displayClfsPath(parts);
  let list: fs.Dirent[];
  try {
    list = fs.readdirSync(source as unknown as string, { encoding: 'buffer', withFileTypes: true }) as unknown as fs.Dirent[];
  } catch (e) {
    out.add(path, 'source-mismatch', `cannot read the source directory: ${msgOf(e)}`);
    return;
  }
  const inSource = new Set<string>();
  for (const entry of list) {
    const n = entry.name as unknown as Buffer;
    const k = n.toString('hex');
    inSource.add(k);
    if (filter !== undefined && filteredOut(filter, parts, source, entry)) {
      if (names.has(k)) out.add(displayClfsPath([...parts, n]), 'source-mismatch', 'in the container but the filters leave it out (verify with the filter options of the load)');
      continue;
    }
    if (!names.has(k)) out.add(displayClfsPath([...parts, n]), 'source-mismatch', 'in the source but not in the container');
  }
  for (const k of names) {
    if (!inSource.has(k)) out.add(displayClfsPath([...parts, Buffer.from(k, 'hex')]), 'source-mismatch', 'in the container but not in the source');
  }
}
