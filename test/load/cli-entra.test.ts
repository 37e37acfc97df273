/**
 * `--auth entra` (and a URL without a SAS) through the real @azure/identity chain: the CLI signs
 * in with a managed identity whose token endpoint (IDENTITY_ENDPOINT, IDENTITY_HEADER: the App
 * Service form) is served here, loads into Azurite over HTTPS with `--oauth basic`, asks for one
 * token for the whole load, and writes the token nowhere. Without any sign-in the load stops at
 * once with one line that says how to sign in.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AzureTarget, parseTargetUrl, verify } from '../../src/index.js';
import type { AzureContainerSpec } from '../../src/targets/index.js';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';
import { secretFindings } from '../helpers/secret-search.js';
import { fakeStorageToken, makeTestCert, type TestCert } from '../helpers/tls-cert.js';
import { buildSmallFilesTree } from '../helpers/tree-builder.js';
import { runCliIsolated } from '../helpers/cli.js';

const MARKER = 'entra-token-LEAKMARKER';
let cert: TestCert;
let azurite: RunningAzurite;
let identity: Server;
let identityEndpoint: string;
const tokenRequests: Array<{ url: string; header: string | undefined }> = [];
let issued = '';
let work: string;
let src: string;

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCliIsolated(args, { PATH: process.env.PATH ?? '', HOME: work, XDG_STATE_HOME: path.join(work, 'xdg'), NODE_EXTRA_CA_CERTS: cert.certPath, ...env });
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-cli-entra-'));
  cert = makeTestCert();
  azurite = await startAzurite({ https: { certPath: cert.certPath, keyPath: cert.keyPath, ca: cert.pem }, oauth: 'basic' });
  // the managed identity endpoint of an App Service / Functions host, as MSAL calls it
  identity = createServer((req, res) => {
    tokenRequests.push({ url: req.url ?? '', header: req.headers['x-identity-header'] as string | undefined });
    const t = fakeStorageToken(MARKER);
    issued = t.token;
    const body = JSON.stringify({ access_token: t.token, expires_on: String(Math.floor(t.expiresOnTimestamp / 1000)), resource: 'https://storage.azure.com', token_type: 'Bearer', client_id: 'clfsload-test' });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((r) => identity.listen(0, '127.0.0.1', r));
  identityEndpoint = `http://127.0.0.1:${(identity.address() as AddressInfo).port}/msi/token`;
  src = path.join(work, 'src');
  buildSmallFilesTree(src, 40, 3);
});

after(async () => {
  await azurite?.stop();
  identity?.closeAllConnections();
  await new Promise((r) => (identity ? identity.close(r) : r(undefined)));
  fs.rmSync(work, { recursive: true, force: true });
  if (cert !== undefined) fs.rmSync(cert.dir, { recursive: true, force: true });
});

for (const how of [['--auth', 'entra'], []]) {
  test(`${how.length ? '--auth entra' : 'a URL without a SAS'}: a managed identity through DefaultAzureCredential loads, one token for the load, the token written nowhere`, async () => {
    const c = await azurite.makeContainer();
    const state = path.join(work, `state-entra-${how.length}`);
    tokenRequests.length = 0;
    const run = await cli(['load', src, `${azurite.endpoint}/${c.containerName}`, '--new', '--state', state, '--json', '--log-level', 'debug', ...how], {
      IDENTITY_ENDPOINT: identityEndpoint,
      IDENTITY_HEADER: 'identity-header-secret',
    });
    assert.equal(run.code, 0, run.stderr);
    const s = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { status: string; errors: number; blobsWritten: number };
    assert.equal(s.status, 'complete');
    assert.ok(s.blobsWritten > 40);
    assert.equal(tokenRequests.length, 1, JSON.stringify(tokenRequests));
    assert.match(tokenRequests[0]!.url, /resource=https%3A%2F%2Fstorage\.azure\.com/);
    assert.equal(tokenRequests[0]!.header, 'identity-header-secret');
    const target = new AzureTarget(parseTargetUrl(`${azurite.endpoint}/${c.containerName}?${c.sasToken}`) as AzureContainerSpec, { ca: cert.pem });
    try {
      const report = await verify(target, { source: src });
      assert.ok(report.ok, JSON.stringify(report.problems.slice(0, 3)));
      const parts = issued.split('.');
      assert.deepEqual(await secretFindings([issued, parts[1]!, parts[2]!, 'identity-header-secret'], run, state, target), []);
    } finally {
      await target.close();
    }
  });
}

test('no sign-in anywhere: one line saying how to sign in, exit 1, quickly', async () => {
  const c = await azurite.makeContainer();
  const started = Date.now();
  // no AZURE_* variables, no identity endpoint, no az on PATH's session: nothing to sign in with
  const run = await cli(['load', src, `${azurite.endpoint}/${c.containerName}`, '--new', '--state', path.join(work, 'state-nosignin'), '--auth', 'entra'], {});
  assert.equal(run.code, 1, run.stderr);
  const lines = run.stderr.split('\n').filter((l) => l.startsWith('clfsload:'));
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, /^clfsload: could not sign in to Azure for container devstoreaccount1\/clfs-[0-9a-f]+ .*: run az login, or use a managed or workload identity/);
  assert.ok(!/\n\s+at /.test(run.stderr), 'no stack trace');
  assert.ok(Date.now() - started < 60_000);
});

test('--auth entra with a plain http endpoint is a usage error: a token is never sent in the clear', async () => {
  const run = await cli(['load', src, 'http://127.0.0.1:1/devstoreaccount1/cont', '--new', '--state', path.join(work, 'state-http'), '--auth', 'entra'], {});
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^clfsload: signing in with Entra ID needs an https endpoint/);
});
