/**
 * The structure pass (restic's Structure): the bucket object and the root, then a walk from the
 * root one directory at a time. Every dirent must lead to an inode blob that decodes, has the
 * handle's type and names the directory back; a directory's `.`, `..`, segments, nlink and size
 * must agree with its entries; a directory has one name, so the walk cannot loop.
 *
 * For each inode it reaches the walk also runs the data pass (block map, segments) and the source
 * pass (lstat), and records hard-link names for the links pass, so each blob is read once. The
 * children of a directory are checked concurrently on one p-queue; their results (problems, link
 * names, subdirectories) are applied in dirent order whatever order they finish in, so the report
 * is the one a sequential walk would give, at any concurrency.
 */
import PQueue from 'p-queue';
import {
  Btype,
  blobListPrefix,
  bucketBlobName,
  dirSegmentOffset,
  DIR_SEGMENT_BYTES,
  FILE_SEGMENT_BYTES,
  FIRST_SEGMENT_BYTES,
  hash64Hex,
  parseBlobName,
  ROOT_ID,
} from '../../codec/index.js';
import type { DecodedObject } from '../../codec/index.js';
import { isClfsError } from '../../errors/index.js';
import { joinPath } from '../../scan/index.js';
import { ContainerReader, displayClfsPath, escapeName, type Inode, inodeBtypeOf, isDotOrDotDot, pythonCharCount } from '../container-reader.js';
import { checkAbort, hex, msgOf, Problems, readObject, type ProblemSink, type VerifyContext } from './context.js';
import { checkFileData, segments } from './data.js';
import type { HardLinks, LinkRecord } from './links.js';
import { INPROGRESS_HASH } from './listing.js';
import { attrsOf, compareEntry, compareNames, lstatOrUndefined, sourceKey } from './source.js';
import type { VerifyProblemCode } from './types.js';

const BUCKET_KEYS = ['bucketCurrentNameVersion', 'bucketNameVersion', 'bucketObjVersion', 'bucketUUID'];
const ROOT_KEYS = ['containeridEpoch', 'massUUID', 'wipeEpoch'];

interface DirTask {
  parts: Buffer[];
  handle: Buffer;
  parent: Buffer;
  source?: Buffer;
}

/** What checking one child found, applied in dirent order. */
interface ChildResult {
  out?: Problems;
  link?: LinkRecord;
  /** a directory to walk */
  subdir?: DirTask;
}

const NOTHING: ChildResult = {};

interface Walk {
  readonly ctx: VerifyContext;
  readonly reader: ContainerReader;
  readonly links: HardLinks;
  readonly queue: PQueue;
}

export async function checkBucket(ctx: VerifyContext): Promise<void> {
  const name = bucketBlobName();
  if (!ctx.listing.names.has(name)) {
    ctx.problems.add('', 'bucket', `bucket object ${name} is missing`, name);
    return;
  }
  ctx.listing.names.reach(name);
  try {
    const obj = await readObject(ctx, name);
    if (obj.kind !== 'bucket') {
      ctx.problems.add('', 'bucket', `bucket object ${name} holds a ${obj.kind}, not EXTATTRS`, name);
      return;
    }
    const keys = new Set(obj.extattrs.map(([k]) => k));
    const missing = BUCKET_KEYS.filter((k) => !keys.has(k));
    if (missing.length > 0) ctx.problems.add('', 'bucket', `bucket object lacks extattrs ${missing.join(', ')}`, name);
  } catch (e) {
    ctx.problems.add('', 'bucket', `bucket object ${name} does not decode: ${msgOf(e)}`, name);
  }
}

/** Opens the container at its root; undefined when there is none to walk (reported). */
export async function openRoot(ctx: VerifyContext): Promise<ContainerReader | undefined> {
  let reader: ContainerReader;
  try {
    reader = await ContainerReader.open(ctx.target, ctx.options);
  } catch (e) {
    if (!isClfsError(e)) throw e;
    // a tmp root was already reported by the listing
    if (e.code !== 'E_NOT_FINALIZED') ctx.problems.add('/', 'root', e.message, e.subject);
    return undefined;
  }
  const root = reader.root;
  ctx.listing.names.reach(root.blob);
  const ext = new Set((root.obj.extattrs ?? []).map(([k]) => k));
  const missing = ROOT_KEYS.filter((k) => !ext.has(k));
  if (missing.length > 0) ctx.problems.add('/', 'root', `root inode lacks extattrs ${missing.join(', ')}`, root.blob);
  return reader;
}

