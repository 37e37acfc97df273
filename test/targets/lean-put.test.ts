import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { LEAN_PUT_API_VERSION, LeanPut, type LeanPutError } from '../../src/targets/lean-put.js';
import { endpointConnection } from '../../src/targets/azure-http.js';
import { azureSdk } from '../../src/targets/azure-sdk.js';
import { AzureTarget, parseTargetUrl, sharedKeyAuthorization, type AzureContainerSpec } from '../../src/targets/index.js';
import { AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME } from '../../src/targets/embedded-azurite.js';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';

interface Seen {
  requests: number;
  closed: number;
  /** requests whose body arrived in full */
  received: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }>;
}

function xmlError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...headers }).end(body);
}

/**
 * A server that records every request and answers by name: ok* 201, busy* 503 ServerBusy with
 * the code in a header, denied* 403 with the code only in the body, drop* a cut connection, and
 * anything else never.
 */
async function withServer(fn: (base: string, seen: Seen) => Promise<void>): Promise<void> {
  const seen: Seen = { requests: 0, closed: 0, received: [] };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.requests += 1;
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/acct\/cont\//, ''));
    res.on('close', () => (seen.closed += 1));
    if (name.startsWith('drop')) {
      req.once('data', () => req.socket.destroy());
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      if (name.startsWith('ok')) res.writeHead(201).end();
      else if (name.startsWith('busy')) xmlError(res, 503, 'ServerBusy', 'The server is busy.', { 'x-ms-error-code': 'ServerBusy', 'retry-after': '3' });
      else if (name.startsWith('denied')) xmlError(res, 403, 'AuthorizationPermissionMismatch', 'This request is not authorized.\nRequestId:1234');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/acct/cont`, seen);
  } finally {
    server.closeAllConnections();
    server.unref();
    await new Promise((r) => server.close(r));
  }
}

const isAbort = (e: unknown) => (e as Error).name === 'AbortError';

/** The promise, or a rejection after `ms` (so a request that is never stopped fails the test instead of hanging it). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Every byte value, then a pattern: a body that a text or length mix-up would change. */
function body(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 8)) & 0xff;
  return b;
}

describe('LeanPut', () => {
  it('sends one Put Blob: the bytes, the block-blob headers, the SAS, the name encoded; resolves on 201', async () => {
    await withServer(async (base, seen) => {
      const lean = new LeanPut(base, 'sv=x&sig=y%3D', 4);
      const controller = new AbortController();
      const first = body(70_000);
      await lean.put('ok-1', first, controller.signal);
      await lean.put('ok 2+%é', Buffer.alloc(0), controller.signal);
      assert.equal(seen.received.length, 2);
      const [a, b] = seen.received;
      assert.equal(a!.method, 'PUT');
      assert.equal(a!.url, '/acct/cont/ok-1?sv=x&sig=y%3D');
      assert.ok(a!.body.equals(first), 'the server received the bytes put');
      assert.equal(a!.headers['x-ms-blob-type'], 'BlockBlob');
      assert.equal(a!.headers['x-ms-version'], LEAN_PUT_API_VERSION);
      assert.equal(a!.headers['content-type'], 'application/octet-stream');
      assert.equal(a!.headers['content-length'], '70000');
      assert.equal(b!.url, `/acct/cont/${encodeURIComponent('ok 2+%é')}?sv=x&sig=y%3D`);
      assert.equal(b!.headers['content-length'], '0');
      assert.equal(b!.body.length, 0);
      // nothing in flight any more: aborting the shared signal touches no request, and the agent
      // keeps working for requests on other signals
      controller.abort();
      await lean.put('ok-3', Buffer.from('after'), new AbortController().signal);
      assert.equal(seen.received.length, 3);
      assert.equal(seen.received[2]!.body.toString(), 'after');
      lean.close();
    });
  });

  it('carries the body\'s Content-MD5, the User-Agent, and the signer\'s Authorization (sync or async) over x-ms-date', async () => {
    await withServer(async (base, seen) => {
      const signed: Array<{ path: string; date: string | number | undefined }> = [];
      let n = 0;
      const lean = new LeanPut(base, '', 4, {
        userAgent: 'clfsload/9.9.9 (test)',
        sign: (method, path, headers) => {
          assert.equal(method, 'PUT');
          signed.push({ path, date: headers['x-ms-date'] });
          n += 1;
          return n === 1 ? 'Bearer sync-token' : Promise.resolve('Bearer async-token');
        },
      });
      const data = body(5000);
      await lean.put('ok-md5', data);
      await lean.put('ok-md5-2', Buffer.alloc(0));
      const [a, b] = seen.received;
      assert.equal(a!.headers['content-md5'], createHash('md5').update(data).digest('base64'));
      assert.equal(b!.headers['content-md5'], createHash('md5').update(Buffer.alloc(0)).digest('base64'));
      assert.equal(a!.headers['user-agent'], 'clfsload/9.9.9 (test)');
      assert.equal(a!.headers.authorization, 'Bearer sync-token');
      assert.equal(b!.headers.authorization, 'Bearer async-token');
      assert.equal(a!.url, '/acct/cont/ok-md5', 'no SAS query when a signer signs');
      assert.equal(signed[0]!.path, '/acct/cont/ok-md5');
      assert.ok(typeof signed[0]!.date === 'string' && a!.headers['x-ms-date'] === signed[0]!.date);
      lean.close();
    });
  });

  it('through a plain-http forward proxy: the absolute URL, the target Host, the proxy login; the proxy\'s agent is the connection\'s', async () => {
    await withServer(async (base, seen) => {
      // the recording server stands in for the proxy: it sees exactly what a proxy would receive
      const url = new URL(base);
      const connection = endpointConnection('http://blob.example.invalid:8080/acct', { maxSockets: 2, proxy: { url: `http://u%40x:p%3Aw@127.0.0.1:${url.port}` } });
      const lean = new LeanPut('http://blob.example.invalid:8080/acct/cont', 'sv=x&sig=y', 2, { connection });
      await lean.put('ok-proxied', Buffer.from('x'));
      const r = seen.received[0]!;
      assert.equal(r.url, 'http://blob.example.invalid:8080/acct/cont/ok-proxied?sv=x&sig=y');
      assert.equal(r.headers.host, 'blob.example.invalid:8080');
      assert.equal(r.headers['proxy-authorization'], `Basic ${Buffer.from('u@x:p:w').toString('base64')}`);
      lean.close();
      connection.close();
    });
  });

  it('a refusal rejects with the status, the service code and the first line of the message', async () => {
    await withServer(async (base) => {
      const lean = new LeanPut(base, 'sv=x&sig=y', 4);
      await assert.rejects(lean.put('busy-1', Buffer.from('a')), (e: LeanPutError) => {
        assert.equal(e.statusCode, 503);
        assert.equal(e.code, 'ServerBusy');
        assert.equal(e.message, 'The server is busy.');
        assert.equal(e.response?.headers.get('retry-after'), '3');
        return true;
      });
      // the code only in the XML body, a message of two lines
      await assert.rejects(lean.put('denied-1', Buffer.from('a')), (e: LeanPutError) => {
        assert.equal(e.statusCode, 403);
        assert.equal(e.code, 'AuthorizationPermissionMismatch');
        assert.equal(e.message, 'This request is not authorized.');
        assert.equal(e.response?.headers.get('x-ms-error-code'), undefined);
        return true;
      });
      // a connection cut mid-request is a socket error, not a success
      await assert.rejects(lean.put('drop-1', Buffer.alloc(1 << 20, 1)), (e: LeanPutError) => {
        assert.equal(e.statusCode, undefined);
        assert.match(`${e.code} ${e.message}`, /ECONNRESET|EPIPE|socket hang up/);
        return true;
      });
      lean.close();
    });
  });

  it('one abort stops every request in flight on that signal', { timeout: 5000 }, async () => {
    await withServer(async (base, seen) => {
      const lean = new LeanPut(base, 'sv=x&sig=y', 4);
      const controller = new AbortController();
      const other = new AbortController();
      const stalled = [lean.put('stall-1', Buffer.from('a'), controller.signal), lean.put('stall-2', Buffer.from('b'), controller.signal)];
      const unaffected = lean.put('ok-3', Buffer.from('c'), other.signal);
      while (seen.requests < 3) await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      for (const p of stalled) await assert.rejects(within(p, 2000), isAbort);
      await unaffected;
      for (let i = 0; seen.closed < 2 && i < 400; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(seen.closed >= 2, true, 'the server saw both stalled requests closed');
      lean.close();
    });
  });

  it('an aborted signal sends nothing', async () => {
    await withServer(async (base, seen) => {
      const lean = new LeanPut(base, 'sv=x&sig=y', 4);
      await assert.rejects(lean.put('ok-4', Buffer.from('a'), AbortSignal.abort()), isAbort);
      assert.equal(seen.requests, 0);
      lean.close();
    });
  });
});

