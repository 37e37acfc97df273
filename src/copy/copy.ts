/**
 * `copy`: a source tree into one or more mounted directories (the same export mounted through
 * several cache addresses), in parallel, resumable, incremental, exact.
 *
 * The crawl and the copy are one pool of tasks (pool.ts): listing a directory pushes its
 * children, so copying starts with the first listing and never waits for a full walk. A file is
 * created with its final mode, written, given its owner and times, and closed; a directory's
 * times are set at the end of the run, after all of its children. A large file is cut into
 * ranges that run as tasks of their own, the last one to finish sets owner and times.
 *
 * Completion is marked by the mtime: a file gets its source mtime only as the last step before
 * close, and a file whose size or mtime differs from the source's is written again from scratch
 * (removed, created anew). So a file a killed run left half written never looks complete: the
 * re-run rewrites it, and a file that fails is removed. The state (copy-state.ts) records what is
 * done so a re-run skips it without touching the destination.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClfsError, isClfsError, stopsRun } from '../errors/index.js';
import { DEFAULT_FILTERS, describeFilters, displayPath, holdsMarker, kindOfMode, sameFilters, SourceFilter, sourceFaults, sourceFs, type FilterSpec } from '../scan/index.js';
import { CopyState } from '../state/copy-state.js';
import type { RateLimiter } from '../targets/index.js';
import { CountedFs, resolveBytes, showArg, SideError, SourceChanged, throughDouble, type BatchResult, type DestFile, type OpCounts, type Xattr } from './fs-ops.js';
import { BS_COPIED, BS_FAILED, nativeMissing, nativeOps } from './native.js';
import { childRel, direntIsDir, ownerOf, Partition, sharedPartition, type Shard } from './partition.js';
import { AdaptiveLimit, SyncGate, TaskPool } from './pool.js';

export const COPY_META_DIR = '.clfsload-copy';
export const DEFAULT_LARGE_FILE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_THREADS = 64;
const CHUNK = 1024 * 1024;
const RANGE_BYTES = 16 * 1024 * 1024;
const ZERO_BLOCK = 4096;
const ZEROS = Buffer.alloc(ZERO_BLOCK);
const EMPTY = Buffer.alloc(0);

export interface CopyProgress {
  entriesSeen: number;
  entriesDone: number;
  files: number;
  bytes: number;
  skipped: number;
  errors: number;
  seconds: number;
  threads: number;
  /** every directory of this shard has been listed: entriesSeen is the total */
  crawlDone: boolean;
  /** entries and bytes of the last finished run of this shard, for an ETA before the crawl ends */
  previousTotals?: { entries: number; bytes: number };
}

export interface CopyOptions {
  /** bytes for a path that is not valid UTF-8 (src/cli/raw-argv.ts) */
  source: string | Buffer;
  dests: Array<string | Buffer>;
  stateDir: string;
  shard?: Shard;
  /** fixed concurrency (tasks in flight); default adaptive up to DEFAULT_MAX_THREADS */
  threads?: number;
  maxThreads?: number;
  largeFileBytes?: number;
  checksum?: boolean;
  /** `--xattrs`: extended attributes too (user.* when not root, every namespace as root) */
  xattrs?: boolean;
  delete?: boolean;
  dryRun?: boolean;
  newState?: boolean;
  maxErrors?: number;
  retries?: number;
  retryBaseMs?: number;
  /** the frontier depth every shard must agree on (default: computed from the tree) */
  frontierDepth?: number;
  /** what to leave out (src/scan/filter.ts); default DEFAULT_FILTERS (.snapshot and .zfs) */
  filters?: FilterSpec;
  /** `--bwlimit`: every byte written to DEST is charged to it first, by every task of the run */
  limiter?: RateLimiter;
  abortSignal?: AbortSignal;
  onProgress?: (p: CopyProgress) => void;
  onWarning?: (message: string) => void;
  /** a line per entry that --dry-run would copy or delete */
  onDryRun?: (action: 'copy' | 'delete', path: string) => void;
}

export type CopyStatus = 'complete' | 'incomplete' | 'interrupted' | 'error-budget-exceeded' | 'stopped';

export interface CopySummary {
  status: CopyStatus;
  source: string;
  dests: string[];
  shard: Shard;
  frontierDepth: number;
  dryRun: boolean;
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  specials: number;
  hardlinks: number;
  bytes: number;
  skipped: number;
  deleted: number;
  /** entries the filters left out (a directory once) */
  excluded: number;
  /** the filters of the run (finalize lists the source through them) */
  filters: FilterSpec;
  errors: number;
  problems: Array<{ path: string; message: string }>;
  problemsTotal: number;
  problemsFile?: string;
  stopReason?: string;
  seconds: number;
  filesPerSecond: number;
  bytesPerSecond: number;
  ops: OpCounts & { perFile: number };
  threads: { fixed: boolean; final: number; max: number };
  stateFile: string;
  /** hard-linked inodes with names this shard did not see: --finalize links them across shards */
  openLinks: Array<{ key: string; names: string[] }>;
  /** the run copied extended attributes (--xattrs): --finalize sets those of the directories above the frontier */
  xattrs: boolean;
  warnings: string[];
}

type Stats = fs.BigIntStats;

interface LinkGroup {
  first: Buffer;
  dest: Buffer;
  destIno?: bigint;
  state: 'copying' | 'done' | 'failed';
  waiters: Array<{ rel: Buffer; st: Stats }>;
  names: Buffer[];
  nlink: number;
}

interface DirTimes {
  rel: Buffer;
  depth: number;
  st: Stats;
}

type Task =
  | { t: 'list'; rel: Buffer; depth: number; owned: boolean; fresh: boolean; setgid: boolean }
  | { t: 'entry'; rel: Buffer; depth: number; fresh: boolean; setgid: boolean; delayMs?: number }
  | { t: 'batch'; dir: Buffer; dest: number; names: Buffer[]; depth: number; setgid: boolean }
  | { t: 'link'; rel: Buffer; st: Stats; group: LinkGroup }
  | { t: 'range'; file: LargeFile; start: number; end: number };

interface LargeFile {
  rel: Buffer;
  st: Stats;
  src: fs.promises.FileHandle;
  dst: DestFile;
  dest: Buffer;
  left: number;
  failed?: unknown;
  sparse: boolean;
  setgid: boolean;
  group?: LinkGroup;
}

const TRANSIENT = new Set(['EIO', 'ESTALE', 'EAGAIN', 'ETIMEDOUT', 'EBUSY', 'EINTR', 'ECONNRESET', 'EMFILE', 'ENFILE', 'ENOMEM', 'EUNKNOWN']);
/** Destination failures that no retry or other entry can get past: stop the run, keep the state. */
const DEST_FATAL = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);


/**
 * Tasks in flight per directory (pool.ts says why there is a limit): enough that one file's data
 * overlaps the next one's create, and a large file's ranges (grouped by the file) stay bounded.
 */
const PER_DIRECTORY = 4;

/**
 * Regular files of a directory the run created that go to the addon in one call (copyBatch): a
 * call's thread copies them one after another, so the files in flight are the calls in flight
 * times one; what the batch saves is the main thread's work per file (its lstat, a promise, a
 * task), the bound of a small-file copy on a machine of few cores.
 */
const BATCH_FILES = 8;

function groupOf(t: Task): string {
  if (t.t === 'range') return `r${t.file.rel.toString('latin1')}`;
  if (t.t === 'list' || t.t === 'batch') return `d${(t.t === 'list' ? t.rel : t.dir).toString('latin1')}`;
  const i = t.rel.lastIndexOf(0x2f);
  return `d${i < 0 ? '' : t.rel.subarray(0, i).toString('latin1')}`;
}

export async function copy(options: CopyOptions): Promise<CopySummary> {
  const run = new CopyRun(options);
  return run.run();
}

function bufOf(p: string | Buffer): Buffer {
  return resolveBytes(p);
}

