/**
 * The structure pass (restic's Structure): the bucket object and the root, then a walk from the
 * root one directory at a time. Every dirent must lead to an inode blob that decodes, has the
 * handle's type and names the directory back; a directory's `.`, `..`, segments, nlink and size
 * must agree with its entries; a directory has one name, so the walk cannot loop.
 *
 * For each inode it reaches the walk also runs the data pass (block map, segments) and the source
 * pass (lstat), and records hard-link names for the links pass, so each blob is read once. The
 * children of a directory are checked concurrently on one p-queue, and several directories are
 * walked at once (siblings, cousins: whatever the walk has found); their results (problems, counts,
 * link names, subdirectories) are applied in one order whatever order they finish in: the
 * directories in pre-order, each one's children in dirent order. So the report is the one a
 * sequential walk would give, at any concurrency. Which dirent of an inode reached twice (a hard
 * link) is its first is decided in that order too. Memory: each directory being walked holds at
 * most a window of child results, and at most `ctx.limit` directories are walked ahead of the one
 * whose results are being applied.
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
  INITIAL_VERSION,
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
import { attrsOf, compareEntry, compareNames, lstatOrUndefined, probeSource, sourceKey } from './source.js';
import type { SourceProbe } from '../../targets/folder-reader.js';
import type { VerifyCounts, VerifyProblemCode } from './types.js';

const BUCKET_KEYS = ['bucketCurrentNameVersion', 'bucketNameVersion', 'bucketObjVersion', 'bucketUUID'];
const ROOT_KEYS = ['containeridEpoch', 'massUUID', 'wipeEpoch'];

interface DirTask {
  parts: Buffer[];
  handle: Buffer;
  parent: Buffer;
  source?: Buffer;
  /** the directory's inode, as its dirent's check read it (dropped while the task waits in a long queue) */
  inode?: Inode;
}

/** What checking one child found, applied in the walk's order. */
interface ChildResult {
  out?: Problems;
  link?: LinkRecord;
  /** a directory to walk */
  subdir?: DirTask;
  /** what the check counted (applied with the result, so a discarded variant counts nothing) */
  counts?: VerifyCounts;
}

/**
 * One dirent's check. When it leads to an inode blob (`blob`), whether this dirent is the blob's
 * first is decided when the results are applied: `first` is used then, else `repeat`.
 */
interface ChildVisit {
  result: ChildResult;
  blob?: string;
  repeat?: () => ChildResult;
  /** an odd id whose path the listing pass wants (hex) */
  pathOfId?: string;
  path?: string;
}

const NOTHING: ChildVisit = { result: {} };

/** Position of a dirent in the order results are applied: its directory's pre-order key, then its ordinal. */
interface Position {
  dir: readonly number[];
  ordinal: number;
}

function before(a: Position, b: Position): boolean {
  const n = Math.min(a.dir.length, b.dir.length);
  for (let i = 0; i < n; i++) if (a.dir[i] !== b.dir[i]) return a.dir[i]! < b.dir[i]!;
  // an ancestor's block comes before its descendants'
  if (a.dir.length !== b.dir.length) return a.dir.length < b.dir.length;
  return a.ordinal < b.ordinal;
}

/** Blobs of inodes with several names, by the earliest dirent whose check read them in full (bounded). */
const CLAIMS_MAX = 100_000;

interface Walk {
  readonly ctx: VerifyContext;
  readonly reader: ContainerReader;
  readonly links: HardLinks;
  readonly queue: PQueue;
  readonly claims: Map<string, Position>;
  readonly order: WalkOrder;
}

function zeroCounts(): VerifyCounts {
  return { dirs: 0, files: 0, symlinks: 0, special: 0, hardlinkRepeats: 0, blobs: 0, segments: 0, indirect: 0, bytes: 0 };
}

function addCounts(to: VerifyCounts, from: VerifyCounts): void {
  for (const k of Object.keys(from) as Array<keyof VerifyCounts>) to[k] += from[k];
}

/** A directory of the walk: its place in the pre-order and whether its results may be applied yet. */
class DirNode {
  /** in dirent order; an entry is dropped once its subtree is applied (memory: the walk's spine and the siblings still to come) */
  readonly subdirs: Array<DirNode | undefined> = [];
  /** results applied and subdirectories known: the pre-order may move past it */
  complete = false;
  /** the directory whose results are being applied */
  isHead = false;
  started = false;
  children: Children | undefined;
  readonly #headWaiters: Array<() => void> = [];