describe('LeanPut into Azurite', () => {
  let azurite: RunningAzurite | undefined;
  after(async () => {
    await azurite?.stop();
  });

  it('stores a block blob that the SDK reads back byte for byte; a refused SAS surfaces its code', { timeout: 120_000 }, async () => {
    azurite = await startAzurite();
    const { url, containerName } = await azurite.makeContainer();
    const spec = parseTargetUrl(url) as AzureContainerSpec;
    const base = `${spec.endpoint}/${containerName}`;
    const lean = new LeanPut(base, spec.sasToken, 4);
    const data = body(300_000);
    await lean.put('lean/a b.bin', data);
    const sdkOnly = new AzureTarget(spec, { leanPut: false });
    assert.ok((await sdkOnly.get('lean/a b.bin')).equals(data));
    const props = await new (azureSdk().ContainerClient)(url).getBlockBlobClient('lean/a b.bin').getProperties();
    assert.equal(props.blobType, 'BlockBlob');
    assert.equal(props.contentLength, data.length);
    assert.equal(props.contentType, 'application/octet-stream');
    lean.close();

    const readOnly = parseTargetUrl((await azurite.containerSasUrl(containerName, { permissions: 'rl' })).url) as AzureContainerSpec;
    const refused = new LeanPut(base, readOnly.sasToken, 4);
    await assert.rejects(refused.put('lean/refused', Buffer.from('x')), (e: LeanPutError) => {
      assert.equal(e.statusCode, 403);
      assert.ok(typeof e.code === 'string' && e.code.length > 0, `service code ${String(e.code)}`);
      assert.ok(!e.message.includes('\n'), 'one-line message');
      return true;
    });
    refused.close();
    assert.equal(await sdkOnly.exists('lean/refused'), false);

    // Shared Key: a whole-blob get on the lean sockets too (the SDK's download costs ~2 ms of CPU
    // a blob), signed for GET; a missing blob is a 404, a wrong key a 403
    const keyOf = (key: Buffer) => (method: 'PUT' | 'GET' | 'HEAD' | 'DELETE', path: string, headers: Record<string, string | number>) => sharedKeyAuthorization(AZURITE_ACCOUNT_NAME, key, method, path, undefined, headers);
    const signed = new LeanPut(base, '', 4, { sign: keyOf(Buffer.from(AZURITE_ACCOUNT_KEY, 'base64')) });
    await signed.put('lean/signed é.bin', data.subarray(0, 5000));
    const got = signed.get('lean/signed é.bin');
    assert.ok(got !== undefined, 'a signed get stays on the lean path');
    assert.ok((await got).equals(data.subarray(0, 5000)));
    assert.ok((await signed.get('lean/a b.bin')!).equals(data));
    assert.ok((await sdkOnly.get('lean/signed é.bin')).equals(data.subarray(0, 5000)));
    await assert.rejects(signed.get('lean/none')!, (e: LeanPutError) => e.statusCode === 404);
    signed.close();
    const wrongKey = new LeanPut(base, '', 4, { sign: keyOf(Buffer.alloc(64, 7)) });
    await assert.rejects(wrongKey.get('lean/a b.bin')!, (e: LeanPutError) => e.statusCode === 403);
    wrongKey.close();
    await sdkOnly.close();
  });
});
