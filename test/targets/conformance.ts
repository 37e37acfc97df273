/**
 * One suite every target must pass (rclone's fstests, restic's backend test suite). A target's
 * test file is one call with a factory; a skipped test is named with its reason. Each test works
 * under its own name prefix, so tests do not see each other's blobs.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isClfsError } from '../../src/errors/index.js';
import { OPTIONAL_METHODS } from '../../src/targets/index.js';
import type { PutManyItem, PutOptions, Target } from '../../src/targets/index.js';

export interface ConformanceFactoryResult {
  target: Target;
  cleanup: () => Promise<void>;
}

export interface ConformanceOptions {
  /** test name -> why it is skipped for this target */
  skip?: Record<string, string>;
  /** names for the many-blobs list test; default 5100 (more than one 5000-name page) */
  manyCount?: number;
  /** puts in flight while filling; default the target's maxConnections */
  concurrency?: number;
}

export const CONFORMANCE_TESTS = [
  'put and get',
  'empty blob',
  '8 MiB blob',
  'get a range',
  'overwrite',
  'exists',
  'get missing is E_TARGET_NOT_FOUND',
  'delete, and delete missing',
  'list with prefix, sorted, with sizes',
  'list many blobs, more than one page',
  'names with dots, underscores and hex',
  'a batch: putMany when declared, else puts',
  'an aborted signal stores nothing',
  'declared features match the methods',
] as const;

export type ConformanceTestName = (typeof CONFORMANCE_TESTS)[number];

function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i += 1) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

async function collect(iterable: AsyncIterable<{ name: string; sizeBytes: number }>) {
  const out: Array<{ name: string; sizeBytes: number }> = [];
  for await (const info of iterable) out.push(info);
  return out;
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  });
  await Promise.all(workers);
}

