/**
 * Into an Azure container with a SAS, straight to the endpoint, the encode workers put the small
 * blobs themselves on their own sockets (issue 17): the target's put on the main thread then sees
 * only what the main thread stores (directories, the bucket object, large files' objects) and
 * what a worker could not put. Tested against Azurite: the count of main-thread puts, a proxy
 * that drops and refuses requests (the failed worker puts go through the retry layer instead),
 * and the cases where only the main thread may send (a key, a proxy).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AzureTarget, load, parseTargetUrl, RetryTarget, startAzurite, verify } from '../../src/index.js';
import type { PutOptions } from '../../src/targets/target.js';
import type { AzureContainerSpec } from '../../src/targets/index.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { AZURITE_ACCOUNT_KEY } from '../helpers/azurite.js';
import { buildSmallFilesTree } from '../helpers/tree-builder.js';

const FILES = 400;
const DIRS = 8;

type Azurite = Awaited<ReturnType<typeof startAzurite>>;
let azurite: Azurite;
let work: string;
let src: string;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-worker-puts-'));
  src = path.join(work, 'src');
  buildSmallFilesTree(src, FILES, DIRS);
  azurite = await startAzurite();
});

after(async () => {
  await azurite?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

/** The real Azure target, counting the blobs put through its own put (on the main thread). */
class CountedAzure extends AzureTarget {
  stored = 0;

  override put(name: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    this.stored += 1;
    return super.put(name, data, options);
  }
}

function azureSpec(url: string): AzureContainerSpec {
  return parseTargetUrl(url) as AzureContainerSpec;
}

async function loadInto(url: string, name: string, encodeWorkers: number, timeoutMs?: number) {
  const inner = new CountedAzure(azureSpec(url), timeoutMs === undefined ? {} : { workerPutTimeoutMs: timeoutMs });
  const target = new RetryTarget(inner, { baseDelayMs: 20, maxDelayMs: 1000, maxAttempts: 20, ...(timeoutMs === undefined ? {} : { requestTimeoutMs: timeoutMs }) });
  const s = await load({ source: src, target, targetKey: `azure:${name}`, stateDir: path.join(work, `state-${name}`), newTransfer: true, encodeWorkers });
  assert.equal(s.status, 'complete', s.problems.join('\n'));
  assert.equal(s.errors, 0);
  const report = await verify(new RetryTarget(new AzureTarget(azureSpec(url)), timeoutMs === undefined ? {} : { requestTimeoutMs: timeoutMs }), { source: src });
  assert.deepEqual(report.problems, []);
  assert.equal(report.counts.files, FILES);
  return { inner, summary: s };
}

test('with a SAS the workers put the files: the main thread puts only the rest, and the container verifies', async () => {
  const c = await azurite.makeContainer();
  const { inner, summary } = await loadInto(c.url, 'workers', 2);
  // directories (8 leaves, their parents, the root), the bucket object, the logs: far fewer than the files
  assert.ok(inner.stored < 40, `main-thread puts: ${inner.stored}`);
  // counted like any put
  assert.ok(summary.blobsWritten > FILES, `blobsWritten ${summary.blobsWritten}`);
});

test('without workers every blob goes through the target', async () => {
  const c = await azurite.makeContainer();
  const { inner } = await loadInto(c.url, 'no-workers', 0);
  assert.ok(inner.stored > FILES, `main-thread puts: ${inner.stored}`);
});

test('worker puts that the service drops or refuses are put again through the retry layer', async () => {
  const proxy = await startFaultProxy(azurite.endpoint, { mode: 'mixed', fraction: 0.15, delayMs: 50, seed: 5 });
  try {
    const c = await azurite.makeContainer();
    const { inner } = await loadInto(proxy.via(c.url), 'faults', 2);
    const faults = Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0);
    assert.ok(faults > 10, JSON.stringify(proxy.stats));
    // some files came back from the workers and were stored on the main thread
    assert.ok(inner.stored >= 40, `main-thread puts: ${inner.stored}`);
  } finally {
    proxy.setFaults({ mode: 'pass' });
    await proxy.close();
  }
});

test('worker puts that the service never answers go back to the main thread after the deadline', async () => {
  // About one request in 12 is read and left unanswered: a worker's batch waits its deadline,
  // then hands what is left to the main thread, whose retries (same deadline per attempt) store
  // it. Before the deadline was an own timer, a garbage collection could take it and the load
  // waited forever (test/load/deadline-signal.test.ts).
  const proxy = await startFaultProxy(azurite.endpoint, { mode: 'hang', fraction: 0.08, seed: 9 });
  try {
    const c = await azurite.makeContainer();
    const started = Date.now();
    await loadInto(proxy.via(c.url), 'hang', 2, 1500);
    assert.ok(proxy.stats.faults.hang > 5, JSON.stringify(proxy.stats));
    // each unanswered request costs one deadline, not the default minute
    assert.ok(Date.now() - started < 120_000, `took ${Date.now() - started} ms`);
  } finally {
    proxy.setFaults({ mode: 'pass' });
    await proxy.close();
  }
});

test('only a SAS straight to the endpoint lets the workers put: not a key, not through a proxy', () => {
  const sas = new AzureTarget(azureSpec(`${azurite.endpoint}/cont?sv=2023-11-03&sp=rwdl&sig=x`));
  assert.equal(sas.workerPuts?.kind, 'azure');
  assert.match(sas.workerPuts!.containerUrl, /\/cont$/);
  const key = new AzureTarget({ ...azureSpec(`${azurite.endpoint}/cont?sig=x`), sasToken: '' }, { auth: { kind: 'key', accountKey: AZURITE_ACCOUNT_KEY } });
  assert.equal(key.workerPuts, undefined);
  const proxied = new AzureTarget(azureSpec(`${azurite.endpoint}/cont?sv=2023-11-03&sig=x`), { proxy: { url: 'http://127.0.0.1:9' } });
  assert.equal(proxied.workerPuts, undefined);
  const sdk = new AzureTarget(azureSpec(`${azurite.endpoint}/cont?sv=2023-11-03&sig=x`), { leanPut: false });
  assert.equal(sdk.workerPuts, undefined);
  void Promise.all([sas.close(), key.close(), proxied.close(), sdk.close()]);
});
