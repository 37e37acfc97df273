import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ClfsError, isClfsError } from '../../src/errors/index.js';
import {
  CountingTarget,
  DryRunTarget,
  FaultTarget,
  FolderTarget,
  LatencyTarget,
  RetryTarget,
  Throttle,
  mulberry32,
  type Target,
} from '../../src/targets/index.js';
import { runTargetConformance } from './conformance.js';

// Every operation fails 30% of the time (half of failed writes after storing); maxAttempts 20 makes
// a request that fails every time (0.3^20) practically impossible, and the seed fixes the sequence.
let faults: FaultTarget | undefined;
runTargetConformance('retry over 30% faults over folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clfs-fault-'));
  faults = new FaultTarget(new FolderTarget(dir), { seed: 42, failureRate: 0.3 });
  const target = new RetryTarget(faults, { maxAttempts: 20, baseDelayMs: 1, maxDelayMs: 10, random: mulberry32(7) });
  return {
    target,
    cleanup: async () => {
      assert.ok(faults!.injected > 1000, `only ${faults!.injected} faults injected`);
      await rm(dir, { recursive: true, force: true });
    },
  };
});

/** A target whose every request runs a script, for retry unit tests. */
function scripted(handler: (call: number, signal: AbortSignal | undefined) => Promise<void>): Target & { calls: number } {
  const state = {
    calls: 0,
    description: 'scripted',
    capabilities: { maxConnections: 8, remote: true },
    features: { putMany: false, checkAccess: false, flush: false },
    async put(_n: string, _d: Uint8Array, o?: { abortSignal?: AbortSignal }) {
      state.calls += 1;
      await handler(state.calls, o?.abortSignal);
    },
    async get(): Promise<Buffer> {
      return Buffer.alloc(0);
    },
    async exists() {
      return false;
    },
    async *list() {},
    async delete() {},
  };
  return state;
}

const transient = () => new ClfsError('E_TARGET_TRANSIENT', 'boom', { retryable: true });

