import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { load, updateDryRun, verify, FolderTarget, isClfsError } from '../../src/index.js';
import type { LoadOptions, LoadSummary } from '../../src/index.js';
import { withSourceFaults } from '../helpers/source-faults.js';
import { buildRandomTree } from '../helpers/random-tree.js';
import { applyRandomEdits } from '../helpers/random-edits.js';
import type { EditKind } from '../helpers/random-edits.js';
import { containerManifest, manifestLines, sourceManifest } from '../helpers/manifest.js';
import { seeded } from '../helpers/tree-builder.js';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rootBlobName } from '../../src/codec/index.js';
import type { LoadChildOptions } from '../helpers/load-child.js';

const CHILD = fileURLToPath(new URL('../helpers/load-child.js', import.meta.url));

/** Run an update in a child and kill -9 it after `ms`; resolves with whether it was killed before it finished. */
function updateKilledAfter(o: LoadChildOptions, ms: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, '--options', JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += String(d)));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(true);
      else if (code === 0) resolve(false);
      else reject(new Error(`update child exited ${code}: ${err}`));
    });
  });
}

function workDir(t: TestContext, prefix: string): { work: string; src: string } {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `clfsload-${prefix}-`));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const src = path.join(work, 'src');
  return { work, src };
}

function folderOptions(src: string, work: string, name: string, extra: Partial<LoadOptions> = {}): LoadOptions {
  const blobs = path.join(work, name);
  fs.mkdirSync(blobs, { recursive: true });
  return { source: src, target: new FolderTarget(blobs), targetKey: `file:${blobs}`, stateDir: path.join(work, `${name}-state`), newTransfer: true, concurrency: 8, encodeWorkers: 1, ...extra };
}

// the blobs a listing shows: a folder target killed mid-put leaves unlisted temp files (src/targets/folder-target.ts)
const blobCount = (dir: string) => fs.readdirSync(dir).filter((n) => !n.startsWith('.clfsload-tmp-')).length;

/**
 * The updated container is what a fresh load of the edited tree would be: it verifies against the
 * source, decodes to the same entries, attributes and data, and holds as many blobs (no garbage).
 */
async function assertLikeFreshLoad(t: TestContext, work: string, src: string, updated: LoadOptions, why: string): Promise<void> {
  const report = await verify(updated.target, { source: src });
  assert.deepEqual(report.problems, [], why);
  assert.ok(report.ok, why);
  const fresh = folderOptions(src, work, `fresh-${Date.now()}`, { preserveHardlinks: updated.preserveHardlinks });
  const f = await load(fresh);
  assert.equal(f.status, 'complete', why);
  const got = await containerManifest(updated.target);
  const want = await containerManifest(fresh.target);
  assert.deepEqual(got.broken, [], why);
  assert.deepEqual(manifestLines(got), manifestLines(want), why);
  assert.deepEqual(manifestLines(got), manifestLines(sourceManifest(src, { preserveHardlinks: updated.preserveHardlinks === true })), why);
  const kinds = (dir: string) => {
    const m = new Map<string, number>();
    for (const n of fs.readdirSync(dir).filter((x) => !x.startsWith('.clfsload-tmp-'))) {
      const k = n.includes('_') ? n.split('.')[1]! : n;
      m.set(k, (m.get(k) ?? 0) + 1);
    }
    return [...m].sort().map(([k, v]) => `${k}:${v}`).join(' ');
  };
  assert.equal(blobCount(updated.targetKey.slice(5)), blobCount(fresh.targetKey.slice(5)), `${why}: blob count against a fresh load (${kinds(updated.targetKey.slice(5))} against ${kinds(fresh.targetKey.slice(5))})`);
  fs.rmSync(fresh.targetKey.slice(5), { recursive: true, force: true });
  fs.rmSync(fresh.stateDir, { recursive: true, force: true });
  void t;
}

async function update(opts: LoadOptions, extra: Partial<LoadOptions> = {}): Promise<LoadSummary> {
  return load({ ...opts, newTransfer: false, update: true, ...extra });
}

