/**
 * "A load that says complete is complete" (issue 11): each case ended `complete`, 0 errors and
 * exit 0 while the container was missing entries. Every test asserts the invariant: exit 0 (or
 * status complete) only when `verify --source` is clean; otherwise every failed path is in the
 * summary and the problems file, and no dirent in the container points at nothing.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { load, verify, FolderTarget } from '../../src/index.js';
import type { Target, LoadOptions, LoadSummary } from '../../src/index.js';
import { setSourceFaults } from '../../src/scan/index.js';
import { RefuseInode } from '../helpers/refuse-inode.js';
import { containerManifest } from '../helpers/manifest.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
const CHILD = fileURLToPath(new URL('../helpers/load-child.js', import.meta.url));
const isRoot = process.getuid?.() === 0;

function workDir(t: TestContext, prefix: string): { work: string; src: string } {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `clfsload-${prefix}-`));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  return { work, src };
}

function folderLoad(source: string, work: string, extra: Partial<LoadOptions> = {}): { opts: LoadOptions; target: FolderTarget; blobs: string } {
  const blobs = path.join(work, 'blobs');
  fs.mkdirSync(blobs, { recursive: true });
  const target = new FolderTarget(blobs);
  return { target, blobs, opts: { source, target, targetKey: `file:${blobs}`, stateDir: path.join(work, 'state'), newTransfer: true, ...extra } };
}

async function problemsOf(target: Target, source?: string): Promise<string[]> {
  const report = await verify(target, source === undefined ? {} : { source });
  return report.problems.map((p) => `${p.path}: ${p.message}`);
}

/** The summary and the problems file both name exactly these source paths (relative to src). */
function assertFailedPaths(s: LoadSummary, src: string, stateDir: string, expected: string[]): void {
  const rel = (p: string) => path.relative(src, p);
  assert.deepEqual(s.problems.map((p) => rel(p.path)).sort(), [...expected].sort(), JSON.stringify(s.problems));
  assert.equal(s.problemsTotal, expected.length);
  const lines = fs.readFileSync(path.join(stateDir, 'problems.txt'), 'utf8').trim().split('\n');
  assert.deepEqual(lines.map((l) => rel(l.split('\t')[0]!)).sort(), [...expected].sort());
}

/** a/first and b/second, two names of one file in two directories, and b/other beside them. */
function linkedTree(t: TestContext, prefix: string): { work: string; src: string } {
  const { work, src } = workDir(t, prefix);
  fs.mkdirSync(path.join(src, 'a'));
  fs.mkdirSync(path.join(src, 'b'));
  fs.writeFileSync(path.join(src, 'a', 'first'), 'linked content\n');
  fs.linkSync(path.join(src, 'a', 'first'), path.join(src, 'b', 'second'));
  fs.writeFileSync(path.join(src, 'b', 'other'), 'plain\n');
  return { work, src };
}

for (const delayMs of [0, 400]) {
  test(`a hard-linked file whose first name fails ${delayMs ? 'after its other name\'s directory is ready' : 'at once'}: every name is left out, and a retry restores every name`, async (t) => {
    const { work, src } = linkedTree(t, 'linkfail');
    // the name the scan meets first is the inode's own; refuse the inode whichever it is
    const { opts, target } = folderLoad(src, work, { preserveHardlinks: true });
    const refusing = new RefuseInode(target, /^(first|second)$/, delayMs);
    const s = await load({ ...opts, target: refusing });
    assert.equal(s.status, 'complete-with-errors');
    assertFailedPaths(s, src, opts.stateDir, ['a/first', 'b/second']);
    assert.deepEqual(await problemsOf(target), [], 'no dirent points at nothing');
    const missing = await problemsOf(target, src);
    assert.ok(missing.some((p) => p.includes('first')) && missing.some((p) => p.includes('second')), missing.join('\n'));
    refusing.active = false;
    const again = await load({ ...opts, target: refusing, newTransfer: false });
    assert.equal(again.status, 'complete', JSON.stringify(again.problems));
    assert.deepEqual(await problemsOf(target, src), []);
  });
}

