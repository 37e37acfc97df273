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
import type { ClfsError } from '../errors/index.js';
import { entryFromStats, joinPath, sourceError, sourceFaultsForWorkers } from '../scan/index.js';
import type { SkipEntry, SourceEntry } from '../scan/index.js';
import { workerExecArgv } from '../targets/worker-argv.js';
import type * as fs from 'node:fs';
import { FIELDS } from './dir-list-protocol.js';
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
  children: Listed[];
  resolve: (r: Listed[]) => void;
  reject: (e: Error) => void;
}

/** A BigIntStats-shaped view of one packed child, for entryFromStats. */
function statsAt(f: BigInt64Array, o: number): fs.BigIntStats {
  return { mode: f[o]!, uid: f[o + 1]!, gid: f[o + 2]!, size: f[o + 3]!, mtimeNs: f[o + 4]!, ctimeNs: f[o + 5]!, atimeNs: f[o + 6]!, ino: f[o + 7]!, dev: f[o + 8]!, rdev: f[o + 9]!, nlink: f[o + 10]! } as unknown as fs.BigIntStats;
}

function errnoError(e: { code?: string; message: string }): Error {
  return Object.assign(new Error(e.message), e.code !== undefined ? { code: e.code } : {});
}

export class DirLister {
  readonly #threads: Array<{ worker: Worker; busy: number }> = [];
  readonly #jobs = new Map<number, Job>();
  readonly #maxThreads: number;
  #seq = 0;
  #closed = false;

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
      const thread = this.#thread();
      thread.busy += 1;
      if (thread.busy === 1) thread.worker.ref();
      thread.worker.postMessage({ id, path: path.toString('latin1') } satisfies ListRequest);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const threads = this.#threads.splice(0);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  #thread(): { worker: Worker; busy: number } {
    let best = this.#threads[0];
    for (const t of this.#threads) if (t.busy < best!.busy) best = t;
    if (best !== undefined && (best.busy === 0 || this.#threads.length >= this.#maxThreads)) return best;
    const worker = new Worker(new URL('./dir-lister-worker.js', import.meta.url), {
      workerData: { sourceFaults: sourceFaultsForWorkers() },
      execArgv: workerExecArgv(),
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 24 },
    });
    const thread = { worker, busy: 0 };
    worker.on('message', (m: ListChunk) => {
      const job = this.#jobs.get(m.id);
      if (job === undefined) return;
      if (m.dirError !== undefined) {
        this.#finish(thread, m.id);
        job.reject(sourceError(job.path, errnoError(m.dirError)));
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
          job.children.push({ name, hint, error: sourceError(joinPath(job.path, name), errnoError(m.errors[at]!)) });
          continue;
        }
        const childPath = joinPath(job.path, name);
        try {
          job.children.push({ name, hint, entry: entryFromStats(name, statsAt(m.fields, i * FIELDS), childPath) });
        } catch (err) {
          job.children.push({ name, hint, error: err as ClfsError });
        }
      }
      if (m.done) {
        this.#finish(thread, m.id);
        job.resolve(job.children);
      }
    });
    const lost = (err: Error) => {
      for (const [id, job] of this.#jobs) {
        this.#jobs.delete(id);
        job.reject(err);
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

  #finish(thread: { worker: Worker; busy: number }, id: number): void {
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
