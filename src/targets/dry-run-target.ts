/**
 * Accepts puts without storing anything; the container looks empty (list yields nothing, get
 * finds nothing). Wrap it in CountingTarget to estimate what a load would write.
 */
import { ClfsError } from '../errors/index.js';
import type { BlobInfo, FlushOptions, GetOptions, ListOptions, PutManyItem, PutOptions, Target, TargetCapabilities } from './target.js';

export class DryRunTarget implements Target {
  readonly description: string;
  readonly capabilities: TargetCapabilities;
  readonly #inner: Target | undefined;

  /** inner, when given, supplies the description and capabilities and checks access; it is never written */
  constructor(inner?: Target) {
    this.#inner = inner;
    this.description = `dry run (nothing written)${inner === undefined ? '' : ` for ${inner.description}`}`;
    this.capabilities = inner?.capabilities ?? Object.freeze({ maxConnections: 64, remote: false });
  }

  async put(_name: string, _data: Uint8Array, options: PutOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal, this.description);
  }

  async putMany(_items: readonly PutManyItem[], options: PutOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal, this.description);
  }

  /** nothing was written, so nothing is to be made durable */
  async flush(options: FlushOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal, this.description);
  }

  async get(name: string, _options?: GetOptions): Promise<Buffer> {
    throw new ClfsError('E_TARGET_NOT_FOUND', `blob ${name} not found in ${this.description}`, { subject: name });
  }

  async exists(_name: string, _options?: PutOptions): Promise<boolean> {
    return false;
  }

  // eslint-disable-next-line require-yield
  async *list(_prefix: string, _options?: ListOptions): AsyncIterable<BlobInfo> {
    return;
  }

  async delete(_name: string, _options?: PutOptions): Promise<void> {}

  async checkAccess(options?: PutOptions): Promise<void> {
    await this.#inner?.checkAccess?.(options);
  }

  async close(): Promise<void> {
    await this.#inner?.close?.();
  }
}

function throwIfAborted(signal: AbortSignal | undefined, description: string): void {
  if (signal?.aborted) throw new ClfsError('E_ABORTED', `request to ${description} aborted`);
}
