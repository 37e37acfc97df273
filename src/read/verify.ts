/**
 * `verify`: check a container the way a cache would need it, and optionally against its source.
 *
 * One listing of the whole container, then a walk from the root one directory at a time: every
 * dirent must lead to an inode that names the directory back, every block map must resolve, and
 * every CLFS blob must be reached. Problems name the path (and the blob) and what is wrong.
 *
 * Hard links (issue 11): every dirent that reaches an inode again, and the first dirent of an
 * inode with several names in the container or in the source, is kept in a LinkTable (bounded
 * memory). After the walk: each inode's nlink equals its dirents, BACK names each directory as
 * many times as the inode has names in it, names that share a container inode share a source
 * inode, each further name is compared with its own source entry, and (when the load preserved
 * hard links) names that share a source inode share a container inode, split only the way the
 * loader splits an inode past 1,023 names.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import {
  Btype,
  blobListPrefix,
  bucketBlobName,
  decodeBlob,
  decodeObject,
  dirSegmentOffset,
  DIR_SEGMENT_BYTES,
  encodeTimeNs,
  FILE_SEGMENT_BYTES,
  fileSegmentCount,
  fileSegmentOffset,
  FIRST_SEGMENT_BYTES,
  hash64Hex,
  indirectDatabackOffset,
  INPROGRESS_ID,
  parseBlobName,
  ROOT_ID,
  segmentIdsOf,
} from '../codec/index.js';
import type { DecodedObject } from '../codec/index.js';
import { ClfsError, isClfsError } from '../errors/index.js';
import { joinPath, kindOfMode } from '../scan/index.js';
import type { Target } from '../targets/target.js';
import {
  ContainerReader,
  displayClfsPath,
  escapeName,
  type Inode,
  inodeBtypeOf,
  isDotOrDotDot,
  pythonCharCount,
} from './container-reader.js';
import { BlobNameSet } from './blob-name-set.js';
import { LinkTable, type StoredAttrs } from './link-table.js';
import { entryTypeOf } from './ls.js';

export type VerifyProblemCode =
  | 'bad-name'
  | 'unknown-blob'
  | 'not-finalized'
  | 'in-progress-left'
  | 'bucket'
  | 'root'
  | 'missing-inode'
  | 'corrupt'
  | 'wrong-type'
  | 'bad-dirent'
  | 'backpointer'
  | 'nlink'
  | 'bmap'
  | 'missing-segment'
  | 'bad-segment'
  | 'missing-indirect'
  | 'bad-indirect'
  | 'size'
  | 'unreachable'
  | 'source-mismatch'
  /** hard-link structure differs between the source and the container */
  | 'hardlink';

export interface VerifyProblem {
  /** the entry's path in the container ('/' = root), or '' for a blob no path leads to */
  path: string;
  blob?: string;
  code: VerifyProblemCode;
  message: string;
}

export interface VerifyCounts {
  dirs: number;
  files: number;
  symlinks: number;
  /** fifos, sockets, devices */
  special: number;
  /** further names of an inode already counted */
  hardlinkRepeats: number;
  /** CLFS-named blobs in the container */
  blobs: number;
  segments: number;
  indirect: number;
  /** regular file bytes (by VATTR size) */
  bytes: number;
}

export interface VerifyReport {
  ok: boolean;
  problems: VerifyProblem[];
  counts: VerifyCounts;
  /**
   * With a source: how its hard links were judged. 'preserved': names that share a source inode
   * must share a container inode; 'copied': each name may be its own inode. Either way names that
   * share a container inode must share a source inode.
   */
  hardlinks?: 'preserved' | 'copied';
}

export interface VerifyProgress {
  counts: VerifyCounts;
  problems: number;
  /** the directory just finished */
  path: string;
}

export interface VerifyOptions {
  /** compare with this source tree (implies readData) */
  source?: string;
  /** download every data segment and check it decodes, its owner, offset and length */
  readData?: boolean;
  /** blob requests in flight while checking one directory's children (default: the target's maxConnections) */
  concurrency?: number;
  abortSignal?: AbortSignal;
  onProgress?: (progress: VerifyProgress) => void;
  /**
   * Fields not to compare with the source for some paths ('/a/b' as in problems), for entries
   * whose source value is known not to be restorable (e.g. a symlink's mtime after some tar runs).
   */
  skipSourceField?: (path: string, field: 'mtime' | 'mode' | 'owner') => boolean;
  /** stop collecting after this many problems (default 10000) */
  maxProblems?: number;
  /** blob names kept in memory before the set moves to a temporary SQLite file (default 500,000) */
  namesInMemory?: number;
  /**
   * Whether the load preserved hard links (load's preserveHardlinks). Left out, verify decides
   * from the container: links were preserved when some non-directory inode has nlink > 1 or
   * several backpointers (a load without preserveHardlinks writes none). Only matters with a source.
   */
  preserveHardlinks?: boolean;
}

