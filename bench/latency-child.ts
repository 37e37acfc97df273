/**
 * The `latency` case, as its own process (so it is measured like the CLI: whole-process wall time
 * and peak RSS): `load()` through the library into a FolderTarget behind a LatencyTarget.
 *
 *   node dist/bench/latency-child.js SOURCE DEST_DIR STATE_DIR LATENCY_MS CONCURRENCY per-blob|batched
 *
 * per-blob: a wrapper hides Target.putMany, so every blob is its own delayed request (as against a
 * real blob service, where each blob is one PUT). batched: LatencyTarget forwards the folder
 * target's putMany, so a whole batch costs one delay. Prints one JSON line: the load summary and
 * the request counts seen by the loader.
 */
import { CountingTarget, FolderTarget, LatencyTarget, load } from '../src/index.js';
import type { BlobInfo, Target } from '../src/index.js';
import type { FlushOptions, GetOptions, ListOptions, PutManyItem, PutOptions } from '../src/targets/target.js';

/**
 * Forwards to the inner target and counts single puts and putMany calls apart. With
 * hidePutMany it has no putMany, so the loader falls back to one put per blob.
 */
export class BenchWrapper implements Target {
  readonly description: string;
  readonly capabilities: Target['capabilities'];
  readonly putMany?: (items: readonly PutManyItem[], options?: PutOptions) => Promise<void>;
  readonly flush?: (options?: FlushOptions) => Promise<void>;
  readonly #inner: Target;
  singlePuts = 0;
  putManyCalls = 0;
  putManyItems = 0;

  constructor(inner: Target, hidePutMany: boolean) {
    this.#inner = inner;
    this.description = inner.description;
    this.capabilities = inner.capabilities;
    if (!hidePutMany && inner.putMany !== undefined) {
      const putMany = inner.putMany.bind(inner);
      this.putMany = (items, options) => {
        this.putManyCalls += 1;
        this.putManyItems += items.length;
        return putMany(items, options);
      };
    }
    if (inner.flush !== undefined) this.flush = inner.flush.bind(inner);
  }

  put(name: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    this.singlePuts += 1;
    return this.#inner.put(name, data, options);
  }
  get(name: string, options?: GetOptions): Promise<Buffer> {
    return this.#inner.get(name, options);
  }
  exists(name: string, options?: PutOptions): Promise<boolean> {
    return this.#inner.exists(name, options);
  }
  list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    return this.#inner.list(prefix, options);
  }
  delete(name: string, options?: PutOptions): Promise<void> {
    return this.#inner.delete(name, options);
  }
  async checkAccess(options?: PutOptions): Promise<void> {
    await this.#inner.checkAccess?.(options);
  }
  async close(): Promise<void> {
    await this.#inner.close?.();
  }
}

async function main(): Promise<void> {
  const [source, dest, stateDir, latency, concurrency, mode] = process.argv.slice(2);
  if (source === undefined || dest === undefined || stateDir === undefined || mode === undefined) {
    throw new Error('usage: latency-child SOURCE DEST_DIR STATE_DIR LATENCY_MS CONCURRENCY per-blob|batched');
  }
  const folder = new FolderTarget(dest, { maxConnections: Number(concurrency) });
  const delayed = new LatencyTarget(folder, { latencyMs: Number(latency) });
  const wrapper = new BenchWrapper(delayed, mode === 'per-blob');
  const counting = new CountingTarget(wrapper);
  const summary = await load({
    source,
    target: counting,
    targetKey: `bench-latency:${dest}`,
    stateDir,
    newTransfer: true,
    concurrency: Number(concurrency),
  });
  process.stdout.write(`${JSON.stringify({
      summary,
      counts: { ...counting.counts, singlePuts: wrapper.singlePuts, putManyCalls: wrapper.putManyCalls, putManyItems: wrapper.putManyItems },
    })}\n`);
  await counting.close();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