  constructor(
    readonly task: DirTask,
    readonly key: readonly number[],
    readonly parent: DirNode | undefined,
    readonly index: number,
  ) {}

  becomeHead(): void {
    this.isHead = true;
    this.children?.drain();
    for (const w of this.#headWaiters.splice(0)) w();
  }

  whenHead(): Promise<void> {
    if (this.isHead) return Promise.resolve();
    return new Promise<void>((resolve) => this.#headWaiters.push(resolve));
  }
}

/**
 * Which directories are walked, and in what order their results are applied: the pre-order of
 * the tree, found as the walk goes (a directory's subdirectories are known once its results are).
 * A directory found is started when fewer than `limit` are being walked; the one whose turn it is
 * is started at once whatever the limit, so the walk never waits on itself.
 */
class WalkOrder {
  readonly #waiting: DirNode[] = [];
  #running = 0;
  #failure: { error: unknown } | undefined;
  #failed: () => void = () => undefined;
  /** settles when the walk failed (never resolves otherwise): every wait of the walk races it */
  readonly failed: Promise<never>;
  readonly #visits = new Set<Promise<void>>();
  #finished: () => void = () => undefined;
  readonly finished = new Promise<void>((resolve) => (this.#finished = resolve));

  constructor(
    private readonly limit: number,
    private readonly visit: (node: DirNode) => Promise<void>,
  ) {
    this.failed = new Promise<never>((_, reject) => (this.#failed = () => reject(this.#failure!.error)));
    this.failed.catch(() => undefined);
  }

  get failure(): { error: unknown } | undefined {
    return this.#failure;
  }

  fail(error: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = { error };
    this.#failed();
  }

  /** A subdirectory found (in dirent order) by its parent while the parent is the head. */
  found(node: DirNode): void {
    if (this.#waiting.length >= 1000) delete node.task.inode;
    this.#waiting.push(node);
    this.#pump();
  }

  /** The first directory: the head from the start. */
  begin(root: DirNode): void {
    root.becomeHead();
    this.#start(root);
  }

  #pump(): void {
    while (this.#running < this.limit && this.#waiting.length > 0) {
      const next = this.#waiting.shift()!;
      if (!next.started) this.#start(next);
    }
  }

  #start(node: DirNode): void {
    if (node.started || this.#failure !== undefined) return;
    node.started = true;
    this.#running += 1;
    const p: Promise<void> = this.visit(node)
      .catch((e: unknown) => this.fail(e))
      .finally(() => {
        this.#running -= 1;
        this.#visits.delete(p);
        this.#pump();
      });
    this.#visits.add(p);
  }

  /** The head's results are all applied: the turn passes to the next directory in pre-order. */
  advance(node: DirNode): void {
    node.complete = true;
    let next: DirNode | undefined = node.subdirs[0];
    for (let n = node; next === undefined; ) {
      const p = n.parent;
      if (p === undefined) break;
      // n's whole subtree is applied: nothing needs it any more
      p.subdirs[n.index] = undefined;
      next = p.subdirs[n.index + 1];
      n = p;
    }
    if (next === undefined) {
      this.#finished();
      return;
    }
    next.becomeHead();
    // its turn came before it could be started: start it now, past the limit
    if (!next.started) this.#start(next);
  }

  async settle(): Promise<void> {
    await Promise.race([this.finished, this.failed]).catch(() => undefined);
    // walks still running after a failure end at their next wait
    while (this.#visits.size > 0) await Promise.allSettled([...this.#visits]);
    if (this.#failure !== undefined) throw this.#failure.error;
  }
}

/**
 * The bucket object and the root, read while the container is listed: neither read depends on the
 * listing, and a verify otherwise started its walk only after a listing, then two reads in turn.
 * What they find is reported after the listing's problems all the same (checkBucket, openRoot).
 * Neither promise rejects.
 */
export interface EarlyReads {
  bucket: Promise<{ obj: DecodedObject } | { error: unknown }>;
  root: Promise<{ reader: ContainerReader } | { error: unknown }>;
}

export function startEarlyReads(ctx: VerifyContext): EarlyReads {
  return {
    bucket: readObject(ctx, bucketBlobName()).then(
      (obj) => ({ obj }),
      (error: unknown) => ({ error }),
    ),
    root: ContainerReader.open(ctx.target, ctx.options).then(
      (reader) => ({ reader }),
      (error: unknown) => ({ error }),
    ),
  };
}

export async function checkBucket(ctx: VerifyContext, early: EarlyReads): Promise<void> {
  const name = bucketBlobName();
  if (!ctx.listing.names.has(name)) {
    ctx.problems.add('', 'bucket', `bucket object ${name} is missing`, name);
    return;
  }
  ctx.listing.names.reach(name);
  try {
    const read = await early.bucket;
    if ('error' in read) throw read.error;
    const obj = read.obj;
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
export async function openRoot(ctx: VerifyContext, early: EarlyReads): Promise<ContainerReader | undefined> {
  let reader: ContainerReader;
  try {
    const opened = await early.root;
    if ('error' in opened) throw opened.error;
    reader = opened.reader;
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

/** Walks every directory from the root; results in pre-order, each directory's children in dirent order. */
export async function walk(ctx: VerifyContext, reader: ContainerReader, links: HardLinks, source: Buffer | undefined): Promise<void> {
  const queue = new PQueue({ concurrency: ctx.limit });
  const order: WalkOrder = new WalkOrder(ctx.limit, (node) => visitDirNode(w, node));
  const w: Walk = { ctx, reader, links, queue, claims: new Map(), order };
  const root = new DirNode({ parts: [], handle: ROOT_ID, parent: ROOT_ID, ...(source ? { source } : {}), inode: reader.root }, [], undefined, 0);
  order.begin(root);
  try {
    await order.settle();
  } finally {
    queue.clear();
    await queue.onIdle();
  }
}

async function visitDirNode(w: Walk, node: DirNode): Promise<void> {
  const { ctx } = w;
  checkAbort(ctx);
  const task = node.task;
  let dir: Inode | undefined = task.inode;
  delete task.inode;
  if (dir === undefined) {
    try {
      dir = await w.reader.readInode(task.handle, task.parent, ctx.options);
    } catch {
      // already reported when the directory was first visited as a child
    }
  }
  if (dir !== undefined) await visitDir(w, node, dir);
  else await Promise.race([node.whenHead(), w.order.failed]);
  ctx.options.onProgress?.({ counts: { ...ctx.counts }, problems: ctx.problems.length, path: displayClfsPath(task.parts) });
  w.order.advance(node);
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

/** Checks a directory and its children; its subdirectories are handed to the walk in dirent order. */
async function visitDir(w: Walk, node: DirNode, dir: Inode): Promise<void> {
  const { ctx } = w;
  const task = node.task;
  const path = displayClfsPath(task.parts);
  const children = new Children(w, node, ctx.limit * 8, (v, position) => applyChild(w, node, v));
  node.children = children;
  const dirents = new DirentCheck(w, task, dir, children, node.key);
  let streamBytes = 4 + (dir.obj.direntsBytes?.length ?? 0);
  try {
    checkBmapHead(children, path, dir);
    for (const d of dir.obj.dirents ?? []) await dirents.check(d.name, d.handle);
    for await (const segment of dirSegments(w, children, path, dir)) {
      streamBytes += 4 + segment.direntsBytes.length;
      for (const d of segment.dirents) await dirents.check(d.name, d.handle);
    }
    await children.finish();
  } finally {
    node.children = undefined;
  }
  const count = dirents.count;
  const subdirs = node.subdirs.length;
  if (count < 2) ctx.problems.add(path, 'bad-dirent', `directory has ${count} dirents; "." and ".." are required`, dir.blob);
  const v = dir.obj.vattr;
  if (v.nlink !== 2 + subdirs) ctx.problems.add(path, 'nlink', `nlink ${v.nlink}, but the directory has ${subdirs} subdirectories (expected ${2 + subdirs})`, dir.blob);
  // format.md §8.4: a directory rewritten by reconcile (version > 9) stores st_size instead
  if (dir.version === 9 && v.sizeBytes !== BigInt(streamBytes)) {
    ctx.problems.add(path, 'size', `size ${v.sizeBytes}, but its entries take ${streamBytes} bytes`, dir.blob);
  }
  if (task.source !== undefined) compareNames(ctx.problems, task.parts, task.source, dirents.seen, ctx.filter);
  ctx.counts.dirs++;
}

/** Applies one child's check, in the walk's order: here it is decided whether its inode was reached before. */
function applyChild(w: Walk, node: DirNode, v: ChildVisit): void {
  const { ctx } = w;
  if (v.pathOfId !== undefined) ctx.listing.pathsById.set(v.pathOfId, v.path!);
  let r = v.result;
  if (v.blob !== undefined && ctx.listing.names.reach(v.blob)) {
    ctx.counts.hardlinkRepeats++;
    r = v.repeat?.() ?? {};
  }
  if (r.out !== undefined) ctx.problems.append(r.out);
  if (r.counts !== undefined) addCounts(ctx.counts, r.counts);
  if (r.link !== undefined) w.links.record(r.link);
  if (r.subdir !== undefined) {
    const sub = new DirNode(r.subdir, [...node.key, node.subdirs.length], node, node.subdirs.length);
    node.subdirs.push(sub);
    w.order.found(sub);
  }
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
    private readonly key: readonly number[],
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
    const position: Position = { dir: this.key, ordinal: i };
    await children.schedule(() => visitChild(this.w, this.task, dir, name, handle, position, this.#path));
  }
}

/**
 * The children of one directory, checked on the walk's queue with their results applied in
 * dirent order, and only while the directory is the walk's head (its turn in the pre-order). At
 * most `window` of them are queued, running or finished waiting for an earlier one or for the
 * turn, which bounds memory however large the directory.
 */
class Children implements ProblemSink {
  #issued = 0;
  #next = 0;
  #settled = 0;
  readonly #done = new Map<number, ChildVisit>();
  #wake: (() => void) | undefined;
  #failure: { error: unknown } | undefined;

  constructor(
    private readonly w: Walk,
    private readonly node: DirNode,
    private readonly window: number,
    private readonly apply: (v: ChildVisit, slot: number) => void,
  ) {}

  /** A problem of the directory itself, in order with those of its children. */
  add(path: string, code: VerifyProblemCode, message: string, blob?: string): void {
    const out = new Problems(1);
    out.add(path, code, message, blob);
    const slot = this.#issued++;
    this.#fill(slot, { result: { out } });
  }

  /** Queues a child check; waits while the window is full; throws what an earlier check threw. */
  async schedule(check: () => Promise<ChildVisit>): Promise<void> {
    while (this.#issued - this.#next >= this.window && this.#failure === undefined) await this.#sleep();
    this.#throwIfFailed();
    const slot = this.#issued++;
    void this.w.queue.add(async () => {
      let r = NOTHING;
      try {
        r = await check();
      } catch (e) {
        this.#failure ??= { error: e };
      }
      this.#fill(slot, r);
    });
  }

  /** Waits until every child is checked and applied (which needs the turn); throws the first failure. */
  async finish(): Promise<void> {
    while ((this.#settled < this.#issued || this.#next < this.#issued || !this.node.isHead) && this.#failure === undefined) {
      if (this.#settled === this.#issued && !this.node.isHead) await Promise.race([this.node.whenHead(), this.w.order.failed]);
      else await this.#sleep();
    }
    this.#throwIfFailed();
  }

  /** The directory's turn came: apply what is ready. */
  drain(): void {
    this.#applyReady();
  }

  async #sleep(): Promise<void> {
    await Promise.race([new Promise<void>((resolve) => (this.#wake = resolve)), this.w.order.failed]);
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
    const walkFailure = this.w.order.failure;
    if (walkFailure !== undefined) throw walkFailure.error;
  }

  #fill(slot: number, r: ChildVisit): void {
    this.#done.set(slot, r);
    this.#settled++;
    this.#applyReady();
  }

  #applyReady(): void {
    try {
      if (this.node.isHead) {
        for (let ready = this.#done.get(this.#next); ready !== undefined; ready = this.#done.get(this.#next)) {
          this.#done.delete(this.#next);
          this.apply(ready, this.#next++);
        }
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

/**
 * Checks one child: its inode, and through the other passes its data, source entry and links.
 * Whether it is the first dirent of its inode is known only when results are applied, so a
 * dirent whose inode another dirent may reach first gives both answers: the full check (`result`)
 * and the check of a further name (`repeat`). The full check is skipped only when a dirent that
 * comes earlier in the walk's order already claimed the inode.
 */
async function visitChild(w: Walk, task: DirTask, dir: Inode, name: Buffer, handle: Buffer, position: Position, dirPath: string): Promise<ChildVisit> {
  const ctx: VerifyContext = { ...w.ctx, counts: zeroCounts() };
  const out = new Problems(ctx.maxProblems);
  // displayClfsPath of the whole path, from the directory's (escaped once per directory, not once per child)
  const path = `${dirPath === '/' ? '' : dirPath}/${escapeName(name)}`;
  const btype = inodeBtypeOf(handle);
  const idHex = hex(handle);
  const { listing } = ctx;
  const odd = listing.inProgressIds.has(idHex) || listing.badNameIds.has(idHex) ? { pathOfId: idHex, path } : {};
  if (btype === undefined) {
    out.add(path, 'bad-dirent', `dirent handle ${idHex} is not a filehandle of a known type`, dir.blob);
    return { result: { out }, ...odd };
  }
  // the blob under its computed name (nearly every dirent) is known without a turn of the loop
  const computed = w.reader.expectedInodeName(handle, dir.handle)!;
  const found = listing.names.has(computed) ? { blob: computed, computed: true } : await findInodeBlob(w, out, path, handle, dir);
  if (found === undefined) return { result: { out }, ...odd };
  const blob = found.blob;
  const source = task.source === undefined ? undefined : joinPath(task.source, name);
  const dirHex = hex(dir.handle);
  // made only when it is needed (rarely): when the results are applied
  const repeat = (): ChildResult => {
    if (btype === Btype.DIR) {
      const again = new Problems(1);
      again.add(path, 'bad-dirent', `directory inode ${blob} is reached by a second dirent (a directory has one name)`, blob);
      return { out: again };
    }
    // compared with its source by the links pass, once the first visit has stored what it found
    const st = source === undefined ? undefined : lstatOrUndefined(source);
    return { link: { repeat: { cont: blob, path, dir: dirHex, src: st === undefined ? null : sourceKey(st), srcPath: source ?? null } } };
  };
  if (btype !== Btype.DIR) {
    const claim = w.claims.get(blob);
    if (claim !== undefined && before(claim, position)) return { result: {}, blob, repeat, ...odd };
  }
  const visit = (result: ChildResult): ChildVisit => ({ result: { ...result, counts: ctx.counts }, blob, repeat, ...odd });
  // the source entry, statted (and a small file read) on the reader threads in one trip, beside
  // the inode's read: one round trip per child, not two in turn. Every return below waits for it
  // (it never rejects): a probe left in flight by an early return outlived the walk.
  const probing = source === undefined ? undefined : probeSource(source, ctx.sourceThreads);
  const inode = await readChildInode(ctx, out, path, handle, btype, blob, found.computed);
  if (inode === undefined) {
    await probing;
    // the first visit of an unreadable inode is recorded so its further names add no noise
    if (btype === Btype.DIR) return visit({ out });
    return visit({ out, link: { first: { cont: blob, path, dir: dirHex, src: null, srcPath: null, nlink: -1, back: [], attrs: null, sha: null } } });
  }
  const v = inode.obj.vattr;
  const back = inode.obj.back ?? [];
  if (btype !== Btype.DIR && (v.nlink > 1 || back.length > 1)) {
    // several names: the dirents that come later in the walk need not read it all again
    const claim = w.claims.get(blob);
    if (claim !== undefined && before(claim, position)) {
      await probing;
      return { result: {}, blob, repeat, ...odd };
    }
    if (claim !== undefined || w.claims.size < CLAIMS_MAX) w.claims.set(blob, position);
  }
  checkBmapHead(out, path, inode);
  checkOwner(w, out, path, inode, dir, name, found.computed);
  const probe = await probing;
  const st = probe?.st;
  // the content's hash is kept only for an inode the links pass compares across its names
  const needSha = v.nlink > 1 || back.length > 1 || (st !== undefined && st.nlink > 1n);
  const sha = await checkByType(ctx, w, out, path, inode, source, probe, needSha);
  const attrs = attrsOf(inode);
  // a name missing from the source is reported by compareNames
  if (st !== undefined) compareEntry(ctx, out, path, attrs, st, source!, blob);
  if (btype === Btype.DIR) {
    const subdir: DirTask = { parts: [...task.parts, name], handle, parent: dir.handle, inode };
    if (source !== undefined) subdir.source = source;
    return visit({ out, subdir });
  }
  if (v.nlink > 1 || back.length > 1 || (st !== undefined && st.nlink > 1n)) {
    const src = st === undefined ? null : sourceKey(st);
    return visit({ out, link: { first: { cont: blob, path, dir: dirHex, src, srcPath: null, nlink: v.nlink, back: back.map(hex), attrs, sha: sha ?? null } } });
  }
  return visit({ out });
}

/**
 * The blob of the inode a dirent names: the computed name, else (hard links: owner = first
 * backpointer, version 11; reconciled inodes) the highest version under its prefix.
 */
async function findInodeBlob(w: Walk, out: ProblemSink, path: string, handle: Buffer, dir: Inode): Promise<{ blob: string; computed: boolean } | undefined> {
  const { ctx } = w;
  const blob = w.reader.expectedInodeName(handle, dir.handle)!;
  if (ctx.listing.names.has(blob)) return { blob, computed: true };
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
  if (best !== undefined) return { blob: best, computed: false };
  const idHex = hex(handle);
  const bad = ctx.listing.badNameIds.get(idHex);
  const inProgress = ctx.listing.inProgressIds.get(idHex);
  const hint = bad !== undefined ? ` (a blob with a damaged name exists: ${bad})` : inProgress !== undefined ? ` (only the in-progress blob ${inProgress} exists: reconcile did not finish)` : '';
  out.add(path, 'missing-inode', `dirent points to handle ${idHex}, but its inode blob ${blob} is missing${hint}`, blob);
  return undefined;
}

/**
 * The inode blob decoded, of the handle's type; undefined when not (reported). `computed`: the
 * blob has the name computed from the handle and its directory (version 9), which then need not
 * be parsed again.
 */
async function readChildInode(ctx: VerifyContext, out: ProblemSink, path: string, handle: Buffer, btype: number, blob: string, computed: boolean): Promise<Inode | undefined> {
  let inode: Inode;
  try {
    const obj = await readObject(ctx, blob);
    if (obj.kind !== 'inode') {
      out.add(path, 'corrupt', `blob ${blob} should be an inode but holds a ${obj.kind}`, blob);
      return undefined;
    }
    inode = { handle, blob, version: computed ? INITIAL_VERSION : parseBlobName(blob)!.version, obj };
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

/**
 * A directory is owned by its parent and named as in its dirent; anything else by its first
 * backpointer. A blob with the computed name (`computed`) is owned by the directory (no hashing
 * needed to compare).
 */
function checkOwner(w: Walk, out: ProblemSink, path: string, inode: Inode, dir: Inode, name: Buffer, computed: boolean): void {
  const { blob } = inode;
  const v = inode.obj.vattr;
  const ownerHash = computed ? undefined : parseBlobName(blob)!.ownerHashHex!;
  const ownedBy = (h: Buffer): boolean => (computed ? h.equals(dir.handle) || hash64Hex(h) === hash64Hex(dir.handle) : ownerHash === hash64Hex(h));
  if (v.btype === Btype.DIR) {
    if (!ownedBy(dir.handle)) out.add(path, 'backpointer', `directory blob ${blob} is owned by ${ownerHash}, not by its parent`, blob);
    if (!inode.obj.name.equals(name)) out.add(path, 'bad-dirent', `NAME section says "${escapeName(inode.obj.name)}"`, blob);
    return;
  }
  const back = inode.obj.back ?? [];
  if (back.length === 0) out.add(path, 'backpointer', 'inode has no backpointer', blob);
  else {
    if (!ownedBy(back[0]!)) out.add(path, 'backpointer', `blob ${blob} is owned by ${ownerHash ?? hash64Hex(dir.handle)}, not by its first backpointer ${hex(back[0]!)}`, blob);
    if (!back.some((b) => b.equals(dir.handle))) out.add(path, 'backpointer', `BACK does not name the directory it is in (${hex(dir.handle)})`, blob);
  }
  if (v.nlink !== back.length) out.add(path, 'nlink', `nlink ${v.nlink} but ${back.length} backpointers`, blob);
  if (v.nlink > 1 || back.length > 1) w.links.sawSharedInode = true;
}

/** Counts the inode and checks what its type holds; a file's content through the data pass (its SHA-256 with a source). */
async function checkByType(ctx: VerifyContext, w: Walk, out: ProblemSink, path: string, inode: Inode, source: Buffer | undefined, probe: SourceProbe | undefined, needSha: boolean): Promise<string | undefined> {
  const { counts } = ctx;
  const { blob } = inode;
  const v = inode.obj.vattr;
  switch (v.btype) {
    case Btype.DIR:
      return undefined;
    case Btype.REG:
      counts.files++;
      counts.bytes += Number(v.sizeBytes);
      return checkFileData(ctx, w.reader, out, path, inode, source, probe, needSha);
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
