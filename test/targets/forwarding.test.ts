/**
 * Every wrapper passes every Target method on, or declares it off (or, the dry run, answers it
 * itself and says so here). The method table below is typed over Target, so a method added to
 * Target does not compile until it is listed, and then fails here for any wrapper that drops it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isClfsError } from '../../src/errors/index.js';
import { load, verify } from '../../src/index.js';
import {
  CountingTarget,
  DryRunTarget,
  FaultTarget,
  FolderTarget,
  ForwardingTarget,
  LatencyTarget,
  OPTIONAL_METHODS,
  parseBwlimit,
  RateLimiter,
  RateLimitTarget,
  RetryTarget,
  type BlobInfo,
  type PutOptions,
  type Target,
  type TargetFeatures,
} from '../../src/targets/index.js';
import { runTargetConformance } from './conformance.js';

type MethodName = { [K in keyof Target]-?: NonNullable<Target[K]> extends (...args: never[]) => unknown ? K : never }[keyof Target];
type OptionalMethod = (typeof OPTIONAL_METHODS)[number];

// Every optional method of Target but close (which every wrapper forwards) is a declared feature:
// this line stops compiling when Target gains an optional method TargetFeatures does not declare.
type Undeclared = Exclude<{ [K in MethodName]-?: undefined extends Target[K] ? K : never }[MethodName], 'close' | OptionalMethod>;
const everyOptionalMethodIsDeclared: [Undeclared] extends [never] ? true : false = true;
void everyOptionalMethodIsDeclared;

/** One call of each method, with arguments the recorder can recognise. */
const CALLS: Record<MethodName, (t: Target) => Promise<unknown>> = {
  put: (t) => t.put('p', Buffer.from('put')),
  get: (t) => t.get('g', { range: { offset: 1, count: 2 } }),
  exists: (t) => t.exists('e'),
  list: async (t) => {
    const names: string[] = [];
    for await (const info of t.list('l')) names.push(info.name);
    return names;
  },
  delete: (t) => t.delete('d'),
  checkAccess: (t) => t.checkAccess!(),
  putMany: (t) => t.putMany!([{ name: 'm', data: Buffer.from('many') }]),
  flush: (t) => t.flush!(),
  close: (t) => t.close!(),
};

/** A target with every method, recording the first argument each one got. */
function recorder(features: TargetFeatures = { putMany: true, checkAccess: true, flush: true }): Target & { seen: Array<[string, unknown]> } {
  const seen: Array<[string, unknown]> = [];
  const all = {
    seen,
    description: 'recorder',
    capabilities: { maxConnections: 4, remote: false },
    features,
    async put(name: string) {
      seen.push(['put', name]);
    },
    async get(name: string) {
      seen.push(['get', name]);
      return Buffer.from('got');
    },
    async exists(name: string) {
      seen.push(['exists', name]);
      return true;
    },
    async *list(prefix: string): AsyncIterable<BlobInfo> {
      seen.push(['list', prefix]);
      yield { name: `${prefix}1`, sizeBytes: 1 };
    },
    async delete(name: string) {
      seen.push(['delete', name]);
    },
    async checkAccess(_options?: PutOptions) {
      seen.push(['checkAccess', undefined]);
    },
    async putMany(items: ReadonlyArray<{ name: string }>) {
      seen.push(['putMany', items.map((i) => i.name).join()]);
    },
    async flush() {
      seen.push(['flush', undefined]);
    },
    async close() {
      seen.push(['close', undefined]);
    },
  };
  // a target has an optional method exactly when it declares it
  for (const method of OPTIONAL_METHODS) if (!features[method]) delete (all as Partial<typeof all>)[method];
  return all;
}

/** What the recorder sees for each call in CALLS. */
const EXPECTED_FIRST_ARG: Record<MethodName, unknown> = {
  put: 'p',
  get: 'g',
  exists: 'e',
  list: 'l',
  delete: 'd',
  checkAccess: undefined,
  putMany: 'm',
  flush: undefined,
  close: undefined,
};

interface WrapperCase {
  name: string;
  wrap: (inner: Target) => Target;
  /** methods the wrapper answers itself, never reaching the inner target */
  own?: readonly MethodName[];
  /** features the wrapper has whatever the inner target declares */
  adds?: Partial<TargetFeatures>;
  /** features the wrapper declares off whatever the inner target declares */
  removes?: readonly OptionalMethod[];
}

/** as bench/latency-child.ts's BenchWrapper in per-blob mode */
class NoBatches extends ForwardingTarget {
  constructor(inner: Target) {
    super(inner, { features: { putMany: false } });
  }
}