describe('retry target', () => {
  it('retries retryable errors and gives up after maxAttempts', async () => {
    const inner = scripted(async () => {
      throw transient();
    });
    const retry = new RetryTarget(inner, { maxAttempts: 4, baseDelayMs: 1 });
    await assert.rejects(retry.put('a', Buffer.alloc(1)), (e: unknown) => isClfsError(e) && e.code === 'E_TARGET_TRANSIENT');
    assert.equal(inner.calls, 4);
  });

  it('does not retry fatal errors', async () => {
    const inner = scripted(async () => {
      throw new ClfsError('E_TARGET_PERMISSION', 'no');
    });
    const retry = new RetryTarget(inner, { baseDelayMs: 1 });
    await assert.rejects(retry.put('a', Buffer.alloc(1)), (e: unknown) => isClfsError(e) && e.code === 'E_TARGET_PERMISSION');
    assert.equal(inner.calls, 1);
  });

  it('honours Retry-After over a shorter backoff', async () => {
    const inner = scripted(async (call) => {
      if (call === 1) throw new ClfsError('E_TARGET_THROTTLED', 'busy', { retryable: true, retryAfterSeconds: 0.3 });
    });
    const delays: number[] = [];
    const retry = new RetryTarget(inner, { baseDelayMs: 1, onRetry: (info) => delays.push(info.delayMs) });
    const started = Date.now();
    await retry.put('a', Buffer.alloc(1));
    assert.ok(Date.now() - started >= 290);
    assert.deepEqual(delays, [300]);
  });

  it('backoff is full jitter under an exponential ceiling capped at maxDelayMs', async () => {
    const inner = scripted(async () => {
      throw transient();
    });
    const delays: number[] = [];
    const retry = new RetryTarget(inner, {
      maxAttempts: 6,
      baseDelayMs: 2,
      maxDelayMs: 10,
      random: () => 0.999,
      onRetry: (info) => delays.push(Math.round(info.delayMs)),
    });
    await assert.rejects(retry.put('a', Buffer.alloc(1)));
    assert.deepEqual(delays, [2, 4, 8, 10, 10]);
  });

  it('times out a stalled request as retryable E_TARGET_TIMEOUT', async () => {
    const inner = scripted(
      (call, signal) =>
        new Promise<void>((resolve, reject) => {
          if (call > 1) return resolve();
          signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const errors: string[] = [];
    const retry = new RetryTarget(inner, { requestTimeoutMs: 50, baseDelayMs: 1, onRetry: (i) => errors.push(i.error.code) });
    await retry.put('a', Buffer.alloc(1));
    assert.deepEqual(errors, ['E_TARGET_TIMEOUT']);
    assert.equal(inner.calls, 2);
  });

  it("the caller's abort is E_ABORTED and not retried", async () => {
    const inner = scripted(
      (_call, signal) =>
        new Promise<void>((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const retry = new RetryTarget(inner, { baseDelayMs: 1 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(retry.put('a', Buffer.alloc(1), { abortSignal: controller.signal }), (e: unknown) => isClfsError(e) && e.code === 'E_ABORTED');
    assert.equal(inner.calls, 1);
  });

  it('a listing that stalls between names times out and resumes after the last name; a caller holding a name longer than the timeout is not cut off', async () => {
    let calls = 0;
    const stalls: string[] = [];
    const inner: Target = {
      ...scripted(async () => undefined),
      async *list(_prefix: string, options: { abortSignal?: AbortSignal } = {}) {
        calls++;
        for (const name of ['a', 'b', 'c', 'd']) {
          // the first listing stalls before its third name, until the timeout aborts it
          if (calls === 1 && name === 'c') {
            await new Promise<void>((_resolve, reject) => options.abortSignal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
          }
          yield { name, sizeBytes: 1 };
        }
      },
    };
    const retry = new RetryTarget(inner, { requestTimeoutMs: 60, baseDelayMs: 1, onRetry: (i) => stalls.push(i.error.code) });
    const seen: string[] = [];
    const started = Date.now();
    for await (const info of retry.list('')) {
      seen.push(info.name);
      // held three times the timeout: paused, not a stall
      if (info.name === 'a') await new Promise((r) => setTimeout(r, 180));
    }
    assert.deepEqual(seen, ['a', 'b', 'c', 'd']);
    assert.deepEqual(stalls, ['E_TARGET_TIMEOUT']);
    assert.equal(calls, 2);
    assert.ok(Date.now() - started < 5000);
    // a listing left early leaves no timer behind (it would hold the process for the timeout)
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const early = new RetryTarget(inner, { requestTimeoutMs: 60_000 });
    for await (const info of early.list('')) if (info.name === 'a') break;
    assert.equal(timers(), before);
  });

  it('a listing that fails part way resumes after the last name yielded', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clfs-list-'));
    const folder = new FolderTarget(dir);
    const names = Array.from({ length: 3000 }, (_, i) => `n${String(i).padStart(5, '0')}`);
    await folder.putMany(names.map((name) => ({ name, data: Buffer.from(name) })));
    const faulty = new FaultTarget(folder, { failRequests: [1, 2], operations: ['list'], seed: 3 });
    const retry = new RetryTarget(faulty, { baseDelayMs: 1 });
    const seen: string[] = [];
    for await (const info of retry.list('n')) seen.push(info.name);
    assert.deepEqual(seen, names);
    assert.equal(faulty.injected, 2);
    await rm(dir, { recursive: true });
  });
});

describe('throttle (AIMD)', () => {
  it('halves once per generation on throttle and grows back by one per N successes', async () => {
    const throttle = new Throttle({ maxConcurrency: 16, successesPerIncrease: 4 });
    const tickets = await Promise.all(Array.from({ length: 16 }, () => throttle.acquire()));
    for (const t of tickets) throttle.onThrottle(t); // 16 requests report the same overload
    assert.equal(throttle.limit, 8);
    for (const t of tickets) throttle.release(t);
    const t2 = await throttle.acquire();
    throttle.onThrottle(t2);
    throttle.release(t2);
    assert.equal(throttle.limit, 4);
    for (let i = 0; i < 8; i += 1) {
      const t = await throttle.acquire();
      throttle.onSuccess(t);
      throttle.release(t);
    }
    assert.equal(throttle.limit, 6);
  });

  it('gates concurrency: only `limit` requests run at once', async () => {
    const throttle = new Throttle({ maxConcurrency: 3 });
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const t = await throttle.acquire();
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 2));
        running -= 1;
        throttle.release(t);
      }),
    );
    assert.equal(peak, 3);
  });

  it('a throttling service lowers the concurrency of the retry target', async () => {
    let running = 0;
    let peakAfterThrottle = 0;
    let throttled = false;
    const inner = scripted(async (call) => {
      running += 1;
      if (throttled) peakAfterThrottle = Math.max(peakAfterThrottle, running);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
      if (call <= 8) {
        throttled = true;
        throw new ClfsError('E_TARGET_THROTTLED', 'busy', { retryable: true, retryAfterSeconds: 0.01 });
      }
    });
    const retry = new RetryTarget(inner, { baseDelayMs: 1, successesPerIncrease: 1000 });
    await Promise.all(Array.from({ length: 40 }, (_, i) => retry.put(`b${i}`, Buffer.alloc(1))));
    assert.equal(retry.throttle.limit, 4);
    assert.ok(peakAfterThrottle <= 8, `peak ${peakAfterThrottle}`);
  });
});

describe('latency, counting and dry-run wrappers', () => {
  it('counts requests and bytes; dry run stores nothing', async () => {
    const counting = new CountingTarget(new DryRunTarget());
    await counting.put('a', Buffer.alloc(10));
    await counting.putMany!([{ name: 'b', data: Buffer.alloc(5) }, { name: 'c', data: Buffer.alloc(1) }]);
    assert.equal(await counting.exists('a'), false);
    for await (const _ of counting.list('')) assert.fail('dry run lists nothing');
    await assert.rejects(counting.get('a'), (e: unknown) => isClfsError(e) && e.code === 'E_TARGET_NOT_FOUND');
    const c = counting.counts;
    assert.deepEqual([c.put, c.putMany, c.bytesPut, c.exists, c.list, c.get, c.failed], [3, 1, 16, 1, 1, 1, 1]);
  });

  it('latency target delays each request', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clfs-lat-'));
    const target = new LatencyTarget(new FolderTarget(dir), { latencyMs: 30 });
    assert.equal(target.capabilities.remote, true);
    const started = Date.now();
    await target.put('a', Buffer.from('x'));
    await target.get('a');
    assert.ok(Date.now() - started >= 55);
    await rm(dir, { recursive: true });
  });
});