test('update after one edit of each kind, copy mode: like a fresh load of the edited tree', async (t) => {
  const { work, src } = workDir(t, 'upd-each');
  buildRandomTree(src, seeded(7), { bigDir: false, bigFiles: false });
  const opts = folderOptions(src, work, 'blobs');
  assert.equal((await load(opts)).status, 'complete');
  const kinds: EditKind[] = ['add-file', 'add-dir', 'remove-file', 'remove-dir', 'rename', 'rewrite', 'grow-past-16k', 'shrink-below-16k', 'chmod', 'touch', 'file-to-dir', 'file-to-symlink', 'add-hardlink'];
  const rand = seeded(11);
  for (const kind of kinds) {
    const log = applyRandomEdits(src, rand, 1, [kind]);
    const s = await update(opts);
    assert.equal(s.status, 'complete', `${log.join('; ')}: ${JSON.stringify(s.problems)}`);
    assert.equal(s.errors, 0);
    if (process.env.UPDATE_DEBUG) console.log(log.join('; '), JSON.stringify(s.update), s.blobsWritten, s.blobsDeleted);
    await assertLikeFreshLoad(t, work, src, opts, log.join('; '));
  }
  // nothing changed since: nothing is written
  const again = await update(opts);
  assert.equal(again.status, 'already-complete');
  assert.equal(again.blobsWritten, 0);
  assert.equal(again.blobsDeleted, 0);
});

/** Seeded rounds: a random tree, random edits, an update; with hard links preserved or not, with the state kept or lost. */
for (const variant of [
  { name: 'copy mode, state kept', preserveHardlinks: false, lose: false, seed: 101 },
  { name: 'hard links preserved, state kept', preserveHardlinks: true, lose: false, seed: 202 },
  { name: 'copy mode, state lost (rebuilt from the container)', preserveHardlinks: false, lose: true, seed: 303 },
  { name: 'hard links preserved, state lost (rebuilt from the container)', preserveHardlinks: true, lose: true, seed: 404 },
]) {
  test(`random edits then update, ${variant.name}: like a fresh load each time`, async (t) => {
    const rounds = Number(process.env.UPDATE_ROUNDS ?? 2);
    for (let r = 0; r < rounds; r++) {
      const seed = variant.seed + r;
      const { work, src } = workDir(t, `upd-rand-${seed}`);
      const rand = seeded(seed);
      buildRandomTree(src, rand, { bigDir: rand() < 0.3, bigFiles: false });
      const opts = folderOptions(src, work, 'blobs', { preserveHardlinks: variant.preserveHardlinks });
      assert.equal((await load(opts)).status, 'complete');
      for (let pass = 0; pass < 2; pass++) {
        const log = applyRandomEdits(src, rand, 4 + Math.floor(rand() * 8));
        if (variant.lose) fs.rmSync(opts.stateDir, { recursive: true, force: true });
        const s = await update(opts, variant.lose ? { preserveHardlinks: undefined } : {});
        const why = `seed ${seed} pass ${pass}: ${log.join('; ')}`;
        assert.ok(s.status === 'complete' || s.status === 'already-complete', `${why}: ${s.status} ${JSON.stringify(s.problems)}`);
        assert.equal(s.errors, 0, why);
        await assertLikeFreshLoad(t, work, src, opts, why);
      }
    }
  });
}

test('files grown and shrunk across 8 MiB: new segments written, the old ones deleted, like a fresh load', async (t) => {
  const { work, src } = workDir(t, 'upd-8m');
  fs.mkdirSync(src);
  const rand = seeded(5);
  const big = Buffer.alloc(8 * 1024 * 1024 + 40000, 7);
  fs.writeFileSync(path.join(src, 'big'), big);
  fs.writeFileSync(path.join(src, 'small'), 'x'.repeat(20000));
  fs.writeFileSync(path.join(src, 'same'), Buffer.alloc(9 * 1024 * 1024, 3));
  const opts = folderOptions(src, work, 'blobs');
  assert.equal((await load(opts)).status, 'complete');
  const sameBlobs = fs.readdirSync(opts.targetKey.slice(5)).filter((n) => n.includes('.0008.')).sort();
  applyRandomEdits(src, rand, 0);
  fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(100000, 9));
  fs.writeFileSync(path.join(src, 'small'), Buffer.alloc(8 * 1024 * 1024 + 20000, 1));
  fs.chmodSync(path.join(src, 'same'), 0o600);
  const s = await update(opts);
  assert.equal(s.status, 'complete');
  assert.equal(s.update?.changed, 2, JSON.stringify(s.update));
  assert.equal(s.update?.attributesOnly, 1, JSON.stringify(s.update)); // 'same': its inode only
  await assertLikeFreshLoad(t, work, src, opts, '8 MiB edits');
  // the file whose mode alone changed kept its data blobs: not read, not uploaded
  const after = new Set(fs.readdirSync(opts.targetKey.slice(5)));
  const bigSegments = sameBlobs.filter((n) => after.has(n));
  assert.ok(bigSegments.length >= 1, 'the unchanged data segments of "same" are still there');
  void rand;
});