const WRAPPERS: readonly WrapperCase[] = [
  { name: 'RetryTarget', wrap: (t) => new RetryTarget(t, { maxAttempts: 1 }) },
  { name: 'LatencyTarget', wrap: (t) => new LatencyTarget(t, { latencyMs: 0 }) },
  { name: 'RateLimitTarget', wrap: (t) => new RateLimitTarget(t, new RateLimiter({ bytes: parseBwlimit('100M'), requests: 1000 })) },
  { name: 'CountingTarget', wrap: (t) => new CountingTarget(t) },
  { name: 'FaultTarget', wrap: (t) => new FaultTarget(t) },
  { name: 'FaultTarget failing flush when told to', wrap: (t) => new FaultTarget(t, { operations: ['flush'] }) },
  {
    name: 'DryRunTarget',
    wrap: (t) => new DryRunTarget(t),
    own: ['put', 'putMany', 'get', 'exists', 'list', 'delete', 'flush'],
    adds: { putMany: true, flush: true },
  },
  { name: 'a wrapper declaring putMany off', wrap: (t) => new NoBatches(t), removes: ['putMany'] },
];

describe('every wrapper forwards every Target method', () => {
  for (const c of WRAPPERS) {
    it(`${c.name}: every method reaches the inner target, or is declared off, or is its own`, async () => {
      const inner = recorder();
      const wrapper = c.wrap(inner);
      for (const method of Object.keys(CALLS) as MethodName[]) {
        const optional = (OPTIONAL_METHODS as readonly string[]).includes(method);
        if (optional && c.removes?.includes(method as OptionalMethod)) {
          assert.equal(wrapper.features[method as OptionalMethod], false, `${method} declared off`);
          assert.equal(wrapper[method], undefined, `${method} declared off has no method`);
          continue;
        }
        if (optional) assert.equal(wrapper.features[method as OptionalMethod], true, `features.${method}`);
        inner.seen.length = 0;
        if (c.own?.includes(method)) {
          // what it answers is its own business (a dry run finds no blob): only that it keeps the call
          await CALLS[method](wrapper).catch(() => undefined);
          assert.deepEqual(inner.seen, [], `${method} is the wrapper's own`);
        } else {
          await CALLS[method](wrapper);
          assert.deepEqual(inner.seen, [[method, EXPECTED_FIRST_ARG[method]]], `${method} reached the inner target once`);
        }
      }
    });

    it(`${c.name}: over a target without optional methods, declares them off and has none`, async () => {
      const bare = recorder({ putMany: false, checkAccess: false, flush: false });
      const wrapper = c.wrap(bare);
      for (const method of OPTIONAL_METHODS) {
        const expected = c.adds?.[method] ?? false;
        assert.equal(wrapper.features[method], expected, `features.${method}`);
        assert.equal(typeof wrapper[method] === 'function', expected, `${method} present only when declared`);
        if (expected) await CALLS[method](wrapper);
      }
      assert.deepEqual(bare.seen, [], 'nothing reached the inner target');
    });
  }

  it('a wrapper that declares a feature its inner target lacks must provide it', () => {
    class Claims extends ForwardingTarget {
      constructor(inner: Target) {
        super(inner, { features: { flush: true } });
      }
    }
    assert.throws(
      () => new Claims(recorder({ putMany: false, checkAccess: false, flush: false })),
      (e: unknown) => isClfsError(e) && e.code === 'E_INTERNAL' && /Claims declares flush/.test(e.message),
    );
  });

  it('a target whose features disagree with its methods is refused when wrapped', () => {
    const lying = { ...recorder(), features: { putMany: true, checkAccess: true, flush: false } };
    assert.throws(
      () => new CountingTarget(lying),
      (e: unknown) => isClfsError(e) && e.code === 'E_INTERNAL' && /does not declare features\.flush/.test(e.message),
    );
  });

  it('a load checks access through the wrappers (it used to be skipped through three of them)', async () => {
    const work = await mkdtemp(join(tmpdir(), 'clfs-fwd-'));
    try {
      const src = join(work, 'src');
      const blobs = join(work, 'blobs');
      await mkdir(src);
      await mkdir(blobs);
      await writeFile(join(src, 'a'), 'a file\n');
      class Spy extends ForwardingTarget {
        accessChecks = 0;
        override checkAccess(options?: PutOptions): Promise<void> {
          this.accessChecks += 1;
          return this.inner.checkAccess!(options);
        }
      }
      const spy = new Spy(new FolderTarget(blobs));
      const target = new CountingTarget(new LatencyTarget(new FaultTarget(spy), { latencyMs: 0 }));
      const summary = await load({ source: src, target, targetKey: `file:${blobs}`, stateDir: join(work, 'state'), newTransfer: true });
      assert.equal(summary.status, 'complete');
      assert.equal(spy.accessChecks, 1);
      assert.ok((await verify(target, { source: src })).ok);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

runTargetConformance('folder through the counting, latency and fault wrappers', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clfs-fwd-'));
  const target = new CountingTarget(new LatencyTarget(new FaultTarget(new FolderTarget(dir)), { latencyMs: 1 }));
  return { target, cleanup: () => rm(dir, { recursive: true, force: true }) };
});
