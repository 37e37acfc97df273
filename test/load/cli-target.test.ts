/**
 * The CLI against a blob service that is slow or goes away: --concurrency above the Azure
 * default is honoured (or refused past its range), and a host that cannot be reached stops the
 * load quickly with one line and a state that a re-run resumes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startAzurite } from '../../src/index.js';
import { DEFAULT_AZURE_CONNECTIONS } from '../../src/targets/azure-target.js';
import { startHoldProxy } from '../helpers/hold-proxy.js';
import { buildSmallFilesTree } from '../helpers/tree-builder.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
type Azurite = Awaited<ReturnType<typeof startAzurite>>;
let azurite: Azurite;
let work: string;

/** Async, so a proxy in this process keeps serving while the CLI runs. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, XDG_STATE_HOME: path.join(work, 'xdg') } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The lines the CLI itself wrote about an error (progress lines are not errors). */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('clfsload:') || /^\s+at /.test(l) || /retrying/.test(l));
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-cli-target-'));
  azurite = await startAzurite();
});

after(async () => {
  await azurite?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

test('--concurrency above the Azure default is honoured: more requests in flight than the default allows, never more than asked', async () => {
  const src = path.join(work, 'many');
  buildSmallFilesTree(src, 500, 2);
  const proxy = await startHoldProxy(azurite.endpoint, { holdPutMs: 300 });
  try {
    const c = await azurite.makeContainer();
    const asked = 400;
    const r = await cli(['load', src, proxy.via(c.url), '--new', '--state', path.join(work, 'many-state'), '--concurrency', String(asked), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()!).status, 'complete');
    assert.ok(proxy.stats.puts >= 500, JSON.stringify(proxy.stats));
    assert.ok(proxy.stats.maxInFlight > DEFAULT_AZURE_CONNECTIONS, `at most ${proxy.stats.maxInFlight} requests were in flight at once; --concurrency ${asked} was capped`);
    assert.ok(proxy.stats.maxInFlight <= asked, `${proxy.stats.maxInFlight} requests in flight for --concurrency ${asked}`);
    const v = await cli(['verify', c.url, '--source', src, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  } finally {
    await proxy.close();
  }
});

test('--concurrency outside 1..1024 is refused with one line naming the option and the range, before anything is written', async () => {
  const c = await azurite.makeContainer();
  const src = path.join(work, 'tiny');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, 'f'), 'x');
  for (const value of ['1025', '0', '100000']) {
    const state = path.join(work, `refused-${value}`);
    const r = await cli(['load', src, c.url, '--new', '--state', state, '--concurrency', value]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--concurrency/);
    assert.match(r.stderr, /1 to 1024/);
    assert.ok(!fs.existsSync(state));
  }
  const ok = await cli(['load', src, c.url, '--new', '--state', path.join(work, 'max-ok'), '--concurrency', '1024', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout.trim().split('\n').pop()!).status, 'complete');
});

test('nothing listening at the endpoint: exit 1 within seconds, one line naming the host, no retry chatter, no stack', async () => {
  const src = path.join(work, 'tiny2');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, 'f'), 'x');
  const c = await azurite.makeContainer();
  const r = await cli(['load', src, `${c.containerName}?${c.sasToken}`, '--endpoint', 'http://127.0.0.1:1/devstoreaccount1', '--new', '--state', path.join(work, 'refused-state')]);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(errorLines(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /^clfsload: cannot reach 127\.0\.0\.1:1 .*connection refused.*check the URL and the network, then re-run the same command to resume$/m);
  assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
});

test('a host name that does not resolve is a target error (exit 1, not a usage error), said in one line', async () => {
  const src = path.join(work, 'tiny3');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, 'f'), 'x');
  const r = await cli(['load', src, 'https://nosuchaccount.invalid/container?sv=2024-08-04&sp=rwdl&sig=abc', '--new', '--state', path.join(work, 'dns-state')]);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(errorLines(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /^clfsload: cannot reach nosuchaccount\.invalid .*host not found.*check the account name in the URL and the network, then re-run the same command to resume$/m);
  assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
});

test('the service goes away mid-load: the run stops in seconds with one line, not entry by entry; the same command resumes and completes', async () => {
  const src = path.join(work, 'outage');
  buildSmallFilesTree(src, 600, 6);
  const proxy = await startHoldProxy(azurite.endpoint, { holdPutMs: 40 });
  const c = await azurite.makeContainer();
  const url = proxy.via(c.url);
  const state = path.join(work, 'outage-state');
  try {
    const running = cli(['load', src, url, '--new', '--state', state, '--concurrency', '4', '--json']);
    // the state records entries a range (64 files) at a time, once all of its puts are answered,
    // and at --concurrency 4 each of the two encode workers has two sockets: by 250 puts some
    // ranges are recorded, so the re-run has something to resume from
    while (proxy.stats.puts < 250) await new Promise((r) => setTimeout(r, 20));
    await proxy.stop();
    const stoppedAt = Date.now();
    const r = await running;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.ok(Date.now() - stoppedAt < 30_000, `took ${Date.now() - stoppedAt} ms after the service went away`);
    assert.deepEqual(errorLines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^clfsload: cannot reach 127\\.0\\.0\\.1:${proxy.port} .*re-run the same command to resume$`, 'm'));
    assert.doesNotMatch(r.stdout, /complete/, 'no summary claims the load complete');
    assert.ok(fs.existsSync(path.join(state, 'state.db')), 'the state is kept');

    await proxy.start();
    const again = await cli(['load', src, url, '--state', state, '--json']);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const s = JSON.parse(again.stdout.trim().split('\n').pop()!);
    assert.equal(s.status, 'complete');
    assert.equal(s.errors, 0);
    assert.ok(s.entriesWritten < 600 + 7, `the re-run resumed (wrote ${s.entriesWritten} entries)`);
    const v = await cli(['verify', c.url, '--source', src, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.equal(JSON.parse(v.stdout).ok, true);
  } finally {
    await proxy.close();
  }
});