test('kill -9 at random points of an update, then re-run: the same container as an uninterrupted update', async (t) => {
  // 808: the state folder is lost first, so the first kills may land while it is rebuilt from the container
  for (const [seed, preserveHardlinks, lose] of [[606, false, false], [707, true, false], [808, false, true]] as const) {
    const { work, src } = workDir(t, `upd-kill-${seed}`);
    const rand = seeded(seed);
    buildRandomTree(src, rand, { bigDir: false, bigFiles: false });
    const opts = folderOptions(src, work, 'blobs', { preserveHardlinks });
    assert.equal((await load(opts)).status, 'complete');
    const log = applyRandomEdits(src, rand, 10);
    // enough work for the kills to land in the middle of it
    const many = path.join(src, 'many-new');
    fs.mkdirSync(many);
    // past 16 KiB, so each is a segment and an inode put of its own (small files go in batches, one delay each)
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(many, `n${i}`), Buffer.alloc(17000, i % 251));
    const blobs = opts.targetKey.slice(5);
    if (lose) fs.rmSync(opts.stateDir, { recursive: true });
    const child: LoadChildOptions = { source: src, blobDir: blobs, stateDir: opts.stateDir, newTransfer: false, update: true, latencyMs: 40, concurrency: 4, preserveHardlinks, encodeWorkers: 1 };
    let kills = 0;
    for (let k = 0; k < 6; k++) {
      // 600 puts at 40 ms, 4 at a time: at least 6 s of writing after the comparison
      const killed = await updateKilledAfter(child, 150 + Math.floor(rand() * 2500));
      if (!killed) break;
      kills += 1;
      // a container that looks finished must be whole: either the old one or the update's
      // (a kill inside FINALIZE's own window, final root written and tmp root not yet deleted, is the load's, and leaves the tmp root over)
      const tmpLeft = fs.readdirSync(blobs).some((n) => n.startsWith('tmp'));
      if (fs.existsSync(path.join(blobs, rootBlobName(9))) && !tmpLeft) {
        const r = await verify(opts.target);
        assert.deepEqual(r.problems, [], `seed ${seed}: after kill ${kills}, a finished-looking container`);
      }
    }
    assert.ok(kills > 0, `seed ${seed}: no kill landed before the update finished`);
    if (process.env.UPDATE_DEBUG) console.log(`seed ${seed}: ${kills} kills`);
    const s = await update(opts);
    assert.ok(s.status === 'complete' || s.status === 'already-complete', `seed ${seed}: ${s.status}`);
    await assertLikeFreshLoad(t, work, src, opts, `seed ${seed} after ${kills} kills: ${log.join('; ')}`);
  }
});

function snapshot(dir: string): string[] {
  return fs.readdirSync(dir).map((n) => `${n}:${fs.statSync(path.join(dir, n)).mtimeMs}:${fs.statSync(path.join(dir, n)).size}`).sort();
}

