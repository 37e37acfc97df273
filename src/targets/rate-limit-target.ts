/**
 * Passes every request through a RateLimiter (rate-limit.ts) before the target it wraps: the
 * bytes of puts before they are sent, the bytes of gets once they are received (the next requests
 * wait for them), and one request per call, per putMany item, per 5,000 names listed (a listing
 * page). Placed under the retry wrapper, so a retried request counts again.
 */
import { ForwardingTarget } from './forwarding-target.js';
import type { RateLimiter } from './rate-limit.js';
import type { BlobInfo, GetOptions, ListOptions, PutManyItem, PutOptions, Target } from './target.js';

/** Names per listing request (Azure's largest page). */
const LIST_PAGE = 5000;

/** flush is inherited without a charge: it is no request to a blob service (a folder's fsync). */
export class RateLimitTarget extends ForwardingTarget {
  readonly limiter: RateLimiter;

  constructor(inner: Target, limiter: RateLimiter) {
    super(inner);
    this.limiter = limiter;
  }

  override async put(name: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    await this.limiter.requests(1, options.abortSignal);
    await this.limiter.bytes(data.byteLength, options.abortSignal);
    await this.inner.put(name, data, options);
  }

  override async putMany(items: readonly PutManyItem[], options: PutOptions = {}): Promise<void> {
    await this.limiter.requests(items.length, options.abortSignal);
    await this.limiter.bytes(
      items.reduce((n, i) => n + i.data.byteLength, 0),
      options.abortSignal,
    );
    await this.inner.putMany!(items, options);
  }

  override async get(name: string, options: GetOptions = {}): Promise<Buffer> {
    await this.limiter.requests(1, options.abortSignal);
    const data = await this.inner.get(name, options);
    await this.limiter.bytes(data.byteLength, options.abortSignal);
    return data;
  }

  override async exists(name: string, options: PutOptions = {}): Promise<boolean> {
    await this.limiter.requests(1, options.abortSignal);
    return this.inner.exists(name, options);
  }

  override async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo> {
    await this.limiter.requests(1, options.abortSignal);
    let n = 0;
    for await (const b of this.inner.list(prefix, options)) {
      if (++n % LIST_PAGE === 0) await this.limiter.requests(1, options.abortSignal);
      yield b;
    }
  }

  override async delete(name: string, options: PutOptions = {}): Promise<void> {
    await this.limiter.requests(1, options.abortSignal);
    await this.inner.delete(name, options);
  }

  override async checkAccess(options: PutOptions = {}): Promise<void> {
    // a put, a get, a list and a delete of a probe blob
    await this.limiter.requests(4, options.abortSignal);
    await this.inner.checkAccess!(options);
  }
}
