/**
 * Source directories listed and lstatted on threads of their own (dir-lister-worker.ts), so the
 * caller can ask for the next directories while it works on this one.
 *
 * Why: an update's comparison (update.ts) spent about half of its main-thread time in readdir and
 * lstat, one directory after another, while the second core of the machine stood idle; the rest
 * is SQLite, which must stay on the main thread. Listed ahead on a thread, a directory is ready
 * (or nearly) when the comparison reaches it. Each child's lstat fields travel packed in a
 * BigInt64Array, its name in one buffer per chunk, so a message costs the caller far less than
 * the calls it saves.
 *
 * The result is what readDirectoryBatches gives: the children in readdir order, a child whose
 * lstat failed reported on its own, the filter applied on the caller's thread (its counters and
 * marker checks live there). The filter sees each child after its lstat rather than before; an
 * excluded directory is still never read.
 */
import { Worker } from 'node:worker_threads';
import { ClfsError } from '../errors/index.js';
import { entryFromStats, joinPath, kindOfMode, sourceError, sourceFaultsForWorkers } from '../scan/index.js';
import type { SkipEntry, SourceEntry } from '../scan/index.js';
import { workerExecArgv } from '../targets/worker-argv.js';
import { stopWorkers } from '../targets/worker-stop.js';
import type * as fs from 'node:fs';
import { ACTIVE, CONSUMED, CONTROL_SLOTS, FIELDS, FLOOR, TICK } from './dir-list-protocol.js';
import { listChunks } from './dir-list-pack.js';
import type { ListChunk, ListRequest } from './dir-list-protocol.js';

export { FIELDS } from './dir-list-protocol.js';
export type { ListChunk, ListRequest } from './dir-list-protocol.js';

/** A listed child before the filter: its entry, or the failure of its lstat. */
export interface Listed {
  name: Buffer;
  hint: number;
  entry?: SourceEntry;
  error?: ClfsError;
}

export interface DirListing {
  entries: SourceEntry[];
  failed: Array<{ name: Buffer; error: ClfsError }>;
}

interface Job {
  path: Buffer;
  /** a whole listing (start): its children, decoded as they arrive */
  children?: Listed[];
  resolve?: (r: Listed[]) => void;
  reject?: (e: Error) => void;
  /** a streamed listing (stream): its chunks, as they arrive */
  stream?: DirStream;
}

/** A directory's listing read a chunk at a time, in readdir order: on a lister thread (DirStream) or on this one (LocalListing). */
export interface Listing {
  /** The next chunk (the last one has `done`), or the directory's own failure, a ClfsError naming it. */
  next(): Promise<ListChunk>;
}

/**
 * A listing made on the caller's thread, a chunk per `next()`, with the same results as a
 * DirStream: for a machine with one core, where a lister thread would only add hand-offs.
 */
export class LocalListing implements Listing {
  readonly #chunks: Generator<ListChunk>;

  constructor(readonly path: Buffer) {
    this.#chunks = listChunks(path, 0);
  }

  next(): Promise<ListChunk> {
    const r = this.#chunks.next();
    if (r.done === true) return Promise.reject(new Error(`directory listing of ${this.path.toString()} read past its end`));
    const m = r.value;
    if (m.dirError !== undefined) return Promise.reject(sourceError(this.path, errnoError(m.dirError)));
    return Promise.resolve(m);
  }
}

/** A lister thread: its listings not yet finished, and the requests not yet sent to it. */
interface Thread {
  worker: Worker;
  busy: number;
  outbox: ListRequest[];
}

/** Chunks a streamed listing runs ahead of its reader: what one listed-ahead directory may hold. */
export const STREAM_AHEAD = 2;

/**
 * A directory listed a chunk at a time (DirLister.stream), read in order by one reader. The
 * lister's thread stays at most a few chunks ahead of the reader, so a huge directory never sits
 * whole in memory. Its children come packed, as the thread sent them (ListChunk): the reader
 * decodes what it needs, with no object per child on the way.
 */