test('a name of a hard-linked file whose own lstat fails is a failed name, not a failed inode: the other name is stored with the names the load saw; a retry joins it', async (t) => {
  const { work, src } = linkedTree(t, 'linklstat');
  const { opts, target, blobs } = folderLoad(src, work, { preserveHardlinks: true });
  // the lstat of b/second fails: the load cannot know which inode that name is (as for a name
  // outside the source), so a/first's inode is stored with the one name it saw
  setSourceFaults({ rules: [{ op: 'lstat', path: 'b/second', code: 'ENOENT' }] });
  let s: LoadSummary;
  try {
    s = await load(opts);
  } finally {
    setSourceFaults(undefined);
  }
  assert.equal(s.status, 'complete-with-errors');
  assertFailedPaths(s, src, opts.stateDir, ['b/second']);
  // the reason travels with the path, in the summary and in the problems file
  assert.match(s.problems[0]!.message, /vanished while loading \(ENOENT\)/);
  const line = fs.readFileSync(path.join(opts.stateDir, 'problems.txt'), 'utf8').trim();
  assert.match(line.split('\t')[1] ?? '', /vanished while loading \(ENOENT\)/, line);
  assert.deepEqual(await problemsOf(target), [], 'the container verifies: nlink and BACK name what is there');
  const stored = await containerManifest(new FolderTarget(blobs));
  const first = stored.entries.get(Buffer.from('a/first').toString('hex'));
  assert.equal(first?.nlink, 1);
  assert.equal(stored.entries.has(Buffer.from('b/second').toString('hex')), false);
  assert.deepEqual((await problemsOf(target, src)).filter((p) => !p.includes('second')), [], 'only the failed name differs from the source');
  const again = await load({ ...opts, newTransfer: false });
  assert.equal(again.status, 'complete', JSON.stringify(again.problems));
  assert.deepEqual(await problemsOf(target, src), []);
  const joined = await containerManifest(new FolderTarget(blobs));
  for (const n of ['a/first', 'b/second']) {
    const e = joined.entries.get(Buffer.from(n).toString('hex'));
    assert.equal(e?.nlink, 2, n);
    assert.equal(e?.group, 'a/first', n);
  }
});

test('a directory whose read fails part way (EIO after 1,200 of 1,500 entries), then a resume: nothing is trusted half read', async (t) => {
  const { work, src } = workDir(t, 'eio');
  const big = path.join(src, 'big');
  fs.mkdirSync(big);
  for (let i = 0; i < 1500; i++) fs.writeFileSync(path.join(big, `f${i}`), `${i}\n`);
  fs.writeFileSync(path.join(src, 'top'), 'top\n');
  const { opts, target } = folderLoad(src, work);
  const faults = JSON.stringify({ rules: [{ op: 'readdir', path: big, after: 1200, code: 'EIO', times: -1 }] });
  const first = await runChild(t, [src, opts.targetKey.slice(5), opts.stateDir, '1', '0', '0'], { CLFSLOAD_SOURCE_FAULTS: faults });
  assert.equal(first.summary.status, 'complete-with-errors', first.stderr);
  assertFailedPaths(first.summary, src, opts.stateDir, ['big']);
  assert.deepEqual(await problemsOf(target), [], 'no dirent points at nothing');
  // the faults are gone: the resume reads the directory again from its start
  const again = await load({ ...opts, newTransfer: false });
  assert.equal(again.status, 'complete', JSON.stringify(again.problems));
  assert.deepEqual(await problemsOf(target, src), []);
});

