/** Counts requests by kind and bytes moved: for dry-run estimates and benchmarks. */
import { ForwardingTarget } from './forwarding-target.js';
import type { BlobInfo, FlushOptions, GetOptions, ListOptions, PutManyItem, PutOptions, Target } from './target.js';

export interface RequestCounts {
  put: number;
  /** putMany calls; their items are also counted in put and bytesPut */
  putMany: number;
  get: number;
  exists: number;
  list: number;
  /** names yielded by list */
  listed: number;
  delete: number;
  /** flush calls (not requests to a blob service: a folder target's fsyncs) */
  flush: number;
  /** requests that threw */
  failed: number;
  bytesPut: number;
  bytesGot: number;
}

/** checkAccess and close are inherited, uncounted: they are not part of what a load costs */
export class CountingTarget extends ForwardingTarget {
  #counts: RequestCounts = emptyCounts();

  constructor(inner: Target) {
    super(inner);
  }

  override putMany(items: readonly PutManyItem[], options?: PutOptions): Promise<void> {
    return this.#count(async () => {
      this.#counts.putMany += 1;
      this.#counts.put += items.length;
      for (const item of items) this.#counts.bytesPut += item.data.byteLength;
      await this.inner.putMany!(items, options);
    });
  }

  override flush(options?: FlushOptions): Promise<void> {
    this.#counts.flush += 1;
    return this.#count(() => this.inner.flush!(options));
  }

  /** a copy of the counts so far */
  get counts(): RequestCounts {
    return { ...this.#counts };
  }

  reset(): void {
    this.#counts = emptyCounts();
  }

  override put(name: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    this.#counts.put += 1;
    this.#counts.bytesPut += data.byteLength;
    return this.#count(() => this.inner.put(name, data, options));
  }

  override get(name: string, options?: GetOptions): Promise<Buffer> {
    this.#counts.get += 1;
    return this.#count(async () => {
      const bytes = await this.inner.get(name, options);
      this.#counts.bytesGot += bytes.byteLength;
      return bytes;
    });
  }

  override exists(name: string, options?: PutOptions): Promise<boolean> {
    this.#counts.exists += 1;
    return this.#count(() => this.inner.exists(name, options));
  }

  override async *list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    this.#counts.list += 1;
    try {
      for await (const info of this.inner.list(prefix, options)) {
        this.#counts.listed += 1;
        yield info;
      }
    } catch (error) {
      this.#counts.failed += 1;
      throw error;
    }
  }

  override delete(name: string, options?: PutOptions): Promise<void> {
    this.#counts.delete += 1;
    return this.#count(() => this.inner.delete(name, options));
  }

  async #count<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      this.#counts.failed += 1;
      throw error;
    }
  }
}

function emptyCounts(): RequestCounts {
  return { put: 0, putMany: 0, get: 0, exists: 0, list: 0, listed: 0, delete: 0, flush: 0, failed: 0, bytesPut: 0, bytesGot: 0 };
}