function join(root: Buffer, rel: Buffer): Buffer {
  return rel.length === 0 ? root : Buffer.concat([root, SLASH, rel]);
}
const SLASH = Buffer.from('/');

export function shardName(s: Shard): string {
  return `${s.index}-of-${s.count}`;
}

/**
 * Equal to the precision both sides keep: a time's precision is read from its own nanoseconds
 * (…789 ns, …000 µs, …000000 ms, none: the second), and the two are compared at the coarser
 * of the two (a destination that keeps microseconds, as Node's fallback sets them, or seconds
 * compares equal to a source in nanoseconds; two nanosecond sides must agree to the nanosecond),
 * or one side is what Node 24's utimes makes of the other (throughDouble).
 */
export function sameTime(a: bigint, b: bigint): boolean {
  if (a === b) return true;
  // a side set through Node's utimes on Node 24, without the addon, from the other's time
  if (b === throughDouble(a) || a === throughDouble(b)) return true;
  const unit = timeUnit(a) > timeUnit(b) ? timeUnit(a) : timeUnit(b);
  return floorDiv(a, unit) === floorDiv(b, unit);
}

function timeUnit(ns: bigint): bigint {
  let frac = ns % 1_000_000_000n;
  if (frac < 0n) frac += 1_000_000_000n;
  if (frac === 0n) return 1_000_000_000n;
  let unit = 1n;
  while (frac % (unit * 10n) === 0n) unit *= 10n;
  return unit;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

class CopyRun {
  private readonly o: CopyOptions;
  private readonly shard: Shard;
  private readonly src: Buffer;
  private readonly dests: Buffer[];
  private readonly fsx = new CountedFs();
  private readonly state: CopyState | undefined;
  private readonly pool: TaskPool<Task>;
  private readonly root = process.getuid?.() === 0;
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;
  private readonly largeFileBytes: number;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly maxErrors: number;
  private depth = 0;
  /** who owns each unit of the tree (one shard: all of them this one) */
  private partition = Partition.single();
  private readonly links = new Map<string, LinkGroup>();
  private readonly dirs: DirTimes[] = [];
  private stagingSeq = 0;
  private listsPending = 0;
  private readonly started = Date.now();
  private stopReason: string | undefined;
  private status: CopyStatus = 'complete';
  private readonly problems: Array<{ path: string; message: string }> = [];
  private readonly warnings: string[] = [];
  private ownerWarned = false;
  private readonly xattrs: boolean;
  /** --xattrs now, not in the state's last run: a done row does not say the attributes are there */
  private recheck = false;
  private readonly counts = { entries: 0, done: 0, files: 0, dirs: 0, symlinks: 0, specials: 0, hardlinks: 0, bytes: 0, skipped: 0, deleted: 0, excluded: 0 };
  private readonly filter: SourceFilter;
  /** source calls made synchronously while they are cheap (pool.ts): lstat; a small file's open and close; its reads */
  private readonly statGate = new SyncGate();
  private readonly openGate = new SyncGate();
  private readonly readGate = new SyncGate();
  /** the addon's one-call copy of a small file (CLFSLOAD_NATIVE=0, or no addon: Node's calls one by one) */
  private readonly native = nativeOps()?.copySmall !== undefined;
  /** the addon's copy of a fresh directory's small files, several in one call (copyBatch) */
  private readonly nativeBatch = nativeOps()?.copyBatch !== undefined;
  /** files beyond the first of each finished batch: the adaptive limit counts files, not tasks */
  private batchExtra = 0;

  constructor(o: CopyOptions) {
    this.o = o;
    this.shard = o.shard ?? { index: 0, count: 1 };
    this.src = bufOf(o.source);
    this.dests = o.dests.map(bufOf);
    this.largeFileBytes = o.largeFileBytes ?? DEFAULT_LARGE_FILE_BYTES;
    this.retries = o.retries ?? 4;
    this.retryBaseMs = o.retryBaseMs ?? 100;
    this.maxErrors = o.maxErrors ?? 50;
    this.xattrs = o.xattrs === true;
    this.checkArguments();
    this.filter = SourceFilter.compile(o.filters ?? DEFAULT_FILTERS);
    this.state = o.dryRun
      ? undefined
      : new CopyState(o.stateDir, shardName(this.shard), { source: this.src, dest: this.dests[0]!, shard: shardName(this.shard) }, o.newState === true);
    if (this.state !== undefined) this.checkFilters(this.state);
    if (this.state !== undefined) {
      this.recheck = this.xattrs && this.state.getMeta('xattrs') !== 'yes';
      this.state.setMeta('xattrs', this.xattrs ? 'yes' : 'no');
    }
    const max = o.threads ?? o.maxThreads ?? DEFAULT_MAX_THREADS;
    this.pool = new TaskPool<Task>((t) => this.runTask(t), o.threads ?? Math.min(16, max), (err, t) => this.taskFailed(err, t), groupOf, PER_DIRECTORY);
  }

  /**
   * The filters are part of the copy: a re-run with others would leave DEST half one selection,
   * half the other (and --delete protects what they exclude), so it is refused unless --new.
   */
  private checkFilters(state: CopyState): void {
    const given = this.filter.spec;
    const was = state.getMeta('filters');
    if (was !== undefined) {
      const stored = JSON.parse(was) as FilterSpec;
      if (!sameFilters(stored, given)) {
        const file = state.file;
        state.close();
        throw new ClfsError(
          'E_STATE_MISMATCH',
          `${file}: this copy ran with ${describeFilters(stored)}, not ${describeFilters(given)}: run it with the same filter options, or pass --new to start over with the new ones`,
          { subject: '--exclude' },
        );
      }
    }
    state.setMeta('filters', JSON.stringify(given));
  }

  /** Whether the child `rel` of a listing is left out (the marker check reads the directory). */
  private async excludedChild(root: Buffer, rel: Buffer, name: Buffer, isDir: boolean | undefined): Promise<boolean> {
    const dir = isDir ?? (await this.fsx.srcLstat(join(root, rel))).isDirectory();
    return this.filter.excluded(rel, name, dir) || (dir && this.filter.markers.length > 0 && holdsMarker(this.filter.markers, join(root, rel)));
  }

  private checkArguments(): void {
    const source = showArg(this.o.source);
    const st = statOrUndefined(this.src);
    if (st === undefined || !st.isDirectory()) {
      throw new ClfsError('E_SOURCE_NOT_FOUND', `${source}: not a directory; give the source tree to copy`, { subject: source });
    }
    if (this.o.dests.length === 0) throw new ClfsError('E_USAGE', 'copy: give at least one DEST directory', { subject: 'DEST' });
    if (this.xattrs && nativeOps() === undefined) {
      throw new ClfsError('E_USAGE', `--xattrs needs clfsload's native addon (${nativeMissing()}); or copy without --xattrs`, { subject: '--xattrs' });
    }
    const under = (a: Buffer, b: Buffer) => a.length > b.length && a[b.length] === 0x2f && a.subarray(0, b.length).equals(b);
    for (const [i, d] of this.dests.entries()) {
      const shown = showArg(this.o.dests[i]!);
      const ds = statOrUndefined(d);
      if (ds === undefined || !ds.isDirectory()) {
        throw new ClfsError('E_USAGE', `${shown}: destination is not a directory; create it (or mount the export there) first`, { subject: shown });
      }
      if (d.equals(this.src) || under(d, this.src) || under(this.src, d)) {
        throw new ClfsError('E_USAGE', `${shown}: the destination overlaps the source ${source}; copy into a directory outside it`, { subject: shown });
      }
    }
  }

  private dest(rel: Buffer, key?: string): Buffer {
    const n = this.dests.length;
    const i = n === 1 ? 0 : ownerOf(key !== undefined ? Buffer.from(key) : rel, n);
    return join(this.dests[i]!, rel);
  }

  async run(): Promise<CopySummary> {
    const oldMask = process.umask(0);
    let adaptive: AdaptiveLimit | undefined;
    let progress: NodeJS.Timeout | undefined;
    const onAbort = () => this.stop('interrupted', 'interrupted');
    this.o.abortSignal?.addEventListener('abort', onAbort);
    try {
      if (this.dests.length > 1 && !this.o.dryRun) await this.checkSameExport();
      if (this.xattrs && !this.o.dryRun) await this.checkXattrSupport();
      this.partition = await sharedPartition({
        count: this.shard.count,
        source: this.src,
        metaDir: join(this.dests[0]!, Buffer.from(COPY_META_DIR)),
        list: (rel) => this.listForFrontier(rel),
        record: !this.o.dryRun,
        depth: this.o.frontierDepth,
      });
      this.depth = this.partition.depth;
      const rootSt = await this.fsx.srcLstat(this.src);
      if (this.o.threads === undefined) {
        const max = this.o.maxThreads ?? DEFAULT_MAX_THREADS;
        adaptive = new AdaptiveLimit(this.pool, () => this.pool.completed + this.batchExtra + this.counts.bytes / 262144, 4, max);
      }
      progress = setInterval(() => this.o.onProgress?.(this.snapshot()), 1000);
      progress.unref();
      const owned = this.depth === 0;
      if (owned) this.dirs.push({ rel: Buffer.alloc(0), depth: 0, st: rootSt });
      this.pushList({ t: 'list', rel: Buffer.alloc(0), depth: 0, owned, fresh: false, setgid: (Number(rootSt.mode) & 0o2000) !== 0 });
      await this.pool.drained();
      await this.removeStaging();
      if (this.status === 'complete' || this.status === 'incomplete') await this.finishDirectories(owned, rootSt);
    } catch (err) {
      if (!stopsRun(err) && !(err instanceof SideError)) throw err;
      this.stop('stopped', (err as Error).message);
      await this.pool.drained();
    } finally {
      adaptive?.stop();
      if (progress !== undefined) clearInterval(progress);
      this.o.abortSignal?.removeEventListener('abort', onAbort);
      process.umask(oldMask);
    }
    return this.finish();
  }

  private stop(status: CopyStatus, why: string): void {
    if (this.stopReason !== undefined) return;
    this.status = status;
    this.stopReason = why;
    this.pool.stop();
  }

  private async listForFrontier(rel: Buffer): Promise<Array<{ name: Buffer; isDir: boolean }>> {
    const abs = join(this.src, rel);
    const list = await this.fsx.srcReaddir(abs);
    const all = await Promise.all(
      list.map(async (d) => {
        const name = d.name as unknown as Buffer;
        let isDir = direntIsDir(d);
        if (isDir === undefined) isDir = (await this.fsx.srcLstat(join(abs, name))).isDirectory();
        // every shard, compare and finalize split the tree the filters leave
        const out = await this.excludedChild(this.src, childRel(rel, name), name, isDir);
        return { name, isDir, out };
      }),
    );
    return all.filter((e) => !e.out);
  }

  /** The DEST paths must be one directory: a marker written through the first is read through the others. */
  private async checkSameExport(): Promise<void> {
    const dir = join(this.dests[0]!, Buffer.from(COPY_META_DIR));
    await this.fsx.mkdirp(dir, 0o755);
    const marker = Buffer.from(`id-${process.pid}-${Date.now()}`);
    fs.writeFileSync(join(dir, marker), marker);
    try {
      for (const [i, d] of this.dests.entries()) {
        if (i === 0) continue;
        if (!fs.existsSync(join(d, Buffer.from(`${COPY_META_DIR}/${marker.toString()}`)))) {
          const shown = showArg(this.o.dests[i]!);
          throw new ClfsError('E_USAGE', `${shown}: does not show what was written through ${showArg(this.o.dests[0]!)}; every DEST must be the same directory (the same export through different mounts)`, { subject: shown });
        }
      }
    } finally {
      fs.rmSync(join(dir, marker), { force: true });
    }
  }

  /**
   * --xattrs into a DEST that keeps none (setxattr: ENOTSUP) is refused before anything is
   * copied, with one line: rsync -X would report every file and exit 23. A destination that
   * keeps user.* but refuses a namespace the source has (root copying security.* onto NFS) fails
   * those entries one by one, as rsync -X does (listed, exit 1).
   */
  private async checkXattrSupport(): Promise<void> {
    const dir = join(this.dests[0]!, Buffer.from(COPY_META_DIR));
    await this.fsx.mkdirp(dir, 0o755);
    const probe = join(dir, Buffer.from(`xattr-probe-${process.pid}`));
    fs.writeFileSync(probe, '');
    try {
      await this.fsx.setXattrs(probe, [{ name: Buffer.from('user.clfsload-probe'), value: Buffer.from('1') }], false);
    } catch (err) {
      const shown = showArg(this.o.dests[0]!);
      const why = err instanceof SideError ? err.errno : 'error';
      if (why === 'ENOTSUP') throw new ClfsError('E_USAGE', `${shown}: the destination keeps no extended attributes (setxattr: ENOTSUP); mount it with xattr support (NFS 4.2, user_xattr), or copy without --xattrs`, { subject: '--xattrs' });
      throw err;
    } finally {
      fs.rmSync(probe, { force: true });
    }
  }

  /** The source entry's attributes onto the destination (descriptor or path). */
  private async copyXattrs(rel: Buffer, target: DestFile | Buffer, existing: boolean): Promise<void> {
    if (!this.xattrs) return;
    const list: Xattr[] = await this.fsx.srcXattrs(join(this.src, rel));
    await this.fsx.setXattrs(target, list, existing);
  }

  private pushList(t: Task & { t: 'list' }): void {
    this.listsPending += 1;
    this.pool.push(t);
  }

  private snapshot(): CopyProgress {
    const prev = this.state?.getMeta('totals');
    return {
      entriesSeen: this.counts.entries,
      entriesDone: this.counts.done,
      files: this.counts.files,
      bytes: this.counts.bytes,
      skipped: this.counts.skipped,
      errors: this.problems.length,
      seconds: (Date.now() - this.started) / 1000,
      threads: this.pool.currentLimit,
      crawlDone: this.listsPending === 0,
      ...(prev !== undefined ? { previousTotals: JSON.parse(prev) as { entries: number; bytes: number } } : {}),
    };
  }

  // ---- tasks ---------------------------------------------------------------------------------

  private async runTask(t: Task): Promise<void> {
    switch (t.t) {
      case 'list':
        try {
          await this.withRetries(t.rel, () => this.list(t));
        } finally {
          this.listsPending -= 1;
        }
        return;
      case 'entry':
        if (t.delayMs !== undefined) await new Promise((r) => setTimeout(r, t.delayMs));
        await this.withRetries(t.rel, () => this.entry(t));
        return;
      case 'batch':
        await this.batch(t);
        return;
      case 'link':
        await this.withRetries(t.rel, () => this.link(t.rel, t.st, t.group));
        return;
      case 'range':
        await this.range(t);
        return;
    }
  }

  private taskFailed(err: unknown, t: Task): void {
    if (t.t === 'batch') {
      // the call itself failed (no memory): each of its files goes its own way
      for (const name of t.names) this.pool.push({ t: 'entry', rel: childRel(t.dir, name), depth: t.depth, fresh: false, setgid: t.setgid, delayMs: this.retryBaseMs });
      return;
    }
    const rel = t.t === 'range' ? t.file.rel : t.rel;
    this.fail(rel, err);
  }

  private fail(rel: Buffer, err: unknown): void {
    // a write waiting for --bwlimit when the run is interrupted: not a failure of the entry
    if (this.o.abortSignal?.aborted === true && isClfsError(err) && err.code === 'E_ABORTED') return;
    if (err instanceof SideError && err.side === 'dest' && DEST_FATAL.has(err.errno)) {
      this.stop('stopped', `destination: ${err.message}; free space (or fix the mount) and run the same command again to resume`);
    }
    if (stopsRun(err)) this.stop('stopped', (err as Error).message);
    const shown = displayPath(rel.length === 0 ? Buffer.from('.') : rel);
    const message = describe(err);
    this.problems.push({ path: shown, message });
    this.state?.put({ path: rel, kind: 'failed', size: 0n, mtimeNs: 0n, status: 'failed', error: message });
    if (this.problems.length > this.maxErrors) this.stop('error-budget-exceeded', `more than ${this.maxErrors} entries failed (--max-errors)`);
  }

  private retryable(err: unknown, attempt: number): boolean {
    return err instanceof SourceChanged || (err instanceof SideError && (TRANSIENT.has(err.errno) || (err.side === 'dest' && err.errno === 'ENOENT' && attempt < 2)));
  }

  private async withRetries(rel: Buffer, fn: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await fn();
        return;
      } catch (err) {
        if (!this.retryable(err, attempt) || attempt >= this.retries || this.stopReason !== undefined) throw err;
        const ms = this.retryBaseMs * 2 ** attempt * (0.5 + Math.random());
        await new Promise((r) => setTimeout(r, ms));
      }
    }
  }

  /** List one directory: push the children this shard owns (and the frontier directories below). */
  private async list(t: Task & { t: 'list' }): Promise<void> {
    const abs = join(this.src, t.rel);
    const listing = await this.fsx.srcReaddir(abs);
    // the source's names, for --delete only (a directory of millions of names costs memory)
    const deleting = this.o.delete === true && !t.fresh;
    const names = new Set<string>();
    // a fresh directory's regular files go to the addon several at a time (copyBatch), by DEST
    const batches = t.fresh && this.batching() ? this.dests.map((): Buffer[] => []) : undefined;
    for (const d of listing) {
      const name = d.name as unknown as Buffer;
      const rel = childRel(t.rel, name);
      if (deleting) names.add(name.toString('latin1'));
      const depth = t.depth + 1;
      let isDir = direntIsDir(d);
      if (this.filter.active || this.filter.markers.length > 0) {
        if (isDir === undefined) isDir = (await this.fsx.srcLstat(join(this.src, rel))).isDirectory();
        if (await this.excludedChild(this.src, rel, name, isDir)) {
          // an excluded source name stays in `names`: --delete keeps its DEST copy
          if (t.owned || this.partition.owner(rel) === this.shard.index) this.counts.excluded += 1;
          continue;
        }
      }
      if (!t.owned) {
        if (isDir === undefined) isDir = (await this.fsx.srcLstat(join(this.src, rel))).isDirectory();
        if (isDir && depth < this.depth) {
          await this.frontierDir(rel, depth);
          continue;
        }
        if (this.partition.owner(rel) !== this.shard.index) continue;
      }
      this.counts.entries += 1;
      if (batches !== undefined && d.isFile()) {
        const i = this.dests.length === 1 ? 0 : ownerOf(rel, this.dests.length);
        const batch = batches[i]!;
        batch.push(name);
        if (batch.length >= BATCH_FILES) {
          this.pool.push({ t: 'batch', dir: t.rel, dest: i, names: batch.splice(0), depth, setgid: t.setgid });
        }
        continue;
      }
      this.pool.push({ t: 'entry', rel, depth, fresh: t.fresh, setgid: t.setgid });
    }
    if (batches !== undefined) {
      for (const [i, batch] of batches.entries()) if (batch.length > 0) this.pool.push({ t: 'batch', dir: t.rel, dest: i, names: batch, depth: t.depth + 1, setgid: t.setgid });
    }
    if (deleting) await this.deleteExtras(t, names);
  }

  /**
   * Whether a fresh directory's files may go by copyBatch: the addon has it, and nothing of the
   * run needs a file's own path: --xattrs, --bwlimit (charged before each write), a source fault
   * plan (tests: reads go through the seam), a dry run.
   */
  private batching(): boolean {
    return this.nativeBatch && !this.xattrs && this.o.limiter === undefined && !this.o.dryRun && sourceFaults() === undefined;
  }

  /**
   * Up to BATCH_FILES regular files of a directory this run created, by one native call. A file
   * it copied is done; one that is not a plain small file (a hard link, a large or sparse one,
   * not a file any more) takes the per-file path; a failure is the file's own: retried by the
   * per-file path when it may pass (as withRetries decides), else reported. The call stops at
   * the first failure, and the files it did not try take the per-file path too.
   */
  private async batch(t: Task & { t: 'batch' }): Promise<void> {
    const root = this.dests[t.dest]!;
    if (this.stopReason !== undefined) return;
    const results: BatchResult[] = await this.fsx.copyBatch(join(this.src, t.dir), join(root, t.dir), t.names, Math.min(CHUNK, this.largeFileBytes - 1), t.setgid);
    this.batchExtra += t.names.length - 1;
    for (const [i, r] of results.entries()) {
      const rel = childRel(t.dir, t.names[i]!);
      if (r.status === BS_COPIED) {
        if (!this.root) this.noteOwnerIds(r.uid, r.gid);
        this.counts.files += 1;
        this.counts.bytes += Number(r.size);
        this.done(rel, 'file', r);
      } else if (r.status === BS_FAILED && !this.retryable(r.error, 0)) this.fail(rel, r.error);
      else {
        // not a plain small file, not tried, or a failure a retry may get past: the per-file path
        // (a retry after the usual first wait, and DEST looked at first, though the call removed
        // what it had made)
        const failed = r.status === BS_FAILED;
        this.pool.push({ t: 'entry', rel, depth: t.depth, fresh: !failed, setgid: t.setgid, ...(failed ? { delayMs: this.retryBaseMs } : {}) });
      }
    }
  }

  /** A directory above the frontier: every shard lists it and makes sure it exists. */
  private async frontierDir(rel: Buffer, depth: number): Promise<void> {
    const st = await this.fsx.srcLstat(join(this.src, rel));
    if (!this.o.dryRun) {
      const created = await this.fsx.mkdir(this.dest(rel), Number(st.mode) & 0o7777);
      if (created && this.root) await this.fsx.lchown(this.dest(rel), Number(st.uid), Number(st.gid));
      if (created) await this.copyXattrs(rel, this.dest(rel), false);
    }
    this.pushList({ t: 'list', rel, depth, owned: false, fresh: false, setgid: (Number(st.mode) & 0o2000) !== 0 });
  }

  private async deleteExtras(t: Task & { t: 'list' }, names: Set<string>): Promise<void> {
    const destDir = this.dest(t.rel);
    let present: Buffer[];
    try {
      present = await this.fsx.readdir(destDir);
    } catch (err) {
      if (err instanceof SideError && err.errno === 'ENOENT' && this.o.dryRun) return;
      throw err;
    }
    for (const name of present) {
      if (names.has(name.toString('latin1'))) continue;
      if (t.rel.length === 0 && name.toString() === COPY_META_DIR) continue;
      const rel = childRel(t.rel, name);
      if (!t.owned && this.partition.owner(rel) !== this.shard.index) continue;
      // rsync's rule: what the filters exclude is protected in DEST too
      const there = await this.fsx.lstat(join(this.dest(t.rel), name));
      if (there !== undefined && (await this.excludedChild(this.dests[0]!, rel, name, there.isDirectory()))) continue;
      this.counts.deleted += 1;
      if (this.o.dryRun) this.o.onDryRun?.('delete', displayPath(rel));
      else {
        await this.fsx.rm(this.dest(rel));
        this.state?.forget(rel);
      }
    }
  }

  private async entry(t: Task & { t: 'entry' }): Promise<void> {
    const srcPath = join(this.src, t.rel);
    const st = this.statGate.sync ? this.statGate.time(() => this.srcLstatSync(srcPath)) : await this.fsx.srcLstat(srcPath);
    const kind = kindOfMode(Number(st.mode));
    if (kind === 'dir') return this.directory(t, st);
    // in a directory this run created nothing is there, whatever the state says (and no look-up is spent)
    const done = this.o.checksum === true || this.recheck || t.fresh ? undefined : this.state?.get(t.rel);
    const unchanged = done !== undefined && done.status === 'done' && done.kind === kind && done.size === st.size && done.mtimeNs === st.mtimeNs;
    if (kind === 'file' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      let g = this.links.get(key);
      if (g !== undefined) {
        g.names.push(t.rel);
        if (g.state === 'copying') g.waiters.push({ rel: t.rel, st });
        else this.pool.push({ t: 'link', rel: t.rel, st, group: g });
        return;
      }
      g = { first: t.rel, dest: this.dest(t.rel, key), state: 'copying', waiters: [], names: [t.rel], nlink: Number(st.nlink) };
      this.links.set(key, g);
      try {
        const pending = unchanged ? (this.skip(t.rel), false) : await this.file(t.rel, st, g.dest, t.fresh, t.setgid, g);
        // a large file's ranges finish the group when the last one ends
        if (!pending) this.linkGroupDone(g);
      } catch (err) {
        this.linkGroupFailed(g, err);
        throw err;
      }
      return;
    }
    if (unchanged) return this.skip(t.rel);
    const dest = this.dest(t.rel);
    if (kind === 'file') {
      await this.file(t.rel, st, dest, t.fresh, t.setgid);
      return;
    }
    if (kind === 'symlink') return this.symlink(t.rel, st, dest, t.fresh, t.setgid);
    return this.special(t.rel, st, dest, kind!, t.fresh, t.setgid);
  }

  private skip(rel: Buffer): void {
    void rel;
    this.counts.skipped += 1;
    this.counts.done += 1;
  }

  private linkGroupDone(g: LinkGroup): void {
    g.state = 'done';
    for (const w of g.waiters) this.pool.push({ t: 'link', rel: w.rel, st: w.st, group: g });
    g.waiters = [];
  }

  private linkGroupFailed(g: LinkGroup, err: unknown): void {
    g.state = 'failed';
    for (const w of g.waiters) this.fail(w.rel, new Error(`not linked: its first name ${displayPath(g.first)} failed (${describe(err)})`));
    g.waiters = [];
  }

  /** `st`: the entry's stat, or what copyBatch reports of a file it copied (its size and mtime) */
  private done(rel: Buffer, kind: string, st: Pick<Stats, 'size' | 'mtimeNs'>): void {
    this.counts.done += 1;
    this.state?.put({ path: rel, kind, size: st.size, mtimeNs: st.mtimeNs, status: 'done' });
  }

  private async directory(t: Task & { t: 'entry' }, st: Stats): Promise<void> {
    const dest = this.dest(t.rel);
    const mode = Number(st.mode) & 0o7777;
    let fresh = false;
    if (this.o.dryRun) {
      const d = await this.fsx.lstat(dest);
      fresh = d === undefined;
      if (fresh) this.o.onDryRun?.('copy', `${displayPath(t.rel)}/`);
    } else {
      fresh = await this.fsx.mkdir(dest, mode);
      if (!fresh) {
        const d = await this.fsx.lstat(dest);
        if (d !== undefined && !d.isDirectory()) {
          await this.fsx.unlink(dest);
          fresh = await this.fsx.mkdir(dest, mode);
        }
        if (d !== undefined && d.isDirectory()) await this.fixMeta(dest, d, st, t.rel);
      }
      if (fresh) {
        if (this.ownerChange(st, t.setgid)) await this.fsx.lchown(dest, Number(st.uid), Number(st.gid));
        else this.noteOwner(st);
        // mkdir drops set-id bits, and a set-group-id parent passes its bit on
        if ((mode & 0o7000) !== 0 || t.setgid) await this.fsx.chmod(dest, mode);
        await this.copyXattrs(t.rel, dest, false);
      }
    }
    this.counts.dirs += 1;
    this.dirs.push({ rel: t.rel, depth: t.depth, st });
    this.done(t.rel, 'dir', st);
    this.pushList({ t: 'list', rel: t.rel, depth: t.depth, owned: true, fresh, setgid: (mode & 0o2000) !== 0 });
  }

  /** An existing destination entry of the right type: owner and mode as the source's. */
  private async fixMeta(dest: Buffer, d: Stats, st: Stats, rel: Buffer): Promise<void> {
    if (this.root && (d.uid !== st.uid || d.gid !== st.gid)) await this.fsx.lchown(dest, Number(st.uid), Number(st.gid));
    if ((Number(d.mode) & 0o7777) !== (Number(st.mode) & 0o7777) && !d.isSymbolicLink()) await this.fsx.chmod(dest, Number(st.mode) & 0o7777);
    await this.copyXattrs(rel, dest, true);
  }

  private noteOwner(st: Stats): void {
    this.noteOwnerIds(Number(st.uid), Number(st.gid));
  }

  private noteOwnerIds(uid: number, gid: number): void {
    if (this.root || this.ownerWarned) return;
    if (uid !== this.uid || gid !== this.gid) {
      this.ownerWarned = true;
      this.warn('not root: entries keep the copying user as owner and group (run as root to copy owners)');
    }
  }

  private warn(message: string): void {
    this.warnings.push(message);
    this.o.onWarning?.(message);
  }

  /**
   * The destination for a new copy of `kind`: nothing there (a fresh directory, or lstat says
   * so), or what is there removed. Returns 'same' when what is there already matches the source.
   */
  private async prepare(rel: Buffer, st: Stats, dest: Buffer, fresh: boolean, kind: string, linked = false): Promise<'same' | 'write'> {
    if (fresh) return 'write';
    const d = await this.fsx.lstat(dest);
    if (d === undefined) return 'write';
    const dk = kindOfMode(Number(d.mode));
    if (dk === kind) {
      // a file with one name in the source must not stay linked to another in the destination
      if (kind === 'file' && d.size === st.size && (linked || d.nlink === 1n) && (this.o.checksum === true ? await this.sameContent(rel, dest, st) : sameTime(d.mtimeNs, st.mtimeNs))) {
        if (!this.o.dryRun) {
          await this.fixMeta(dest, d, st, rel);
          if (!sameTime(d.mtimeNs, st.mtimeNs)) await this.fsx.utimes(dest, st.atimeNs, st.mtimeNs);
        }
        return 'same';
      }
      if (kind === 'symlink' && sameTime(d.mtimeNs, st.mtimeNs)) {
        const target = await this.fsx.readlink(dest);
        const want = await this.fsx.srcReadlink(join(this.src, rel));
        if (target.equals(want)) {
          if (!this.o.dryRun) await this.copyXattrs(rel, dest, true);
          return 'same';
        }
      }
      if (kind !== 'file' && kind !== 'symlink' && d.rdev === st.rdev && sameTime(d.mtimeNs, st.mtimeNs)) {
        if (!this.o.dryRun) await this.copyXattrs(rel, dest, true);
        return 'same';
      }
    }
    if (!this.o.dryRun) {
      if (dk === 'dir') await this.fsx.rm(dest);
      else await this.fsx.unlink(dest);
    }
    return 'write';
  }

  private async sameContent(rel: Buffer, dest: Buffer, st: Stats): Promise<boolean> {
    return sameFileContent(this.fsx, join(this.src, rel), dest, Number(st.size));
  }

  /** True when the file went on as ranges (they finish it). */
  /** `setgid`: the directory is set-group-id (what is made in it takes its group, so the owner is always set as root). */
  private async file(rel: Buffer, st: Stats, dest: Buffer, fresh: boolean, setgid: boolean, group?: LinkGroup): Promise<boolean> {
    if ((await this.prepare(rel, st, dest, fresh, 'file', group !== undefined)) === 'same') {
      this.done(rel, 'file', st);
      this.counts.skipped += 1;
      return false;
    }
    const size = Number(st.size);
    if (this.o.dryRun) {
      this.o.onDryRun?.('copy', displayPath(rel));
      this.counts.files += 1;
      this.counts.bytes += size;
      this.counts.done += 1;
      return false;
    }
    const sparse = size > 0 && Number(st.blocks) * 512 < size;
    const mode = Number(st.mode) & 0o7777;
    if (size >= this.largeFileBytes) {
      await this.largeFile(rel, st, dest, sparse, setgid, group);
      return true;
    }
    const srcPath = join(this.src, rel);
    if (size <= CHUNK && !sparse && !this.xattrs && this.native) {
      if (await this.smallNative(srcPath, st, dest, size, mode, setgid)) {
        this.counts.files += 1;
        this.counts.bytes += size;
        this.done(rel, 'file', st);
        return false;
      }
    }
    let src: fs.promises.FileHandle | undefined;
    let dst: DestFile | undefined;
    // the destination exists from its create on: a failed close must remove it too, or a file that
    // already has the source's size and mtime would pass for copied on the next run
    let created = false;
    try {
      // a file of at most one chunk is read whole, synchronously while that is cheap (SyncGate);
      // a sparse one by its data extents (copyRange)
      const data = size > 0 && size <= CHUNK && !sparse && this.openGate.sync ? await this.readSmall(srcPath, size) : undefined;
      // an empty file needs no read: a later change shows in its size and mtime
      if (size > 0 && data === undefined) src = await this.fsx.srcOpen(srcPath);
      dst = await this.fsx.create(dest, mode);
      created = true;
      if (sparse) await this.fsx.truncate(dst, size);
      if (data !== undefined) await this.writeAll(dst, data, 0, size, 0);
      if (src !== undefined) await this.copyRange(src, dst, 0, size, true, sparse);
      await this.copyXattrs(rel, dst, false);
      await this.finishFile(dst, st, setgid);
      const d = dst;
      dst = undefined;
      await this.fsx.close(d);
    } catch (err) {
      await this.discard(dst, dest, created);
      throw err;
    } finally {
      if (src !== undefined) await this.fsx.srcClose(src).catch(() => undefined);
    }
    this.counts.files += 1;
    this.counts.bytes += size;
    this.done(rel, 'file', st);
    return false;
  }

  /**
   * A small file copied by one native call on the pool (CountedFs.copySmall): the main thread
   * makes no file call for it. The source is read in that call too unless a source fault plan
   * is set (tests): then it is read here through the seam, as the fallback reads it, and the
   * bytes are handed over. False: not copied, the caller takes the path without the addon (the
   * seam's reads are slow: the thread pool's path serves those).
   */
  private async smallNative(srcPath: Buffer, st: Stats, dest: Buffer, size: number, mode: number, setgid: boolean): Promise<boolean> {
    let data: Buffer | null = null;
    if (size === 0) data = EMPTY;
    else if (sourceFaults() !== undefined) {
      if (!this.openGate.sync) return false;
      data = await this.readSmall(srcPath, size);
    }
    if (this.o.limiter !== undefined && size > 0) await this.o.limiter.bytes(size, this.o.abortSignal);
    const chown = this.ownerChange(st, setgid);
    if (!this.root) this.noteOwner(st);
    const owner = chown ? { uid: Number(st.uid), gid: Number(st.gid), setIds: (mode & 0o6000) !== 0 } : undefined;
    await this.fsx.copySmall(data === null ? srcPath : null, data, size, dest, mode, owner, st.atimeNs, st.mtimeNs);
    return true;
  }

  /** The source's lstat on the main thread (SyncGate), counted and tagged as the asynchronous one is. */
  private srcLstatSync(p: Buffer): Stats {
    return this.fsx.srcSync(() => sourceFs.lstatSync(p, { bigint: true }) as Stats);
  }

  /**
   * A file of `size` bytes (at most one chunk) read whole: opened and closed on the main thread,
   * read there too while reads are cheap (a warm page cache), else on the thread pool (a read
   * that waits for the disk). One byte more is asked for, so a file that grew since its lstat
   * shows without an extra call; one that shrank ends early. Either way the copy is retried, as
   * copyRange's are.
   */
  private async readSmall(p: Buffer, size: number): Promise<Buffer> {
    // non-blocking: a file swapped for a fifo since its lstat must not hang the main thread in open
    const fd = this.openGate.time(() => this.fsx.srcSync(() => sourceFs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)));
    try {
      const buf = Buffer.allocUnsafe(size + 1);
      let n = 0;
      while (n < size) {
        const at = n;
        const r = this.readGate.sync
          ? this.readGate.time(() => this.fsx.srcSync(() => sourceFs.readSync(fd, buf, at, size + 1 - at, at)), (size - at) / 4096)
          : await this.fsx.srcReadFd(fd, buf, at, size + 1 - at, at);
        if (r === 0) throw new SourceChanged('shrank while being copied');
        n += r;
      }
      if (n > size) throw new SourceChanged('grew while being copied');
      return buf.subarray(0, size);
    } finally {
      this.openGate.time(() => {
        this.fsx.ops.source += 1;
        try {
          sourceFs.closeSync(fd);
        } catch {
          // a read-only descriptor: nothing of the copy depends on its close
        }
      });
    }
  }

  /** Owner (set-id bits after it: chown clears them) and times, the last steps before close. */
  private async finishFile(dst: DestFile, st: Stats, setgid: boolean): Promise<void> {
    const mode = Number(st.mode) & 0o7777;
    if (this.ownerChange(st, setgid)) {
      await this.fsx.fchown(dst, Number(st.uid), Number(st.gid));
      if ((mode & 0o6000) !== 0) await this.fsx.fchmod(dst, mode);
    } else this.noteOwner(st);
    await this.fsx.futimes(dst, st.atimeNs, st.mtimeNs);
  }

  /**
   * Whether an entry made in DEST needs its owner set: as root, when the source's is not the
   * process's, or when the directory is set-group-id (a new entry takes the directory's group).
   */
  private ownerChange(st: Stats, setgid: boolean): boolean {
    return this.root && (Number(st.uid) !== this.uid || Number(st.gid) !== this.gid || setgid);
  }

  /** A file that failed part way is removed, so nothing half written is left behind. */
  private async discard(dst: DestFile | undefined, dest: Buffer, created = dst !== undefined): Promise<void> {
    if (dst !== undefined) await new Promise((r) => fs.close(dst, r));
    if (created) await fs.promises.unlink(dest).catch(() => undefined);
  }

  /**
   * Bytes [start, end) from src to dst in chunks, the read of the next chunk in flight while the
   * current one is written (over a mount each write waits a round trip, and a cold source read
   * waits the disk: overlapped, a range takes the longer of the two rather than their sum).
   * `last`: the final chunk asks for one byte more, so a file that grew since its lstat shows
   * without an extra call. Sparse sources (the destination was truncated to size first): only
   * the data extents are copied, as SEEK_DATA/SEEK_HOLE (the native addon) map them, so holes
   * stay holes; without the addon, or on a file system that cannot tell (EINVAL, or one extent
   * for the whole range), every block is read and blocks of zeros are not written.
   */
  private async copyRange(src: fs.promises.FileHandle, dst: DestFile, start: number, end: number, last: boolean, sparse: boolean): Promise<void> {
    const extents = sparse ? await this.fsx.srcDataExtents(src, start, end) : undefined;
    // one extent over the whole range of a file with holes: either this part is all data, or the
    // file system answers SEEK_DATA generically (all data: NFSv3, some FUSE); the zero-block
    // path keeps the holes in both cases
    if (extents === undefined || (extents.length === 2 && extents[0] === start && extents[1] === end)) return this.copyBytes(src, dst, start, end, last, sparse);
    for (let i = 0; i + 1 < extents.length; i += 2) await this.copyBytes(src, dst, extents[i]!, extents[i + 1]!, last && extents[i + 1] === end, false);
    if (last && extents[extents.length - 1] !== end) {
      // a file that ends in a hole: one byte past its end says whether it grew
      const probe = Buffer.allocUnsafe(1);
      if ((await this.fsx.srcRead(src, probe, 0, 1, end)) > 0) throw new SourceChanged(`grew while being copied`);
    }
  }

  private async copyBytes(src: fs.promises.FileHandle, dst: DestFile, start: number, end: number, last: boolean, sparse: boolean): Promise<void> {
    const len = Math.min(CHUNK, end - start) + 1;
    const bufs = end - start > CHUNK ? [Buffer.allocUnsafe(len), Buffer.allocUnsafe(len)] : [Buffer.allocUnsafe(len)];
    const readAt = (pos: number, buf: Buffer): Promise<number> => {
      const want = Math.min(CHUNK, end - pos);
      const ask = last && pos + want === end ? want + 1 : want;
      const p = this.fsx.srcRead(src, buf, 0, ask, pos);
      // handled at once: it may fail while the write before it is still in flight (awaited below)
      p.catch(() => undefined);
      return p;
    };
    let pos = start;
    let k = 0;
    let next: Promise<number> | undefined = readAt(pos, bufs[0]!);
    try {
      while (next !== undefined) {
        const buf = bufs[k % bufs.length]!;
        const n = await next;
        next = undefined;
        if (n > end - pos) throw new SourceChanged(`grew while being copied`);
        if (n === 0) throw new SourceChanged(`shrank while being copied`);
        const at = pos;
        pos += n;
        k += 1;
        if (pos < end) {
          if (bufs.length === 1) bufs.push(Buffer.allocUnsafe(len));
          next = readAt(pos, bufs[k % bufs.length]!);
        }
        if (sparse) await this.writeSparse(dst, buf, n, at);
        else await this.writeAll(dst, buf, 0, n, at);
      }
    } finally {
      // a write that failed leaves a read in flight: it ends before the buffers are let go
      if (next !== undefined) await next.catch(() => undefined);
    }
  }

  private async writeAll(dst: DestFile, buf: Buffer, off: number, len: number, pos: number): Promise<void> {
    // charged once for the whole run: a short write's rest is the same bytes
    if (this.o.limiter !== undefined) await this.o.limiter.bytes(len, this.o.abortSignal);
    while (len > 0) {
      const w = await this.fsx.write(dst, buf, off, len, pos);
      off += w;
      len -= w;
      pos += w;
    }
  }

  private async writeSparse(dst: DestFile, buf: Buffer, n: number, pos: number): Promise<void> {
    let runStart = -1;
    for (let off = 0; off < n; off += ZERO_BLOCK) {
      const len = Math.min(ZERO_BLOCK, n - off);
      const zero = buf.compare(ZEROS, 0, len, off, off + len) === 0;
      if (!zero && runStart < 0) runStart = off;
      if (zero && runStart >= 0) {
        await this.writeAll(dst, buf, runStart, off - runStart, pos + runStart);
        runStart = -1;
      }
    }
    if (runStart >= 0) await this.writeAll(dst, buf, runStart, n - runStart, pos + runStart);
  }

  private async largeFile(rel: Buffer, st: Stats, dest: Buffer, sparse: boolean, setgid: boolean, group?: LinkGroup): Promise<void> {
    const size = Number(st.size);
    const src = await this.fsx.srcOpen(join(this.src, rel));
    let dst: DestFile;
    try {
      dst = await this.fsx.create(dest, Number(st.mode) & 0o7777);
    } catch (err) {
      await this.fsx.srcClose(src).catch(() => undefined);
      throw err;
    }
    const ranges = Math.ceil(size / RANGE_BYTES);
    const file: LargeFile = { rel, st, src, dst, dest, left: ranges, sparse, setgid, group };
    try {
      await this.fsx.truncate(dst, size);
    } catch (err) {
      file.left = 0;
      await this.fsx.srcClose(src).catch(() => undefined);
      await this.discard(dst, dest);
      throw err;
    }
    // pushed last first: a group's newest task runs first (pool.ts), so the ranges run from the
    // start of the file on, and the source is read forwards (its read-ahead keeps up; backwards it did not)
    for (let i = ranges - 1; i >= 0; i--) this.pool.push({ t: 'range', file, start: i * RANGE_BYTES, end: Math.min(size, (i + 1) * RANGE_BYTES) });
  }

  private async range(t: Task & { t: 'range' }): Promise<void> {
    const f = t.file;
    if (f.failed === undefined && this.stopReason === undefined) {
      try {
        await this.withRetries(f.rel, () => this.copyRange(f.src, f.dst, t.start, t.end, t.end === Number(f.st.size), f.sparse));
      } catch (err) {
        f.failed ??= err;
      }
    } else f.failed ??= new Error('stopped');
    f.left -= 1;
    if (f.left > 0) return;
    // the last range to end finishes the file
    await this.fsx.srcClose(f.src).catch(() => undefined);
    if (f.failed === undefined) {
      try {
        await this.copyXattrs(f.rel, f.dst, false);
        await this.finishFile(f.dst, f.st, f.setgid);
        await this.fsx.close(f.dst);
      } catch (err) {
        f.failed = err;
        await fs.promises.unlink(f.dest).catch(() => undefined);
      }
    } else await this.discard(f.dst, f.dest);
    if (f.failed !== undefined) {
      if (f.group !== undefined) this.linkGroupFailed(f.group, f.failed);
      if (this.stopReason === undefined || !(f.failed instanceof Error && f.failed.message === 'stopped')) this.fail(f.rel, f.failed);
      return;
    }
    this.counts.files += 1;
    this.counts.bytes += Number(f.st.size);
    this.done(f.rel, 'file', f.st);
    if (f.group !== undefined) this.linkGroupDone(f.group);
  }

  /** Another name of a hard-linked file whose first name is done: a link to it. */
  private async link(rel: Buffer, st: Stats, g: LinkGroup): Promise<void> {
    const done = this.o.checksum === true || this.recheck ? undefined : this.state?.get(rel);
    if (done?.status === 'done' && done.kind === 'link' && done.size === st.size && done.mtimeNs === st.mtimeNs) return this.skip(rel);
    const dest = join(this.linkRoot(g), rel);
    if (this.o.dryRun) {
      this.o.onDryRun?.('copy', displayPath(rel));
      this.counts.hardlinks += 1;
      this.counts.done += 1;
      return;
    }
    g.destIno ??= (await this.fsx.lstat(g.dest))?.ino;
    const d = await this.fsx.lstat(dest);
    if (d !== undefined && d.ino === g.destIno) {
      this.skip(rel);
      this.state?.put({ path: rel, kind: 'link', size: st.size, mtimeNs: st.mtimeNs, status: 'done' });
      return;
    }
    if (d !== undefined) {
      if (d.isDirectory()) await this.fsx.rm(dest);
      else await this.fsx.unlink(dest);
    }
    await this.fsx.link(g.dest, dest);
    this.counts.hardlinks += 1;
    this.done(rel, 'link', st);
  }

  /** The DEST root a link group's first name went to (links must stay on one mount). */
  private linkRoot(g: LinkGroup): Buffer {
    return g.dest.subarray(0, g.dest.length - g.first.length - 1);
  }

  private async symlink(rel: Buffer, st: Stats, dest: Buffer, fresh: boolean, setgid: boolean): Promise<void> {
    if ((await this.prepare(rel, st, dest, fresh, 'symlink')) === 'same') {
      this.done(rel, 'symlink', st);
      this.counts.skipped += 1;
      return;
    }
    const target = await this.fsx.srcReadlink(join(this.src, rel));
    if (this.o.dryRun) {
      this.o.onDryRun?.('copy', displayPath(rel));
      this.counts.symlinks += 1;
      this.counts.done += 1;
      return;
    }
    await this.fsx.symlink(target, dest);
    if (this.ownerChange(st, setgid)) await this.fsx.lchown(dest, Number(st.uid), Number(st.gid));
    else this.noteOwner(st);
    await this.copyXattrs(rel, dest, false);
    await this.fsx.lutimes(dest, st.atimeNs, st.mtimeNs);
    this.counts.symlinks += 1;
    this.done(rel, 'symlink', st);
  }

  private async special(rel: Buffer, st: Stats, dest: Buffer, kind: string, fresh: boolean, setgid: boolean): Promise<void> {
    if ((await this.prepare(rel, st, dest, fresh, kind)) === 'same') {
      this.done(rel, kind, st);
      this.counts.skipped += 1;
      return;
    }
    if (this.o.dryRun) {
      this.o.onDryRun?.('copy', displayPath(rel));
      this.counts.specials += 1;
      this.counts.done += 1;
      return;
    }
    const root = this.linkRootOf(dest, rel);
    const stagingDir = join(root, Buffer.from(`${COPY_META_DIR}/tmp`));
    await this.fsx.mkdirp(stagingDir, 0o700);
    await this.fsx.mknod(stagingDir, `${shardName(this.shard)}-${process.pid}-${this.stagingSeq++}`, dest, kind, Number(st.mode), st.rdev);
    if (this.ownerChange(st, setgid)) await this.fsx.lchown(dest, Number(st.uid), Number(st.gid));
    else this.noteOwner(st);
    await this.copyXattrs(rel, dest, false);
    await this.fsx.utimes(dest, st.atimeNs, st.mtimeNs);
    this.counts.specials += 1;
    this.done(rel, kind, st);
  }

  private linkRootOf(dest: Buffer, rel: Buffer): Buffer {
    return dest.subarray(0, dest.length - rel.length - 1);
  }

  private async removeStaging(): Promise<void> {
    if (this.o.dryRun) return;
    for (const d of this.dests) {
      const meta = join(d, Buffer.from(COPY_META_DIR));
      await fs.promises.rm(join(meta, Buffer.from('tmp')), { recursive: true, force: true }).catch(() => undefined);
      // left only when it holds something (shard summaries)
      await fs.promises.rmdir(meta).catch(() => undefined);
    }
  }

  /** Directory times after all their children, deepest first; the root's owner and mode too (one shard only). */
  private async finishDirectories(rootOwned: boolean, rootSt: Stats): Promise<void> {
    if (this.o.dryRun) return;
    this.dirs.sort((a, b) => b.depth - a.depth);
    for (const d of this.dirs) {
      if (this.stopReason !== undefined) return;
      const dest = this.dest(d.rel);
      try {
        if (d.rel.length === 0 && rootOwned) {
          const cur = await this.fsx.lstat(dest);
          if (cur !== undefined) await this.fixMeta(dest, cur, rootSt, d.rel);
        }
        await this.withRetries(d.rel, () => this.fsx.utimes(dest, d.st.atimeNs, d.st.mtimeNs));
      } catch (err) {
        this.fail(d.rel, err);
      }
    }
  }

  private finish(): CopySummary {
    this.state?.flush();
    const seconds = (Date.now() - this.started) / 1000;
    if (this.status === 'complete' && this.problems.length > 0) this.status = 'incomplete';
    const problemsFile = this.writeProblems();
    const openLinks: CopySummary['openLinks'] = [];
    for (const [key, g] of this.links) {
      if (g.names.length < g.nlink) openLinks.push({ key, names: g.names.map((n) => n.toString('hex')) });
    }
    const c = this.counts;
    const files = c.files + c.hardlinks + c.symlinks + c.specials;
    const ops = this.fsx.ops;
    if (this.state !== undefined && this.status === 'complete') this.state.setMeta('totals', JSON.stringify({ entries: c.entries, bytes: c.bytes }));
    this.state?.close();
    const summary: CopySummary = {
      status: this.status,
      source: showArg(this.src),
      dests: this.dests.map((d) => showArg(d)),
      shard: this.shard,
      frontierDepth: this.depth,
      dryRun: this.o.dryRun === true,
      entries: c.entries,
      files: c.files,
      dirs: c.dirs,
      symlinks: c.symlinks,
      specials: c.specials,
      hardlinks: c.hardlinks,
      bytes: c.bytes,
      skipped: c.skipped,
      deleted: c.deleted,
      excluded: c.excluded,
      filters: this.filter.spec,
      errors: this.problems.length,
      problems: this.problems.slice(0, 1000),
      problemsTotal: this.problems.length,
      ...(problemsFile !== undefined ? { problemsFile } : {}),
      ...(this.stopReason !== undefined ? { stopReason: this.stopReason } : {}),
      seconds,
      filesPerSecond: seconds > 0 ? files / seconds : 0,
      bytesPerSecond: seconds > 0 ? c.bytes / seconds : 0,
      ops: { ...ops, perFile: files > 0 ? (ops.source + ops.dest) / files : 0 },
      threads: { fixed: this.o.threads !== undefined, final: this.pool.currentLimit, max: this.o.threads ?? this.o.maxThreads ?? DEFAULT_MAX_THREADS },
      stateFile: this.state?.file ?? '',
      openLinks,
      xattrs: this.xattrs,
      warnings: this.warnings,
    };
    if (this.shard.count > 1 && !this.o.dryRun) writeShardSummary(this.dests[0]!, summary);
    return summary;
  }

  private writeProblems(): string | undefined {
    if (this.state === undefined) return undefined;
    const file = path.join(path.dirname(this.state.file), `problems-${shardName(this.shard)}.txt`);
    if (this.problems.length === 0) {
      fs.rmSync(file, { force: true });
      return undefined;
    }
    fs.writeFileSync(file, this.problems.map((p) => `${p.path}\t${p.message}\n`).join(''));
    return file;
  }
}

