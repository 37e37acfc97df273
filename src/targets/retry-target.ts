/**
 * Retries what a retry can fix (errors with `retryable`), with exponential backoff and full
 * jitter, honouring Retry-After, and bounds each request with a timeout. All requests pass through
 * one Throttle, which halves the concurrency when the service throttles (see throttle.ts).
 * Puts are idempotent (same name, same bytes), so a request that timed out is simply sent again.
 *
 * A host that cannot be reached at all (errors marked `unreachable`: name not found, connection
 * refused) gets a few tries only, 4 to 8 s in all: enough for a service that restarts, while a
 * wrong URL or a down network would not mend itself within the full retry budget (minutes), and
 * the error is run-fatal, so the load stops with its state kept and a re-run resumes. Once one request gave up so, the
 * others give up at their next such failure instead of each waiting out its own tries.
 */
import { setMaxListeners } from 'node:events';
import { ClfsError, isClfsError } from '../errors/index.js';
import { ForwardingTarget } from './forwarding-target.js';
import { Throttle } from './throttle.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from './target.js';
import type { BlobInfo, GetOptions, ListOptions, PutManyItem, PutOptions, Target } from './target.js';

export interface RetryInfo {
  operation: string;
  subject: string;
  /** the attempt that failed, from 1 */
  attempt: number;
  error: ClfsError;
  delayMs: number;
}

export interface RetryTargetOptions {
  /** attempts per request, the first included; default 8 */
  maxAttempts?: number;
  /** default 200 */
  baseDelayMs?: number;
  /** attempts per request while the host is unreachable; default 6 (or maxAttempts, if fewer) */
  unreachableAttempts?: number;
  /** first wait after an unreachable host, doubled per try, half jittered; default 250 */
  unreachableDelayMs?: number;
  /** default 30 000 */
  maxDelayMs?: number;
  /** per attempt (for list: the longest wait for the next name); default DEFAULT_REQUEST_TIMEOUT_MS */
  requestTimeoutMs?: number;
  /** share one throttle between wrappers of the same service; default one sized by capabilities */
  throttle?: Throttle;
  /** for the default throttle; default 16 */
  successesPerIncrease?: number;
  /** in [0, 1); default Math.random. Tests pass a seeded one */
  random?: () => number;
  /** called before each backoff sleep, e.g. for a progress line */
  onRetry?: (info: RetryInfo) => void;
}

interface Deadline {
  second: number;
  callerSignal: AbortSignal | undefined;
  timeout: AbortSignal;
  signal: AbortSignal;
  timer: NodeJS.Timeout;
  active: number;
}

/** flush is inherited, forwarded as is: a failed flush must not be retried (what it failed to write is unknown) */
export class RetryTarget extends ForwardingTarget {
  readonly throttle: Throttle;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #unreachableAttempts: number;
  readonly #unreachableDelayMs: number;
  /** a request gave up on an unreachable host, and none has succeeded since */
  #hostDown = false;
  readonly #timeoutMs: number;
  readonly #random: () => number;
  readonly #onRetry: ((info: RetryInfo) => void) | undefined;
  #current: Deadline | undefined;

  /**
   * The target it retries. A load into a plain folder lets its encode workers write small blobs
   * there directly (src/load/load-run.ts); any failure of theirs is put again through this wrapper.
   */
  get retried(): Target {
    return this.inner;
  }

