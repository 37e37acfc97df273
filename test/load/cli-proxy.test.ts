/**
 * The CLI behind a proxy, as HPC networks run it: HTTPS_PROXY with credentials in its URL carries
 * every request (lean Put Blob and SDK alike) through CONNECT tunnels to an HTTPS Azurite, NO_PROXY
 * sends a host around it, and a refused proxy login stops the load in one line without the
 * password. Over plain http (HTTP_PROXY) a proxy that damages a request body shows Content-MD5 at
 * work: the service refuses the body, the put is retried, and a body damaged at every try fails its
 * entry instead of being stored. Every request names clfsload and its version in User-Agent.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AzureTarget, openTarget, parseTargetUrl, verify } from '../../src/index.js';
import type { AzureContainerSpec } from '../../src/targets/index.js';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';
import { startForwardProxy } from '../helpers/forward-proxy.js';
import { makeTestCert, type TestCert } from '../helpers/tls-cert.js';
import { buildSmallFilesTree } from '../helpers/tree-builder.js';
import { runCliIsolated } from '../helpers/cli.js';

const VERSION = (JSON.parse(fs.readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string }).version;
/** resolves nowhere (RFC 2606): a request that goes around the proxy cannot reach it */
const HIDDEN_HOST = 'devstoreaccount1.blob.clfsload.invalid';

let cert: TestCert;
let secure: RunningAzurite;
let plain: RunningAzurite;
let work: string;
let src: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>): Promise<Run> {
  // the test certificate is trusted the way a user trusts a private CA
  return runCliIsolated(args, { PATH: process.env.PATH ?? '', HOME: work, XDG_STATE_HOME: path.join(work, 'xdg'), NODE_EXTRA_CA_CERTS: cert.certPath, ...env }, { timeoutMs: 180_000 });
}

function summaryOf(run: Run): { status: string; errors: number; bytesUploaded: number; blobsWritten: number; problemsFile?: string } {
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { status: string; errors: number; bytesUploaded: number; blobsWritten: number; problemsFile?: string };
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-cli-proxy-'));
  cert = makeTestCert([HIDDEN_HOST]);
  secure = await startAzurite({ https: { certPath: cert.certPath, keyPath: cert.keyPath, ca: cert.pem } });
  plain = await startAzurite();
  src = path.join(work, 'src');
  buildSmallFilesTree(src, 40, 3);
});

after(async () => {
  await secure?.stop();
  await plain?.stop();
  fs.rmSync(work, { recursive: true, force: true });
  if (cert !== undefined) fs.rmSync(cert.dir, { recursive: true, force: true });
});

async function verifySecure(containerName: string, sas: string): Promise<void> {
  const target = new AzureTarget(parseTargetUrl(`${secure.endpoint}/${containerName}?${sas}`) as AzureContainerSpec, { ca: cert.pem });
  try {
    const report = await verify(target, { source: src });
    assert.ok(report.ok, JSON.stringify(report.problems.slice(0, 3)));
  } finally {
    await target.close();
  }
}

test('HTTPS_PROXY with credentials carries every request: a host only the proxy can reach loads, and verifies', async () => {
  const password = 'pr0xy-PASSWORD-marker';
  const proxy = await startForwardProxy({ auth: { user: 'loader', password }, hosts: { [HIDDEN_HOST]: `127.0.0.1:${secure.port}` } });
  try {
    const c = await secure.makeContainer();
    const url = `https://${HIDDEN_HOST}:${secure.port}/${c.containerName}?${c.sasToken}`;
    const state = path.join(work, 'state-proxied');
    const run = await cli(['load', src, url, '--new', '--state', state, '--json'], { HTTPS_PROXY: proxy.urlWithAuth('loader', password) });
    assert.equal(run.code, 0, run.stderr);
    const s = summaryOf(run);
    assert.equal(s.status, 'complete');
    assert.ok(s.blobsWritten > 40);
    assert.ok(proxy.stats.tunnels >= 1, JSON.stringify(proxy.stats));
    assert.ok(proxy.stats.tunnelBytesUp > s.bytesUploaded, `${proxy.stats.tunnelBytesUp} bytes through the tunnels, ${s.bytesUploaded} uploaded`);
    assert.equal(proxy.stats.refused, 0);
    assert.ok(!run.stderr.includes(password) && !run.stdout.includes(password));
    await verifySecure(c.containerName, c.sasToken);

    // a wrong password: one line naming where credentials go, the password nowhere, exit 1
    const refused = await cli(['load', src, url, '--new', '--state', path.join(work, 'state-refused'), '--json'], { HTTPS_PROXY: proxy.urlWithAuth('loader', 'wrong-secret-marker') });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /^clfsload: the proxy refused to carry requests to .* \(HTTP 407, proxy authentication required\): give its user and password in the proxy URL/m);
    assert.ok(!refused.stderr.includes('wrong-secret-marker') && !refused.stdout.includes('wrong-secret-marker'));
  } finally {
    await proxy.close();
  }
});