export function shardSummaryPath(dest: string | Buffer, shard: Shard): Buffer {
  return join(resolveBytes(dest), Buffer.from(`${COPY_META_DIR}/shards/${shardName(shard)}.json`));
}

/** What --finalize and --report read: each shard's summary in DEST, written whole (temp + rename). */
function writeShardSummary(dest: Buffer, s: CopySummary): void {
  const dir = join(dest, Buffer.from(`${COPY_META_DIR}/shards`));
  const file = join(dir, Buffer.from(`${shardName(s.shard)}.json`));
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = Buffer.concat([file, Buffer.from(`.${process.pid}.tmp`)]);
  fs.writeFileSync(tmp, JSON.stringify({ ...s, problems: s.problems.slice(0, 100), finishedAt: new Date().toISOString() }));
  fs.renameSync(tmp, file);
}

function statOrUndefined(p: Buffer): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

/** One line for a failure: the side and the errno, no stack. */
export function describe(err: unknown): string {
  if (err instanceof SideError) return `${err.side === 'source' ? 'cannot read the source' : 'cannot write the destination'} (${err.message.split('\n')[0]})`;
  if (err instanceof SourceChanged) return `the source changed while it was copied (${err.message}); run again`;
  if (isClfsError(err)) return err.message;
  return (err as Error)?.message?.split('\n')[0] ?? String(err);
}

/** Both files read in parallel, chunk by chunk, and compared. */
export async function sameFileContent(fsx: CountedFs, srcPath: Buffer, destPath: Buffer, size: number): Promise<boolean> {
  const a = await fsx.srcOpen(srcPath);
  try {
    const b = await fsx.openRead(destPath);
    try {
      const ba = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, size)));
      const bb = Buffer.allocUnsafe(ba.length);
      for (let pos = 0; ; ) {
        const [na, nb] = await Promise.all([fsx.srcRead(a, ba, 0, ba.length, pos), fsx.read(b, bb, 0, bb.length, pos)]);
        if (na !== nb) return false;
        if (na === 0) return true;
        if (ba.compare(bb, 0, nb, 0, na) !== 0) return false;
        pos += na;
      }
    } finally {
      await b.close().catch(() => undefined);
    }
  } finally {
    await a.close().catch(() => undefined);
  }
}