/** Walks every directory from the root, depth first, in dirent order. */
export async function walk(ctx: VerifyContext, reader: ContainerReader, links: HardLinks, source: Buffer | undefined): Promise<void> {
  const w: Walk = { ctx, reader, links, queue: new PQueue({ concurrency: ctx.limit }) };
  const stack: DirTask[] = [{ parts: [], handle: ROOT_ID, parent: ROOT_ID, ...(source ? { source } : {}) }];
  while (stack.length > 0) {
    checkAbort(ctx);
    const task = stack.pop()!;
    let dir: Inode;
    try {
      dir = await reader.readInode(task.handle, task.parent, ctx.options);
    } catch {
      // already reported when the directory was first visited as a child
      continue;
    }
    const subdirs = await visitDir(w, task, dir);
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
    ctx.options.onProgress?.({ counts: { ...ctx.counts }, problems: ctx.problems.length, path: displayClfsPath(task.parts) });
  }
}

/** Checks the block map header and slot 0 shared by every inode. */
function checkBmapHead(out: ProblemSink, path: string, inode: Inode): void {
  const b = inode.obj.bmap;
  const isDir = inode.obj.vattr.btype === Btype.DIR;
  if (!b.direct[0]!.equals(inode.handle)) out.add(path, 'bmap', `block map slot 0 is ${hex(b.direct[0]!)}, not the inode's own handle`, inode.blob);
  if (b.firstSegmentBytes !== FIRST_SEGMENT_BYTES) out.add(path, 'bmap', `block map first segment size ${b.firstSegmentBytes}, expected ${FIRST_SEGMENT_BYTES}`, inode.blob);
  const other = isDir ? DIR_SEGMENT_BYTES : FILE_SEGMENT_BYTES;
  if (b.otherSegmentBytes !== other) out.add(path, 'bmap', `block map segment size ${b.otherSegmentBytes}, expected ${other}`, inode.blob);
}

/** Checks a directory and its children; returns its subdirectories in dirent order. */
async function visitDir(w: Walk, task: DirTask, dir: Inode): Promise<DirTask[]> {
  const { ctx } = w;
  const path = displayClfsPath(task.parts);
  const subdirs: DirTask[] = [];
  const children = new Children(w.queue, ctx.limit * 8, (r) => {
    if (r.out !== undefined) ctx.problems.append(r.out);
    if (r.link !== undefined) w.links.record(r.link);
    if (r.subdir !== undefined) subdirs.push(r.subdir);
  });
  const dirents = new DirentCheck(w, task, dir, children);
  let streamBytes = 4 + (dir.obj.direntsBytes?.length ?? 0);
  try {
    checkBmapHead(children, path, dir);
    for (const d of dir.obj.dirents ?? []) await dirents.check(d.name, d.handle);
    for await (const segment of dirSegments(w, children, path, dir)) {
      streamBytes += 4 + segment.direntsBytes.length;
      for (const d of segment.dirents) await dirents.check(d.name, d.handle);
    }
    await children.finish();
  } catch (e) {
    await children.abandon();
    throw e;
  }
  const count = dirents.count;
  if (count < 2) ctx.problems.add(path, 'bad-dirent', `directory has ${count} dirents; "." and ".." are required`, dir.blob);
  const v = dir.obj.vattr;
  if (v.nlink !== 2 + subdirs.length) ctx.problems.add(path, 'nlink', `nlink ${v.nlink}, but the directory has ${subdirs.length} subdirectories (expected ${2 + subdirs.length})`, dir.blob);
  // format.md §8.4: a directory rewritten by reconcile (version > 9) stores st_size instead
  if (dir.version === 9 && v.sizeBytes !== BigInt(streamBytes)) {
    ctx.problems.add(path, 'size', `size ${v.sizeBytes}, but its entries take ${streamBytes} bytes`, dir.blob);
  }
  if (task.source !== undefined) compareNames(ctx.problems, task.parts, task.source, dirents.seen, ctx.filter);
  ctx.counts.dirs++;
  return subdirs;
}

type DirSegment = Extract<DecodedObject, { kind: 'dir-segment' }>;