  constructor(inner: Target, options: RetryTargetOptions = {}) {
    super(inner);
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 8);
    this.#baseDelayMs = options.baseDelayMs ?? 200;
    this.#maxDelayMs = options.maxDelayMs ?? 30_000;
    this.#unreachableAttempts = Math.max(1, options.unreachableAttempts ?? Math.min(6, this.#maxAttempts));
    this.#unreachableDelayMs = options.unreachableDelayMs ?? 250;
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#random = options.random ?? Math.random;
    this.#onRetry = options.onRetry;
    this.throttle =
      options.throttle ??
      new Throttle({
        maxConcurrency: inner.capabilities.maxConnections,
        successesPerIncrease: options.successesPerIncrease ?? 16,
      });
  }

  override putMany(items: readonly PutManyItem[], options: PutOptions = {}): Promise<void> {
    return this.#run('putMany', items[0]?.name ?? '', options.abortSignal, (signal) =>
      this.inner.putMany!(items, { ...options, abortSignal: signal }),
    );
  }

  override checkAccess(options: PutOptions = {}): Promise<void> {
    return this.#run('checkAccess', this.inner.description, options.abortSignal, (signal) =>
      this.inner.checkAccess!({ ...options, abortSignal: signal }),
    );
  }

  override put(name: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    return this.#run('put', name, options.abortSignal, (signal) =>
      this.inner.put(name, data, { ...options, abortSignal: signal }),
    );
  }

  override get(name: string, options: GetOptions = {}): Promise<Buffer> {
    return this.#run('get', name, options.abortSignal, (signal) =>
      this.inner.get(name, { ...options, abortSignal: signal }),
    );
  }

  override exists(name: string, options: PutOptions = {}): Promise<boolean> {
    return this.#run('exists', name, options.abortSignal, (signal) =>
      this.inner.exists(name, { ...options, abortSignal: signal }),
    );
  }

  override delete(name: string, options: PutOptions = {}): Promise<void> {
    return this.#run('delete', name, options.abortSignal, (signal) =>
      this.inner.delete(name, { ...options, abortSignal: signal }),
    );
  }

  /**
   * A failed listing restarts from the same prefix and skips the names already yielded (the
   * order is lexicographic). The timeout is per name, paused while the caller holds a name, so a
   * long listing is not cut off but a stalled page is. Listing does not take a throttle slot.
   */
  override async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo> {
    let last: string | undefined;
    let attempt = 1;
    let unreachable = 0;
    for (;;) {
      const controller = new AbortController();
      const signals = [controller.signal, ...(options.abortSignal ? [options.abortSignal] : [])];
      const signal = AbortSignal.any(signals);
      // One timer for the whole listing, not one per name (a setTimeout and a clearTimeout per
      // name were a tenth of a 20,000-blob verify's listing on the caller's thread): `due` is when
      // the next name must have come, 0 while the caller holds one; the timer, when it fires,
      // aborts past `due` or waits again for what is left.
      let due = 0;
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        timer = undefined;
        if (due === 0) return;
        const left = due - performance.now();
        if (left <= 0) controller.abort(new DOMException('list stalled', 'TimeoutError'));
        else timer = setTimeout(check, left);
      };
      const arm = (): void => {
        due = performance.now() + this.#timeoutMs;
        timer ??= setTimeout(check, this.#timeoutMs);
      };
      const disarm = (): void => {
        due = 0;
      };
      try {
        arm();
        for await (const info of this.inner.list(prefix, { ...options, abortSignal: signal })) {
          if (last !== undefined && info.name <= last) continue;
          last = info.name;
          attempt = 1;
          unreachable = 0;
          this.#hostDown = false;
          disarm();
          yield info;
          arm();
        }
        disarm();
        return;
      } catch (error) {
        disarm();
        const coded = this.#classify(error, 'list', prefix, options.abortSignal, controller.signal);
        if (coded.unreachable) unreachable += 1;
        if (this.#giveUp(coded, attempt, unreachable)) throw coded;
        await this.#backoff('list', prefix, attempt, coded, options.abortSignal, unreachable);
        attempt += 1;
      } finally {
        // also when the caller stops early (the generator returns at its yield)
        clearTimeout(timer);
      }
    }
  }

  async #run<T>(
    operation: string,
    subject: string,
    callerSignal: AbortSignal | undefined,
    request: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    let unreachable = 0;
    for (let attempt = 1; ; attempt += 1) {
      // a free slot is taken without a wait (and without the promise and turn that await costs)
      const ticket = this.throttle.tryAcquire(callerSignal) ?? (await this.throttle.acquire(callerSignal));
      const deadline = this.#deadline(callerSignal);
      let coded: ClfsError;
      try {
        const result = await request(deadline.signal);
        this.throttle.onSuccess(ticket);
        this.#hostDown = false;
        return result;
      } catch (error) {
        coded = this.#classify(error, operation, subject, callerSignal, deadline.timeout);
        if (coded.code === 'E_TARGET_THROTTLED') this.throttle.onThrottle(ticket);
      } finally {
        this.#release(deadline);
        this.throttle.release(ticket);
      }
      if (coded.unreachable) unreachable += 1;
      if (this.#giveUp(coded, attempt, unreachable)) throw coded;
      await this.#backoff(operation, subject, attempt, coded, callerSignal, unreachable);
    }
  }

  /** unreachable: how many of this request's failures so far were an unreachable host */
  #giveUp(error: ClfsError, attempt: number, unreachable: number): boolean {
    if (!error.retryable || attempt >= this.#maxAttempts) return true;
    if (!error.unreachable) return false;
    if (this.#hostDown || unreachable >= this.#unreachableAttempts) {
      this.#hostDown = true;
      return true;
    }
    return false;
  }

  /**
   * The per-request timeout, shared by all requests started in the same second: one controller,
   * timer and combined signal per second instead of per request (those were 7% of the loader's
   * CPU on small files over HTTP). A request may thus run up to one second past timeoutMs.
   */
  #deadline(callerSignal: AbortSignal | undefined): Deadline {
    const second = Math.floor(Date.now() / 1000);
    let d = this.#current;
    if (d === undefined || d.second !== second || d.callerSignal !== callerSignal || d.timeout.aborted) {
      if (d !== undefined && d.active === 0) clearTimeout(d.timer);
      const controller = new AbortController();
      const timer = setTimeout(
        () => controller.abort(new DOMException('request timed out', 'TimeoutError')),
        this.#timeoutMs + 1000,
      );
      // Our own timer, not AbortSignal.timeout: that one is unref'd and outlives the request.
      const signal = callerSignal === undefined ? controller.signal : AbortSignal.any([callerSignal, controller.signal]);
      // every request of the second listens on this one signal: not a listener leak
      setMaxListeners(0, controller.signal, signal);
      d = { second, callerSignal, timeout: controller.signal, signal, timer, active: 0 };
      this.#current = d;
    }
    d.active += 1;
    if (d.active === 1) d.timer.ref();
    return d;
  }

  #release(d: Deadline): void {
    d.active -= 1;
    if (d.active > 0) return;
    if (d !== this.#current) clearTimeout(d.timer);
    else d.timer.unref(); // an idle bucket must not keep the process alive
  }

  /** The caller's abort is final; our own timeout is a retryable E_TARGET_TIMEOUT. */
  #classify(
    error: unknown,
    operation: string,
    subject: string,
    callerSignal: AbortSignal | undefined,
    timeoutSignal: AbortSignal,
  ): ClfsError {
    if (callerSignal?.aborted) {
      if (isClfsError(error) && error.code === 'E_ABORTED') return error;
      return new ClfsError('E_ABORTED', `${operation} ${subject} on ${this.description} aborted`, { subject, cause: error });
    }
    if (timeoutSignal.aborted) {
      return new ClfsError(
        'E_TARGET_TIMEOUT',
        `${operation} ${subject} on ${this.description} got no answer within ${this.#timeoutMs} ms: retrying`,
        { subject, cause: error, retryable: true },
      );
    }
    if (isClfsError(error)) return error;
    const detail = error instanceof Error ? error.message : String(error);
    return new ClfsError('E_INTERNAL', `${operation} ${subject} on ${this.description} failed: ${detail}`, {
      subject,
      cause: error,
    });
  }

  async #backoff(
    operation: string,
    subject: string,
    attempt: number,
    error: ClfsError,
    signal: AbortSignal | undefined,
    unreachable: number,
  ): Promise<void> {
    let jittered: number;
    if (error.unreachable) {
      // half jitter: the tries must span a few seconds (a service restarting) but not more
      const ceiling = Math.min(this.#maxDelayMs, this.#unreachableDelayMs * 2 ** (unreachable - 1));
      jittered = ceiling * (0.5 + 0.5 * this.#random());
    } else {
      const ceiling = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
      jittered = this.#random() * ceiling;
    }
    const delayMs = Math.max(jittered, (error.retryAfterSeconds ?? 0) * 1000);
    this.#onRetry?.({ operation, subject, attempt, error, delayMs });
    await sleep(delayMs, signal, `${operation} ${subject} on ${this.description}`);
  }
}

/** Resolves after ms, or rejects with E_ABORTED when the signal fires. */
export function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ClfsError('E_ABORTED', `${what} aborted`, { subject: what }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new ClfsError('E_ABORTED', `${what} aborted`, { subject: what }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
