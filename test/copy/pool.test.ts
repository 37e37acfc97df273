import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskPool } from '../../src/copy/pool.js';

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