/** A directory's segments that exist and decode as its own; the others are reported. */
async function* dirSegments(w: Walk, out: ProblemSink, path: string, dir: Inode): AsyncIterable<DirSegment> {
  const { ctx } = w;
  for await (const { block, id } of segments(ctx, w.reader, out, path, dir)) {
    checkAbort(ctx);
    const name = w.reader.segmentName(id, dir.handle);
    if (!ctx.listing.names.has(name)) {
      out.add(path, 'missing-segment', `directory segment ${block} ${name} is missing: its entries are lost`, name);
      continue;
    }
    ctx.listing.names.reach(name);
    ctx.counts.segments++;
    let obj: DecodedObject;
    try {
      obj = await readObject(ctx, name);
    } catch (e) {
      out.add(path, 'bad-segment', `directory segment ${block} ${name} does not decode: ${msgOf(e)}`, name);
      continue;
    }
    if (obj.kind !== 'dir-segment') {
      out.add(path, 'bad-segment', `blob ${name} should be directory segment ${block} but holds a ${obj.kind}`, name);
      continue;
    }
    const want = BigInt(dirSegmentOffset(block));
    if (obj.databack.offset !== want) out.add(path, 'bad-segment', `directory segment ${block} has DATABACK offset ${obj.databack.offset}, expected ${want}`, name);
    if (!obj.databack.owner.equals(dir.handle)) out.add(path, 'bad-segment', `directory segment ${block} names owner ${hex(obj.databack.owner)}`, name);
    yield obj;
  }
}

/** The dirents of one directory in stored order: `.` and `..` first, no name twice; the rest are queued as children. */
class DirentCheck {
  count = 0;
  /** names seen, hex */
  readonly seen = new Set<string>();
  readonly #path: string;

  constructor(
    private readonly w: Walk,
    private readonly task: DirTask,
    private readonly dir: Inode,
    private readonly children: Children,
  ) {
    this.#path = displayClfsPath(task.parts);
  }

