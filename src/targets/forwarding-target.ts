/**
 * The base every wrapper extends (restic's sema backend embeds the backend it limits; rclone's
 * Features.Mask): each Target method, the optional ones included, goes to the wrapped target
 * unless the wrapper overrides it. A wrapper overrides only what it changes, so a method added to
 * Target later is forwarded by every wrapper once it is added here, and
 * test/targets/forwarding.test.ts fails until it is.
 *
 * Features are the inner target's unless the wrapper says otherwise: false for a method it cannot
 * pass on (the method is then absent, as on a target that never had it), true for one it
 * provides itself (it must override that method: there is nothing to forward to).
 */
import { ClfsError } from '../errors/index.js';
import { OPTIONAL_METHODS } from './target.js';
import type {
  BlobInfo,
  FlushOptions,
  GetOptions,
  ListOptions,
  PutManyItem,
  PutOptions,
  Target,
  TargetCapabilities,
  TargetFeatures,
} from './target.js';

export interface ForwardingOptions {
  /** default the inner target's */
  description?: string;
  /** default the inner target's */
  capabilities?: TargetCapabilities;
  /** where this wrapper's features differ from the inner target's */
  features?: Partial<TargetFeatures>;
}

export abstract class ForwardingTarget implements Target {
  readonly description: string;
  readonly capabilities: TargetCapabilities;
  readonly features: TargetFeatures;
  protected readonly inner: Target;

  constructor(inner: Target, options: ForwardingOptions = {}) {
    checkFeatures(inner);
    this.inner = inner;
    this.description = options.description ?? inner.description;
    this.capabilities = options.capabilities ?? inner.capabilities;
    this.features = Object.freeze({ ...inner.features, ...options.features });
    for (const method of OPTIONAL_METHODS) {
      if (!this.features[method]) {
        // declared off: no method, so the declaration and the method cannot disagree
        Object.defineProperty(this, method, { value: undefined, writable: false, enumerable: false });
      } else if (!inner.features[method] && this[method] === ForwardingTarget.prototype[method]) {
        throw new ClfsError(
          'E_INTERNAL',
          `${new.target.name} declares ${method} but ${inner.description} has none and ${new.target.name} does not provide it`,
        );
      }
    }
  }

  put(name: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    return this.inner.put(name, data, options);
  }

  get(name: string, options?: GetOptions): Promise<Buffer> {
    return this.inner.get(name, options);
  }

  exists(name: string, options?: PutOptions): Promise<boolean> {
    return this.inner.exists(name, options);
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    return this.inner.list(prefix, options);
  }

  delete(name: string, options?: PutOptions): Promise<void> {
    return this.inner.delete(name, options);
  }

  checkAccess?(options?: PutOptions): Promise<void> {
    return this.inner.checkAccess!(options);
  }

  putMany?(items: readonly PutManyItem[], options?: PutOptions): Promise<void> {
    return this.inner.putMany!(items, options);
  }

  flush?(options?: FlushOptions): Promise<void> {
    return this.inner.flush!(options);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}

/**
 * Throws E_INTERNAL when a target's declared features and its methods disagree: a declared method
 * that is missing would fail at its first call, an undeclared one would never be called.
 */
export function checkFeatures(target: Target): void {
  for (const method of OPTIONAL_METHODS) {
    const declared = target.features?.[method] === true;
    const present = typeof target[method] === 'function';
    if (declared !== present) {
      throw new ClfsError(
        'E_INTERNAL',
        `${target.description} ${declared ? 'declares' : 'does not declare'} features.${method} but ${present ? 'has' : 'has no'} ${method} method`,
      );
    }
  }
}
