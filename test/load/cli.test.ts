import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openTarget, startAzurite } from '../../src/index.js';
import { buildOddTree } from '../helpers/tree-builder.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
type Azurite = Awaited<ReturnType<typeof startAzurite>>;
let azurite: Azurite;
let work: string;
let src: string;

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, XDG_STATE_HOME: path.join(work, 'xdg'), ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-cli-'));
  src = path.join(work, 'src');
  buildOddTree(src, { manyEntries: 600, bigFileBytes: 9 * 1024 * 1024 });
  azurite = await startAzurite();
});

after(async () => {
  await azurite?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

test('clfsload load into Azurite with a SAS URL: --json summary, exit 0, verify passes; a re-run is already complete', async () => {
  const c = await azurite.makeContainer();
  const r = cli(['load', src, c.url, '--new', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(s.status, 'complete');
  assert.equal(s.errors, 0);
  assert.ok(s.blobsWritten > 600);
  const v = cli(['verify', c.url, '--source', src, '--json']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.equal(JSON.parse(v.stdout).ok, true);
  const again = cli(['load', src, c.url, '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout.trim().split('\n').pop()!).status, 'already-complete');
});

test('drop-in reference command line with --endpoint and a SAS pasted with a leading ?', async () => {
  const c = await azurite.makeContainer();
  const state = path.join(work, 'legacy-state');
  const r = cli(['--new', state, src, azurite.accountName, c.containerName, `?${c.sasToken}`, '--endpoint', azurite.endpoint, '--compression', 'LZ4', '--preserve_hardlinks', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()!).status, 'complete');
  const v = cli(['verify', c.url, '--source', src]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('a non-empty container is refused before anything is written, with a one-line error', async () => {
  const c = await azurite.makeContainer();
  const first = cli(['load', src, c.url, '--new', '--state', path.join(work, 'ne1')]);
  assert.equal(first.code, 0, first.stderr);
  const r = cli(['load', src, c.url, '--new', '--state', path.join(work, 'ne2')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is not empty/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  assert.ok(!fs.existsSync(path.join(work, 'ne2')));
});

test('a SAS without write permission stops with a message naming the permission', async () => {
  const c = await azurite.makeContainer(undefined, { permissions: 'rl' });
  const r = cli(['load', src, c.url, '--new', '--state', path.join(work, 'ro')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /permission/i);
  assert.match(r.stderr, /\bw\b|write/);
});

test('an expired SAS is named as such', async () => {
  const c = await azurite.makeContainer(undefined, { lifetimeMs: -3600_000 });
  const r = cli(['load', src, c.url, '--new', '--state', path.join(work, 'exp')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /expired/i);
});

test('bad usage: a clear one-line error and exit code 2', () => {
  const r = cli(['load', src, 'ftp://nowhere/x', '--new']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad target URL ftp:\/\/nowhere\/x/);
  const m = cli(['load', path.join(work, 'missing-dir'), 'file:///tmp/x', '--new']);
  assert.equal(m.code, 1);
  assert.match(m.stderr, /missing-dir: no such directory/);
});

/** What an lstat walk of `root` finds (the root included): entries by kind and bytes of regular files. */
function census(root: string): { entries: number; kinds: Record<string, number>; fileBytes: number } {
  const kinds: Record<string, number> = {};
  let fileBytes = 0;
  let entries = 0;
  // byte paths: the odd tree has a name that is not UTF-8
  const walk = (p: Buffer) => {
    const st = fs.lstatSync(p);
    entries += 1;
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : 'other';
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    if (st.isFile()) fileBytes += st.size;
    if (st.isDirectory()) for (const n of fs.readdirSync(p, { encoding: 'buffer' })) walk(Buffer.concat([p, Buffer.from('/'), n]));
  };
  walk(Buffer.from(root));
  return { entries, kinds, fileBytes };
}

test('--dry-run counts entries, bytes, objects and requests and writes nothing', async () => {
  const c = await azurite.makeContainer();
  const xdgStates = path.join(work, 'xdg', 'clfsload');
  const statesFor = (container: string) => (fs.existsSync(xdgStates) ? fs.readdirSync(xdgStates).filter((n) => n.includes(container)) : []);
  const r = cli(['load', src, c.url, '--dry-run', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assert.equal(e.dryRun, true);
  const want = census(src);
  assert.equal(e.entries, want.entries);
  assert.deepEqual(e.kinds, want.kinds);
  assert.equal(e.fileBytes, want.fileBytes);
  assert.equal(e.errors, 0);
  // the 9 MiB file is 16 KiB inline + 2 segments; 'many' spills into a directory segment
  assert.ok(e.fileSegments >= 2);
  assert.ok(e.objects >= want.entries - 1 + e.fileSegments);
  assert.ok(e.requests > e.objects);
  const names: string[] = [];
  for await (const b of openTarget(c.url).list('')) names.push(b.name);
  assert.deepEqual(names, [], 'the container is still empty');
  assert.deepEqual(statesFor(c.containerName), [], 'no state folder under the default state home');

  // into a folder, with --state: the folder stays empty and the state folder is never made
  const blobs = path.join(work, 'dry-blobs');
  fs.mkdirSync(blobs);
  const state = path.join(work, 'dry-state');
  const f = cli(['load', src, `file://${blobs}`, '--dry-run', '--state', state]);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stdout, new RegExp(`^dry run: ${want.entries} entries`));
  assert.deepEqual(fs.readdirSync(blobs), []);
  assert.ok(!fs.existsSync(state), 'no state folder');
  assert.deepEqual(statesFor(path.basename(blobs)), []);
});
