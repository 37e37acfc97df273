/**
 * Signing in without a SAS, against Azurite over HTTPS (a self-signed certificate made here) with
 * `--oauth basic`: a token credential the test controls (the path every @azure/identity credential
 * takes), shared by the lean Put Blob and the SDK and renewed before it expires; the account key
 * (Shared Key) on both paths; and the errors a denied sign-in gives.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { load, verify } from '../../src/index.js';
import { isClfsError } from '../../src/errors/index.js';
import { AzureTarget, LOAD_ROLE, TokenCache, targetKey, parseConnectionString, parseTargetUrl, sharedKeyAuthorization, type AzureContainerSpec, type TokenCredentialLike } from '../../src/targets/index.js';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';
import { fakeStorageToken, makeTestCert, type TestCert } from '../helpers/tls-cert.js';
import { buildSmallFilesTree } from '../helpers/tree-builder.js';

let cert: TestCert;
let azurite: RunningAzurite;
let work: string;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-auth-'));
  cert = makeTestCert();
  azurite = await startAzurite({ https: { certPath: cert.certPath, keyPath: cert.keyPath, ca: cert.pem }, oauth: 'basic' });
});
after(async () => {
  await azurite?.stop();
  fs.rmSync(work, { recursive: true, force: true });
  if (cert !== undefined) fs.rmSync(cert.dir, { recursive: true, force: true });
});

/** A credential that counts its calls and hands out tokens of the given lifetime. */
function countingCredential(lifetimeMs = 3600_000): TokenCredentialLike & { calls: number; scopes: string[] } {
  const c = {
    calls: 0,
    scopes: [] as string[],
    async getToken(scopes: string | string[]) {
      c.calls += 1;
      c.scopes.push(...(Array.isArray(scopes) ? scopes : [scopes]));
      return fakeStorageToken(`token-${c.calls}`, lifetimeMs);
    },
  };
  return c;
}

async function containerSpec(): Promise<AzureContainerSpec> {
  const c = await azurite.makeContainer();
  const spec = parseTargetUrl(`${azurite.endpoint}/${c.containerName}`);
  assert.equal(spec.kind, 'azure');
  return spec as AzureContainerSpec;
}

describe('TokenCache', () => {
  it('asks once for many requests, renews in the background inside the margin, and waits only near expiry', async () => {
    let now = 1_000_000;
    let calls = 0;
    let release: (() => void) | undefined;
    const credential: TokenCredentialLike = {
      getToken: async () => {
        calls += 1;
        if (calls === 2) await new Promise<void>((r) => (release = r));
        return { token: `t${calls}`, expiresOnTimestamp: now + 3600_000 };
      },
    };
    const cache = new TokenCache(credential, { now: () => now, refreshMarginMs: 300_000 });
    assert.equal(cache.peek(), undefined);
    const first = await Promise.all(Array.from({ length: 50 }, () => cache.get()));
    assert.deepEqual(new Set(first), new Set(['t1']));
    assert.equal(calls, 1);
    now += 3600_000 - 200_000; // inside the margin, still valid: the old token, one renewal started
    assert.equal(cache.peek(), 't1');
    assert.equal(cache.peek(), 't1');
    assert.equal(calls, 2);
    release!();
    await new Promise((r) => setImmediate(r));
    assert.equal(await cache.get(), 't2');
    now += 3600_000 - 10_000; // t2 about to expire: requests wait for t3
    assert.equal(cache.peek(), undefined);
    assert.equal(await cache.get(), 't3');
    assert.equal(calls, 3);
  });

  it('honours refreshAfterTimestamp, and a failed sign-in is E_TARGET_AUTH naming the ways to sign in', async () => {
    let now = 0;
    const cache = new TokenCache({ getToken: async () => ({ token: 'x', expiresOnTimestamp: now + 3600_000, refreshAfterTimestamp: now + 60_000 }) }, { now: () => now });
    await cache.get();
    now = 61_000;
    assert.equal(cache.peek(), 'x');
    assert.equal(cache.requests, 2);
    const failing = new TokenCache({ getToken: async () => Promise.reject(Object.assign(new Error('boom\nmore'), { name: 'CredentialUnavailableError' })) }, { description: 'container a/b' });
    await assert.rejects(failing.get(), (e: unknown) => isClfsError(e) && e.code === 'E_TARGET_AUTH' && /container a\/b/.test(e.message) && /az login/.test(e.message) && !e.message.includes('\n'));
  });
});

