/**
 * Accepts puts without storing anything; the container looks empty (list yields nothing, get
 * finds nothing). Wrap it in CountingTarget to estimate what a load would write.
 */
import { ClfsError } from '../errors/index.js';
import { ForwardingTarget } from './forwarding-target.js';
import type { BlobInfo, FlushOptions, GetOptions, ListOptions, PutManyItem, PutOptions, Target } from './target.js';

/** What a DryRunTarget without a real target wraps: every data method is the dry run's own. */
const NOWHERE: Target = Object.freeze({
  description: 'nowhere',
  capabilities: Object.freeze({ maxConnections: 64, remote: false }),
  features: Object.freeze({ putMany: false, checkAccess: false, flush: false }),
  put: unreachable,
  get: unreachable,
  exists: unreachable,
  list: unreachable,
  delete: unreachable,
});

function unreachable(): never {
  throw new ClfsError('E_INTERNAL', 'a dry run has no target to send requests to');
}

/** checkAccess and close go to the real target; nothing else reaches it */
export class DryRunTarget extends ForwardingTarget {
  /** inner, when given, supplies the description and capabilities and checks access; it is never written */
  constructor(inner?: Target) {
    super(inner ?? NOWHERE, {
      description: `dry run (nothing written)${inner === undefined ? '' : ` for ${inner.description}`}`,
      // puts and flushes are the dry run's own, whatever the real target has
      features: { putMany: true, flush: true },
    });
  }

  override async put(_name: string, _data: Uint8Array, options: PutOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal, this.description);
  }

  override async putMany(_items: readonly PutManyItem[], options: PutOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal, this.description);
  }

  /** nothing was written, so nothing is to be made durable */
  override async flush(options: FlushOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal, this.description);
  }

  override async get(name: string, _options?: GetOptions): Promise<Buffer> {
    throw new ClfsError('E_TARGET_NOT_FOUND', `blob ${name} not found in ${this.description}`, { subject: name });
  }

  override async exists(_name: string, _options?: PutOptions): Promise<boolean> {
    return false;
  }

  // eslint-disable-next-line require-yield
  override async *list(_prefix: string, _options?: ListOptions): AsyncIterable<BlobInfo> {
    return;
  }

  override async delete(_name: string, _options?: PutOptions): Promise<void> {}
}

function throwIfAborted(signal: AbortSignal | undefined, description: string): void {
  if (signal?.aborted) throw new ClfsError('E_ABORTED', `request to ${description} aborted`);
}
