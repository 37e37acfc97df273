/**
 * A blob service that cannot be reached (nothing listening, a name that does not resolve) is a
 * run-fatal target error naming the host, retried a few times only; requests through the SDK
 * (list, get) and through the lean Put Blob path classify it alike.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isClfsError, type ClfsError } from '../../src/errors/index.js';
import { AzureTarget, networkCodeOf } from '../../src/targets/azure-target.js';
import { CountingTarget, RetryTarget, startAzurite } from '../../src/targets/index.js';
import { startHoldProxy, type HoldProxy } from '../helpers/hold-proxy.js';

type Azurite = Awaited<ReturnType<typeof startAzurite>>;
let azurite: Azurite;
let proxy: HoldProxy;

before(async () => {
  azurite = await startAzurite();
  proxy = await startHoldProxy(azurite.endpoint);
});

after(async () => {
  await proxy?.close();
  await azurite?.stop();
});

/** Stop the proxy, and let the client see its kept-alive sockets closed (a reset, not a refusal). */
async function stopProxy(): Promise<void> {
  await proxy.stop();
  await new Promise((r) => setTimeout(r, 200));
}

async function failure(p: Promise<unknown>): Promise<ClfsError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isClfsError(err), String(err));
    return err;
  }
  assert.fail('expected a failure');
}

function assertUnreachable(err: ClfsError, host: string, why: RegExp): void {
  assert.equal(err.code, 'E_TARGET_IO', err.message);
  assert.equal(err.recoverable, false, 'run-fatal: a load stops instead of failing entries one by one');
  assert.equal(err.unreachable, true);
  assert.equal(err.retryable, true);
  assert.ok(err.message.startsWith(`cannot reach ${host} `), err.message);
  assert.match(err.message, why);
  assert.match(err.message, /re-run the same command to resume$/);
  assert.doesNotMatch(err.message, /\n/);
}

test('nothing listening: put (lean path), put (SDK), exists, get, list and checkAccess all say the host cannot be reached', async () => {
  for (const leanPut of [true, false]) {
    const t = new AzureTarget({ kind: 'azure', endpoint: 'http://127.0.0.1:1/devstoreaccount1', accountName: 'devstoreaccount1', containerName: 'cont', sasToken: 'sv=1&sig=x' }, { leanPut });
    try {
      const why = /connection refused, ECONNREFUSED/;
      assertUnreachable(await failure(t.put('a', Buffer.from('x'))), '127.0.0.1:1', why);
      assertUnreachable(await failure(t.exists('a')), '127.0.0.1:1', why);
      assertUnreachable(await failure(t.get('a')), '127.0.0.1:1', why);
      assertUnreachable(await failure(t.checkAccess()), '127.0.0.1:1', why);
      assertUnreachable(await failure((async () => { for await (const b of t.list('')) void b; })()), '127.0.0.1:1', why);
    } finally {
      await t.close();
    }
  }
});

test('a host name that does not resolve: host not found, check the account name', async () => {
  const t = new AzureTarget({ kind: 'azure', endpoint: 'https://nosuchaccount.invalid', accountName: 'nosuchaccount', containerName: 'cont', sasToken: 'sv=1&sig=x' });
  try {
    const err = await failure(t.put('a', Buffer.from('x')));
    assertUnreachable(err, 'nosuchaccount.invalid', /host not found, ENOTFOUND\): check the account name in the URL/);
    assertUnreachable(await failure(t.checkAccess()), 'nosuchaccount.invalid', /ENOTFOUND/);
  } finally {
    await t.close();
  }
});

test('networkCodeOf finds the socket code on the error, its cause, or an AggregateError attempt', () => {
  assert.equal(networkCodeOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED');
  assert.equal(networkCodeOf(Object.assign(new Error('x'), { code: 'REQUEST_SEND_ERROR', cause: Object.assign(new Error('y'), { code: 'EAI_AGAIN' }) })), 'EAI_AGAIN');
  assert.equal(networkCodeOf(Object.assign(new AggregateError([Object.assign(new Error('v6'), { code: 'ECONNREFUSED' })], 'all failed'))), 'ECONNREFUSED');
  assert.equal(networkCodeOf(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' })), undefined);
  assert.equal(networkCodeOf(new Error('getaddrinfo ENOTFOUND example.invalid')), 'ENOTFOUND');
});

test('RetryTarget: an unreachable host gets a few tries with backoff, not maxAttempts; once one request gave up, the others give up at once, until a request succeeds again', async () => {
  const c = await azurite.makeContainer();
  const spec = { kind: 'azure' as const, endpoint: proxy.endpoint, accountName: azurite.accountName, containerName: c.containerName, sasToken: c.sasToken };
  const counting = new CountingTarget(new AzureTarget(spec));
  const delays: number[] = [];
  const target = new RetryTarget(counting, { maxAttempts: 15, unreachableDelayMs: 20, onRetry: (i) => delays.push(i.delayMs) });
  try {
    await target.put('before', Buffer.from('x'));
    await stopProxy();

    counting.reset();
    const started = Date.now();
    const err = await failure(target.put('first', Buffer.from('x')));
    assertUnreachable(err, `127.0.0.1:${proxy.port}`, /ECONNREFUSED/);
    assert.equal(counting.counts.put, 6, 'six attempts, though maxAttempts is 15');
    assert.deepEqual(delays.map((d, i) => d >= 20 * 2 ** i * 0.5 && d <= 20 * 2 ** i), [true, true, true, true, true], `doubling, half-jittered delays: ${delays}`);
    assert.ok(Date.now() - started < 5000);

    counting.reset();
    assertUnreachable(await failure(target.exists('second')), `127.0.0.1:${proxy.port}`, /ECONNREFUSED/);
    assert.equal(counting.counts.exists, 1, 'the host is known down: no second round of tries');

    await proxy.start();
    assert.equal(await target.exists('before'), true);
    await stopProxy();
    counting.reset();
    await failure(target.put('third', Buffer.from('x')));
    assert.equal(counting.counts.put, 6, 'after a success the host gets its tries again');
  } finally {
    await proxy.start();
    await target.close();
  }
});

test('RetryTarget: the default budget for an unreachable host is a few seconds, not minutes', async () => {
  const t = new RetryTarget(new AzureTarget({ kind: 'azure', endpoint: 'http://127.0.0.1:1/devstoreaccount1', accountName: 'devstoreaccount1', containerName: 'cont', sasToken: 'sv=1&sig=x' }));
  try {
    const started = Date.now();
    await failure(t.checkAccess!());
    const ms = Date.now() - started;
    // five waits of 125-250, 250-500, 500-1000, 1000-2000, 2000-4000 ms
    assert.ok(ms >= 3800 && ms < 12_000, `${ms} ms`);
  } finally {
    await t.close();
  }
});
