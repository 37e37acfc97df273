/**
 * Adds a fixed delay to every request, to measure how the pipeline behaves against a remote
 * service (benchmarks) while storing in a fast local target.
 */
import { ForwardingTarget } from './forwarding-target.js';
import { sleep } from './retry-target.js';
import type { BlobInfo, GetOptions, ListOptions, PutManyItem, PutOptions, Target, TargetCapabilities } from './target.js';

export interface LatencyTargetOptions {
  /** added before every request; default 20 */
  latencyMs?: number;
  /** what capabilities to report; default the inner target's, with remote: true */
  capabilities?: TargetCapabilities;
}

/** flush is inherited, without a delay: a remote blob service has nothing to flush, so a flush is no request to it */
export class LatencyTarget extends ForwardingTarget {
  readonly #latencyMs: number;

  constructor(inner: Target, options: LatencyTargetOptions = {}) {
    const latencyMs = options.latencyMs ?? 20;
    super(inner, {
      description: `${inner.description} (+${latencyMs} ms per request)`,
      capabilities: options.capabilities ?? Object.freeze({ ...inner.capabilities, remote: true }),
    });
    this.#latencyMs = latencyMs;
  }

  override async put(name: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    await this.#delay(options.abortSignal);
    await this.inner.put(name, data, options);
  }

  override async putMany(items: readonly PutManyItem[], options: PutOptions = {}): Promise<void> {
    await this.#delay(options.abortSignal);
    await this.inner.putMany!(items, options);
  }

  override async get(name: string, options: GetOptions = {}): Promise<Buffer> {
    await this.#delay(options.abortSignal);
    return this.inner.get(name, options);
  }

  override async exists(name: string, options: PutOptions = {}): Promise<boolean> {
    await this.#delay(options.abortSignal);
    return this.inner.exists(name, options);
  }

  override async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo> {
    await this.#delay(options.abortSignal);
    yield* this.inner.list(prefix, options);
  }

  override async delete(name: string, options: PutOptions = {}): Promise<void> {
    await this.#delay(options.abortSignal);
    await this.inner.delete(name, options);
  }

  /** a request (Azure lists one name), so it waits like one */
  override async checkAccess(options: PutOptions = {}): Promise<void> {
    await this.#delay(options.abortSignal);
    await this.inner.checkAccess!(options);
  }

  #delay(signal: AbortSignal | undefined): Promise<void> {
    return sleep(this.#latencyMs, signal, `request to ${this.inner.description}`);
  }
}