const BUCKET_KEYS = ['bucketCurrentNameVersion', 'bucketNameVersion', 'bucketObjVersion', 'bucketUUID'];
const ROOT_KEYS = ['containeridEpoch', 'massUUID', 'wipeEpoch'];
const INPROGRESS_HASH = hash64Hex(INPROGRESS_ID);
/** a blob name that looks like CLFS (hash_id.) but did not parse */
const CLFS_LOOKING = /^(tmp)?([0-9A-F]{8}|[0-9A-F]{16})_([0-9A-F]+)\./;
const UNREACHABLE_DESCRIBED = 200;
/** backpointers per inode: the loader starts a new inode for further names (format.md §8.6) */
const MAX_LINKS_PER_INODE = 1023;

interface DirTask {
  parts: Buffer[];
  handle: Buffer;
  parent: Buffer;
  source?: Buffer;
}

function hex(b: Buffer): string {
  return b.toString('hex').toUpperCase();
}

function msgOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Runs fn over items with at most `limit` in flight. */
async function runLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers: Array<Promise<void>> = [];
  for (let w = 0; w < Math.min(limit, items.length); w++) {
    workers.push(
      (async () => {
        while (next < items.length) {
          const item = items[next++]!;
          await fn(item);
        }
      })(),
    );
  }
  await Promise.all(workers);
}