test('kill -9 during the scan of a large directory with --preserve-hardlinks: the resume scans it again from a clean slate', async (t) => {
  const { work, src } = workDir(t, 'killscan');
  // the root is scanned first: it holds the first names, `big` the other names (and plain files)
  const big = path.join(src, 'big');
  fs.mkdirSync(big);
  const n = 1500;
  for (let i = 0; i < n; i++) {
    fs.writeFileSync(path.join(src, `p${i}`), `${i}\n`);
    fs.linkSync(path.join(src, `p${i}`), path.join(big, `l${i}`));
    fs.writeFileSync(path.join(big, `x${i}`), `x${i}\n`);
  }
  const { opts, target, blobs } = folderLoad(src, work, { preserveHardlinks: true });
  // a slow NAS: each lstat in `big` takes 2 ms, so its scan (3,000 entries, 3 batches) lasts ~6 s
  const slow = JSON.stringify({ rules: [{ op: 'lstat', pathRegex: '/big/', delayMs: 2 }] });
  const killed = await killDuringScan(src, blobs, opts.stateDir, 'big', { CLFSLOAD_SOURCE_FAULTS: slow });
  assert.ok(killed, 'the load was killed while `big` was being scanned, with rows of it committed');
  const s = await load({ ...opts, newTransfer: false });
  assert.equal(s.status, 'complete', JSON.stringify(s.problems));
  assert.deepEqual(await problemsOf(target, src), []);
  const db = new Database(path.join(opts.stateDir, 'state.db'), { readonly: true });
  try {
    const dup = db.prepare('SELECT COUNT(*) AS n FROM (SELECT parent_id, name FROM entries GROUP BY parent_id, name HAVING COUNT(*) > 1)').get() as { n: number };
    assert.equal(dup.n, 0, 'no name twice in one directory');
    const rows = (db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n;
    assert.equal(rows, 1 + 1 + 3 * n);
  } finally {
    db.close();
  }
});

/** Start a load in a child and SIGKILL it once `dirName` is SCANNING with a batch of its rows committed. */
async function killDuringScan(src: string, blobs: string, stateDir: string, dirName: string, env: Record<string, string>): Promise<boolean> {
  const child = spawn(process.execPath, [CHILD, src, blobs, stateDir, '1', '0', '1'], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, ...env } });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let killed = false;
  const dbFile = path.join(stateDir, 'state.db');
  for (let i = 0; i < 3000 && child.exitCode === null && !killed; i++) {
    await new Promise((r) => setTimeout(r, 20));
    if (!fs.existsSync(dbFile)) continue;
    try {
      const db = new Database(dbFile, { readonly: true, timeout: 50 });
      try {
        const row = db.prepare('SELECT id, state FROM entries WHERE name = ?').get(Buffer.from(dirName)) as { id: number; state: number } | undefined;
        if (row === undefined) continue;
        if (row.state > 2) break; // scanned already: too late
        const rows = (db.prepare('SELECT COUNT(*) AS n FROM entries WHERE parent_id = ?').get(row.id) as { n: number }).n;
        if (row.state === 2 && rows >= 1000) {
          child.kill('SIGKILL');
          killed = true;
        }
      } finally {
        db.close();
      }
    } catch {
      // the database is being created: look again
    }
  }
  const code = await exited;
  return killed && code === null;
}