describe('Entra ID token against Azurite --oauth basic over HTTPS', () => {
  it('loads a tree through the lean put and the SDK with one token request, and it verifies', async () => {
    const spec = await containerSpec();
    const credential = countingCredential();
    const target = new AzureTarget(spec, { auth: { kind: 'token', credential }, ca: cert.pem });
    const src = path.join(work, 'tree-token');
    buildSmallFilesTree(src, 60, 3);
    try {
      const s = await load({ source: src, target, stateDir: path.join(work, 'state-token'), targetKey: targetKey(spec), newTransfer: true });
      assert.equal(s.status, 'complete');
      assert.equal(s.errors, 0);
      const report = await verify(target, { source: src });
      assert.ok(report.ok, JSON.stringify(report.problems.slice(0, 3)));
    } finally {
      await target.close();
    }
    assert.equal(credential.calls, 1, 'one token served every request of both paths');
    assert.deepEqual(new Set(credential.scopes), new Set(['https://storage.azure.com/.default']));
  });

  it('a token about to expire is renewed before it is sent, once for all the requests waiting', async () => {
    const spec = await containerSpec();
    // 20 s left is too little to send: every use finds it due, and the waiting requests share one renewal
    const credential = countingCredential(20_000);
    const target = new AzureTarget(spec, { auth: { kind: 'token', credential }, ca: cert.pem });
    try {
      await Promise.all(Array.from({ length: 40 }, (_, i) => target.put(`b${i}`, Buffer.from(`body ${i}`))));
      assert.equal(credential.calls, 1, '40 puts waited on one token request');
      assert.equal((await target.get('b7')).toString(), 'body 7');
    } finally {
      await target.close();
    }
    assert.ok(credential.calls >= 2 && credential.calls <= 3, `renewed for the read (${credential.calls} token requests)`);
  });

  it('Azurite refuses a token for another audience: E_TARGET_AUTH, fatal, without the token in the message', async () => {
    const spec = await containerSpec();
    const bad = fakeStorageToken('wrong-audience-marker');
    const payload = JSON.parse(Buffer.from(bad.token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    payload.aud = 'https://vault.azure.net';
    const token = `${bad.token.split('.')[0]}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;
    const target = new AzureTarget(spec, { auth: { kind: 'token', credential: { getToken: async () => ({ token, expiresOnTimestamp: bad.expiresOnTimestamp }) } }, ca: cert.pem });
    try {
      for (const attempt of [() => target.put('x', Buffer.from('x')), () => target.checkAccess()]) {
        await assert.rejects(attempt(), (e: unknown) => {
          assert.ok(isClfsError(e));
          assert.equal(e.code, 'E_TARGET_AUTH', e.message);
          assert.match(e.message, /rejected the signed-in identity/);
          assert.match(e.message, /x-ms-request-id [0-9a-f-]{36}/);
          assert.ok(!e.message.includes(token) && !e.message.includes('wrong-audience-marker'));
          return true;
        });
      }
    } finally {
      await target.close();
    }
  });

  it('a token is never sent over plain http', () => {
    assert.throws(
      () => new AzureTarget(parseTargetUrl('http://127.0.0.1:1/devstoreaccount1/cont') as AzureContainerSpec, { auth: { kind: 'token', credential: countingCredential() } }),
      (e: unknown) => isClfsError(e) && e.code === 'E_USAGE' && /https/.test(e.message),
    );
  });
});

describe('permission denied to a signed-in identity', () => {
  let server: Server;
  let endpoint: string;
  before(async () => {
    // The service's answer to a token without a data role (Azurite has no roles to refuse with).
    server = createServer({ key: fs.readFileSync(cert.keyPath), cert: cert.pem }, (req, res) => {
      req.resume();
      req.on('end', () => {
        const body = '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch</Code><Message>This request is not authorized to perform this operation using this permission.</Message></Error>';
        res.writeHead(403, { 'content-type': 'application/xml', 'x-ms-error-code': 'AuthorizationPermissionMismatch', 'x-ms-request-id': '11111111-2222-3333-4444-555555555555', 'content-length': Buffer.byteLength(body) }).end(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}/devstoreaccount1`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  for (const leanPut of [true, false]) {
    it(`names the ${LOAD_ROLE} role, the container and the request id (${leanPut ? 'lean put' : 'SDK'}, and listing)`, async () => {
      const target = new AzureTarget(parseTargetUrl(`${endpoint}/cont`) as AzureContainerSpec, { auth: { kind: 'token', credential: countingCredential() }, ca: cert.pem, leanPut });
      try {
        for (const attempt of [() => target.put('x', Buffer.from('x')), () => target.checkAccess()]) {
          await assert.rejects(attempt(), (e: unknown) => {
            assert.ok(isClfsError(e));
            assert.equal(e.code, 'E_TARGET_PERMISSION');
            assert.match(e.message, /Storage Blob Data Contributor/);
            assert.match(e.message, /containers\/cont/);
            assert.match(e.message, /AuthorizationPermissionMismatch/);
            assert.match(e.message, /x-ms-request-id 11111111-2222-3333-4444-555555555555/);
            return true;
          });
        }
      } finally {
        await target.close();
      }
    });
  }
});

describe('account key (Shared Key)', () => {
  for (const leanPut of [true, false]) {
    it(`loads and verifies with the key alone (${leanPut ? 'lean put' : 'SDK put'}); a wrong key is E_TARGET_AUTH`, async () => {
      const spec = await containerSpec();
      const target = new AzureTarget(spec, { auth: { kind: 'key', accountKey: azurite.accountKey }, ca: cert.pem, leanPut });
      const src = path.join(work, `tree-key-${leanPut}`);
      buildSmallFilesTree(src, 30, 2);
      try {
        const s = await load({ source: src, target, stateDir: path.join(work, `state-key-${leanPut}`), targetKey: targetKey(spec), newTransfer: true });
        assert.equal(s.status, 'complete');
        assert.ok((await verify(target, { source: src })).ok);
      } finally {
        await target.close();
      }
      const wrongKey = Buffer.alloc(64, 7).toString('base64');
      const wrong = new AzureTarget(spec, { auth: { kind: 'key', accountKey: wrongKey }, ca: cert.pem, leanPut });
      try {
        await assert.rejects(wrong.put('x', Buffer.from('x')), (e: unknown) => isClfsError(e) && e.code === 'E_TARGET_AUTH' && /account key/.test(e.message) && !e.message.includes(wrongKey));
      } finally {
        await wrong.close();
      }
    });
  }

  it('signs as the SDK does (the example of the Shared Key documentation shape)', () => {
    const key = Buffer.alloc(32, 1);
    const headers = { 'content-length': 5, 'content-type': 'application/octet-stream', 'x-ms-version': '2023-11-03', 'x-ms-date': 'Tue, 01 Dec 2026 00:00:00 GMT', 'x-ms-blob-type': 'BlockBlob' };
    const a = sharedKeyAuthorization('acct', key, 'PUT', '/cont/blob', undefined, headers);
    const b = sharedKeyAuthorization('acct', key, 'PUT', '/cont/blob', undefined, { ...headers, 'content-length': 6 });
    assert.match(a, /^SharedKey acct:[A-Za-z0-9+/]{43}=$/);
    assert.notEqual(a, b, 'the length is signed');
  });

  it('reads connection strings: key and endpoint, the default suffix, development storage; never echoes one', () => {
    assert.deepEqual(parseConnectionString('DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net'), {
      accountName: 'acct',
      accountKey: 'a2V5',
      blobEndpoint: 'https://acct.blob.core.windows.net',
      sasToken: undefined,
    });
    assert.equal(parseConnectionString('AccountName=a;AccountKey=k;BlobEndpoint=http://127.0.0.1:9/a/').blobEndpoint, 'http://127.0.0.1:9/a');
    assert.equal(parseConnectionString('UseDevelopmentStorage=true').accountName, 'devstoreaccount1');
    assert.equal(parseConnectionString('BlobEndpoint=https://x.blob.core.windows.net;SharedAccessSignature=sv=1&sig=abc').sasToken, 'sv=1&sig=abc');
    assert.throws(() => parseConnectionString('AccountName=a;secretvalue'), (e: unknown) => isClfsError(e) && e.code === 'E_USAGE' && !e.message.includes('secretvalue'));
    assert.throws(() => parseConnectionString('AccountName=a'), (e: unknown) => isClfsError(e) && /AccountKey/.test(e.message));
  });
});
