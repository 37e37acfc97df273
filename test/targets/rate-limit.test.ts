/** The limiter's math with the clock passed in: no test here waits on real time. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeHolds, FolderTarget, parseBwlimit, parseByteRate, parseRequestRate, RateLimiter, RateLimitTarget, rateAt, TokenBucket } from '../../src/targets/index.js';
import type { BlobInfo, Target } from '../../src/targets/index.js';
import { runTargetConformance } from './conformance.js';
import { isClfsError } from '../../src/errors/index.js';

test('token bucket: starts with its burst, admits while out of debt, then the wait is the debt over the rate', () => {
  const b = new TokenBucket(100, 0, 10);
  assert.equal(b.take(10, 0), 0);
  assert.equal(b.tokens(0), 0);
  assert.equal(b.take(10, 0), 0, 'no debt yet: admitted, and the bucket goes 10 into debt');
  assert.equal(b.tokens(0), -10);
  assert.equal(b.take(1, 0), 100, '10 tokens at 100/s: 100 ms');
  assert.equal(b.take(1, 50), 50);
  assert.equal(b.take(1, 100), 0);
  assert.equal(b.tokens(100), -1);
});

test('token bucket: a request far above the burst passes and the ones after it pay for it', () => {
  const b = new TokenBucket(1024 * 1024, 0); // 1 MiB/s, burst 0.1 s
  assert.equal(b.take(8 * 1024 * 1024, 0), 0);
  const wait = b.take(1, 0);
  assert.ok(Math.abs(wait - 7900) <= 1, `8 MiB less the 0.1 s burst at 1 MiB/s is 7.9 s (got ${wait} ms)`);
  assert.equal(b.take(1, 7900), 0);
});

test('token bucket: idle time saves up no more than the burst; a new rate applies from then on', () => {
  const b = new TokenBucket(1000, 0, 100);
  assert.equal(b.tokens(60_000), 100);
  b.take(1100, 60_000);
  assert.equal(b.tokens(60_000), -1000);
  b.setRate(2000, 60_000);
  assert.equal(b.take(1, 60_000), 500, '1000 of debt at the new 2000/s');
  assert.equal(b.tokens(60_500), 0);
  assert.throws(() => new TokenBucket(0, 0));
});

test('the long-run rate is the limit whatever the request sizes', () => {
  // a simulated clock: each request goes as soon as the bucket admits it
  const rate = 50 * 1024 * 1024;
  const b = new TokenBucket(rate, 0);
  let now = 0;
  let sent = 0;
  const sizes = [8 * 1024 * 1024, 1, 16384, 300_000, 4 * 1024 * 1024];
  for (let i = 0; i < 2000; i++) {
    const size = sizes[i % sizes.length]!;
    for (;;) {
      const w = b.take(size, now);
      if (w === 0) break;
      now += w;
    }
    sent += size;
  }
  const achieved = sent / (now / 1000);
  assert.ok(Math.abs(achieved - rate) / rate < 0.01, `achieved ${achieved} B/s for a limit of ${rate}`);
});

test('rates: binary suffixes, off and 0 mean no limit, bad text is a usage error naming the option', () => {
  assert.equal(parseByteRate('100'), 100);
  assert.equal(parseByteRate('512K'), 512 * 1024);
  assert.equal(parseByteRate('50M'), 50 * 1024 ** 2);
  assert.equal(parseByteRate('1.5g'), 1.5 * 1024 ** 3);
  assert.equal(parseByteRate('10MiB'), 10 * 1024 ** 2);
  assert.equal(parseByteRate('off'), undefined);
  assert.equal(parseByteRate('0'), undefined);
  for (const bad of ['', 'fast', '5X', '-1M', '0.5']) {
    assert.throws(() => parseByteRate(bad), (e: unknown) => isClfsError(e) && e.code === 'E_USAGE' && e.message.startsWith('--bwlimit'), bad);
  }
  assert.equal(parseRequestRate('100'), 100);
  assert.equal(parseRequestRate('0.5'), 0.5);
  assert.equal(parseRequestRate('off'), undefined);
  assert.throws(() => parseRequestRate('10/s'), (e: unknown) => isClfsError(e) && e.message.startsWith('--max-requests'));
});

test("timetable: each rate holds from its time to the next entry's, the last one's past midnight", () => {
  const s = parseBwlimit('19:00,off 08:00,50M 12:30,10M');
  assert.deepEqual(s, [
    { minute: 480, rate: 50 * 1024 ** 2 },
    { minute: 750, rate: 10 * 1024 ** 2 },
    { minute: 1140, rate: undefined },
  ]);
  const at = (h: number, m: number) => rateAt(s, new Date(2026, 0, 1, h, m));
  assert.equal(at(7, 59), undefined, 'before the first entry: the last one, from the day before');
  assert.equal(at(8, 0), 50 * 1024 ** 2);
  assert.equal(at(12, 29), 50 * 1024 ** 2);
  assert.equal(at(12, 30), 10 * 1024 ** 2);
  assert.equal(at(23, 59), undefined);
  assert.deepEqual(parseBwlimit('20M'), [{ minute: 0, rate: 20 * 1024 ** 2 }]);
  for (const bad of ['8,50M', '25:00,1M', '08:00,1M 08:00,2M', 'Mon-08:00,1M', '08:00,fast']) {
    assert.throws(() => parseBwlimit(bad), (e: unknown) => isClfsError(e) && e.code === 'E_USAGE' && e.message.includes('--bwlimit'), bad);
  }
});

test('limiter: requests pass in order, wait on a simulated clock, and the hold is reported', async () => {
  let now = 0;
  const limiter = new RateLimiter({ requests: 10, now: () => now });
  // burst 1 at 10/s: the first passes, the second goes into debt, the third waits 100 ms
  await limiter.requests(1);
  await limiter.requests(1);
  assert.deepEqual(limiter.holding(), []);
  const order: number[] = [];
  const third = limiter.requests(1).then(() => order.push(3));
  const fourth = limiter.requests(1).then(() => order.push(4));
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(order, [], 'still waiting: the simulated clock has not moved');
  assert.equal(describeHolds(limiter.holding()), 'held back by --max-requests 10/s');
  now = 5000;
  assert.equal(describeHolds(limiter.holding()), 'held back by --max-requests 10/s', 'still held while a request waits, however long ago it started');
  now = 100;
  await third;
  now = 200;
  await fourth;
  assert.deepEqual(order, [3, 4]);
  assert.equal(limiter.stats.maxRequests.held, 2);
  now = 10_000;
  assert.deepEqual(limiter.holding(), [], 'nothing waited in the last 2 s');
});

test('limiter: a waiter whose signal aborts leaves the queue with the reason; an unlimited limiter never waits', async () => {
  let now = 0;
  const limiter = new RateLimiter({ bytes: parseBwlimit('1K'), now: () => now });
  await limiter.bytes(4096);
  const ac = new AbortController();
  const waiting = limiter.bytes(10, ac.signal);
  ac.abort(new Error('stop'));
  await assert.rejects(waiting, (e: unknown) => isClfsError(e) && e.code === 'E_ABORTED');
  const off = new RateLimiter({ bytes: parseBwlimit('off') });
  assert.equal(off.limited, false);
  await off.bytes(1e12);
  await off.requests(1e6);
  now = 1;
});

/** A limiter that records what it is asked for and never waits. */
class Recording extends RateLimiter {
  readonly asked: string[] = [];
  constructor() {
    super({ requests: 1e9, bytes: parseBwlimit('1T') });
  }
  override requests(count: number): Promise<void> {
    this.asked.push(`requests ${count}`);
    return Promise.resolve();
  }
  override bytes(bytes: number): Promise<void> {
    this.asked.push(`bytes ${bytes}`);
    return Promise.resolve();
  }
}

