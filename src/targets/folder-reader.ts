/**
 * Reader threads for FolderTarget: whole small blobs read (and list's sizes statted) with
 * synchronous calls on a few worker threads (verify --source hashes small source files on its own
 * set of them), so several disk reads are in flight at once and the
 * caller's event loop makes no file-system call for them.
 *
 * Why: verify, ls and export read one small blob (an inode, a directory) per entry. Read with
 * synchronous calls on the caller's thread (the previous route), a cold page cache made each read
 * a disk read waited for in turn: a structure-only verify of 20,000 small files took twice the
 * load. Through libuv's pool each blob costs four round trips (open, fstat, read, close) and four
 * callbacks on the caller's thread; here it costs a share of one message. Requests made in the
 * same turn of the event loop go out together, split over the threads; a thread starts only when
 * those running are busy, and idle threads never keep the process alive.
 */
import { Worker } from 'node:worker_threads';
import { workerExecArgv } from './worker-argv.js';
import { retireWhenIdle, stopWorkers, type PoolThread } from './worker-stop.js';

/** A message to a reader thread. */
export interface ReadRequest {
  id: number;
  op: Op;
  /** file names, or (latin1) the bytes of byte paths: a Buffer would be cloned with its whole pool slab */
  paths: string[];
  latin1: boolean;
  /** read: larger blobs are answered with their size only */
  max: number;
  /** names: the prefix to keep and the prefix to leave out (one path per message) */
  filter?: [string, string];
  /** probe: files up to `max` bytes are returned whole; those up to `hashMax` are hashed */
  hashMax?: number;
}

/** One path's answer: its bytes, its size (stat, or a file too large to read here), its SHA-256, a folder's file names or the error. */
export interface ReadReply {
  bytes?: ArrayBuffer;
  size?: number;
  sha256?: string;
  /** probe: the lstat fields, in the order of SourceStatFields */
  stat?: bigint[];
  /** probe: the entry was statted but its content could not be read */
  unreadable?: true;
  error?: { code?: string; message: string };
}

/** The lstat fields a probe answers with, in order. */
export const SOURCE_STAT_FIELDS = ['mode', 'uid', 'gid', 'mtimeNs', 'size', 'nlink', 'dev', 'ino'] as const;
export type SourceStat = Record<(typeof SOURCE_STAT_FIELDS)[number], bigint>;

/** A source entry as verify --source needs it: its lstat, and a small regular file's bytes or a larger one's SHA-256. */
export interface SourceProbe {
  st: SourceStat;
  bytes?: Buffer;
  sha256?: string;
  /** statted, but its content could not be read */
  unreadable?: true;
}

type Op = 'read' | 'stat' | 'sha256' | 'names' | 'probe';

interface Pending {
  op: Op;
  path: string | Uint8Array;
  max: number;
  /** names: the prefix to keep and the prefix to leave out */
  filter?: [string, string];
  hashMax?: number;
  resolve: (r: ReadReply) => void;
  reject: (e: Error) => void;
}

interface ReaderThread extends PoolThread {
  worker: Worker;
  /** batch id → its requests */
  waiting: Map<number, Pending[]>;
}

/** Requests sent to one thread in one message, at most. */
const CHUNK = 64;
/**
 * Batches outstanding on one thread, at most: one, so requests wait for a thread's answer and go
 * out together. On a loaded two-core machine a message to a thread cost ~0.1 ms of the caller's
 * thread: sent as they came, 2.5 requests went per message and the messages cost more than the
 * synchronous reads they replaced.
 */
const PER_THREAD = 1;

export class FolderReader {
  readonly #threads: ReaderThread[] = [];
  readonly #maxThreads: number;
  #seq = 0;
  #pending: Pending[] = [];

  /** `name`: the threads' name (at most 15 bytes), as per-thread CPU shows them */
  constructor(maxThreads = 4, readonly name = 'clfs-reader') {
    this.#maxThreads = Math.max(1, maxThreads);
  }

