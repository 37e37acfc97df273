/**
 * A concurrency gate whose limit adapts to the service (AIMD): halve the allowed requests in
 * flight when the service throttles, add one back after every `successesPerIncrease` successes.
 * Shared by every request through one RetryTarget, so a 503 ServerBusy slows the whole queue
 * instead of each request retrying into the same wall.
 */
import { ClfsError } from '../errors/index.js';

export interface ThrottleOptions {
  /** the ceiling, usually target.capabilities.maxConnections */
  maxConcurrency: number;
  /** default 1 */
  minConcurrency?: number;
  /** default 16 */
  successesPerIncrease?: number;
}

/** What acquire() returns: pass it back to release/onSuccess/onThrottle. */
export interface ThrottleTicket {
  /** the limit's generation when the request started */
  readonly epoch: number;
}

export class Throttle {
  readonly maxConcurrency: number;
  readonly minConcurrency: number;
  readonly successesPerIncrease: number;
  #limit: number;
  #inFlight = 0;
  #successes = 0;
  #epoch = 0;
  #waiters: Array<() => void> = [];

  constructor(options: ThrottleOptions) {
    this.maxConcurrency = Math.max(1, Math.floor(options.maxConcurrency));
    this.minConcurrency = Math.max(1, Math.min(this.maxConcurrency, options.minConcurrency ?? 1));
    this.successesPerIncrease = Math.max(1, options.successesPerIncrease ?? 16);
    this.#limit = this.maxConcurrency;
  }

  /** requests currently allowed in flight */
  get limit(): number {
    return this.#limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** A slot now, or undefined when none is free (or the signal fired): then acquire() waits for one. */
  tryAcquire(abortSignal?: AbortSignal): ThrottleTicket | undefined {
    if (this.#inFlight >= this.#limit || abortSignal?.aborted) return undefined;
    this.#inFlight += 1;
    return { epoch: this.#epoch };
  }

  async acquire(abortSignal?: AbortSignal): Promise<ThrottleTicket> {
    while (this.#inFlight >= this.#limit) {
      if (abortSignal?.aborted) throw new ClfsError('E_ABORTED', 'request aborted while waiting for a connection slot');
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          abortSignal?.removeEventListener('abort', wake);
          const index = this.#waiters.indexOf(wake);
          if (index >= 0) this.#waiters.splice(index, 1);
          resolve();
        };
        this.#waiters.push(wake);
        abortSignal?.addEventListener('abort', wake, { once: true });
      });
    }
    if (abortSignal?.aborted) throw new ClfsError('E_ABORTED', 'request aborted while waiting for a connection slot');
    this.#inFlight += 1;
    return { epoch: this.#epoch };
  }

  release(_ticket: ThrottleTicket): void {
    this.#inFlight -= 1;
    this.#wake();
  }

  onSuccess(_ticket: ThrottleTicket): void {
    if (this.#limit >= this.maxConcurrency) return;
    this.#successes += 1;
    if (this.#successes >= this.successesPerIncrease) {
      this.#successes = 0;
      this.#limit += 1;
      this.#wake();
    }
  }

  /**
   * Halve once per generation: the requests that were already in flight when the limit dropped
   * report the same overload, and must not halve it again.
   */
  onThrottle(ticket: ThrottleTicket): void {
    if (ticket.epoch !== this.#epoch) return;
    this.#epoch += 1;
    this.#successes = 0;
    this.#limit = Math.max(this.minConcurrency, Math.floor(this.#limit / 2));
  }

  #wake(): void {
    let free = this.#limit - this.#inFlight;
    while (free > 0 && this.#waiters.length > 0) {
      this.#waiters.shift()!();
      free -= 1;
    }
  }
}
