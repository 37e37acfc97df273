/**
 * Rate limits for a whole process (`--bwlimit`, `--max-requests`): token buckets the target
 * wrapper (rate-limit-target.ts) passes every request through. Every byte a load or a copy
 * stores goes through Target calls on the main thread (the encode workers hand their blobs back;
 * the folder target's writer thread receives them from putMany), so one limiter wrapped around
 * the target holds the limit for every worker and thread.
 *
 * The buckets admit a request while they hold no debt and then take its whole cost, so a
 * request larger than the burst (an 8 MiB segment at 1 MiB/s) passes and the ones after it wait
 * until the debt is paid: the long-run rate is the limit, whatever the sizes.
 */
import { ClfsError, isClfsError } from '../errors/index.js';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A rate limit over the day: `rate` from `minute` (after local midnight) until the next entry; undefined = no limit. */
export interface RateEntry {
  minute: number;
  rate: number | undefined;
}

export type RateSchedule = readonly RateEntry[];

function usage(option: string, text: string, why: string): ClfsError {
  return new ClfsError('E_USAGE', `${option} '${text}': ${why}`, { subject: option });
}

/** Bytes per second from `50M`, `1.5G`, `512K`, `100000` (binary units: 1K = 1024); undefined for `off` or `0`. */
export function parseByteRate(text: string, option = '--bwlimit'): number | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'off' || t === '0') return undefined;
  const m = /^(\d+(?:\.\d+)?)([bkmgt]?)(?:i?b)?(?:\/s)?$/.exec(t);
  if (m === null) throw usage(option, text, "not a rate: give bytes per second with an optional K, M, G or T suffix (1K = 1024), such as 50M, or 'off'");
  const rate = Number(m[1]) * UNITS[m[2]!]!;
  if (!(rate >= 1)) throw usage(option, text, 'a rate must be at least 1 byte per second');
  return rate;
}

/**
 * `--bwlimit`: one rate (`50M`), or rclone's timetable of `HH:MM,RATE` entries separated by
 * spaces (`"08:00,50M 19:00,off"`): each rate holds from its time until the next entry's, and
 * the last one's holds past midnight until the first one's.
 */
export function parseBwlimit(text: string, option = '--bwlimit'): RateSchedule {
  const parts = text.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) throw usage(option, text, "give a rate such as 50M, 'off', or a timetable such as '08:00,50M 19:00,off'");
  if (parts.length === 1 && !parts[0]!.includes(',')) return [{ minute: 0, rate: parseByteRate(parts[0]!, option) }];
  const entries: RateEntry[] = [];
  for (const p of parts) {
    const m = /^(\d{1,2}):(\d{2}),(.+)$/.exec(p);
    if (m === null || Number(m[1]) > 23 || Number(m[2]) > 59) {
      throw usage(option, text, `timetable entry '${p}' is not HH:MM,RATE (24-hour local time, such as 08:00,50M)`);
    }
    const minute = Number(m[1]) * 60 + Number(m[2]);
    if (entries.some((e) => e.minute === minute)) throw usage(option, text, `${m[1]}:${m[2]} is given twice`);
    entries.push({ minute, rate: parseByteRate(m[3]!, option) });
  }
  return entries.sort((a, b) => a.minute - b.minute);
}

/** Requests per second from `--max-requests` (`100`, `0.5`); undefined for `off` or `0`. */
export function parseRequestRate(text: string, option = '--max-requests'): number | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'off' || t === '0') return undefined;
  if (!/^\d+(\.\d+)?$/.test(t) || !(Number(t) > 0)) throw usage(option, text, "give requests per second, such as 100 or 0.5, or 'off'");
  return Number(t);
}

/** The rate a schedule sets at `date` (local time). */
export function rateAt(schedule: RateSchedule, date: Date): number | undefined {
  if (schedule.length === 0) return undefined;
  const minute = date.getHours() * 60 + date.getMinutes();
  let current = schedule[schedule.length - 1]!;
  for (const e of schedule) if (e.minute <= minute) current = e;
  return current.rate;
}