export class DirStream implements Listing {
  readonly #chunks: ListChunk[] = [];
  #waiting: { resolve: (c: ListChunk) => void; reject: (e: Error) => void } | undefined;
  #failure: Error | undefined;
  #ended = false;
  #read = 0;
  abandoned = false;

  constructor(
    readonly id: number,
    readonly path: Buffer,
    readonly lister: DirLister,
  ) {}

  /**
   * The next chunk, in readdir order (the last one has `done`), or the directory's own failure
   * (as readDirectoryBatches throws it: a ClfsError naming the directory). The first call makes
   * this the listing the lister serves now: listings started before it and not yet read are
   * abandoned.
   */
  next(): Promise<ListChunk> {
    if (this.#read === 0) this.lister.claim(this);
    else this.lister.consumed(this.#read);
    const chunk = this.#chunks.shift();
    if (chunk !== undefined) {
      this.#read += 1;
      return Promise.resolve(chunk);
    }
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#ended) return Promise.reject(new Error(`directory listing of ${this.path.toString()} read past its end`));
    return new Promise<ListChunk>((resolve, reject) => {
      this.#waiting = {
        resolve: (c) => {
          this.#read += 1;
          resolve(c);
        },
        reject,
      };
    });
  }

  /** Chunks arrived and not yet read (at most the few the thread may list ahead). */
  get buffered(): number {
    return this.#chunks.length;
  }

  /** From the lister: a chunk arrived. */
  put(chunk: ListChunk): void {
    if (chunk.done) this.#ended = true;
    const w = this.#waiting;
    if (w !== undefined) {
      this.#waiting = undefined;
      w.resolve(chunk);
    } else this.#chunks.push(chunk);
  }

  /** From the lister: the listing failed (the directory, or the thread). */
  fail(err: Error): void {
    this.#ended = true;
    this.#chunks.length = 0;
    const w = this.#waiting;
    this.#waiting = undefined;
    if (w !== undefined) w.reject(err);
    else this.#failure = err;
  }
}

/** A BigIntStats-shaped view of one packed child, for entryFromStats. */
function statsAt(f: BigInt64Array, o: number): fs.BigIntStats {
  return { mode: f[o]!, uid: f[o + 1]!, gid: f[o + 2]!, size: f[o + 3]!, mtimeNs: f[o + 4]!, ctimeNs: f[o + 5]!, atimeNs: f[o + 6]!, ino: f[o + 7]!, dev: f[o + 8]!, rdev: f[o + 9]!, nlink: f[o + 10]! } as unknown as fs.BigIntStats;
}

/**
 * Child `i` of a chunk as a SourceEntry (its lstat read from the packed fields, no stats object on
 * the way), or the ClfsError of a child whose lstat failed or whose type CLFS cannot hold.
 */
export function entryOfChunk(m: ListChunk, i: number, name: Buffer, dirPath: Buffer): SourceEntry | ClfsError {
  const at = m.errorAt[i]!;
  if (at >= 0) return sourceError(joinPath(dirPath, name), errnoError(m.errors[at]!));
  const f = m.fields;
  const o = i * FIELDS;
  const mode = Number(f[o]!);
  const kind = kindOfMode(mode);
  if (kind === undefined) {
    try {
      entryFromStats(name, statsAt(f, o), joinPath(dirPath, name));
    } catch (err) {
      return err as ClfsError;
    }
  }
  return {
    name,
    kind: kind!,
    mode,
    uid: Number(f[o + 1]!),
    gid: Number(f[o + 2]!),
    sizeBytes: f[o + 3]!,
    mtimeNs: f[o + 4]!,
    ctimeNs: f[o + 5]!,
    atimeNs: f[o + 6]!,
    ino: f[o + 7]!,
    dev: f[o + 8]!,
    rdev: f[o + 9]!,
    nlink: Number(f[o + 10]!),
  };
}

function errnoError(e: { code?: string; message: string }): Error {
  return Object.assign(new Error(e.message), e.code !== undefined ? { code: e.code } : {});
}

export class DirLister {
  readonly #threads: Array<Thread> = [];
  readonly #jobs = new Map<number, Job>();
  readonly #maxThreads: number;
  readonly #controlBuffer = new SharedArrayBuffer(CONTROL_SLOTS * 4);
  readonly #control = new Int32Array(this.#controlBuffer);
  #seq = 0;
  #closed = false;
  #flushQueued = false;
  #heard = false;

