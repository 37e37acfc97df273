import { Worker } from 'node:worker_threads';
import { writeFilesSync } from './folder-writes.js';
import type { FolderWrite, FolderWriteFailure } from './folder-writes.js';
import { workerExecArgv } from './worker-argv.js';
import { retireWhenIdle, stopWorkers, type PoolThread } from './worker-stop.js';

/** Small puts sent to a writer thread in one message, at most. */
const WRITE_ONE_CHUNK = 32;

/**
 * A turn of at most this many small puts made before any writer thread has started is written in
 * the calling thread instead. A load of large files makes a handful of small puts (the bucket
 * object, an inode per file, the directories, finalize's), one or two a turn: the bucket object,
 * INIT's only put, waited 175 ms for its thread to boot on the 2-core bench machine while the
 * encode and lister threads booted beside it, for a write of well under a millisecond, and the
 * thread then idled for the rest of the load. The first turn with more starts the threads, and
 * from then on every turn goes to them.
 */
const INLINE_TURN_MAX = 4;

interface Waiter {
  resolve: (f: FolderWriteFailure | undefined) => void;
  reject: (e: Error) => void;
}

interface PendingWrite extends Waiter {
  write: FolderWrite;
}

/** One writer thread and the batches it has not answered yet. */
interface WriterThread extends PoolThread {
  worker: Worker;
  waiting: Map<number, Waiter>;
}

/**
 * Lazily started writer threads for FolderTarget (putMany batches and coalesced small puts); they
 * never keep the process alive when idle. Until the first one starts, a turn of a few small puts is
 * written in the calling thread (INLINE_TURN_MAX). A batch goes to the thread with the fewest batches
 * outstanding, and a second thread starts only when the first is busy. With one thread writing
 * whole turns of small puts (temp + write + rename each), a put in the latency benchmark waited
 * 6-18 ms for it; two threads, turns sent in chunks of 32 and a claim loop that yields between
 * rounds took that case from 4,783 to 6,243 files/s (the yield did most of it).
 */
export class FolderWriter {
  readonly #threads: WriterThread[] = [];
  readonly #maxThreads: number;
  #seq = 0;

  constructor(maxThreads = 2) {
    this.#maxThreads = Math.max(1, maxThreads);
  }

  /** writer threads started so far (for tests and figures) */
  get threadsStarted(): number {
    return this.#started;
  }

  #started = 0;

  #start(): WriterThread {
    const worker = new Worker(new URL('./folder-writer-worker.js', import.meta.url), { execArgv: workerExecArgv(), resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 } });
    const thread: WriterThread = { worker, waiting: new Map() };
    worker.on('message', (m: { id: number; failure?: { index: number; code?: string; message: string } }) => {
      const w = thread.waiting.get(m.id);
      thread.waiting.delete(m.id);
      if (thread.waiting.size === 0) {
        worker.unref();
        retireWhenIdle(this.#threads, thread);
      }
      w?.resolve(m.failure && { index: m.failure.index, error: Object.assign(new Error(m.failure.message), { code: m.failure.code }) });
    });
    worker.on('error', (err) => {
      for (const w of thread.waiting.values()) w.reject(err);
      thread.waiting.clear();
      const at = this.#threads.indexOf(thread);
      if (at >= 0) this.#threads.splice(at, 1);
    });
    worker.unref();
    this.#threads.push(thread);
    this.#started += 1;
    return thread;
  }


  /** The idle thread, else a new one while under the limit, else the least busy. */
  #pick(): WriterThread {
    let best: WriterThread | undefined;
    for (const t of this.#threads) if (best === undefined || t.waiting.size < best.waiting.size) best = t;
    if (best !== undefined && (best.waiting.size === 0 || this.#threads.length >= this.#maxThreads)) return best;
    return this.#start();
  }

  write(writes: FolderWrite[], fsync: boolean): Promise<FolderWriteFailure | undefined> {
    const thread = this.#pick();
    const id = this.#seq++;
    clearTimeout(thread.idle);
    if (thread.waiting.size === 0) thread.worker.ref();
    return new Promise((resolve, reject) => {
      thread.waiting.set(id, { resolve, reject });
      thread.worker.postMessage({ id, writes, fsync });
    });
  }

  #pending: PendingWrite[] = [];
  #pendingFsync = false;

  /** One write, sent with every other one made before the next turn of the event loop. */
  writeOne(write: FolderWrite, fsync: boolean): Promise<FolderWriteFailure | undefined> {
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) setImmediate(() => this.#flush());
      this.#pending.push({ write, resolve, reject });
      this.#pendingFsync ||= fsync;
    });
  }

  #flush(): void {
    const fsync = this.#pendingFsync;
    const all = this.#pending;
    this.#pending = [];
    this.#pendingFsync = false;
    if (this.#started === 0 && all.length <= INLINE_TURN_MAX) {
      this.#settle(all, writeFilesSync(all.map((b) => b.write), fsync), fsync);
      return;
    }
    // in chunks, so the first puts are answered without waiting for the whole turn's writes, and
    // so both threads share a large turn
    for (let at = 0; at < all.length; at += WRITE_ONE_CHUNK) this.#send(all.slice(at, at + WRITE_ONE_CHUNK), fsync);
  }

  #send(batch: PendingWrite[], fsync: boolean): void {
    this.write(
      batch.map((b) => b.write),
      fsync,
    ).then(
      (failure) => this.#settle(batch, failure, fsync),
      (err: Error) => batch.forEach((b) => b.reject(err)),
    );
  }

  /** Answer each put of a batch written up to `failure` (undefined: all of them). */
  #settle(batch: readonly PendingWrite[], failure: FolderWriteFailure | undefined, fsync: boolean): void {
    const failedAt = failure?.index ?? batch.length;
    batch.forEach((b, i) => {
      if (i < failedAt) b.resolve(undefined);
      else if (i === failedAt) b.resolve({ index: 0, error: failure!.error });
      // not attempted after the failure: try again
      else this.writeOne(b.write, fsync).then(b.resolve, b.reject);
    });
  }

  async close(): Promise<void> {
    const threads = this.#threads.splice(0);
    for (const t of threads) clearTimeout(t.idle);
    await stopWorkers(threads.map((t) => t.worker));
  }
}