/** `50.0 MiB/s`, `120 requests/s`: for messages and the progress line. */
export function formatByteRate(rate: number): string {
  if (rate >= 1024 ** 3) return `${(rate / 1024 ** 3).toFixed(1)} GiB/s`;
  if (rate >= 1024 ** 2) return `${(rate / 1024 ** 2).toFixed(1)} MiB/s`;
  if (rate >= 1024) return `${(rate / 1024).toFixed(1)} KiB/s`;
  return `${rate.toFixed(0)} B/s`;
}

/** How much a bucket may save up while idle, in seconds of its rate. */
export const BURST_SECONDS = 0.1;

/**
 * Token bucket math, with time passed in (milliseconds) so it is tested without a clock. Tokens
 * accrue at `rate` per second up to `burst`; `take` admits a request while the bucket holds no
 * debt and takes its whole cost (the bucket may go below zero).
 */
export class TokenBucket {
  #rate: number;
  #burst: number;
  #tokens: number;
  #last: number;

  constructor(rate: number, now: number, burst = Math.max(1, rate * BURST_SECONDS)) {
    if (!(rate > 0)) throw new ClfsError('E_INTERNAL', `token bucket rate ${rate} must be positive`);
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = now;
  }

  get rate(): number {
    return this.#rate;
  }

  /** tokens now (negative: debt) */
  tokens(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  /** A new rate from `now` on: what accrued until now accrued at the old one; the burst follows the rate. */
  setRate(rate: number, now: number): void {
    if (rate === this.#rate) return;
    this.#refill(now);
    this.#rate = rate;
    this.#burst = Math.max(1, rate * BURST_SECONDS);
    this.#tokens = Math.min(this.#tokens, this.#burst);
  }

  /** 0 when the request of `cost` is admitted (and its cost taken); otherwise the milliseconds until it may be. */
  take(cost: number, now: number): number {
    this.#refill(now);
    if (this.#tokens >= 0) {
      this.#tokens -= cost;
      return 0;
    }
    return Math.max(1, Math.ceil((-this.#tokens / this.#rate) * 1000));
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#last);
    this.#last = Math.max(this.#last, now);
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed / 1000) * this.#rate);
  }
}

interface Waiter {
  cost: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** Longest sleep before a rate is looked at again: a timetable change applies within it. */
const RECHECK_MS = 1000;

/** A bucket with a queue: requests pass in the order they came, the rate read from `rateNow` at each step. */
class Gate {
  #bucket: TokenBucket | undefined;
  #queue: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** when a request last had to wait (ms, `now()`'s clock) */
  lastHeldAt = -Infinity;
  /** requests that had to wait, and the total they waited (ms) */
  held = 0;
  heldMs = 0;

  constructor(
    readonly name: string,
    private readonly rateNow: () => number | undefined,
    private readonly now: () => number,
  ) {}

  /** a request is waiting now */
  get waiting(): boolean {
    return this.#queue.length > 0;
  }

  /** the rate in force (undefined: none) */
  get rate(): number | undefined {
    return this.#current();
  }

  #current(): number | undefined {
    const rate = this.rateNow();
    const now = this.now();
    if (rate === undefined) this.#bucket = undefined;
    else if (this.#bucket === undefined) this.#bucket = new TokenBucket(rate, now);
    else this.#bucket.setRate(rate, now);
    return rate;
  }

  acquire(cost: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#queue.length === 0) {
      if (this.#current() === undefined || this.#bucket!.take(cost, this.now()) === 0) return Promise.resolve();
    }
    const started = this.now();
    this.held += 1;
    this.lastHeldAt = started;
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        cost,
        resolve: () => {
          this.heldMs += this.now() - started;
          this.lastHeldAt = this.now();
          resolve();
        },
        reject,
        signal,
      };
      if (signal !== undefined) {
        w.onAbort = () => {
          const i = this.#queue.indexOf(w);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(abortError(signal));
          if (i === 0) this.#schedule(0);
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.#queue.push(w);
      if (this.#queue.length === 1) this.#pump();
    });
  }

  #schedule(ms: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pump();
    }, ms);
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const wait = this.#current() === undefined ? 0 : this.#bucket!.take(head.cost, this.now());
      if (wait > 0) {
        this.#schedule(Math.min(wait, RECHECK_MS));
        return;
      }
      this.#queue.shift();
      if (head.onAbort !== undefined) head.signal!.removeEventListener('abort', head.onAbort);
      head.resolve();
    }
  }
}

/** Target.ts's contract: an aborted request is E_ABORTED (a ClfsError reason, such as the run's fatal error, passes as it is). */
function abortError(signal: AbortSignal): unknown {
  return isClfsError(signal.reason) ? signal.reason : new ClfsError('E_ABORTED', 'request aborted while waiting for the rate limit', { cause: signal.reason });
}

export interface RateLimiterOptions {
  /** `--bwlimit`: bytes per second sent and received (a one-entry schedule for a plain rate) */
  bytes?: RateSchedule;
  /** `--max-requests`: requests per second */
  requests?: number;
  /** milliseconds, monotonic (tests pass their own) */
  now?: () => number;
  /** the wall clock the schedule is read against */
  date?: () => Date;
}

/** What holds a run back at the moment, for the progress line. */
export interface LimitHold {
  option: '--bwlimit' | '--max-requests';
  rate: number;
}

/** The process's limits: one instance shared by every target wrapper of a run (and of a copy's both ends). */
export class RateLimiter {
  readonly #bytes: Gate | undefined;
  readonly #requests: Gate | undefined;
  readonly #now: () => number;