  constructor(maxThreads = 2) {
    this.#maxThreads = Math.max(1, maxThreads);
  }

  /**
   * Start listing a directory; the promise gives its children (readdir order, lstatted, not yet
   * filtered) or rejects with the directory's own failure, as readDirectoryBatches throws it.
   */
  start(path: Buffer): Promise<Listed[]> {
    return new Promise<Listed[]>((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('directory lister closed'));
        return;
      }
      const id = this.#seq++;
      this.#jobs.set(id, { path, children: [], resolve, reject });
      this.#post({ id, path: path.toString('latin1'), ahead: -1 });
    });
  }

  /**
   * Start listing a directory as a stream of chunks (DirStream), to be read in the order the
   * streams were started: reading one abandons those started before it that were not read (their
   * threads would otherwise wait on a reader that never comes).
   */
  stream(path: Buffer): DirStream {
    const id = this.#seq++;
    const stream = new DirStream(id, path, this);
    if (this.#closed) {
      stream.fail(new Error('directory lister closed'));
      return stream;
    }
    this.#jobs.set(id, { path, stream });
    this.#post({ id, path: path.toString('latin1'), ahead: STREAM_AHEAD });
    return stream;
  }

  /** From a stream's first read: it is the one served now; the streams started before it are given up. */
  claim(stream: DirStream): void {
    const c = this.#control;
    if (stream.id > Atomics.load(c, FLOOR)) Atomics.store(c, FLOOR, stream.id);
    Atomics.store(c, ACTIVE, stream.id);
    Atomics.store(c, CONSUMED, 0);
    for (const [id, job] of this.#jobs) {
      if (id < stream.id && job.stream !== undefined && !job.stream.abandoned) {
        job.stream.abandoned = true;
        job.stream.fail(new Error('directory listing abandoned'));
      }
    }
    this.#bump();
  }

  /** Whether a thread has sent anything yet: until then they are still starting. */
  get heard(): boolean {
    return this.#heard;
  }

  /**
   * The caller will not read this stream (it lists the directory itself): a thread that has not
   * reached it skips it, one that has stops at once.
   */
  giveUp(stream: DirStream): void {
    if (stream.abandoned) return;
    stream.abandoned = true;
    stream.fail(new Error('directory listing abandoned'));
    const c = this.#control;
    if (stream.id + 1 > Atomics.load(c, FLOOR)) Atomics.store(c, FLOOR, stream.id + 1);
    this.#bump();
  }

  /** From the stream being read: it has read `chunks` chunks, so its thread may list on. */
  consumed(chunks: number): void {
    Atomics.store(this.#control, CONSUMED, chunks);
    this.#bump();
  }

  #bump(): void {
    Atomics.add(this.#control, TICK, 1);
    Atomics.notify(this.#control, TICK);
  }

  /**
   * Requests go out together, one message per thread for all those made in one synchronous
   * stretch (a round of the scan asks for several directories): a message costs this thread far
   * more than the request in it.
   */
  #post(req: ListRequest): void {
    const thread = this.#thread();
    thread.busy += 1;
    if (thread.busy === 1) thread.worker.ref();
    thread.outbox.push(req);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      for (const t of this.#threads) {
        if (t.outbox.length === 0) continue;
        t.worker.postMessage(t.outbox);
        t.outbox = [];
      }
    });
  }

  /** Start every thread now, so the first listings do not wait for a thread to start. */
  warm(): void {
    while (!this.#closed && this.#threads.length < this.#maxThreads) this.#spawn();
  }

  async close(): Promise<void> {
    this.#closed = true;
    // threads waiting to send the chunks of a stream give it up
    Atomics.store(this.#control, FLOOR, 0x7fffffff);
    this.#bump();
    const threads = this.#threads.splice(0);
    await stopWorkers(threads.map((t) => t.worker));
  }

  #thread(): Thread {
    let best = this.#threads[0];
    for (const t of this.#threads) if (t.busy < best!.busy) best = t;
    if (best !== undefined && (best.busy === 0 || this.#threads.length >= this.#maxThreads)) return best;
    return this.#spawn();
  }

  #spawn(): Thread {
    const worker = new Worker(new URL('./dir-lister-worker.js', import.meta.url), {
      workerData: { sourceFaults: sourceFaultsForWorkers(), control: this.#controlBuffer },
      execArgv: workerExecArgv(),
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 24 },
    });
    const thread: Thread = { worker, busy: 0, outbox: [] };
    worker.on('message', (m: ListChunk) => {
      this.#heard = true;
      const job = this.#jobs.get(m.id);
      if (job === undefined) return;
      if (m.done) this.#finish(thread, m.id);
      if (job.stream !== undefined) {
        if (m.abandoned === true) job.stream.fail(new Error('directory listing abandoned'));
        else if (m.dirError !== undefined) job.stream.fail(sourceError(job.path, errnoError(m.dirError)));
        else if (!job.stream.abandoned) job.stream.put(m);
        return;
      }
      if (m.dirError !== undefined) {
        job.reject!(sourceError(job.path, errnoError(m.dirError)));
        return;
      }
      const names = Buffer.from(m.names);
      let start = 0;
      for (let i = 0; i < m.count; i++) {
        const end = m.nameEnds[i]!;
        // a copy: each name outlives the chunk it came in (rows keep it)
        const name = Buffer.from(names.subarray(start, end));
        start = end;
        const at = m.errorAt[i]!;
        const hint = m.hints[i]!;
        if (at >= 0) {
          job.children!.push({ name, hint, error: sourceError(joinPath(job.path, name), errnoError(m.errors[at]!)) });
          continue;
        }
        const childPath = joinPath(job.path, name);
        try {
          job.children!.push({ name, hint, entry: entryFromStats(name, statsAt(m.fields, i * FIELDS), childPath) });
        } catch (err) {
          job.children!.push({ name, hint, error: err as ClfsError });
        }
      }
      if (m.done) job.resolve!(job.children!);
    });
    const lost = (err: Error) => {
      for (const [id, job] of this.#jobs) {
        this.#jobs.delete(id);
        // a lost thread is no directory's failure: the load stops, its state kept to resume from
        if (job.stream !== undefined) job.stream.fail(new ClfsError('E_INTERNAL', `${err.message}; the state is kept: re-run to resume`, { cause: err }));
        else job.reject!(err);
      }
      const at = this.#threads.indexOf(thread);
      if (at >= 0) this.#threads.splice(at, 1);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => {
      if (!this.#closed) lost(new Error(`directory lister thread exited (code ${code})`));
    });
    worker.unref();
    this.#threads.push(thread);
    return thread;
  }

  #finish(thread: Thread, id: number): void {
    this.#jobs.delete(id);
    thread.busy -= 1;
    if (thread.busy === 0) thread.worker.unref();
  }
}

/**
 * A listing through the filter, as readDirectoryBatches applies it: children left out by `skip`
 * are dropped (their lstat failures too), the others split into entries and failures.
 */
export function filterListing(dirPath: Buffer, children: Listed[], skip: SkipEntry | undefined): DirListing {
  const entries: SourceEntry[] = [];
  const failed: Array<{ name: Buffer; error: ClfsError }> = [];
  for (const c of children) {
    if (skip !== undefined) {
      const isDir = () => (c.entry !== undefined ? c.entry.kind === 'dir' : c.hint === 1);
      if (skip(c.name, joinPath(dirPath, c.name), isDir)) continue;
    }
    if (c.entry !== undefined) entries.push(c.entry);
    else failed.push({ name: c.name, error: c.error! });
  }
  return { entries, failed };
}