test('NO_PROXY sends the host around the proxy; a host it lists that only the proxy could reach is then unreachable', async () => {
  const proxy = await startForwardProxy({ hosts: { [HIDDEN_HOST]: `127.0.0.1:${secure.port}` } });
  try {
    const c = await secure.makeContainer();
    const direct = await cli(['load', src, `${secure.endpoint}/${c.containerName}?${c.sasToken}`, '--new', '--state', path.join(work, 'state-noproxy'), '--json'], {
      HTTPS_PROXY: proxy.url,
      NO_PROXY: 'example.com,127.0.0.1',
    });
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(proxy.stats.tunnels, 0, 'nothing went through the proxy');
    await verifySecure(c.containerName, c.sasToken);

    const c2 = await secure.makeContainer();
    const around = await cli(['load', src, `https://${HIDDEN_HOST}:${secure.port}/${c2.containerName}?${c2.sasToken}`, '--new', '--state', path.join(work, 'state-around'), '--json'], {
      https_proxy: proxy.url,
      no_proxy: '.clfsload.invalid',
    });
    assert.equal(around.code, 1);
    assert.match(around.stderr, /^clfsload: cannot reach devstoreaccount1\.blob\.clfsload\.invalid:\d+ for container/m);
    assert.equal(proxy.stats.tunnels, 0);
  } finally {
    await proxy.close();
  }
});

test('HTTP_PROXY damaging bodies: Azurite refuses them by Content-MD5, the puts are retried, and an entry damaged at every try fails', async () => {
  const always = Buffer.from('DAMAGE-ME-ALWAYS');
  const tree = path.join(work, 'tamper-src');
  buildSmallFilesTree(tree, 30, 2);
  fs.writeFileSync(path.join(tree, 'victim.txt'), Buffer.concat([always, Buffer.alloc(3000, 0x61)]));
  const proxy = await startForwardProxy({ tamper: (n, chunk) => n === 3 || n === 7 || chunk.includes(always) });
  try {
    const c = await plain.makeContainer();
    const state = path.join(work, 'state-tamper');
    const run = await cli(['load', tree, c.url, '--new', '--state', state, '--json', '--compression', 'disabled'], { HTTP_PROXY: proxy.url });
    assert.equal(run.code, 1, `an entry failed, so not exit 0: ${run.stderr}`);
    const s = summaryOf(run);
    assert.equal(s.errors, 1, JSON.stringify(s));
    const victimAttempts = proxy.stats.tampered - 2;
    assert.ok(victimAttempts >= 3, `the damaged put was retried (${proxy.stats.tampered} damaged bodies)`);
    const problems = fs.readFileSync(s.problemsFile!, 'utf8');
    assert.match(problems, /victim\.txt/);
    assert.match(problems, /MD5 differs from the one sent/);
    assert.match(problems, /x-ms-request-id [0-9a-f-]{36}/);
    for (const ua of proxy.stats.userAgents) assert.match(ua, new RegExp(`^clfsload/${VERSION.replace(/\./g, '\\.')} `), ua);
    assert.ok(proxy.stats.userAgents.size >= 1);

    // nothing damaged was stored: every blob is whole, and every other entry verifies
    const target = openTarget(c.url);
    try {
      const flipped = Buffer.from(always);
      flipped[0] = flipped[0]! ^ 0x01;
      for await (const b of target.list('')) {
        const data = await target.get(b.name);
        assert.ok(!data.includes(flipped), `blob ${b.name} holds a damaged body`);
      }
      const report = await verify(target, { source: tree });
      assert.ok(report.problems.length >= 1);
      assert.deepEqual(report.problems.filter((p) => p.path !== '/victim.txt'), [], 'only the failed entry differs from the source');
    } finally {
      await target.close?.();
    }
  } finally {
    await proxy.close();
  }
});
