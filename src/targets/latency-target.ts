/**
 * Adds a fixed delay to every request, to measure how the pipeline behaves against a remote
 * service (benchmarks) while storing in a fast local target.
 */
import { sleep } from './retry-target.js';
import type { BlobInfo, FlushOptions, GetOptions, ListOptions, PutManyItem, PutOptions, Target, TargetCapabilities } from './target.js';

export interface LatencyTargetOptions {
  /** added before every request; default 20 */
  latencyMs?: number;
  /** what capabilities to report; default the inner target's, with remote: true */
  capabilities?: TargetCapabilities;
}

export class LatencyTarget implements Target {
  readonly description: string;
  readonly capabilities: TargetCapabilities;
  readonly putMany?: (items: readonly PutManyItem[], options?: PutOptions) => Promise<void>;
  readonly flush?: (options?: FlushOptions) => Promise<void>;
  readonly #inner: Target;
  readonly #latencyMs: number;

  constructor(inner: Target, options: LatencyTargetOptions = {}) {
    this.#inner = inner;
    this.#latencyMs = options.latencyMs ?? 20;
    this.description = `${inner.description} (+${this.#latencyMs} ms per request)`;
    this.capabilities = options.capabilities ?? Object.freeze({ ...inner.capabilities, remote: true });
    if (inner.putMany !== undefined) {
      const putMany = inner.putMany.bind(inner);
      this.putMany = async (items, opts = {}) => {
        await this.#delay(opts.abortSignal);
        await putMany(items, opts);
      };
    }
    // no delay: a remote blob service has nothing to flush, so a flush is no request to it
    if (inner.flush !== undefined) this.flush = inner.flush.bind(inner);
  }

  async put(name: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    await this.#delay(options.abortSignal);
    await this.#inner.put(name, data, options);
  }

  async get(name: string, options: GetOptions = {}): Promise<Buffer> {
    await this.#delay(options.abortSignal);
    return this.#inner.get(name, options);
  }

  async exists(name: string, options: PutOptions = {}): Promise<boolean> {
    await this.#delay(options.abortSignal);
    return this.#inner.exists(name, options);
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo> {
    await this.#delay(options.abortSignal);
    yield* this.#inner.list(prefix, options);
  }

  async delete(name: string, options: PutOptions = {}): Promise<void> {
    await this.#delay(options.abortSignal);
    await this.#inner.delete(name, options);
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }

  #delay(signal: AbortSignal | undefined): Promise<void> {
    return sleep(this.#latencyMs, signal, `request to ${this.#inner.description}`);
  }
}