test('what each request charges: a request per call, per putMany item and per listing page; bytes of puts before, of gets after', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clfs-rate-'));
  try {
    const limiter = new Recording();
    const target: Target = new RateLimitTarget(new FolderTarget(dir), limiter);
    await target.put('a', Buffer.alloc(100));
    await target.putMany!([{ name: 'b', data: Buffer.alloc(10) }, { name: 'c', data: Buffer.alloc(20) }, { name: 'd', data: Buffer.alloc(30) }]);
    assert.equal((await target.get('a')).length, 100);
    await target.exists('a');
    await target.delete('d');
    await target.flush!();
    assert.deepEqual(limiter.asked, ['requests 1', 'bytes 100', 'requests 3', 'bytes 60', 'requests 1', 'bytes 100', 'requests 1', 'requests 1']);
    // a listing of 12,000 names is three pages
    const many: Target = new RateLimitTarget(
      {
        ...target,
        description: 'names',
        features: { putMany: false, checkAccess: false, flush: false },
        async *list(): AsyncIterable<BlobInfo> {
          for (let i = 0; i < 12_000; i++) yield { name: `n${i}`, sizeBytes: 0 };
        },
      } as Target,
      limiter,
    );
    limiter.asked.length = 0;
    let n = 0;
    for await (const _ of many.list('')) n++;
    assert.equal(n, 12_000);
    assert.deepEqual(limiter.asked, ['requests 1', 'requests 1', 'requests 1']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

runTargetConformance('folder through the rate limiter', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clfs-rate-'));
  const target = new RateLimitTarget(new FolderTarget(dir), new RateLimiter({ bytes: parseBwlimit('1G'), requests: 100_000 }));
  return { target, cleanup: () => rm(dir, { recursive: true, force: true }) };
});
