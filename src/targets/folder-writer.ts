import { Worker } from 'node:worker_threads';
import type { FolderWrite, FolderWriteFailure } from './folder-writes.js';

/** A lazily started writer thread for FolderTarget.putMany; it never keeps the process alive when idle. */
export class FolderWriter {
  #worker: Worker | undefined;
  #seq = 0;
  readonly #waiting = new Map<number, { resolve: (f: FolderWriteFailure | undefined) => void; reject: (e: Error) => void }>();

  #start(): Worker {
    const worker = new Worker(new URL('./folder-writer-worker.js', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 } });
    worker.on('message', (m: { id: number; failure?: { index: number; code?: string; message: string } }) => {
      const w = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      if (this.#waiting.size === 0) worker.unref();
      w?.resolve(m.failure && { index: m.failure.index, error: Object.assign(new Error(m.failure.message), { code: m.failure.code }) });
    });
    worker.on('error', (err) => {
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
      this.#worker = undefined;
    });
    worker.unref();
    return worker;
  }

  write(writes: FolderWrite[], fsync: boolean): Promise<FolderWriteFailure | undefined> {
    this.#worker ??= this.#start();
    const worker = this.#worker;
    const id = this.#seq++;
    if (this.#waiting.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage({ id, writes, fsync });
    });
  }

  #pending: Array<{ write: FolderWrite; resolve: (f: FolderWriteFailure | undefined) => void; reject: (e: Error) => void }> = [];
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
    const batch = this.#pending;
    const fsync = this.#pendingFsync;
    this.#pending = [];
    this.#pendingFsync = false;
    this.write(
      batch.map((b) => b.write),
      fsync,
    ).then(
      (failure) => {
        const failedAt = failure?.index ?? batch.length;
        batch.forEach((b, i) => {
          if (i < failedAt) b.resolve(undefined);
          else if (i === failedAt) b.resolve({ index: 0, error: failure!.error });
          // not attempted after the failure: try again
          else this.writeOne(b.write, fsync).then(b.resolve, b.reject);
        });
      },
      (err: Error) => batch.forEach((b) => b.reject(err)),
    );
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (w !== undefined) await w.terminate();
  }
}