  /** A blob's bytes, or its size when it is larger than `max`; rejects with the file system's error (its `code` kept). */
  async read(path: string, max: number): Promise<Buffer | number> {
    const r = await this.#request('read', path, max);
    if (r.bytes !== undefined) return Buffer.from(r.bytes);
    return r.size!;
  }

  /** A file's size (stat, following nothing special: blobs are plain files). */
  async size(path: string): Promise<number> {
    return (await this.#request('stat', path, 0)).size!;
  }

  /**
   * The names of a folder's regular files that start with `prefix`, less those that start with
   * `skip`, unsorted: the whole folder read on a reader thread with synchronous calls. Listed
   * through fs.opendir on the caller's thread instead, a listing shares the caller's event loop
   * with whatever else it does (an update's comparison yields every few thousand entries), one
   * batch of entries per turn: a 200,000-blob folder then took seconds longer than the comparison
   * it runs beside.
   */
  async names(path: string, prefix: string, skip: string): Promise<string[]> {
    const bytes = Buffer.from((await this.#request('names', path, 0, [prefix, skip])).bytes!);
    // one decode and one split: a Buffer.indexOf and a toString per name cost 60 ms of the walk's
    // thread for 20,000 blobs (each call validates its arguments)
    const names = bytes.toString('utf8').split('\0');
    // every name ends with a NUL: the split leaves an empty string after the last
    names.pop();
    return names;
  }

  /**
   * The SHA-256 (hex) of a file up to `max` bytes, read to its end (a file that grew since its
   * stat is hashed whole); a larger file's size, for the caller to stream. Rejects as read does.
   */
  async sha256(path: string | Uint8Array, max: number): Promise<string | number> {
    const r = await this.#request('sha256', path, max);
    return r.sha256 ?? r.size!;
  }

  /**
   * A source entry's lstat and, for a regular file, its content: whole up to `max` bytes, its
   * SHA-256 up to `hashMax`, neither past that (the caller streams it). One trip to a reader
   * thread for what verify --source otherwise did in two (an lstat on the caller's thread, then
   * the hash here). Rejects with the lstat's error.
   */
  async probe(path: Uint8Array, max: number, hashMax: number): Promise<SourceProbe> {
    const r = await this.#request('probe', path, max, undefined, hashMax);
    const st = {} as SourceStat;
    SOURCE_STAT_FIELDS.forEach((f, i) => (st[f] = r.stat![i]!));
    return { st, ...(r.bytes !== undefined ? { bytes: Buffer.from(r.bytes) } : {}), ...(r.sha256 !== undefined ? { sha256: r.sha256 } : {}), ...(r.unreadable ? { unreadable: true as const } : {}) };
  }

  /**
   * Starts every thread now rather than when requests first find the running ones busy: a
   * thread takes tens of milliseconds to start, which a caller that is about to send many
   * requests can spend waiting on something else (verify --source: the container's listing).
   * Idle threads still do not keep the process alive.
   */
  start(): void {
    while (!this.#closed && this.#threads.length < this.#maxThreads) this.#start();
  }

  async close(): Promise<void> {
    // what is still queued is refused, and no thread starts for it after this
    this.#closed = true;
    const queued = this.#pending.splice(0);
    for (const p of queued) p.reject(new Error('folder reader closed'));
    const threads = this.#threads.splice(0);
    for (const t of threads) clearTimeout(t.idle);
    await stopWorkers(threads.map((t) => t.worker));
  }

  async #request(op: Op, path: string | Uint8Array, max: number, filter?: [string, string], hashMax?: number): Promise<ReadReply> {
    const r = await new Promise<ReadReply>((resolve, reject) => {
      if (this.#closed) return reject(new Error('folder reader closed'));
      this.#pending.push({ op, path, max, resolve, reject, ...(filter !== undefined ? { filter } : {}), ...(hashMax !== undefined ? { hashMax } : {}) });
      this.#schedule();
    });
    if (r.error !== undefined) throw Object.assign(new Error(r.error.message), r.error.code !== undefined ? { code: r.error.code } : {});
    return r;
  }

  #flushing = false;
  #closed = false;

  #schedule(): void {
    if (this.#flushing || this.#pending.length === 0) return;
    this.#flushing = true;
    setImmediate(() => this.#flush());
  }

  /**
   * Sends what is pending to threads with fewer than PER_THREAD batches outstanding; the rest
   * waits for the next answer. So a busy reader sends few, large messages (a message each way
   * cost more of the caller's thread than the reads it saved when every request went alone).
   */
  #flush(): void {
    this.#flushing = false;
    while (this.#pending.length > 0) {
      const thread = this.#free();
      if (thread === undefined) return;
      const op = this.#pending[0]!.op;
      // a folder's names are one long call: alone in their message
      // split over the threads that can take a batch now, not over all of them: the others are
      // busy, and a quarter of a short queue per free thread kept the batches at 2–4 requests
      const chunk = op === 'names' ? 1 : Math.max(1, Math.min(CHUNK, Math.ceil(this.#pending.length / this.#room())));
      const batch: Pending[] = [];
      const rest: Pending[] = [];
      for (const p of this.#pending) (batch.length < chunk && p.op === op ? batch : rest).push(p);
      this.#pending = rest;
      this.#send(thread, batch);
    }
  }

  #send(thread: ReaderThread, batch: Pending[]): void {
    const id = this.#seq++;
    clearTimeout(thread.idle);
    if (thread.waiting.size === 0) thread.worker.ref();
    thread.waiting.set(id, batch);
    const latin1 = batch[0]!.op === 'sha256' || batch[0]!.op === 'probe';
    const paths = batch.map((p) => (typeof p.path !== 'string' ? Buffer.from(p.path.buffer, p.path.byteOffset, p.path.byteLength).toString('latin1') : latin1 ? Buffer.from(p.path).toString('latin1') : p.path));
    const { filter, hashMax } = batch[0]!;
    const msg: ReadRequest = { id, op: batch[0]!.op, paths, latin1, max: batch[0]!.max, ...(filter !== undefined ? { filter } : {}), ...(hashMax !== undefined ? { hashMax } : {}) };
    thread.worker.postMessage(msg);
  }

  #start(): ReaderThread {
    // the caller's flags less those of its main script (--input-type of `node -e`, say: worker-argv.ts)
    const worker = new Worker(new URL('./folder-reader-worker.js', import.meta.url), { execArgv: workerExecArgv(), workerData: { name: this.name }, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 } });
    const thread: ReaderThread = { worker, waiting: new Map() };
    worker.on('message', (m: { id: number; replies: ReadReply[] }) => {
      const batch = thread.waiting.get(m.id);
      thread.waiting.delete(m.id);
      if (thread.waiting.size === 0) {
        worker.unref();
        retireWhenIdle(this.#threads, thread);
      }
      batch?.forEach((p, i) => p.resolve(m.replies[i]!));
      // after the callers' continuations have run: what they ask for next goes in the same batch
      this.#schedule();
    });
    const lost = (err: Error) => {
      for (const batch of thread.waiting.values()) for (const p of batch) p.reject(err);
      thread.waiting.clear();
      const at = this.#threads.indexOf(thread);
      if (at >= 0) this.#threads.splice(at, 1);
      // what waited for a free thread goes to another one
      this.#schedule();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`folder reader thread exited (code ${code})`)));
    worker.unref();
    // a thread started ahead (start()) and never sent anything ends too
    retireWhenIdle(this.#threads, thread);
    this.#threads.push(thread);
    return thread;
  }


  /** Threads that could take a batch now (counting those not started yet), at least one. */
  #room(): number {
    let n = this.#maxThreads - this.#threads.length;
    for (const t of this.#threads) if (t.waiting.size < PER_THREAD) n++;
    return Math.max(1, n);
  }

  /** The least busy thread with room for a batch (a new one when all are busy and there may be more), else none. */
  #free(): ReaderThread | undefined {
    let best: ReaderThread | undefined;
    for (const t of this.#threads) if (best === undefined || t.waiting.size < best.waiting.size) best = t;
    if (best !== undefined && best.waiting.size === 0) return best;
    if (this.#threads.length < this.#maxThreads && !this.#closed) return this.#start();
    return best !== undefined && best.waiting.size < PER_THREAD ? best : undefined;
  }

}
