import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveLimit, SyncGate, TaskPool } from '../../src/copy/pool.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('TaskPool: at most `limit` in flight, at most `perGroup` of one group, every task run once', async () => {
  const running = new Map<string, number>();
  let total = 0;
  let maxTotal = 0;
  const maxGroup = new Map<string, number>();
  const ran: number[] = [];
  const pool = new TaskPool<{ g: string; i: number }>(
    async (t) => {
      total += 1;
      running.set(t.g, (running.get(t.g) ?? 0) + 1);
      maxTotal = Math.max(maxTotal, total);
      maxGroup.set(t.g, Math.max(maxGroup.get(t.g) ?? 0, running.get(t.g)!));
      await tick(2);
      ran.push(t.i);
      running.set(t.g, running.get(t.g)! - 1);
      total -= 1;
    },
    10,
    (err) => assert.fail(String(err)),
    (t) => t.g,
    3,
  );
  for (let i = 0; i < 200; i++) pool.push({ g: `g${i % 5}`, i });
  await pool.drained();
  assert.equal(maxTotal, 10, 'the limit is reached, not passed');
  for (const [g, m] of maxGroup) assert.ok(m <= 3, `${g}: ${m} at once`);
  assert.deepEqual([...ran].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i));
});

test('TaskPool: one group alone runs perGroup at once even under a larger limit; tasks pushed by tasks run; stop drops the queue', async () => {
  let max = 0;
  let now = 0;
  const pool = new TaskPool<number>(
    async (n) => {
      now += 1;
      max = Math.max(max, now);
      await tick(1);
      if (n < 50) pool.push(n + 100);
      now -= 1;
    },
    32,
    () => undefined,
    () => 'one',
    4,
  );
  for (let i = 0; i < 50; i++) pool.push(i);
  await pool.drained();
  assert.equal(max, 4);
  assert.equal(pool.completed, 100);
  let ran = 0;
  const stopped = new TaskPool<number>(async () => {
    ran += 1;
    await tick(5);
  }, 2, () => undefined);
  for (let i = 0; i < 20; i++) stopped.push(i);
  stopped.stop();
  await stopped.drained();
  assert.equal(ran, 2, 'only those in flight finish');
});

test('SyncGate: synchronous while most calls are cheap; a blocking call, a slow first call after a pause or a window mostly slow pauses it; the pause doubles while the source stays slow and resets after a good window', () => {
  let now = 0;
  const gate = new SyncGate(40, 4, 100, 400, () => now, 1000);
  assert.equal(gate.sync, true);
  // a preempted call now and then does not move it
  for (let i = 0; i < 20; i++) gate.learn(i % 4 === 0 ? 500 : 5);
  assert.equal(gate.sync, true);
  // most of a window slow: the pool for the pause
  gate.learn(100);
  gate.learn(100);
  gate.learn(100);
  assert.equal(gate.sync, false);
  now += 99;
  assert.equal(gate.sync, false);
  now += 1;
  assert.equal(gate.sync, true);
  // the first call after the pause slow too: twice as long
  gate.learn(100);
  assert.equal(gate.sync, false);
  now += 199;
  assert.equal(gate.sync, false);
  now += 1;
  assert.equal(gate.sync, true);
  gate.learn(100);
  now += 400;
  assert.equal(gate.sync, true, 'the pause stops at maxPauseMs');
  // a good first call and a good window: the next pause is the shortest again, even for one blocking call
  for (let i = 0; i < 4; i++) gate.learn(5);
  gate.learn(5000);
  assert.equal(gate.sync, false);
  now += 100;
  assert.equal(gate.sync, true);
  // a good first call alone is not a good window: a blocking call soon after doubles the pause
  gate.learn(5);
  gate.learn(5000);
  now += 100;
  assert.equal(gate.sync, false);
  now += 100;
  assert.equal(gate.sync, true);
  // time(): runs the call, learns its duration less what its size allows
  const g2 = new SyncGate(40, 2, 100, 100, () => now);
  assert.equal(g2.time(() => ((now += 0.5), 7), 470), 7, 'the value of the call');
  assert.equal(g2.sync, true, '500 µs, 470 of them allowed');
  g2.time(() => (now += 0.5));
  assert.equal(g2.sync, true, 'one slow call of a window of two is not most of it');
  g2.time(() => (now += 0.5));
  g2.time(() => (now += 0.5));
  assert.equal(g2.sync, false);
  assert.throws(() => new SyncGate(40, 2, 100, 100, () => now).time(() => { throw new Error('x'); }), /x/);
});

/** A pool whose work per window is `curve(limit)` times a factor the test gives (the machine's noise). */
function adaptiveRun(curve: (limit: number) => number, noise: number[], start = 16, max = 64): number[] {
  const pool = {
    currentLimit: start,
    setLimit(n: number) {
      this.currentLimit = n;
    },
  };
  const a = new AdaptiveLimit(pool, () => 0, 4, max, 0);
  const seen: number[] = [];
  for (const f of noise) {
    a.step(curve(pool.currentLimit) * f);
    seen.push(pool.currentLimit);
  }
  a.stop();
  return seen;
}

test('AdaptiveLimit climbs to the limit that does best and stays there through noise of ±10% a window', () => {
  // a copy that is latency bound up to 48 in flight, then flat (CPU bound)
  const curve = (n: number) => Math.min(n, 48) * 50;
  const noise = [1, 1.1, 0.9, 1.08, 0.9, 0.92, 1.1, 0.9, 1.05, 0.91, 1.1, 0.9, 0.95, 1.1, 0.9, 0.9, 1.1, 0.9, 1.02, 0.9];
  const seen = adaptiveRun(curve, noise);
  assert.deepEqual(seen.slice(0, 2), [32, 64], 'doubles while it pays');
  assert.ok(seen.slice(2).every((n) => n === 64), `stays at the top: ${seen.join(' ')}`);
});

test('AdaptiveLimit goes back to the best limit when more in flight does clearly worse, and probes up again later', () => {
  // past 32 in flight the mount slows down (contention): 64 runs at 60% of 32
  const curve = (n: number) => (n <= 32 ? n * 100 : 3200 * 0.6);
  const seen = adaptiveRun(curve, Array(40).fill(1));
  assert.deepEqual(seen.slice(0, 3), [32, 64, 32], 'up, up, and back to the best');
  const probes = seen.filter((n) => n > 32).length;
  assert.ok(probes >= 2 && probes <= 5, `a few probes up, with longer holds between them: ${seen.join(' ')}`);
  assert.equal(seen[seen.length - 1], 32);
  assert.ok(Math.min(...seen) >= 32, 'never below the best');
});