async function runChild(t: TestContext, args: string[], env: Record<string, string>): Promise<{ summary: LoadSummary; stderr: string }> {
  const r = spawnSync(process.execPath, [CHILD, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  t.diagnostic(r.stderr);
  assert.equal(r.status, 0, r.stderr);
  return { summary: JSON.parse(r.stdout.trim().split('\n').pop()!) as LoadSummary, stderr: r.stderr };
}

/** Run the CLI as root, or as `nobody` when asked (root reads everything, so permission cases need another user). */
function cli(args: string[], asNobody: boolean) {
  const argv = asNobody && isRoot ? ['runuser', '-u', 'nobody', '--', process.execPath, BIN, ...args] : [process.execPath, BIN, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000, env: { ...process.env, HOME: os.tmpdir() } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout.trim().split('\n').pop()!) as LoadSummary };
}

test('children whose lstat fails (a directory with mode r--, as an unprivileged user) are failed entries; --no-retry-errors keeps reporting them', async (t) => {
  if (!isRoot && process.getuid?.() === undefined) {
    t.skip('needs a POSIX user');
    return;
  }
  const work = fs.mkdtempSync(path.join('/tmp', 'clfsload-lstat-'));
  t.after(() => {
    spawnSync('chmod', ['-R', 'u+rwx', work]);
    fs.rmSync(work, { recursive: true, force: true });
  });
  fs.chmodSync(work, 0o777);
  const src = path.join(work, 'src');
  const locked = path.join(src, 'locked');
  fs.mkdirSync(locked, { recursive: true });
  fs.writeFileSync(path.join(src, 'ok.txt'), 'ok\n');
  for (const n of ['one', 'two', 'three']) fs.writeFileSync(path.join(locked, n), `${n}\n`);
  const blobs = path.join(work, 'blobs');
  const state = path.join(work, 'state');
  fs.mkdirSync(blobs);
  if (isRoot) {
    spawnSync('chown', ['-R', 'nobody', work]);
  }
  // readable (names can be listed) but not searchable: every lstat of a child fails with EACCES
  fs.chmodSync(locked, 0o444);
  const url = `file://${blobs}`;
  const r = cli(['load', src, url, '--new', '--state', state, '--json'], true);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const s = r.json();
  assert.equal(s.status, 'complete-with-errors');
  assert.equal(s.errors, 3);
  assertFailedPaths(s, src, state, ['locked/one', 'locked/three', 'locked/two']);
  assert.deepEqual(await problemsOf(new FolderTarget(blobs)), []);
  // case 5: a re-run that does not retry still says what failed, and does not exit 0
  const norety = cli(['load', src, url, '--state', state, '--no-retry-errors', '--json'], true);
  assert.equal(norety.code, 1, norety.stdout + norety.stderr);
  assert.equal(norety.json().status, 'complete-with-errors');
  assert.equal(norety.json().errors, 3);
  // the user re-runs as a user who can read them (the message says so): a plain re-run retries
  // them and completes (when the tests do not run as root, make the directory searchable instead,
  // which verify then reports as a changed mode: that case is covered by the root run in CI)
  if (!isRoot) fs.chmodSync(locked, 0o555);
  const fixed = cli(['load', src, url, '--state', state, '--json'], false);
  assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
  assert.equal(fixed.json().status, 'complete');
  if (isRoot) assert.deepEqual(await problemsOf(new FolderTarget(blobs), src), []);
  else assert.deepEqual(await problemsOf(new FolderTarget(blobs)), []);
});

for (const size of [900, 9 * 1024 * 1024]) {
  test(`a ${size > 16384 ? 'large' : 'small'} file written to while it is read is retried, then failed with its path; a quiet re-run loads it`, async (t) => {
    const { work, src } = workDir(t, 'changing');
    const busy = path.join(src, 'busy.bin');
    fs.writeFileSync(busy, Buffer.alloc(size, 1));
    fs.writeFileSync(path.join(src, 'quiet.txt'), 'quiet\n');
    const { opts, target } = folderLoad(src, work);
    // every read of busy.bin takes 150 ms, and a writer changes the file every 20 ms meanwhile
    setSourceFaults({ rules: [{ op: 'read', path: 'busy.bin', delayMs: 150 }] });
    let n = 0;
    const writer = setInterval(() => fs.writeFileSync(busy, Buffer.alloc(size, ++n % 250)), 20);
    let s: LoadSummary;
    try {
      s = await load(opts);
    } finally {
      clearInterval(writer);
      setSourceFaults(undefined);
    }
    assert.equal(s.status, 'complete-with-errors');
    assertFailedPaths(s, src, opts.stateDir, ['busy.bin']);
    assert.match(s.problems[0]!.message, /changed while it was read/);
    assert.deepEqual(await problemsOf(target), []);
    const again = await load({ ...opts, newTransfer: false });
    assert.equal(again.status, 'complete', JSON.stringify(again.problems));
    assert.deepEqual(await problemsOf(target, src), [], 'the file as it is now, with its current attributes');
  });
}

test('a folder target inside the source, or holding it, is refused before anything is written', async (t) => {
  const { work, src } = workDir(t, 'overlap');
  fs.writeFileSync(path.join(src, 'a'), 'a\n');
  const inside = path.join(src, 'blobs');
  fs.mkdirSync(inside);
  for (const dir of [inside, work]) {
    const r = spawnSync(process.execPath, [BIN, 'load', src, `file://${dir}`, '--new', '--state', path.join(os.tmpdir(), `clfsload-overlap-state-${process.pid}`)], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /overlaps the source/);
  }
  assert.deepEqual(fs.readdirSync(inside), []);
  assert.ok(!fs.existsSync(path.join(os.tmpdir(), `clfsload-overlap-state-${process.pid}`)));
});

test('phases as data: a run limited to INIT and TRANSFER stops before FINALIZE (phases-done, no root yet); the next run finishes', async (t) => {
  const { work, src } = workDir(t, 'phases');
  fs.mkdirSync(path.join(src, 'd'));
  fs.writeFileSync(path.join(src, 'd', 'f'), 'f\n');
  const { opts, target } = folderLoad(src, work);
  const first = await load({ ...opts, phases: ['init', 'transfer'] as LoadOptions['phases'] });
  assert.equal(first.status, 'phases-done');
  assert.equal(first.phase, 'finalize');
  const report = await verify(target);
  assert.ok(!report.ok, 'the container does not look complete before FINALIZE');
  const second = await load({ ...opts, newTransfer: false });
  assert.equal(second.status, 'complete');
  assert.deepEqual(await problemsOf(target, src), []);
});