async function refused(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isClfsError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

test('refusals, with nothing written: a cache wrote to the container, other options, another source, --new, an unfinished load', async (t) => {
  const { work, src } = workDir(t, 'upd-refuse');
  buildRandomTree(src, seeded(9), { bigDir: false, bigFiles: false });
  const opts = folderOptions(src, work, 'blobs');
  assert.equal((await load(opts)).status, 'complete');
  const blobs = opts.targetKey.slice(5);
  applyRandomEdits(src, seeded(10), 3, ['add-file', 'rewrite', 'remove-file']);

  // options the load was not written with
  let before = snapshot(blobs);
  await refused(update(opts, { compression: 'disabled' }), 'E_STATE_MISMATCH', /loaded with compression "lz4".*drop --compression/);
  await refused(update(opts, { preserveHardlinks: true }), 'E_STATE_MISMATCH', /preserve-hardlinks/);
  // another source: another folder with the same tree
  const other = path.join(work, 'other', 'src');
  fs.mkdirSync(path.dirname(other));
  execFileSync('cp', ['-a', src, other]);
  await refused(update({ ...opts, source: other }), 'E_STATE_MISMATCH', /source/);
  await refused(update(opts, { newTransfer: true }), 'E_USAGE', /--update.*--new/);
  assert.deepEqual(snapshot(blobs), before, 'nothing written by a refused update');

  // a cache wrote a newer version of one of our inodes
  const inode = fs.readdirSync(blobs).find((n) => n.includes('.0001.'))!;
  const cacheVersion = inode.replace('.00000000009.', '.00000000010.');
  fs.copyFileSync(path.join(blobs, inode), path.join(blobs, cacheVersion));
  before = snapshot(blobs);
  await refused(update(opts), 'E_STATE_MISMATCH', /version 10.*did not write/);
  assert.deepEqual(snapshot(blobs), before);
  // ... and without the state: the rebuilt state sees it too
  const stateCopy = `${opts.stateDir}-copy`;
  fs.cpSync(opts.stateDir, stateCopy, { recursive: true });
  fs.rmSync(opts.stateDir, { recursive: true });
  await refused(update(opts), 'E_STATE_MISMATCH', /did not write/);
  assert.deepEqual(snapshot(blobs), before);
  fs.rmSync(path.join(blobs, cacheVersion));
  fs.rmSync(opts.stateDir, { recursive: true, force: true });
  fs.cpSync(stateCopy, opts.stateDir, { recursive: true });

  // a cache wrote an object of its own (an inode no load wrote)
  const foreign = fs.readdirSync(blobs).find((n) => n.includes('.0001.'))!;
  const id = foreign.split('_')[1]!.split('.')[0]!;
  const otherId = id.slice(0, -2) + (id.endsWith('00') ? '01' : '00');
  const { blobName } = await import('../../src/codec/index.js');
  const owner = Buffer.alloc(16);
  owner[15] = 0x64;
  const foreignName = blobName(Buffer.from(otherId, 'hex'), 1, owner, 9);
  fs.copyFileSync(path.join(blobs, foreign), path.join(blobs, foreignName));
  before = snapshot(blobs);
  await refused(update(opts), 'E_STATE_MISMATCH', /inodes where this load wrote/);
  assert.deepEqual(snapshot(blobs), before);
  fs.rmSync(path.join(blobs, foreignName));

  // without the state, a source whose root has another name
  fs.rmSync(opts.stateDir, { recursive: true });
  const renamed = path.join(work, 'renamed');
  execFileSync('cp', ['-a', src, renamed]);
  before = snapshot(blobs);
  await refused(update({ ...opts, source: renamed }), 'E_STATE_MISMATCH', /loaded from a source named src/);
  assert.deepEqual(snapshot(blobs), before);

  // an unfinished load is resumed, not updated
  const { work: w2, src: s2 } = workDir(t, 'upd-unfinished');
  buildRandomTree(s2, seeded(12), { bigDir: false, bigFiles: false });
  const o2 = folderOptions(s2, w2, 'blobs', { phases: [] as never });
  const first = await load({ ...o2, phases: ['init' as never] });
  assert.equal(first.status, 'phases-done');
  await refused(update({ ...o2, phases: undefined }), 'E_USAGE', /has not finished.*without --update/);
});

test('--update --dry-run: counts what the update then does, writes nothing (state kept and state lost)', async (t) => {
  for (const lose of [false, true]) {
    const { work, src } = workDir(t, `upd-dry-${lose}`);
    const rand = seeded(lose ? 31 : 32);
    buildRandomTree(src, rand, { bigDir: false, bigFiles: false });
    const opts = folderOptions(src, work, 'blobs');
    assert.equal((await load(opts)).status, 'complete');
    applyRandomEdits(src, rand, 8, ['add-file', 'add-dir', 'remove-file', 'rewrite', 'grow-past-16k', 'chmod', 'file-to-symlink']);
    if (lose) fs.rmSync(opts.stateDir, { recursive: true });
    const blobs = opts.targetKey.slice(5);
    const before = snapshot(blobs);
    const stateBefore = lose ? [] : snapshot(opts.stateDir).filter((n) => n.startsWith('output.txt'));
    const e = await updateDryRun({ ...opts, newTransfer: false, update: true });
    assert.deepEqual(snapshot(blobs), before, 'the dry run wrote nothing to the container');
    if (lose) assert.ok(!fs.existsSync(opts.stateDir), 'nor a state folder');
    else assert.deepEqual(snapshot(opts.stateDir).filter((n) => n.startsWith('output.txt')), stateBefore);
    assert.equal(e.stateFrom, lose ? 'container' : 'state-folder');
    const s = await update(opts);
    assert.equal(s.status, 'complete');
    const u = s.update!;
    assert.deepEqual([e.added, e.changed, e.attributesOnly, e.removed, e.bytesToUpload], [u.added, u.changed, u.attributesOnly, u.removed, u.bytesToUpload], JSON.stringify({ e, u }));
    assert.ok(e.added + e.changed + e.removed > 0);
    assert.equal(e.blobsToDelete, s.blobsDeleted, JSON.stringify({ e, s: s.blobsDeleted }));
    await assertLikeFreshLoad(t, work, src, opts, `dry run lose=${lose}`);
  }
});

test('--checksum finds a file whose data changed under the same size and times; without it the update trusts the attributes', async (t) => {
  const { work, src } = workDir(t, 'upd-checksum');
  fs.mkdirSync(src);
  const small = path.join(src, 'small');
  const large = path.join(src, 'large');
  fs.writeFileSync(small, 'aaaa');
  fs.writeFileSync(large, Buffer.alloc(100_000, 1));
  const opts = folderOptions(src, work, 'blobs');
  assert.equal((await load(opts)).status, 'complete');
  // touch -r keeps the nanoseconds (utimes from a Date would not)
  const ref = path.join(work, 'times-ref');
  const keepTimes = (p: string, write: () => void) => {
    fs.writeFileSync(ref, '');
    execFileSync('touch', ['-r', p, ref]);
    write();
    execFileSync('touch', ['-r', ref, p]);
  };
  keepTimes(small, () => fs.writeFileSync(small, 'bbbb'));
  keepTimes(large, () => fs.writeFileSync(large, Buffer.alloc(100_000, 2)));
  // ctime moved on: without --checksum the attributes alone differ; the small file's inode is
  // written again from the source (its data is in it), the large file's inode is patched
  const plain = await update(opts);
  assert.equal(plain.update?.changed, 0);
  assert.equal(plain.update?.attributesOnly, 2);
  const stale = await verify(opts.target, { source: src });
  assert.ok(!stale.ok, 'the data is stale without --checksum (as rsync without -c)');
  const sum = await update(opts, { checksum: true });
  assert.equal(sum.status, 'complete');
  assert.equal(sum.update?.changed, 1, JSON.stringify(sum.update));
  await assertLikeFreshLoad(t, work, src, opts, '--checksum');
  const again = await update(opts, { checksum: true });
  assert.equal(again.status, 'already-complete');
});

test('requests only for what changed: one rewritten file costs its inode, the root move, the log and the bucket object; no repair warnings', async (t) => {
  const { work, src } = workDir(t, 'upd-requests');
  buildRandomTree(src, seeded(77), { bigDir: true, bigFiles: false });
  const blobs = path.join(work, 'blobs');
  fs.mkdirSync(blobs);
  const { CountingTarget } = await import('../../src/index.js');
  const counting = new CountingTarget(new FolderTarget(blobs));
  const opts: LoadOptions = { source: src, target: counting, targetKey: `file:${blobs}`, stateDir: path.join(work, 'state'), newTransfer: true, concurrency: 8 };
  assert.equal((await load(opts)).status, 'complete');
  const small = fs.readdirSync(src).find((n) => fs.lstatSync(path.join(src, n)).isFile() && fs.statSync(path.join(src, n)).size < 16000 && fs.statSync(path.join(src, n)).nlink === 1)!;
  fs.writeFileSync(path.join(src, small), 'rewritten\n');
  const before = counting.counts;
  const warnings: string[] = [];
  const s = await update({ ...opts, reporter: { log: (level, m) => (level === 'warn' ? warnings.push(m) : undefined) } });
  assert.equal(s.status, 'complete');
  assert.deepEqual(warnings, []);
  const after = counting.counts;
  // the file's inode, the tmp root, the final root, output.txt, the bucket object
  assert.equal(after.put - before.put, 5, JSON.stringify({ before, after }));
  // the final root when the update starts, the tmp root when it ends
  assert.equal(after.delete - before.delete, 2);
  await assertLikeFreshLoad(t, work, src, { ...opts, target: new FolderTarget(blobs) }, 'one rewritten file');
});

test('each attribute the comparison reads, changed alone on one file, is found; the unchanged files are passed over', async (t) => {
  const { work, src } = workDir(t, 'upd-attrs');
  fs.mkdirSync(src);
  const f = (i: number) => path.join(src, `f${i}`);
  for (let i = 0; i < 40; i++) fs.writeFileSync(f(i), `file ${i}\n`.repeat(i + 1));
  const opts = folderOptions(src, work, 'blobs');
  assert.equal((await load(opts)).status, 'complete');
  const mtimeOf = (i: number) => fs.lstatSync(f(i), { bigint: true }).mtimeNs;
  const setMtime = (i: number, ns: bigint) => execFileSync('touch', ['-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, f(i)]);
  // data changes: the mtime alone (a millisecond later), the size under the same mtime, another inode under the same size and times
  setMtime(0, mtimeOf(0) + 1_000_000n);
  const m4 = mtimeOf(4);
  fs.appendFileSync(f(4), 'x');
  setMtime(4, m4);
  execFileSync('cp', ['-p', f(5), path.join(work, 'f5')]);
  fs.renameSync(path.join(work, 'f5'), f(5));
  // attribute changes: the mode, the owner, the ctime alone (same size and mtime, other bytes: a small file is written again whole)
  fs.chmodSync(f(1), 0o600);
  fs.chownSync(f(2), 1234, 4321);
  const m3 = mtimeOf(3);
  fs.writeFileSync(f(3), fs.readFileSync(f(3)).map((b) => (b === 0x0a ? b : b ^ 0x20)));
  setMtime(3, m3);
  const dry = await updateDryRun({ ...opts, newTransfer: false, update: true });
  // the root's attributes changed too (f5 was renamed into it)
  assert.equal(dry.changed, 3, JSON.stringify(dry));
  assert.equal(dry.attributesOnly, 4, JSON.stringify(dry));
  const s = await update(opts);
  assert.equal(s.status, 'complete');
  assert.deepEqual({ changed: s.update?.changed, attributesOnly: s.update?.attributesOnly, removed: s.update?.removed, added: s.update?.added }, { changed: 3, attributesOnly: 4, removed: 0, added: 0 });
  // six inodes and the root (its tmp and final names), the log and the bucket object: none of the 34 unchanged files
  assert.ok(s.blobsWritten <= 10, `${s.blobsWritten} blobs written`);
  await assertLikeFreshLoad(t, work, src, opts, 'one attribute each');
});

test('source faults during the comparison (listed on the lister threads): a child whose lstat fails is an error to retry, an unreadable directory stops the update naming it; both resume to a fresh load', async (t) => {
  const { work, src } = workDir(t, 'upd-faults');
  fs.mkdirSync(path.join(src, 'a', 'deep'), { recursive: true });
  fs.mkdirSync(path.join(src, 'b'), { recursive: true });
  for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(src, i % 2 ? 'a' : 'b', `f${i}`), `data ${i}`);
  fs.writeFileSync(path.join(src, 'a', 'deep', 'x'), 'x');
  const opts = folderOptions(src, work, 'blobs');
  assert.equal((await load(opts)).status, 'complete');
  // a new file whose lstat fails (on the lister threads: the plan reaches them through workerData)
  fs.writeFileSync(path.join(src, 'a', 'new-file'), 'new');
  fs.writeFileSync(path.join(src, 'b', 'f0'), 'changed data');
  const s = await withSourceFaults({ rules: [{ op: 'lstat', path: 'a/new-file', code: 'EACCES' }] }, () => update(opts));
  assert.equal(s.status, 'complete-with-errors');
  assert.equal(s.errors, 1);
  assert.ok(s.problems.some((p) => p.path.includes('a/new-file') && p.message.includes('permission denied')), JSON.stringify(s.problems));
  // a directory that cannot be listed: the update stops before it changes the container, naming it
  fs.writeFileSync(path.join(src, 'a', 'deep', 'y'), 'y');
  await withSourceFaults({ rules: [{ op: 'opendir', path: 'a/deep', code: 'EIO' }] }, () =>
    assert.rejects(update(opts), (err: unknown) => isClfsError(err) && err.code === 'E_SOURCE_UNREADABLE' && err.message.includes('a/deep')),
  );
  const done = await update(opts);
  assert.equal(done.status, 'complete', JSON.stringify(done.problems));
  await assertLikeFreshLoad(t, work, src, opts, 'after the faults');
});