async function sha256OfFile(path: Buffer): Promise<string> {
  const h = createHash('sha256');
  const stream = fs.createReadStream(path as unknown as string);
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

class Verifier {
  readonly problems: VerifyProblem[] = [];
  readonly counts: VerifyCounts = { dirs: 0, files: 0, symlinks: 0, special: 0, hardlinkRepeats: 0, blobs: 0, segments: 0, indirect: 0, bytes: 0 };
  /** Every CLFS blob name with its size and whether the walk reached it (spills to disk when large). */
  readonly names: BlobNameSet;
  /** ids whose blob names are damaged: id hex → blob name (normally empty) */
  readonly badNameIds = new Map<string, string>();
  /** ids with a leftover in-progress blob: id hex → blob name (normally empty) */
  readonly inProgressIds = new Map<string, string>();
  /** paths of the ids above, as the walk finds them */
  readonly pathsById = new Map<string, string>();
  /** names to check as hard links (temporary SQLite, bounded memory) */
  readonly links = new LinkTable();
  /** a non-directory inode with nlink > 1 or several backpointers was seen: links were preserved */
  sawSharedInode = false;
  readonly readData: boolean;
  readonly limit: number;
  readonly maxProblems: number;
  reader!: ContainerReader;

  constructor(
    readonly target: Target,
    readonly options: VerifyOptions,
  ) {
    this.readData = options.readData === true || options.source !== undefined;
    this.limit = Math.max(1, options.concurrency ?? target.capabilities.maxConnections);
    this.maxProblems = options.maxProblems ?? 10000;
    this.names = new BlobNameSet(options.namesInMemory);
  }

  problem(path: string, code: VerifyProblemCode, message: string, blob?: string): void {
    if (this.problems.length >= this.maxProblems) return;
    const p: VerifyProblem = { path, code, message: path === '' ? message : `${path}: ${message}` };
    if (blob !== undefined) p.blob = blob;
    this.problems.push(p);
  }

  checkAbort(): void {
    if (this.options.abortSignal?.aborted === true) {
      throw new ClfsError('E_ABORTED', `verify of ${this.target.description} aborted`);
    }
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  /** Marks a blob reached; returns true when it already was. */
  reach(name: string): boolean {
    return this.names.reach(name);
  }

  sizeOf(name: string): number | undefined {
    return this.names.sizeOf(name);
  }

  async read(name: string): Promise<DecodedObject> {
    return decodeObject(decodeBlob(await this.target.get(name, this.options), name), name);
  }

  async listAll(): Promise<void> {
    for await (const info of this.target.list('', this.options)) {
      const name = info.name;
      const p = parseBlobName(name);
      if (p === undefined) {
        const m = CLFS_LOOKING.exec(name);
        if (m !== null) {
          this.badNameIds.set(m[3]!, name);
          this.problem('', 'bad-name', `blob ${name}: the hash prefix does not match the id (renamed or damaged name)`, name);
        } else if (!name.endsWith('.txt')) {
          this.problem('', 'unknown-blob', `blob ${name} is not a CLFS blob and not a log file`, name);
        }
        continue;
      }
      this.counts.blobs++;
      this.names.add(name, info.sizeBytes);
      if (p.tmp) {
        this.problem('/', 'not-finalized', `tmp root ${name} left behind: the load was not finalized (resume it)`, name);
        this.reach(name);
      } else if (p.ownerHashHex === INPROGRESS_HASH) {
        this.inProgressIds.set(hex(p.id), name);
        this.reach(name);
      } else if (p.nameVersion === 2 && p.btype !== undefined) {
        const want = inodeBtypeOf(p.id);
        const isInodeBtype = p.btype >= Btype.REG && p.btype <= Btype.FIFO;
        if (isInodeBtype && p.id.length === 24 && want !== p.btype) {
          this.problem('', 'bad-name', `blob ${name}: btype ${p.btype} in the name, but the handle says ${want}`, name);
        }
      }
    }
  }

  async checkBucket(): Promise<void> {
    const name = bucketBlobName();
    if (!this.has(name)) {
      this.problem('', 'bucket', `bucket object ${name} is missing`, name);
      return;
    }
    this.reach(name);
    try {
      const obj = await this.read(name);
      if (obj.kind !== 'bucket') {
        this.problem('', 'bucket', `bucket object ${name} holds a ${obj.kind}, not EXTATTRS`, name);
        return;
      }
      const keys = new Set(obj.extattrs.map(([k]) => k));
      const missing = BUCKET_KEYS.filter((k) => !keys.has(k));
      if (missing.length > 0) this.problem('', 'bucket', `bucket object lacks extattrs ${missing.join(', ')}`, name);
    } catch (e) {
      this.problem('', 'bucket', `bucket object ${name} does not decode: ${msgOf(e)}`, name);
    }
  }

  async run(): Promise<VerifyReport> {
    await this.listAll();
    this.checkAbort();
    await this.checkBucket();
    try {
      this.reader = await ContainerReader.open(this.target, this.options);
    } catch (e) {
      if (!isClfsError(e)) throw e;
      // a tmp root was already reported by the listing
      if (e.code !== 'E_NOT_FINALIZED') this.problem('/', 'root', e.message, e.subject);
      return this.report();
    }
    const root = this.reader.root;
    this.reach(root.blob);
    const ext = new Set((root.obj.extattrs ?? []).map(([k]) => k));
    const missing = ROOT_KEYS.filter((k) => !ext.has(k));
    if (missing.length > 0) this.problem('/', 'root', `root inode lacks extattrs ${missing.join(', ')}`, root.blob);
    const source = this.options.source === undefined ? undefined : Buffer.from(this.options.source);
    if (source !== undefined) {
      // an unreadable source root is reported by compareNames
      const st = lstatOrUndefined(source);
      if (st !== undefined) this.compareWithSource('/', attrsOf(root), st, source, root.blob);
    }

    const stack: DirTask[] = [{ parts: [], handle: ROOT_ID, parent: ROOT_ID, ...(source ? { source } : {}) }];
    let first = true;
    while (stack.length > 0) {
      this.checkAbort();
      const task = stack.pop()!;
      let dir: Inode;
      if (first) {
        dir = root;
        first = false;
      } else {
        try {
          dir = await this.reader.readInode(task.handle, task.parent, this.options);
        } catch (e) {
          // already reported when the directory was first visited as a child
          continue;
        }
      }
      const subdirs = await this.visitDir(task, dir);
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
      this.options.onProgress?.({ counts: { ...this.counts }, problems: this.problems.length, path: displayClfsPath(task.parts) });
    }
    await this.finishLinks(source !== undefined);
    await this.reportUnreached();
    return this.report();
  }

  report(): VerifyReport {
    const r: VerifyReport = { ok: this.problems.length === 0, problems: this.problems, counts: { ...this.counts } };
    if (this.options.source !== undefined) r.hardlinks = this.hardlinkMode();
    return r;
  }

  hardlinkMode(): 'preserved' | 'copied' {
    const preserved = this.options.preserveHardlinks ?? this.sawSharedInode;
    return preserved ? 'preserved' : 'copied';
  }

  /** Checks the block map header and slot 0 shared by every inode. */
  checkBmapHead(path: string, inode: Inode): void {
    const b = inode.obj.bmap;
    const isDir = inode.obj.vattr.btype === Btype.DIR;
    if (!b.direct[0]!.equals(inode.handle)) this.problem(path, 'bmap', `block map slot 0 is ${hex(b.direct[0]!)}, not the inode's own handle`, inode.blob);
    if (b.firstSegmentBytes !== FIRST_SEGMENT_BYTES) this.problem(path, 'bmap', `block map first segment size ${b.firstSegmentBytes}, expected ${FIRST_SEGMENT_BYTES}`, inode.blob);
    const other = isDir ? DIR_SEGMENT_BYTES : FILE_SEGMENT_BYTES;
    if (b.otherSegmentBytes !== other) this.problem(path, 'bmap', `block map segment size ${b.otherSegmentBytes}, expected ${other}`, inode.blob);
  }

  /**
   * Segment ids of an inode in block order; each indirect block is checked (exists, decodes,
   * owner, DATABACK offset) and marked reached. A broken indirect block ends the walk (reported).
   */
  async *segments(path: string, inode: Inode): AsyncIterable<{ block: number; id: Buffer }> {
    try {
      yield* segmentIdsOf(inode.obj.bmap, async (id, tree, level) => {
        const name = this.reader.indirectName(id, inode.handle);
        if (!this.has(name)) {
          this.problem(path, 'missing-indirect', `indirect block (tree ${tree}, level ${level}) ${name} is missing`, name);
          throw new StopWalk();
        }
        this.reach(name);
        this.counts.indirect++;
        let obj: DecodedObject;
        try {
          obj = await this.read(name);
        } catch (e) {
          this.problem(path, 'bad-indirect', `indirect block ${name} does not decode: ${msgOf(e)}`, name);
          throw new StopWalk();
        }
        if (obj.kind !== 'indirect') {
          this.problem(path, 'bad-indirect', `blob ${name} should be an indirect block but holds a ${obj.kind}`, name);
          throw new StopWalk();
        }
        const want = indirectDatabackOffset(tree, level);
        if (obj.databack.offset !== want) this.problem(path, 'bad-indirect', `indirect block ${name} has DATABACK offset ${obj.databack.offset}, expected ${want}`, name);
        if (!obj.databack.owner.equals(inode.handle)) this.problem(path, 'bad-indirect', `indirect block ${name} names owner ${hex(obj.databack.owner)}`, name);
        return obj.pointers;
      });
    } catch (e) {
      if (!(e instanceof StopWalk)) throw e;
    }
  }

  async visitDir(task: DirTask, dir: Inode): Promise<DirTask[]> {
    const path = displayClfsPath(task.parts);
    this.checkBmapHead(path, dir);
    let index = 0;
    let streamBytes = 4 + (dir.obj.direntsBytes?.length ?? 0);
    let subdirCount = 0;
    const seen = new Set<string>();
    const subdirs: DirTask[] = [];
    let batch: Array<{ name: Buffer; handle: Buffer }> = [];
    const flush = async (): Promise<void> => {
      const items = batch;
      batch = [];
      await runLimited(items, this.limit, async (d) => {
        const isDir = await this.visitChild(task, dir, d.name, d.handle);
        if (isDir) {
          subdirCount++;
          const child: DirTask = { parts: [...task.parts, d.name], handle: d.handle, parent: dir.handle };
          if (task.source !== undefined) child.source = joinPath(task.source, d.name);
          subdirs.push(child);
        }
      });
    };
    const onDirent = async (name: Buffer, handle: Buffer): Promise<void> => {
      const i = index++;
      if (i === 0 || i === 1) {
        const wantName = i === 0 ? '.' : '..';
        const wantHandle = i === 0 ? dir.handle : task.parent;
        if (name.toString('latin1') !== wantName) {
          this.problem(path, 'bad-dirent', `dirent ${i} is "${escapeName(name)}", expected "${wantName}"`, dir.blob);
        } else if (!handle.equals(wantHandle)) {
          this.problem(path, 'bad-dirent', `"${wantName}" points to ${hex(handle)}, expected ${hex(wantHandle)}`, dir.blob);
        }
        if (name.toString('latin1') === wantName) return;
      }
      if (isDotOrDotDot(name)) {
        this.problem(path, 'bad-dirent', `extra "${name.toString('latin1')}" dirent at position ${i}`, dir.blob);
        return;
      }
      const key = name.toString('hex');
      if (seen.has(key)) {
        this.problem(displayClfsPath([...task.parts, name]), 'bad-dirent', `name appears twice in the directory`, dir.blob);
        return;
      }
      seen.add(key);
      batch.push({ name, handle });
      if (batch.length >= this.limit * 8) await flush();
    };

    for (const d of dir.obj.dirents ?? []) await onDirent(d.name, d.handle);
    for await (const { block, id } of this.segments(path, dir)) {
      this.checkAbort();
      const name = this.reader.segmentName(id, dir.handle);
      if (!this.has(name)) {
        this.problem(path, 'missing-segment', `directory segment ${block} ${name} is missing: its entries are lost`, name);
        continue;
      }
      this.reach(name);
      this.counts.segments++;
      let obj: DecodedObject;
      try {
        obj = await this.read(name);
      } catch (e) {
        this.problem(path, 'bad-segment', `directory segment ${block} ${name} does not decode: ${msgOf(e)}`, name);
        continue;
      }
      if (obj.kind !== 'dir-segment') {
        this.problem(path, 'bad-segment', `blob ${name} should be directory segment ${block} but holds a ${obj.kind}`, name);
        continue;
      }
      const want = BigInt(dirSegmentOffset(block));
      if (obj.databack.offset !== want) this.problem(path, 'bad-segment', `directory segment ${block} has DATABACK offset ${obj.databack.offset}, expected ${want}`, name);
      if (!obj.databack.owner.equals(dir.handle)) this.problem(path, 'bad-segment', `directory segment ${block} names owner ${hex(obj.databack.owner)}`, name);
      streamBytes += 4 + obj.direntsBytes.length;
      for (const d of obj.dirents) await onDirent(d.name, d.handle);
    }
    await flush();
    if (index < 2) this.problem(path, 'bad-dirent', `directory has ${index} dirents; "." and ".." are required`, dir.blob);

    const v = dir.obj.vattr;
    if (v.nlink !== 2 + subdirCount) this.problem(path, 'nlink', `nlink ${v.nlink}, but the directory has ${subdirCount} subdirectories (expected ${2 + subdirCount})`, dir.blob);
    // format.md §8.4: a directory rewritten by reconcile (version > 9) stores st_size instead
    if (dir.version === 9 && v.sizeBytes !== BigInt(streamBytes)) {
      this.problem(path, 'size', `size ${v.sizeBytes}, but its entries take ${streamBytes} bytes`, dir.blob);
    }
    if (task.source !== undefined) this.compareNames(task, seen);
    this.counts.dirs++;
    return subdirs;
  }

  compareNames(task: DirTask, names: Set<string>): void {
    const path = displayClfsPath(task.parts);
    let list: Buffer[];
    try {
      list = fs.readdirSync(task.source! as unknown as string, { encoding: 'buffer' }) as unknown as Buffer[];
    } catch (e) {
      this.problem(path, 'source-mismatch', `cannot read the source directory: ${msgOf(e)}`);
      return;
    }
    const inSource = new Set<string>();
    for (const n of list) {
      const k = n.toString('hex');
      inSource.add(k);
      if (!names.has(k)) this.problem(displayClfsPath([...task.parts, n]), 'source-mismatch', 'in the source but not in the container');
    }
    for (const k of names) {
      if (!inSource.has(k)) this.problem(displayClfsPath([...task.parts, Buffer.from(k, 'hex')]), 'source-mismatch', 'in the container but not in the source');
    }
  }

  /** Checks one child; returns true when it is a directory to walk. */
  async visitChild(task: DirTask, dir: Inode, name: Buffer, handle: Buffer): Promise<boolean> {
    const parts = [...task.parts, name];
    const path = displayClfsPath(parts);
    const btype = inodeBtypeOf(handle);
    const idHex = hex(handle);
    if (this.inProgressIds.has(idHex) || this.badNameIds.has(idHex)) this.pathsById.set(idHex, path);
    if (btype === undefined) {
      this.problem(path, 'bad-dirent', `dirent handle ${idHex} is not a filehandle of a known type`, dir.blob);
      return false;
    }
    let blob = this.reader.expectedInodeName(handle, dir.handle)!;
    if (!this.has(blob)) {
      // hard links (owner = first backpointer, version 11), reconciled inodes: by prefix
      let best: string | undefined;
      let bestVersion = -1;
      for await (const info of this.target.list(blobListPrefix(handle), this.options)) {
        const p = parseBlobName(info.name);
        if (p === undefined || p.tmp || p.ownerHashHex === INPROGRESS_HASH) continue;
        if (p.version > bestVersion) {
          best = info.name;
          bestVersion = p.version;
        }
      }
      if (best === undefined) {
        const bad = this.badNameIds.get(idHex);
        const inProgress = this.inProgressIds.get(idHex);
        const hint = bad !== undefined ? ` (a blob with a damaged name exists: ${bad})` : inProgress !== undefined ? ` (only the in-progress blob ${inProgress} exists: reconcile did not finish)` : '';
        this.problem(path, 'missing-inode', `dirent points to handle ${idHex}, but its inode blob ${blob} is missing${hint}`, blob);
        return false;
      }
      blob = best;
    }
    const source = task.source === undefined ? undefined : joinPath(task.source, name);
    const dirHex = hex(dir.handle);
    if (this.reach(blob)) {
      this.counts.hardlinkRepeats++;
      if (btype === Btype.DIR) {
        this.problem(path, 'bad-dirent', `directory inode ${blob} is reached by a second dirent (a directory has one name)`, blob);
        return false;
      }
      // compared with its source at the end, once the first visit has stored what it found
      const st = source === undefined ? undefined : lstatOrUndefined(source);
      this.links.addRepeat({ cont: blob, path, dir: dirHex, src: st === undefined ? null : sourceKey(st), srcPath: source ?? null });
      return false;
    }
    // the first visit of an unreadable inode is recorded so its further names add no noise
    const broken = (): false => {
      if (btype !== Btype.DIR) this.links.addFirst({ cont: blob, path, dir: dirHex, src: null, srcPath: null, nlink: -1, back: [], attrs: null, sha: null });
      return false;
    };
    let inode: Inode;
    try {
      const obj = await this.read(blob);
      if (obj.kind !== 'inode') {
        this.problem(path, 'corrupt', `blob ${blob} should be an inode but holds a ${obj.kind}`, blob);
        return broken();
      }
      const parsed = parseBlobName(blob)!;
      inode = { handle, blob, version: parsed.version, obj };
    } catch (e) {
      this.problem(path, 'corrupt', `inode blob ${blob} does not decode: ${msgOf(e)}`, blob);
      return broken();
    }
    const v = inode.obj.vattr;
    if (v.btype !== btype) {
      this.problem(path, 'wrong-type', `inode type ${v.btype} does not match the handle's type ${btype}`, blob);
      return broken();
    }
    this.checkBmapHead(path, inode);
    const ownerHash = parseBlobName(blob)!.ownerHashHex!;
    if (btype === Btype.DIR) {
      if (ownerHash !== hash64Hex(dir.handle)) this.problem(path, 'backpointer', `directory blob ${blob} is owned by ${ownerHash}, not by its parent`, blob);
      if (!inode.obj.name.equals(name)) this.problem(path, 'bad-dirent', `NAME section says "${escapeName(inode.obj.name)}"`, blob);
    } else {
      const back = inode.obj.back ?? [];
      if (back.length === 0) this.problem(path, 'backpointer', 'inode has no backpointer', blob);
      else {
        if (ownerHash !== hash64Hex(back[0]!)) this.problem(path, 'backpointer', `blob ${blob} is owned by ${ownerHash}, not by its first backpointer ${hex(back[0]!)}`, blob);
        if (!back.some((b) => b.equals(dir.handle))) this.problem(path, 'backpointer', `BACK does not name the directory it is in (${hex(dir.handle)})`, blob);
      }
      if (v.nlink !== back.length) this.problem(path, 'nlink', `nlink ${v.nlink} but ${back.length} backpointers`, blob);
      if (v.nlink > 1 || back.length > 1) this.sawSharedInode = true;
    }

    let sha: string | undefined;
    switch (btype) {
      case Btype.DIR:
        break;
      case Btype.REG:
        this.counts.files++;
        this.counts.bytes += Number(v.sizeBytes);
        sha = await this.checkFileData(path, inode, source);
        break;
      case Btype.LNK: {
        this.counts.symlinks++;
        const data = inode.obj.data ?? Buffer.alloc(0);
        // format.md §6.2: the reference stores the target's character count; we store its byte length
        if (v.sizeBytes !== BigInt(data.length) && v.sizeBytes !== BigInt(pythonCharCount(data))) {
          this.problem(path, 'size', `symlink size ${v.sizeBytes} but its target has ${data.length} bytes`, blob);
        }
        if (inode.obj.bmap.direct.length !== 1) this.problem(path, 'bmap', `symlink has ${inode.obj.bmap.direct.length - 1} segments`, blob);
        break;
      }
      default:
        this.counts.special++;
        if (inode.obj.bmap.direct.length !== 1) this.problem(path, 'bmap', `special file has ${inode.obj.bmap.direct.length - 1} segments`, blob);
    }
    const attrs = attrsOf(inode);
    const st = source === undefined ? undefined : lstatOrUndefined(source);
    // a name missing from the source is reported by compareNames
    if (st !== undefined) this.compareWithSource(path, attrs, st, source!, blob);
    if (btype !== Btype.DIR) {
      const back = inode.obj.back ?? [];
      if (v.nlink > 1 || back.length > 1 || (st !== undefined && st.nlink > 1n)) {
        this.links.addFirst({
          cont: blob,
          path,
          dir: dirHex,
          src: st === undefined ? null : sourceKey(st),
          srcPath: null,
          nlink: v.nlink,
          back: back.map(hex),
          attrs,
          sha: sha ?? null,
        });
      }
    }
    return btype === Btype.DIR;
  }

  /** Checks a file's segments; with a source, returns the SHA-256 of the container content. */
  async checkFileData(path: string, inode: Inode, source: Buffer | undefined): Promise<string | undefined> {
    const v = inode.obj.vattr;
    const size = Number(v.sizeBytes);
    const inline = inode.obj.data ?? Buffer.alloc(0);
    const wantInline = Math.min(size, FIRST_SEGMENT_BYTES);
    if (inline.length !== wantInline) this.problem(path, 'size', `size ${size} but the inline data holds ${inline.length} bytes (expected ${wantInline})`, inode.blob);
    const hash = source !== undefined ? createHash('sha256').update(inline) : undefined;
    let found = inline.length;
    let segments = 0;
    const wantSegments = fileSegmentCount(size);
    for await (const { block, id } of this.segments(path, inode)) {
      this.checkAbort();
      segments++;
      const name = this.reader.segmentName(id, inode.handle);
      const offset = fileSegmentOffset(block);
      const wantLen = Math.max(0, Math.min(FILE_SEGMENT_BYTES, size - offset));
      if (!this.has(name)) {
        this.problem(path, 'missing-segment', `data segment ${block} (bytes ${offset}..${offset + wantLen}) is missing: ${name}`, name);
        continue;
      }
      this.reach(name);
      this.counts.segments++;
      if (!this.readData) {
        found += wantLen;
        continue;
      }
      let obj: DecodedObject;
      try {
        obj = await this.read(name);
      } catch (e) {
        this.problem(path, 'bad-segment', `data segment ${block} ${name} does not decode: ${msgOf(e)}`, name);
        continue;
      }
      if (obj.kind !== 'file-segment') {
        this.problem(path, 'bad-segment', `blob ${name} should be data segment ${block} but holds a ${obj.kind}`, name);
        continue;
      }
      if (obj.databack.offset !== BigInt(offset)) this.problem(path, 'bad-segment', `data segment ${block} has DATABACK offset ${obj.databack.offset}, expected ${offset}`, name);
      if (!obj.databack.owner.equals(inode.handle)) this.problem(path, 'bad-segment', `data segment ${block} names owner ${hex(obj.databack.owner)}`, name);
      if (obj.data.length !== wantLen) this.problem(path, 'size', `data segment ${block} holds ${obj.data.length} bytes, expected ${wantLen}`, name);
      found += obj.data.length;
      hash?.update(obj.data);
    }
    if (segments !== wantSegments) this.problem(path, 'size', `size ${size} needs ${wantSegments} segments but the block map has ${segments}`, inode.blob);
    else if (found !== size) this.problem(path, 'size', `size ${size} but ${found} bytes of data were found`, inode.blob);
    if (hash !== undefined && source !== undefined) {
      const got = hash.digest('hex');
      let want: string;
      try {
        want = await sha256OfFile(source);
      } catch {
        return got; // reported by compareWithSource (missing or unreadable)
      }
      if (got !== want) this.problem(path, 'source-mismatch', 'content differs from the source (SHA-256)', inode.blob);
      return got;
    }
    return undefined;
  }

  /** Compares what an inode stores with its source entry; false when the types differ. */
  compareWithSource(path: string, a: StoredAttrs, st: fs.BigIntStats, source: Buffer, blob: string): boolean {
    const mode = Number(st.mode);
    const kind = kindOfMode(mode);
    const type = entryTypeOf(a.btype);
    const typeName = (k: string | undefined): string => k ?? 'unknown';
    if (kind !== type) {
      this.problem(path, 'source-mismatch', `type ${typeName(type)} but the source is a ${typeName(kind)}`, blob);
      return false;
    }
    const skip = this.options.skipSourceField ?? (() => false);
    if ((a.mode & 0xffff) !== (mode & 0xffff) && !skip(path, 'mode')) {
      this.problem(path, 'source-mismatch', `mode ${a.mode.toString(8)} but the source has ${mode.toString(8)}`, blob);
    }
    if ((a.uid !== Number(st.uid) || a.gid !== Number(st.gid)) && !skip(path, 'owner')) {
      this.problem(path, 'source-mismatch', `owner ${a.uid}:${a.gid} but the source has ${st.uid}:${st.gid}`, blob);
    }
    // format.md §8.3: the stored seconds come from the reference's double round trip
    const want = encodeTimeNs(st.mtimeNs);
    if (want !== undefined && a.mtimeSec !== want.sec && !skip(path, 'mtime')) {
      this.problem(path, 'source-mismatch', `mtime ${new Date(a.mtimeSec * 1000).toISOString()} but the source has ${new Date(want.sec * 1000).toISOString()}`, blob);
    }
    if (kind === 'file' && a.size !== st.size.toString()) {
      this.problem(path, 'source-mismatch', `size ${a.size} but the source has ${st.size} bytes`, blob);
    }
    if (kind === 'symlink') {
      const stored = Buffer.from(a.link ?? '', 'hex');
      try {
        const target = fs.readlinkSync(source as unknown as string, { encoding: 'buffer' }) as unknown as Buffer;
        if (!target.equals(stored)) {
          this.problem(path, 'source-mismatch', `symlink target "${escapeName(stored)}" but the source points to "${escapeName(target)}"`, blob);
        }
      } catch (e) {
        this.problem(path, 'source-mismatch', `cannot read the source symlink: ${msgOf(e)}`);
      }
    }
    return true;
  }

  /**
   * The hard-link checks, once every name has been seen (module comment). Problems are reported
   * at the path of the name that breaks the structure, naming the name it should go with.
   */
  async finishLinks(withSource: boolean): Promise<void> {
    if (this.links.size === 0) return;
    this.checkInodeNames();
    if (!withSource) return;
    await this.compareRepeats();
    if (this.hardlinkMode() === 'preserved') this.checkSourceGroups();
  }

  /** Per container inode: nlink = its dirents, BACK as a multiset = their directories, one source inode. */
  checkInodeNames(): void {
    let cont: string | undefined;
    let first: { path: string; nlink: number; src: string | null } | undefined;
    let backLeft = new Map<string, number>();
    let names = 0;
    let groupSrc: string | undefined;
    let mixed = false;
    // inodes whose names are several source inodes: reported against the one most of them are
    const mixedInodes: string[] = [];
    const end = (): void => {
      if (mixed && mixedInodes.length < this.maxProblems) mixedInodes.push(cont!);
      if (first === undefined || first.nlink < 0) return;
      if (names !== first.nlink) this.problem(first.path, 'nlink', `nlink ${first.nlink} but ${names} dirents point at the inode`, cont);
      if (names > MAX_LINKS_PER_INODE) this.problem(first.path, 'nlink', `${names} names; an inode holds at most ${MAX_LINKS_PER_INODE} (the loader starts a new inode for more)`, cont);
    };
    for (const row of this.links.byInode()) {
      if (row.cont !== cont) {
        end();
        cont = row.cont;
        names = 0;
        groupSrc = undefined;
        mixed = false;
        backLeft = new Map();
        if (row.first === 1) {
          first = { path: row.path, nlink: row.nlink!, src: row.src };
          for (const b of row.back === '' || row.back === null ? [] : row.back.split(',')) backLeft.set(b, (backLeft.get(b) ?? 0) + 1);
        } else first = undefined;
      }
      if (first === undefined) {
        this.problem(row.path, 'nlink', `dirent reaches inode ${row.cont} again, but its nlink is 1 (it was first reached by another name)`, row.cont);
        continue;
      }
      if (first.nlink < 0) continue;
      names++;
      const left = backLeft.get(row.dir) ?? 0;
      if (left > 0) backLeft.set(row.dir, left - 1);
      else if (row.first === 0) {
        const why = left === 0 && !backLeft.has(row.dir) ? 'BACK does not name this directory' : 'BACK names this directory fewer times than the inode has names in it';
        this.problem(row.path, 'backpointer', `hard link of ${first.path}: ${why}`, row.cont);
      }
      if (row.src === null) continue;
      groupSrc ??= row.src;
      if (row.src !== groupSrc) mixed = true;
    }
    end();
    for (const c of mixedInodes) {
      const main = this.links.mainSourceOf(c)!;
      for (const path of this.links.pathsNotOf(c, main.src, this.maxProblems)) {
        this.problem(path, 'hardlink', `${main.path} and ${path} are one inode in the container but two in the source`, c);
      }
    }
  }

  /** Every further name of an inode against its own source entry; content only when it is another source file. */
  async compareRepeats(): Promise<void> {
    for (const r of this.links.repeats()) {
      this.checkAbort();
      if (r.attrs === null) continue;
      const st = lstatOrUndefined(r.srcPath);
      if (st === undefined) continue; // reported by compareNames
      const attrs = JSON.parse(r.attrs) as StoredAttrs;
      if (!this.compareWithSource(r.path, attrs, st, r.srcPath, r.cont)) continue;
      if (r.sha === null || !st.isFile() || (r.src !== null && r.src === r.firstSrc)) continue;
      let want: string;
      try {
        want = await sha256OfFile(r.srcPath);
      } catch (e) {
        this.problem(r.path, 'source-mismatch', `cannot read the source file: ${msgOf(e)}`);
        continue;
      }
      if (want !== r.sha) this.problem(r.path, 'source-mismatch', `content differs from the source (SHA-256; the container holds the content of its hard link ${r.firstPath})`, r.cont);
    }
  }

  /**
   * Links preserved: the names of one source inode reach one container inode, or several that the
   * loader split past 1,023 names (every one full but one). Any other container inode of the group
   * is reported at each of its names.
   */
  checkSourceGroups(): void {
    const wrong: Array<{ src: string; cont: string; mainPath: string }> = [];
    let src: string | undefined;
    let mainPath = '';
    let partialSeen = false;
    for (const g of this.links.sourceGroups()) {
      if (g.src !== src) {
        src = g.src;
        mainPath = this.links.pathsOf(g.src, g.cont, 1)[0]!;
        partialSeen = g.n < MAX_LINKS_PER_INODE;
        continue;
      }
      if (g.n >= MAX_LINKS_PER_INODE) continue;
      if (!partialSeen) {
        partialSeen = true;
        continue;
      }
      wrong.push({ src: g.src, cont: g.cont, mainPath });
      if (wrong.length >= this.maxProblems) break;
    }
    for (const w of wrong) {
      for (const path of this.links.pathsOf(w.src, w.cont, this.maxProblems)) {
        this.problem(path, 'hardlink', `${w.mainPath} and ${path} are one inode in the source but two in the container`, w.cont);
      }
    }
  }

  async reportUnreached(): Promise<void> {
    for (const [idHex, blob] of this.inProgressIds) {
      const path = this.pathsById.get(idHex) ?? '';
      this.problem(path, 'in-progress-left', `leftover in-progress inode blob ${blob}: reconcile or cleanup did not finish (resume the load)`, blob);
    }
    let described = 0;
    for (const name of this.names.unreached()) {
      let what = '';
      if (described < UNREACHABLE_DESCRIBED) {
        described++;
        try {
          const obj = await this.read(name);
          if (obj.kind === 'inode') what = ` (inode "${escapeName(obj.name)}")`;
          else if (obj.kind === 'file-segment' || obj.kind === 'dir-segment' || obj.kind === 'indirect') {
            what = ` (${obj.kind} of inode ${hex(obj.databack.owner)} at offset ${obj.databack.offset})`;
          }
        } catch (e) {
          what = ` (does not decode: ${msgOf(e)})`;
        }
      }
      const p = parseBlobName(name);
      const path = p === undefined ? '' : this.pathsById.get(hex(p.id)) ?? '';
      this.problem(path, 'unreachable', `blob ${name}${what} is not reachable from the root`, name);
    }
  }
}

class StopWalk extends Error {}

function lstatOrUndefined(path: Buffer): fs.BigIntStats | undefined {
  try {
    return fs.lstatSync(path as unknown as string, { bigint: true });
  } catch {
    return undefined;
  }
}

/** A source inode: the loader matches hard links by the same pair. */
function sourceKey(st: fs.BigIntStats): string {
  return `${st.dev}:${st.ino}`;
}

function attrsOf(inode: Inode): StoredAttrs {
  const v = inode.obj.vattr;
  const a: StoredAttrs = { btype: v.btype, mode: v.mode, uid: v.uid, gid: v.gid, mtimeSec: v.mtime.sec, size: v.sizeBytes.toString() };
  if (v.btype === Btype.LNK) a.link = (inode.obj.data ?? Buffer.alloc(0)).toString('hex');
  return a;
}

/** Checks a container; see the module comment. Never throws for damage, only for access failures. */
export async function verify(target: Target, options: VerifyOptions = {}): Promise<VerifyReport> {
  const v = new Verifier(target, options);
  try {
    return await v.run();
  } finally {
    v.names.close();
    v.links.close();
  }
}
