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
import type { Target } from '../src/index.js';
import { ForwardingTarget } from '../src/targets/index.js';
import type { PutManyItem, PutOptions } from '../src/targets/index.js';

/**
 * Forwards to the inner target and counts single puts and putMany calls apart. With
 * hidePutMany it declares no putMany, so the loader falls back to one put per blob.
 */
export class BenchWrapper extends ForwardingTarget {
  singlePuts = 0;
  putManyCalls = 0;
  putManyItems = 0;

  constructor(inner: Target, hidePutMany: boolean) {
    super(inner, hidePutMany ? { features: { putMany: false } } : {});
  }

  override put(name: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    this.singlePuts += 1;
    return this.inner.put(name, data, options);
  }

  override putMany(items: readonly PutManyItem[], options?: PutOptions): Promise<void> {
    this.putManyCalls += 1;
    this.putManyItems += items.length;
    return this.inner.putMany!(items, options);
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
