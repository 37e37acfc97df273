import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyncGate, TaskPool } from '../../src/copy/pool.js';

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
