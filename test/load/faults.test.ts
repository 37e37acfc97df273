import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { load, verify, openTarget, parseTargetUrl, RetryTarget, startAzurite, FolderTarget, isClfsError } from '../../src/index.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { buildOddTree, buildSmallFilesTree } from '../helpers/tree-builder.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
type Azurite = Awaited<ReturnType<typeof startAzurite>>;
let azurite: Azurite;
let work: string;
let src: string;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-faults-'));
  src = path.join(work, 'src');
  buildOddTree(src, { manyEntries: 800, bigFileBytes: 9 * 1024 * 1024 });
  azurite = await startAzurite();
});

after(async () => {
  await azurite?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

function retrying(url: string) {
  const spec = parseTargetUrl(url);
  return { spec, target: new RetryTarget(openTarget(spec), { baseDelayMs: 20, maxDelayMs: 2000, maxAttempts: 15 }), key: `azure:${azurite.endpoint}/${(spec as { containerName: string }).containerName}` };
}

test('through a proxy that answers 503 ServerBusy, 500, drops connections and stalls: the load completes and verifies', async () => {
  const proxy = await startFaultProxy(azurite.endpoint, { mode: 'mixed', fraction: 0.08, delayMs: 100, seed: 3 });
  try {
    const c = await azurite.makeContainer();
    const { target } = retrying(proxy.via(c.url));
    const s = await load({ source: src, target, targetKey: 'proxy', stateDir: path.join(work, 'proxy-state'), newTransfer: true });
    assert.equal(s.status, 'complete');
    assert.ok(Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0) > 20, JSON.stringify(proxy.stats));
    proxy.setFaults({ mode: 'pass' });
    const report = await verify(retrying(c.url).target, { source: src });
    assert.deepEqual(report.problems, []);
  } finally {
    await proxy.close();
  }
});

test('Azurite stopped and restarted mid-run: retries carry the load through', async () => {
  const c = await azurite.makeContainer();
  const { target } = retrying(c.url);
  const running = load({ source: src, target, targetKey: 'restart', stateDir: path.join(work, 'restart-state'), newTransfer: true, concurrency: 4 });
  await new Promise((r) => setTimeout(r, 300));
  await azurite.restart();
  const s = await running;
  assert.equal(s.status, 'complete', s.problems.join('\n'));
  const report = await verify(target, { source: src });
  assert.deepEqual(report.problems, []);
});

test('a SAS that expires mid-run stops the load naming the cause; a fresh SAS resumes it', async () => {
  const state = path.join(work, 'expiry-state');
  const big = path.join(work, 'big-src');
  buildSmallFilesTree(big, 6000, 60);
  const name = `expiring-${Date.now()}`;
  await azurite.makeContainer(name);
  const short = await azurite.containerSasUrl(name, { lifetimeMs: 4000 });
  const r = spawnSync(process.execPath, [BIN, 'load', big, short.url, '--new', '--state', state, '--concurrency', '2'], { encoding: 'utf8', timeout: 120_000 });
  if (r.status === 0) {
    // the machine was fast enough to finish before the SAS expired: nothing to test here
    return;
  }
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /expired/i);
  const fresh = await azurite.containerSasUrl(name);
  const again = spawnSync(process.execPath, [BIN, 'load', big, fresh.url, '--state', state, '--json'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(again.status, 0, again.stdout + again.stderr);
  assert.equal(JSON.parse(again.stdout.trim().split('\n').pop()!).status, 'complete');
  const report = await verify(retrying(fresh.url).target, { source: big });
  assert.deepEqual(report.problems, []);
});

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  test(`${signal} stops gracefully with exit code ${code}; the next run resumes and completes`, async () => {
    const tree = path.join(work, `sig-src-${signal}`);
    buildSmallFilesTree(tree, 4000, 40);
    const blobs = path.join(work, `sig-blobs-${signal}`);
    fs.mkdirSync(blobs);
    const state = path.join(work, `sig-state-${signal}`);
    const url = `file://${blobs}`;
    const child = spawn(process.execPath, [BIN, 'load', tree, url, '--new', '--state', state, '--concurrency', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    // signal once the transfer is under way (the handlers are installed by then)
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        if (stderr.includes('phase transfer started')) resolve();
      });
      child.on('exit', () => resolve());
    });
    child.kill(signal);
    const exit = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    if (exit === 0) return; // finished before the signal arrived
    assert.equal(exit, code, stderr);
    assert.match(stderr, new RegExp(`${signal}: finishing the writes in flight`));
    const again = spawnSync(process.execPath, [BIN, 'load', tree, url, '--state', state, '--json'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(again.status, 0, again.stderr);
    const report = await verify(new FolderTarget(blobs), { source: tree });
    assert.deepEqual(report.problems, []);
  });
}

test('a full disk under the state folder gives a clear error naming the folder', async (t) => {
  const mnt = path.join(work, 'small-fs');
  fs.mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    t.skip('cannot mount a small tmpfs here (needs root)');
    return;
  }
  try {
    const tree = path.join(work, 'df-src');
    buildSmallFilesTree(tree, 3000, 30);
    const blobs = path.join(work, 'df-blobs');
    fs.mkdirSync(blobs);
    await assert.rejects(
      load({ source: tree, target: new FolderTarget(blobs), targetKey: 'df', stateDir: path.join(mnt, 'state'), newTransfer: true }),
      (err: unknown) => isClfsError(err) && err.code === 'E_STATE_IO' && /disk full/.test(err.message) && err.message.includes(mnt),
    );
  } finally {
    execFileSync('umount', [mnt]);
  }
});
