/**
 * Deterministic fault injection for tests: fails a seeded fraction of requests, or chosen request
 * numbers, with a retryable coded error. A write may fail after it was stored ("the answer was
 * lost"), and a listing may fail part way, which is what retry and resume must survive.
 */
import { ClfsError, type ClfsErrorCode } from '../errors/index.js';
import { ForwardingTarget } from './forwarding-target.js';
import type { BlobInfo, FlushOptions, GetOptions, ListOptions, PutManyItem, PutOptions, Target } from './target.js';

export type FaultOperation = 'put' | 'putMany' | 'get' | 'exists' | 'list' | 'delete' | 'flush';

export interface FaultTargetOptions {
  /** default 1 */
  seed?: number;
  /** fraction of requests to fail, 0..1; default 0 */
  failureRate?: number;
  /** request numbers (1-based, counted over every operation) that fail */
  failRequests?: readonly number[];
  /** default 'E_TARGET_TRANSIENT' */
  code?: Extract<ClfsErrorCode, 'E_TARGET_TRANSIENT' | 'E_TARGET_THROTTLED' | 'E_TARGET_TIMEOUT'>;
  /** with E_TARGET_THROTTLED */
  retryAfterSeconds?: number;
  /**
   * which operations may fail; default all but flush. A flush fails (and counts as a request)
   * only when listed: it is no request to a blob service, and counting it would move every
   * seeded sequence once a loader flushes.
   */
  operations?: readonly FaultOperation[];
  /** of the failed writes (put, putMany, delete), the fraction that fail after storing; default 0.5 */
  afterFraction?: number;
}

/** checkAccess and close are inherited, never failed: a fault plan is about the load's requests */
export class FaultTarget extends ForwardingTarget {
  readonly #random: () => number;
  readonly #rate: number;
  readonly #failRequests: ReadonlySet<number>;
  readonly #code: NonNullable<FaultTargetOptions['code']>;
  readonly #retryAfterSeconds: number | undefined;
  readonly #operations: ReadonlySet<FaultOperation> | undefined;
  readonly #afterFraction: number;
  #requests = 0;
  #injected = 0;

  constructor(inner: Target, options: FaultTargetOptions = {}) {
    super(inner);
    this.#random = mulberry32(options.seed ?? 1);
    this.#rate = options.failureRate ?? 0;
    this.#failRequests = new Set(options.failRequests ?? []);
    this.#code = options.code ?? 'E_TARGET_TRANSIENT';
    this.#retryAfterSeconds = options.retryAfterSeconds;
    this.#operations = options.operations === undefined ? undefined : new Set(options.operations);
    this.#afterFraction = options.afterFraction ?? 0.5;
  }

  override putMany(items: readonly PutManyItem[], options?: PutOptions): Promise<void> {
    return this.#write('putMany', items[0]?.name ?? '', () => this.inner.putMany!(items, options));
  }

  override flush(options?: FlushOptions): Promise<void> {
    if (!this.#operations?.has('flush')) return this.inner.flush!(options);
    return this.#write('flush', '', () => this.inner.flush!(options));
  }

  /** requests seen so far */
  get requests(): number {
    return this.#requests;
  }

  /** faults injected so far */
  get injected(): number {
    return this.#injected;
  }

  override put(name: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    return this.#write('put', name, () => this.inner.put(name, data, options));
  }

  override async get(name: string, options?: GetOptions): Promise<Buffer> {
    if (this.#decide('get')) throw this.#fault('get', name);
    return this.inner.get(name, options);
  }

  override async exists(name: string, options?: PutOptions): Promise<boolean> {
    if (this.#decide('exists')) throw this.#fault('exists', name);
    return this.inner.exists(name, options);
  }

  override async *list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    const fail = this.#decide('list');
    // Fail before the first name or part way (after up to 2000 names: past a 1000-name page).
    const failAfter = fail ? Math.floor(this.#random() * 2000) : Infinity;
    let yielded = 0;
    for await (const info of this.inner.list(prefix, options)) {
      if (yielded >= failAfter) throw this.#fault('list', prefix);
      yield info;
      yielded += 1;
    }
    if (fail) throw this.#fault('list', prefix);
  }

  override delete(name: string, options?: PutOptions): Promise<void> {
    return this.#write('delete', name, () => this.inner.delete(name, options));
  }

  async #write(operation: FaultOperation, name: string, request: () => Promise<void>): Promise<void> {
    if (!this.#decide(operation)) return request();
    const after = this.#random() < this.#afterFraction;
    if (after) await request();
    throw this.#fault(operation, name);
  }

  /** One draw per request whatever the outcome, so the sequence depends only on the seed and order. */
  #decide(operation: FaultOperation): boolean {
    this.#requests += 1;
    const draw = this.#random();
    if (this.#operations !== undefined && !this.#operations.has(operation)) return false;
    const fail = this.#failRequests.has(this.#requests) || draw < this.#rate;
    if (fail) this.#injected += 1;
    return fail;
  }

  #fault(operation: FaultOperation, subject: string): ClfsError {
    return new ClfsError(this.#code, `injected fault #${this.#injected}: ${operation} ${subject} on ${this.description}`, {
      subject,
      retryable: true,
      retryAfterSeconds: this.#code === 'E_TARGET_THROTTLED' ? this.#retryAfterSeconds : undefined,
    });
  }
}

/** A small seeded PRNG (mulberry32): deterministic across runs and platforms. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