export function runTargetConformance(
  name: string,
  factory: () => Promise<ConformanceFactoryResult>,
  options: ConformanceOptions = {},
): void {
  describe(`target conformance: ${name}`, () => {
    let target: Target;
    let cleanup: (() => Promise<void>) | undefined;
    const run = `t${randomBytes(3).toString('hex')}`;
    const prefix = (test: string): string => `${run}.${test}.`;

    before(async () => {
      const made = await factory();
      target = made.target;
      cleanup = made.cleanup;
    });
    after(async () => {
      await target?.close?.();
      await cleanup?.();
    });

    const test = (testName: ConformanceTestName, body: () => Promise<void>): void => {
      const reason = options.skip?.[testName];
      if (reason !== undefined) it(testName, { skip: reason }, () => undefined);
      else it(testName, body);
    };

    test('put and get', async () => {
      const blob = `${prefix('putget')}a`;
      const data = pattern(1000, 1);
      await target.put(blob, data);
      assert.deepEqual(await target.get(blob), data);
    });

    test('empty blob', async () => {
      const blob = `${prefix('empty')}a`;
      await target.put(blob, new Uint8Array(0));
      assert.equal((await target.get(blob)).byteLength, 0);
      assert.equal(await target.exists(blob), true);
      const listed = await collect(target.list(prefix('empty')));
      assert.deepEqual(listed, [{ name: blob, sizeBytes: 0 }]);
      assert.equal((await target.get(blob, { range: { offset: 0, count: 10 } })).byteLength, 0);
    });

    test('8 MiB blob', async () => {
      const blob = `${prefix('big')}a`;
      const data = pattern(8 * 1024 * 1024 + 4096, 2);
      await target.put(blob, data);
      const back = await target.get(blob);
      assert.equal(back.byteLength, data.byteLength);
      assert.ok(back.equals(data), 'bytes differ');
    });

    test('get a range', async () => {
      const blob = `${prefix('range')}a`;
      const data = pattern(100_000, 3);
      await target.put(blob, data);
      assert.deepEqual(await target.get(blob, { range: { offset: 1000, count: 500 } }), data.subarray(1000, 1500));
      assert.deepEqual(await target.get(blob, { range: { offset: 99_990 } }), data.subarray(99_990));
      assert.deepEqual(await target.get(blob, { range: { offset: 0, count: 1 } }), data.subarray(0, 1));
      assert.deepEqual(await target.get(blob, { range: { offset: 99_000, count: 5000 } }), data.subarray(99_000));
      assert.equal((await target.get(blob, { range: { offset: 7, count: 0 } })).byteLength, 0);
    });

    test('overwrite', async () => {
      const blob = `${prefix('overwrite')}a`;
      await target.put(blob, pattern(5000, 4));
      const second = pattern(300, 5);
      await target.put(blob, second);
      assert.deepEqual(await target.get(blob), second);
      assert.deepEqual(await collect(target.list(prefix('overwrite'))), [{ name: blob, sizeBytes: 300 }]);
    });

    test('exists', async () => {
      const blob = `${prefix('exists')}a`;
      assert.equal(await target.exists(blob), false);
      await target.put(blob, pattern(10, 6));
      assert.equal(await target.exists(blob), true);
      assert.equal(await target.exists(`${blob}b`), false);
    });

    test('get missing is E_TARGET_NOT_FOUND', async () => {
      const blob = `${prefix('missing')}nothing`;
      for (const read of [() => target.get(blob), () => target.get(blob, { range: { offset: 10, count: 10 } })]) {
        await assert.rejects(read, (error: unknown) => {
          assert.ok(isClfsError(error), `not a ClfsError: ${String(error)}`);
          assert.equal(error.code, 'E_TARGET_NOT_FOUND');
          assert.equal(error.subject, blob);
          assert.equal(error.retryable, false);
          assert.ok(!error.message.includes('\n'), 'message is one line');
          return true;
        });
      }
    });

    test('delete, and delete missing', async () => {
      const blob = `${prefix('delete')}a`;
      await target.put(blob, pattern(10, 7));
      await target.delete(blob);
      assert.equal(await target.exists(blob), false);
      await target.delete(blob);
      await target.delete(`${prefix('delete')}never`);
      assert.deepEqual(await collect(target.list(prefix('delete'))), []);
    });

    test('list with prefix, sorted, with sizes', async () => {
      const p = prefix('list');
      const names = ['b', 'a', 'a.1', 'a_1', 'A', '0', 'ab', 'a.0.z', 'z'].map((n) => p + n);
      await inParallel(names, 8, async (n) => target.put(n, pattern(n.length, 8)));
      await target.put(`${run}.listx.a`, pattern(1, 9));
      const all = await collect(target.list(p));
      const expected = [...names].sort();
      assert.deepEqual(
        all.map((i) => i.name),
        expected,
      );
      for (const info of all) assert.equal(info.sizeBytes, info.name.length);
      assert.deepEqual(
        (await collect(target.list(`${p}a`))).map((i) => i.name),
        expected.filter((n) => n.startsWith(`${p}a`)),
      );
      assert.deepEqual(await collect(target.list(`${p}nothing`)), []);
    });

    test('list many blobs, more than one page', async () => {
      const p = prefix('many');
      const count = options.manyCount ?? 5100;
      const names = Array.from({ length: count }, (_, i) => `${p}${i.toString(16).padStart(6, '0')}`);
      // put out of order (7919 is prime, so i*7919 mod count visits every index once)
      const shuffled = names.map((_, i) => names[(i * 7919) % count]!);
      await inParallel(shuffled, options.concurrency ?? target.capabilities.maxConnections, async (n) =>
        target.put(n, Buffer.from(n)),
      );
      const listed = await collect(target.list(p));
      assert.equal(listed.length, count);
      assert.deepEqual(
        listed.map((i) => i.name),
        names,
      );
      // a listing may stop early: the consumer breaks out after a few names
      let seen = 0;
      for await (const _ of target.list(p)) {
        seen += 1;
        if (seen === 3) break;
      }
      assert.equal(seen, 3);
    });

    test('names with dots, underscores and hex', async () => {
      const p = prefix('names');
      const names = [
        '0123456789abcdef0123456789abcdef.00000000000000000001',
        'ab_cd_ef.0.1',
        '_leading_underscore',
        '.leading.dot',
        'trailing.dot.',
        'UPPER_and_lower.DEADbeef',
      ].map((n) => p + n);
      for (const n of names) await target.put(n, Buffer.from(n));
      for (const n of names) assert.equal((await target.get(n)).toString(), n);
      assert.deepEqual(
        (await collect(target.list(p))).map((i) => i.name),
        [...names].sort(),
      );
    });

    // What the loader does with a batch of small blobs (src/load/transfer.ts): one putMany when
    // the target declares it, else one put per blob, maxConnections at a time.
    const storeBatch = (items: readonly PutManyItem[], options: PutOptions = {}): Promise<void> =>
      target.features.putMany
        ? target.putMany!(items, options)
        : inParallel(items, target.capabilities.maxConnections, (item) => target.put(item.name, item.data, options));

    test('a batch: putMany when declared, else puts', async () => {
      const p = prefix('putmany');
      const items = Array.from({ length: 50 }, (_, i) => ({ name: `${p}${String(i).padStart(2, '0')}`, data: pattern(i * 10, i + 1) }));
      await storeBatch(items);
      await storeBatch(items.slice(0, 5)); // again: puts are idempotent
      for (const item of items) assert.deepEqual(await target.get(item.name), Buffer.from(item.data));
      assert.deepEqual(
        await collect(target.list(p)),
        items.map((i) => ({ name: i.name, sizeBytes: i.data.byteLength })),
      );
    });

    test('an aborted signal stores nothing', async () => {
      const p = prefix('aborted');
      const items = Array.from({ length: 5 }, (_, i) => ({ name: `${p}${i}`, data: pattern(100, i + 1) }));
      const aborted = (error: unknown): boolean => {
        assert.ok(isClfsError(error), `not a ClfsError: ${String(error)}`);
        assert.equal(error.code, 'E_ABORTED', error.message);
        return true;
      };
      await assert.rejects(target.put(items[0]!.name, items[0]!.data, { abortSignal: AbortSignal.abort() }), aborted);
      await assert.rejects(storeBatch(items, { abortSignal: AbortSignal.abort() }), aborted);
      assert.deepEqual(await collect(target.list(p)), []);
    });

    // callers check the declaration (src/load), so a declared method must exist and an
    // undeclared one must not (it would never be called)
    test('declared features match the methods', async () => {
      for (const method of OPTIONAL_METHODS) {
        assert.equal(typeof target.features[method], 'boolean', `features.${method}`);
        assert.equal(typeof target[method] === 'function', target.features[method], `${method} is ${typeof target[method]}, features.${method} is ${target.features[method]}`);
      }
    });
  });
}