  constructor(options: RateLimiterOptions) {
    const now = options.now ?? (() => performance.now());
    const date = options.date ?? (() => new Date());
    this.#now = now;
    const schedule = options.bytes;
    this.#bytes = schedule !== undefined && schedule.some((e) => e.rate !== undefined) ? new Gate('--bwlimit', () => rateAt(schedule, date()), now) : undefined;
    const requests = options.requests;
    this.#requests = requests !== undefined ? new Gate('--max-requests', () => requests, now) : undefined;
  }

  get limited(): boolean {
    return this.#bytes !== undefined || this.#requests !== undefined;
  }

  /** Wait for `count` requests' turn. */
  requests(count: number, signal?: AbortSignal): Promise<void> {
    return this.#requests === undefined || count <= 0 ? Promise.resolve() : this.#requests.acquire(count, signal);
  }

  /** Wait for `bytes` bytes' turn. */
  bytes(bytes: number, signal?: AbortSignal): Promise<void> {
    return this.#bytes === undefined || bytes <= 0 ? Promise.resolve() : this.#bytes.acquire(bytes, signal);
  }

  /** The limits a request is waiting for, or made one wait within the last `windowMs`. */
  holding(windowMs = 2000): LimitHold[] {
    const out: LimitHold[] = [];
    const now = this.#now();
    for (const g of [this.#bytes, this.#requests]) {
      const rate = g?.rate;
      if (g !== undefined && rate !== undefined && (g.waiting || now - g.lastHeldAt <= windowMs)) out.push({ option: g.name as LimitHold['option'], rate });
    }
    return out;
  }

  /** Requests that waited and how long in all (ms), per limit. */
  get stats(): { bwlimit: { held: number; heldMs: number }; maxRequests: { held: number; heldMs: number } } {
    const of = (g: Gate | undefined) => ({ held: g?.held ?? 0, heldMs: g?.heldMs ?? 0 });
    return { bwlimit: of(this.#bytes), maxRequests: of(this.#requests) };
  }
}

/** `held back by --bwlimit 50.0 MiB/s`, or undefined when no limit is holding the run back. */
export function describeHolds(holds: readonly LimitHold[]): string | undefined {
  if (holds.length === 0) return undefined;
  return `held back by ${holds.map((h) => (h.option === '--bwlimit' ? `--bwlimit ${formatByteRate(h.rate)}` : `--max-requests ${h.rate}/s`)).join(' and ')}`;
}
