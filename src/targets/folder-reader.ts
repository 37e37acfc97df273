/**
 * Reader threads for FolderTarget: whole small blobs read (and list's sizes statted) with
 * synchronous calls on a few worker threads, so several disk reads are in flight at once and the
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

/** A message to a reader thread. */
export interface ReadRequest {
  id: number;
  op: 'read' | 'stat';
  paths: string[];
  /** read: larger blobs are answered with their size only */
  max: number;
}

/** One path's answer: its bytes, its size (stat, or a blob too large to read here) or the error. */
export interface ReadReply {
  bytes?: ArrayBuffer;
  size?: number;
  error?: { code?: string; message: string };
}

interface Pending {
  op: 'read' | 'stat';
  path: string;
  max: number;
  resolve: (r: ReadReply) => void;
  reject: (e: Error) => void;
}

interface ReaderThread {
  worker: Worker;
  /** batch id → its requests */
  waiting: Map<number, Pending[]>;
}

/** Requests sent to one thread in one message, at most. */
const CHUNK = 32;

export class FolderReader {
  readonly #threads: ReaderThread[] = [];
  readonly #maxThreads: number;
  #seq = 0;
  #pending: Pending[] = [];

  constructor(maxThreads = 4) {
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

  async close(): Promise<void> {
    const threads = this.#threads.splice(0);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  async #request(op: 'read' | 'stat', path: string, max: number): Promise<ReadReply> {
    const r = await new Promise<ReadReply>((resolve, reject) => {
      if (this.#pending.length === 0) setImmediate(() => this.#flush());
      this.#pending.push({ op, path, max, resolve, reject });
    });
    if (r.error !== undefined) throw Object.assign(new Error(r.error.message), r.error.code !== undefined ? { code: r.error.code } : {});
    return r;
  }

  #flush(): void {
    const all = this.#pending;
    this.#pending = [];
    for (const op of ['read', 'stat'] as const) {
      const mine = all.filter((p) => p.op === op);
      if (mine.length === 0) continue;
      // spread a turn's requests over the threads, so their disk reads overlap
      const chunk = Math.max(1, Math.min(CHUNK, Math.ceil(mine.length / this.#maxThreads)));
      for (let at = 0; at < mine.length; at += chunk) this.#send(mine.slice(at, at + chunk));
    }
  }

  #send(batch: Pending[]): void {
    const thread = this.#pick();
    const id = this.#seq++;
    if (thread.waiting.size === 0) thread.worker.ref();
    thread.waiting.set(id, batch);
    const msg: ReadRequest = { id, op: batch[0]!.op, paths: batch.map((p) => p.path), max: batch[0]!.max };
    thread.worker.postMessage(msg);
  }

  #start(): ReaderThread {
    // no execArgv: the caller's flags (--input-type of `node -e`, say) need not apply to a worker
    const worker = new Worker(new URL('./folder-reader-worker.js', import.meta.url), { execArgv: [], resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 } });
    const thread: ReaderThread = { worker, waiting: new Map() };
    worker.on('message', (m: { id: number; replies: ReadReply[] }) => {
      const batch = thread.waiting.get(m.id);
      thread.waiting.delete(m.id);
      if (thread.waiting.size === 0) worker.unref();
      batch?.forEach((p, i) => p.resolve(m.replies[i]!));
    });
    const lost = (err: Error) => {
      for (const batch of thread.waiting.values()) for (const p of batch) p.reject(err);
      thread.waiting.clear();
      const at = this.#threads.indexOf(thread);
      if (at >= 0) this.#threads.splice(at, 1);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`folder reader thread exited (code ${code})`)));
    worker.unref();
    this.#threads.push(thread);
    return thread;
  }

  /** An idle thread, else a new one while under the limit, else the least busy. */
  #pick(): ReaderThread {
    let best: ReaderThread | undefined;
    for (const t of this.#threads) if (best === undefined || t.waiting.size < best.waiting.size) best = t;
    if (best !== undefined && (best.waiting.size === 0 || this.#threads.length >= this.#maxThreads)) return best;
    return this.#start();
  }
}