  async check(name: Buffer, handle: Buffer): Promise<void> {
    const { dir, children } = this;
    const i = this.count++;
    if (i === 0 || i === 1) {
      const wantName = i === 0 ? '.' : '..';
      const wantHandle = i === 0 ? dir.handle : this.task.parent;
      if (name.toString('latin1') !== wantName) {
        children.add(this.#path, 'bad-dirent', `dirent ${i} is "${escapeName(name)}", expected "${wantName}"`, dir.blob);
      } else if (!handle.equals(wantHandle)) {
        children.add(this.#path, 'bad-dirent', `"${wantName}" points to ${hex(handle)}, expected ${hex(wantHandle)}`, dir.blob);
      }
      if (name.toString('latin1') === wantName) return;
    }
    if (isDotOrDotDot(name)) {
      children.add(this.#path, 'bad-dirent', `extra "${name.toString('latin1')}" dirent at position ${i}`, dir.blob);
      return;
    }
    const key = name.toString('hex');
    if (this.seen.has(key)) {
      children.add(displayClfsPath([...this.task.parts, name]), 'bad-dirent', `name appears twice in the directory`, dir.blob);
      return;
    }
    this.seen.add(key);
    await children.schedule(() => visitChild(this.w, this.task, dir, name, handle));
  }
}

/**
 * The children of one directory, checked on the walk's queue with their results applied in
 * dirent order. At most `window` of them are queued, running or finished waiting for an earlier
 * one, which bounds memory however large the directory.
 */
class Children implements ProblemSink {
  #issued = 0;
  #next = 0;
  readonly #done = new Map<number, ChildResult>();
  #wake: (() => void) | undefined;
  #failure: { error: unknown } | undefined;

  constructor(
    private readonly queue: PQueue,
    private readonly window: number,
    private readonly apply: (r: ChildResult) => void,
  ) {}

  /** A problem of the directory itself, in order with those of its children. */
  add(path: string, code: VerifyProblemCode, message: string, blob?: string): void {
    const out = new Problems(1);
    out.add(path, code, message, blob);
    this.#fill(this.#issued++, { out });
  }

  /** Queues a child check; waits while the window is full; throws what an earlier check threw. */
  async schedule(check: () => Promise<ChildResult>): Promise<void> {
    while (this.#issued - this.#next >= this.window && this.#failure === undefined) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    this.#throwIfFailed();
    const slot = this.#issued++;
    void this.queue.add(async () => {
      let r = NOTHING;
      try {
        r = await check();
      } catch (e) {
        this.#failure ??= { error: e };
      }
      this.#fill(slot, r);
    });
  }

  /** Waits for every child; throws the first failure. */
  async finish(): Promise<void> {
    await this.queue.onIdle();
    this.#throwIfFailed();
  }

  /** The directory failed: children not started are dropped, running ones awaited. */
  async abandon(): Promise<void> {
    this.queue.clear();
    await this.queue.onIdle();
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
  }

  #fill(slot: number, r: ChildResult): void {
    this.#done.set(slot, r);
    try {
      for (let ready = this.#done.get(this.#next); ready !== undefined; ready = this.#done.get(this.#next)) {
        this.#done.delete(this.#next++);
        this.apply(ready);
      }
    } catch (e) {
      this.#failure ??= { error: e };
    } finally {
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
    }
  }
}

/** Checks one child: its inode, and through the other passes its data, source entry and links. */
async function visitChild(w: Walk, task: DirTask, dir: Inode, name: Buffer, handle: Buffer): Promise<ChildResult> {
  const { ctx } = w;
  const out = new Problems(ctx.maxProblems);
  const path = displayClfsPath([...task.parts, name]);
  const btype = inodeBtypeOf(handle);
  const idHex = hex(handle);
  const { listing } = ctx;
  if (listing.inProgressIds.has(idHex) || listing.badNameIds.has(idHex)) listing.pathsById.set(idHex, path);
  if (btype === undefined) {
    out.add(path, 'bad-dirent', `dirent handle ${idHex} is not a filehandle of a known type`, dir.blob);
    return { out };
  }
  const blob = await findInodeBlob(w, out, path, handle, dir);
  if (blob === undefined) return { out };
  const source = task.source === undefined ? undefined : joinPath(task.source, name);
  const dirHex = hex(dir.handle);
  if (listing.names.reach(blob)) {
    ctx.counts.hardlinkRepeats++;
    if (btype === Btype.DIR) {
      out.add(path, 'bad-dirent', `directory inode ${blob} is reached by a second dirent (a directory has one name)`, blob);
      return { out };
    }
    // compared with its source by the links pass, once the first visit has stored what it found
    const st = source === undefined ? undefined : lstatOrUndefined(source);
    return { out, link: { repeat: { cont: blob, path, dir: dirHex, src: st === undefined ? null : sourceKey(st), srcPath: source ?? null } } };
  }
  const inode = await readChildInode(ctx, out, path, handle, btype, blob);
  if (inode === undefined) {
    // the first visit of an unreadable inode is recorded so its further names add no noise
    if (btype === Btype.DIR) return { out };
    return { out, link: { first: { cont: blob, path, dir: dirHex, src: null, srcPath: null, nlink: -1, back: [], attrs: null, sha: null } } };
  }
  checkBmapHead(out, path, inode);
  checkOwner(w, out, path, inode, dir, name);
  const sha = await checkByType(w, out, path, inode, source);
  const attrs = attrsOf(inode);
  const st = source === undefined ? undefined : lstatOrUndefined(source);
  // a name missing from the source is reported by compareNames
  if (st !== undefined) compareEntry(ctx, out, path, attrs, st, source!, blob);
  if (btype === Btype.DIR) {
    const subdir: DirTask = { parts: [...task.parts, name], handle, parent: dir.handle };
    if (source !== undefined) subdir.source = source;
    return { out, subdir };
  }
  const v = inode.obj.vattr;
  const back = inode.obj.back ?? [];
  if (v.nlink > 1 || back.length > 1 || (st !== undefined && st.nlink > 1n)) {
    const src = st === undefined ? null : sourceKey(st);
    return { out, link: { first: { cont: blob, path, dir: dirHex, src, srcPath: null, nlink: v.nlink, back: back.map(hex), attrs, sha: sha ?? null } } };
  }
  return { out };
}

/**
 * The blob of the inode a dirent names: the computed name, else (hard links: owner = first
 * backpointer, version 11; reconciled inodes) the highest version under its prefix.
 */
async function findInodeBlob(w: Walk, out: ProblemSink, path: string, handle: Buffer, dir: Inode): Promise<string | undefined> {
  const { ctx } = w;
  const blob = w.reader.expectedInodeName(handle, dir.handle)!;
  if (ctx.listing.names.has(blob)) return blob;
  let best: string | undefined;
  let bestVersion = -1;
  for await (const info of ctx.target.list(blobListPrefix(handle), ctx.options)) {
    const p = parseBlobName(info.name);
    if (p === undefined || p.tmp || p.ownerHashHex === INPROGRESS_HASH) continue;
    if (p.version > bestVersion) {
      best = info.name;
      bestVersion = p.version;
    }
  }
  if (best !== undefined) return best;
  const idHex = hex(handle);
  const bad = ctx.listing.badNameIds.get(idHex);
  const inProgress = ctx.listing.inProgressIds.get(idHex);
  const hint = bad !== undefined ? ` (a blob with a damaged name exists: ${bad})` : inProgress !== undefined ? ` (only the in-progress blob ${inProgress} exists: reconcile did not finish)` : '';
  out.add(path, 'missing-inode', `dirent points to handle ${idHex}, but its inode blob ${blob} is missing${hint}`, blob);
  return undefined;
}

/** The inode blob decoded, of the handle's type; undefined when not (reported). */
async function readChildInode(ctx: VerifyContext, out: ProblemSink, path: string, handle: Buffer, btype: number, blob: string): Promise<Inode | undefined> {
  let inode: Inode;
  try {
    const obj = await readObject(ctx, blob);
    if (obj.kind !== 'inode') {
      out.add(path, 'corrupt', `blob ${blob} should be an inode but holds a ${obj.kind}`, blob);
      return undefined;
    }
    inode = { handle, blob, version: parseBlobName(blob)!.version, obj };
  } catch (e) {
    out.add(path, 'corrupt', `inode blob ${blob} does not decode: ${msgOf(e)}`, blob);
    return undefined;
  }
  if (inode.obj.vattr.btype !== btype) {
    out.add(path, 'wrong-type', `inode type ${inode.obj.vattr.btype} does not match the handle's type ${btype}`, blob);
    return undefined;
  }
  return inode;
}

/** A directory is owned by its parent and named as in its dirent; anything else by its first backpointer. */
function checkOwner(w: Walk, out: ProblemSink, path: string, inode: Inode, dir: Inode, name: Buffer): void {
  const { blob } = inode;
  const v = inode.obj.vattr;
  const ownerHash = parseBlobName(blob)!.ownerHashHex!;
  if (v.btype === Btype.DIR) {
    if (ownerHash !== hash64Hex(dir.handle)) out.add(path, 'backpointer', `directory blob ${blob} is owned by ${ownerHash}, not by its parent`, blob);
    if (!inode.obj.name.equals(name)) out.add(path, 'bad-dirent', `NAME section says "${escapeName(inode.obj.name)}"`, blob);
    return;
  }
  const back = inode.obj.back ?? [];
  if (back.length === 0) out.add(path, 'backpointer', 'inode has no backpointer', blob);
  else {
    if (ownerHash !== hash64Hex(back[0]!)) out.add(path, 'backpointer', `blob ${blob} is owned by ${ownerHash}, not by its first backpointer ${hex(back[0]!)}`, blob);
    if (!back.some((b) => b.equals(dir.handle))) out.add(path, 'backpointer', `BACK does not name the directory it is in (${hex(dir.handle)})`, blob);
  }
  if (v.nlink !== back.length) out.add(path, 'nlink', `nlink ${v.nlink} but ${back.length} backpointers`, blob);
  if (v.nlink > 1 || back.length > 1) w.links.sawSharedInode = true;
}

/** Counts the inode and checks what its type holds; a file's content through the data pass (its SHA-256 with a source). */
async function checkByType(w: Walk, out: ProblemSink, path: string, inode: Inode, source: Buffer | undefined): Promise<string | undefined> {
  const { counts } = w.ctx;
  const { blob } = inode;
  const v = inode.obj.vattr;
  switch (v.btype) {
    case Btype.DIR:
      return undefined;
    case Btype.REG:
      counts.files++;
      counts.bytes += Number(v.sizeBytes);
      return checkFileData(w.ctx, w.reader, out, path, inode, source);
    case Btype.LNK: {
      counts.symlinks++;
      const data = inode.obj.data ?? Buffer.alloc(0);
      // format.md §6.2: the reference stores the target's character count; we store its byte length
      if (v.sizeBytes !== BigInt(data.length) && v.sizeBytes !== BigInt(pythonCharCount(data))) {
        out.add(path, 'size', `symlink size ${v.sizeBytes} but its target has ${data.length} bytes`, blob);
      }
      if (inode.obj.bmap.direct.length !== 1) out.add(path, 'bmap', `symlink has ${inode.obj.bmap.direct.length - 1} segments`, blob);
      return undefined;
    }
    default:
      counts.special++;
      if (inode.obj.bmap.direct.length !== 1) out.add(path, 'bmap', `special file has ${inode.obj.bmap.direct.length - 1} segments`, blob);
      return undefined;
  }
}
