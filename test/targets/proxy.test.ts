import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isClfsError } from '../../src/errors/index.js';
import { RetryTarget, openTarget, type Target } from '../../src/targets/index.js';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { runTargetConformance } from './conformance.js';

let azurite: RunningAzurite | undefined;
let proxy: FaultProxy | undefined;
async function setup(): Promise<{ az: RunningAzurite; proxy: FaultProxy }> {
  azurite ??= await startAzurite();
  proxy ??= await startFaultProxy(azurite.endpoint);
  return { az: azurite, proxy };
}
after(async () => {
  await proxy?.close();
  await azurite?.stop();
});

// 5% of requests misbehave (503 ServerBusy + Retry-After: 1, dropped connection, 200 ms delay, 500).
runTargetConformance(
  'retry over azure through a faulty proxy',
  async () => {
    const { az, proxy } = await setup();
    proxy.setFaults({ mode: 'mixed', fraction: 0.05, seed: 11 });
    const { url } = await az.makeContainer();
    const target = new RetryTarget(openTarget(proxy.via(url), { azure: { listPageSize: 100 } }), {
      maxAttempts: 12,
      baseDelayMs: 20,
      maxDelayMs: 500,
      successesPerIncrease: 4,
    });
    return {
      target,
      cleanup: async () => {
        const { faults } = proxy.stats;
        assert.ok(faults.busy > 0 && faults.drop > 0 && faults.delay > 0 && faults.error500 > 0, JSON.stringify(proxy.stats));
        proxy.setFaults({ mode: 'pass' });
      },
    };
  },
  { manyCount: 600, concurrency: 32 },
);

describe('azure target error codes through the proxy', () => {
  let direct: Target;
  let p: FaultProxy;
  before(async () => {
    const s = await setup();
    p = s.proxy;
    const { url } = await s.az.makeContainer();
    direct = openTarget(p.via(url));
  });
  after(() => p.setFaults({ mode: 'pass' }));

  it('503 ServerBusy is E_TARGET_THROTTLED with Retry-After', async () => {
    p.setFaults({ mode: 'busy', retryAfterSeconds: 3 });
    await assert.rejects(direct.put('a', Buffer.from('x')), (e: unknown) => {
      assert.ok(isClfsError(e));
      assert.equal(e.code, 'E_TARGET_THROTTLED');
      assert.equal(e.retryAfterSeconds, 3);
      assert.equal(e.retryable, true);
      return true;
    });
  });

  it('500 is E_TARGET_TRANSIENT; a dropped connection is E_TARGET_TRANSIENT', async () => {
    p.setFaults({ mode: 'error500' });
    await assert.rejects(direct.get('a'), (e: unknown) => isClfsError(e) && e.code === 'E_TARGET_TRANSIENT' && e.retryable);
    p.setFaults({ mode: 'drop' });
    await assert.rejects(direct.put('a', Buffer.alloc(100_000)), (e: unknown) => isClfsError(e) && e.code === 'E_TARGET_TRANSIENT' && e.retryable);
  });

  it('a stalled answer times out and the retry succeeds', async () => {
    p.setFaults({ mode: 'delay', nth: 2, delayMs: 1500 });
    const codes: string[] = [];
    const retry = new RetryTarget(direct, { requestTimeoutMs: 500, baseDelayMs: 1, onRetry: (i) => codes.push(i.error.code) });
    await retry.put('slow', Buffer.from('x'));
    assert.equal(codes.filter((c) => c === 'E_TARGET_TIMEOUT').length, 1);
    p.setFaults({ mode: 'pass' });
    assert.equal((await direct.get('slow')).toString(), 'x');
  });

  it('throttling lowers the retry target concurrency', async () => {
    p.setFaults({ mode: 'busy', nth: 5, retryAfterSeconds: 0 });
    const retry = new RetryTarget(direct, { baseDelayMs: 1, successesPerIncrease: 1000 });
    const ceiling = retry.throttle.maxConcurrency;
    await Promise.all(Array.from({ length: 100 }, (_, i) => retry.put(`t${i}`, Buffer.from('x'))));
    // at least one 503 arrived, so the limit was halved at least once from the target's ceiling
    // (which is the target's default connection count, not a constant of this test)
    assert.ok(retry.throttle.limit <= ceiling / 2, `limit ${retry.throttle.limit} of ${ceiling}`);
  });
});
