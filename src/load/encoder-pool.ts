import { Worker } from 'node:worker_threads';
import type { Compression } from '../codec/index.js';
import type { TransferIdentity } from '../state/index.js';
import { SingleObjectEncoder } from './single-object.js';
import type { SingleObjectJob, SingleObjectResult } from './single-object.js';

/**
 * Encodes batches of one-object entries on worker threads (round robin), or in the calling
 * thread when `workers` is 0.
 */
export class EncoderPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (r: SingleObjectResult[]) => void; reject: (e: Error) => void }>();
  private readonly local: SingleObjectEncoder;
  private next = 0;
  private seq = 0;
  private failure: Error | undefined;

  constructor(identity: TransferIdentity, compression: Compression, workers: number) {
    this.local = new SingleObjectEncoder(identity, compression);
    for (let i = 0; i < workers; i++) {
      const w = new Worker(new URL('./encode-worker.js', import.meta.url), { workerData: { identity, compression } });
      w.on('message', (m: { id: number; results: SingleObjectResult[] }) => {
        const done = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        done?.resolve(m.results.map(revive));
      });
      w.on('error', (err) => {
        this.failure ??= err;
        for (const p of this.waiting.values()) p.reject(err);
        this.waiting.clear();
      });
      w.unref();
      this.workers.push(w);
    }
  }

  async encode(jobs: SingleObjectJob[]): Promise<SingleObjectResult[]> {
    if (this.failure) throw this.failure;
    if (this.workers.length === 0) return jobs.map((j) => this.local.encode(j));
    const id = this.seq++;
    const w = this.workers[this.next++ % this.workers.length]!;
    // ref/unref are not counted: keep the workers referenced while any batch is out, or the
    // event loop may end with a batch still pending
    if (this.waiting.size === 0) for (const x of this.workers) x.ref();
    try {
      return await new Promise<SingleObjectResult[]>((resolve, reject) => {
        this.waiting.set(id, { resolve, reject });
        w.postMessage({ id, jobs });
      });
    } finally {
      if (this.waiting.size === 0) for (const x of this.workers) x.unref();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function revive(r: SingleObjectResult): SingleObjectResult {
  if (r.kind === 'blob') r.blob = Buffer.from(r.blob.buffer, r.blob.byteOffset, r.blob.byteLength);
  return r;
}
