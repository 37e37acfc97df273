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
  // exit 2: the same command can never succeed (docs/guide.md, exit codes)
  assert.equal(r.code, 2);
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
});

test('a missing or non-directory source is a usage error (exit 2, one line), for a load and a dry run, before anything is written', () => {
  const file = path.join(work, 'plain-file');
  fs.writeFileSync(file, 'not a directory');
  const blobs = path.join(work, 'src-check-blobs');
  fs.mkdirSync(blobs, { recursive: true });
  for (const [source, why] of [
    [path.join(work, 'missing-dir'), 'no such directory'],
    [file, 'not a directory'],
  ] as const) {
    for (const extra of [['--new'], ['--dry-run']]) {
      const state = path.join(work, 'src-check-state');
      const r = cli(['load', source, `file://${blobs}`, '--state', state, ...extra]);
      assert.equal(r.code, 2, `${source} ${extra}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^clfsload: source ${source.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${why}; give the root of the tree to load\n$`));
      assert.equal(r.stdout, '', 'no estimate or summary');
      assert.ok(!fs.existsSync(state));
    }
  }
  assert.deepEqual(fs.readdirSync(blobs), []);
  // the reference's command line as well
  const legacy = cli(['--new', path.join(work, 'legacy-src-state'), path.join(work, 'missing-dir'), 'acct', 'cont', 'sv=1&sig=x', '--endpoint', 'http://127.0.0.1:1/acct']);
  assert.equal(legacy.code, 2, legacy.stderr);
  assert.match(legacy.stderr, /missing-dir: no such directory/);
});

test('file:relative/dir is refused (it would be read as /relative/dir) with the file:///ABS form to use', () => {
  const r = cli(['load', src, 'file:staging/blobs', '--new', '--state', path.join(work, 'rel-state')]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /bad target URL file:staging\/blobs: a folder URL needs an absolute path, file:\/\/\/ABS\/DIR; for this folder: file:\/\/\/\S+\/staging\/blobs$/m);
  assert.ok(!fs.existsSync(path.join(work, 'rel-state')));
  const host = cli(['load', src, 'file://staging/blobs', '--new', '--state', path.join(work, 'rel-state')]);
  assert.equal(host.code, 2, host.stderr);
  assert.match(host.stderr, /three slashes: file:\/\/\/ABS\/DIR/);
});

test('exit 0 only when every entry is loaded: a re-run with --no-retry-errors of a load that had a failed entry exits 1', () => {
  // an unreadable file: as nobody when the tests run as root (root reads any file)
  const asRoot = process.getuid?.() === 0;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-cli-unread-'));
  try {
    fs.chmodSync(base, 0o777);
    const tree = path.join(base, 'src');
    fs.mkdirSync(tree);
    fs.writeFileSync(path.join(tree, 'readable'), 'a');
    fs.writeFileSync(path.join(tree, 'secret'), 'b');
    fs.chmodSync(path.join(tree, 'secret'), 0o000);
    fs.mkdirSync(path.join(base, 'blobs'), { mode: 0o777 });
    fs.chmodSync(path.join(base, 'blobs'), 0o777);
    const args = (extra: string[]) => ['load', tree, `file://${path.join(base, 'blobs')}`, '--state', path.join(base, 'state'), '--json', ...extra];
    const run = (a: string[]) => {
      const r = asRoot
        ? spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, BIN, ...a], { encoding: 'utf8', timeout: 120_000 })
        : spawnSync(process.execPath, [BIN, ...a], { encoding: 'utf8', timeout: 120_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr, summary: JSON.parse(r.stdout.trim().split('\n').pop() || 'null') };
    };
    const first = run(args(['--new']));
    assert.equal(first.code, 1, first.stdout + first.stderr);
    assert.equal(first.summary.errors, 1);
    assert.match(first.summary.problems.map((p: { path: string }) => p.path).join('\n'), /secret/);
    const again = run(args(['--no-retry-errors']));
    assert.equal(again.summary.errors, 1, again.stdout);
    assert.match(again.summary.problems.map((p: { path: string }) => p.path).join('\n'), /secret/);
    assert.equal(again.code, 1, `the summary counts a failed entry, so the exit code must not be 0: ${again.stdout}`);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
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

test('the reference form passes every one of its load options on: --max_errors, --retry_errors, --preserve_hardlinks, --dry_run', async () => {
  const c = await azurite.makeContainer();
  const tree = path.join(work, 'legacy-options-src');
  fs.mkdirSync(tree);
  fs.writeFileSync(path.join(tree, 'one.txt'), 'one\n');
  fs.writeFileSync(path.join(tree, 'broken.txt'), 'unreadable on the first run\n');
  fs.linkSync(path.join(tree, 'one.txt'), path.join(tree, 'one-hard.txt'));
  const state = path.join(work, 'legacy-options-state');
  const legacy = (extra: string[], env: Record<string, string> = {}) => {
    const r = cli([state, tree, azurite.accountName, c.containerName, c.sasToken, '--endpoint', azurite.endpoint, '--preserve_hardlinks', '1', '--json', ...extra], env);
    return { ...r, summary: JSON.parse(r.stdout.trim().split('\n').pop() || 'null') };
  };
  const faults = JSON.stringify({ seed: 1, rules: [{ op: 'open', path: 'broken.txt', code: 'EIO' }] });
  // --max_errors 1: the first failed entry stops the load (the default, 50, would finish with errors)
  const first = legacy(['--new', '--max_errors', '1', '--dry_run'], { CLFSLOAD_SOURCE_FAULTS: faults });
  assert.equal(first.code, 1, first.stderr);
  assert.equal(first.summary.status, 'error-budget-exceeded', first.stdout);
  assert.match(first.stderr, /^dry run result count=4 /m, '--dry_run counts the tree first');
  // --retry_errors 0: the failed entry stays failed on resume, though it is readable now
  const kept = legacy(['--retry_errors', '0']);
  assert.equal(kept.code, 1, kept.stderr);
  assert.equal(kept.summary.errors, 1, kept.stdout);
  // --retry_errors 1 (the reference's default): retried and loaded
  const retried = legacy(['--retry_errors', '1']);
  assert.equal(retried.code, 0, retried.stdout + retried.stderr);
  assert.equal(retried.summary.errors, 0, retried.stdout);
  // --preserve_hardlinks 1: the two names share one inode in the container
  const v = cli(['verify', c.url, '--source', tree, '--json']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.equal(JSON.parse(v.stdout).hardlinks, 'preserved');
});
