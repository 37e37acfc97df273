import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { load, verify, ClfsError, FolderTarget, isClfsError } from '../../src/index.js';
import { ForwardingTarget } from '../../src/targets/index.js';
import type { Target, LoadOptions } from '../../src/index.js';
import type { PutOptions } from '../../src/targets/target.js';
import { decodeBlob, decodeObject, parseBlobName, Btype, rootBlobName } from '../../src/codec/index.js';
import { buildOddTree } from '../helpers/tree-builder.js';
import { RefuseInode } from '../helpers/refuse-inode.js';
import { mountTmpfs } from '../helpers/privilege.js';

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `clfsload-${prefix}-`));
}

/** A temporary work folder with an empty `src` in it, removed when the test ends, passed or failed. */
function workDir(t: TestContext, prefix: string): { work: string; src: string } {
  const work = tmp(prefix);
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  return { work, src };
}

/** The container decodes and matches `source` (or, without one, is consistent in itself). */
async function assertVerifies(target: Target, source?: string): Promise<void> {
  const report = await verify(target, source === undefined ? {} : { source });
  assert.deepEqual(report.problems, []);
  assert.ok(report.ok);
}

function folderLoad(source: string, work: string, extra: Partial<LoadOptions> = {}): { opts: LoadOptions; target: FolderTarget } {
  const blobs = path.join(work, 'blobs');
  fs.mkdirSync(blobs, { recursive: true });
  const target = new FolderTarget(blobs);
  return { target, opts: { source, target, targetKey: `file:${blobs}`, stateDir: path.join(work, 'state'), newTransfer: true, ...extra } };
}

test('load of an odd tree into a folder: complete, verifies against the source, symlink size is its byte length', async (t) => {
  const { work, src } = workDir(t, 'odd');
  buildOddTree(src);
  const { opts, target } = folderLoad(src, work);
  const s = await load(opts);
  assert.equal(s.status, 'complete');
  assert.equal(s.errors, 0);
  await assertVerifies(target, src);
  // no tmp root, a final root
  const names = fs.readdirSync(path.join(work, 'blobs'));
  assert.ok(names.includes(rootBlobName(9)));
  assert.ok(!names.some((n) => n.startsWith('tmp')));
  // the non-ASCII symlink: VATTR size = 13 bytes (the reference would store 11 characters)
  let found = false;
  for (const n of names) {
    const p = parseBlobName(n);
    if (p?.btype !== Btype.LNK) continue;
    const obj = decodeObject(decodeBlob(fs.readFileSync(path.join(work, 'blobs', n)), n), n);
    if (obj.kind === 'inode' && obj.name.toString() === 'link-non-ascii') {
      assert.equal(obj.vattr.sizeBytes, 13n);
      assert.equal(obj.data?.toString(), '\u00fcber/ziel-\u00e9');
      found = true;
    }
  }
  assert.ok(found, 'the non-ASCII symlink inode was found');
  // a re-run finds the load complete and writes nothing
  const before = fs.readdirSync(path.join(work, 'blobs')).map((n) => `${n}:${fs.statSync(path.join(work, 'blobs', n)).mtimeMs}`).sort();
  const again = await load({ ...opts, newTransfer: false });
  assert.equal(again.status, 'already-complete');
  const after = fs.readdirSync(path.join(work, 'blobs')).map((n) => `${n}:${fs.statSync(path.join(work, 'blobs', n)).mtimeMs}`).sort();
  assert.deepEqual(after, before);
});

test('preserved hard links: one inode, nlink 3, no in-progress blob left', async (t) => {
  const { work, src } = workDir(t, 'hl');
  buildOddTree(src, { manyEntries: 10, bigFileBytes: 20000 });
  const { opts, target } = folderLoad(src, work, { preserveHardlinks: true });
  const s = await load(opts);
  assert.equal(s.status, 'complete');
  await assertVerifies(target, src);
  const names = fs.readdirSync(path.join(work, 'blobs'));
  assert.ok(!names.some((n) => n.includes('.00000062BAE79F98.')), 'no in-progress inode left');
  const reconciled = names.filter((n) => parseBlobName(n)?.version === 11);
  assert.equal(reconciled.length, 1, 'hello.txt and its two hard links are one reconciled inode');
  const obj = decodeObject(decodeBlob(fs.readFileSync(path.join(work, 'blobs', reconciled[0]!)), reconciled[0]!), reconciled[0]!);
  assert.ok(obj.kind === 'inode');
  assert.equal(obj.vattr.nlink, 3);
  assert.equal(obj.back?.length, 3);
});

test('a new load refuses a non-empty target before writing anything', async (t) => {
  const { work, src } = workDir(t, 'nonempty');
  fs.writeFileSync(path.join(src, 'a'), 'a');
  const { opts } = folderLoad(src, work);
  fs.writeFileSync(path.join(work, 'blobs', 'something-else'), 'x');
  await assert.rejects(load(opts), (err: unknown) => isClfsError(err) && err.code === 'E_TARGET_NOT_EMPTY' && /something-else/.test(err.message));
  assert.ok(!fs.existsSync(path.join(work, 'state')), 'no state was created');
  assert.deepEqual(fs.readdirSync(path.join(work, 'blobs')), ['something-else']);
});

test('state belongs to one transfer: --new on it refuses, a resume with another source refuses', async (t) => {
  const { work, src } = workDir(t, 'state');
  fs.writeFileSync(path.join(src, 'a'), 'a');
  const { opts } = folderLoad(src, work);
  assert.equal((await load(opts)).status, 'complete');
  await assert.rejects(load(opts), (err: unknown) => isClfsError(err) && err.code === 'E_STATE_EXISTS');
  const other = path.join(work, 'other');
  fs.mkdirSync(other);
  await assert.rejects(load({ ...opts, source: other, newTransfer: false }), (err: unknown) => isClfsError(err) && err.code === 'E_STATE_MISMATCH');
  await assert.rejects(load({ ...opts, source: path.join(work, 'missing'), newTransfer: false }), (err: unknown) => isClfsError(err) && err.code === 'E_SOURCE_NOT_FOUND');
});

test('a failing entry is left out of its directory, listed in problems.txt, and retried on resume', async (t) => {
  const { work, src } = workDir(t, 'poison');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'ok.txt'), 'fine\n');
  fs.writeFileSync(path.join(src, 'sub', 'poison.txt'), 'refused\n');
  // a file whose segments are stored but whose inode is refused: its segments must not be left behind
  fs.writeFileSync(path.join(src, 'sub', 'poison-big.bin'), Buffer.alloc(9 * 1024 * 1024, 7));
  fs.writeFileSync(path.join(src, 'sub', 'also-ok.txt'), 'fine too\n');
  const { opts, target } = folderLoad(src, work);
  const poison = new RefuseInode(target, /^poison/);
  const s = await load({ ...opts, target: poison });
  assert.equal(s.status, 'complete-with-errors');
  assert.equal(s.errors, 2);
  assert.match(s.problems[0]!.message, /refused by the test/);
  assert.match(s.problems.map((p) => p.path).join('\n'), /sub\/poison\.txt/);
  const problems = fs.readFileSync(path.join(work, 'state', 'problems.txt'), 'utf8');
  assert.match(problems, /sub\/poison\.txt/);
  assert.ok(fs.readdirSync(path.join(work, 'blobs')).includes('problems.txt'), 'problems.txt uploaded with the logs');
  // the container is consistent without the failed entries: no dangling dirent, and no segment
  // of the refused big file left unreachable
  await assertVerifies(target);
  // resume retries the failed entry and rewrites its directory
  poison.active = false;
  const r = await load({ ...opts, target: poison, newTransfer: false });
  assert.equal(r.status, 'complete');
  await assertVerifies(target, src);
});

test('--max-errors stops the run before finalize; the root stays under its tmp name', async (t) => {
  const { work, src } = workDir(t, 'budget');
  for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(src, `poison-${i}.txt`), `${i}`);
  const { opts, target } = folderLoad(src, work, { maxErrors: 2 });
  const s = await load({ ...opts, target: new RefuseInode(target, /^poison/) });
  assert.equal(s.status, 'error-budget-exceeded');
  const names = fs.readdirSync(path.join(work, 'blobs'));
  assert.ok(!names.includes(rootBlobName(9)), 'no final root: the container does not look complete');
});

/** Once armed, the next put stops the run as a user's signal does and fails as an aborted request. */
class AbortOnPut extends ForwardingTarget {
  armed = false;
  constructor(inner: Target, private readonly controller: AbortController) {
    super(inner);
  }
  override put(name: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    if (!this.armed) return super.put(name, data, options);
    this.armed = false;
    this.controller.abort();
    return Promise.reject(new ClfsError('E_ABORTED', `put ${name} aborted`));
  }
}

test('a signal during finalize is an interrupt with its summary; the resume finishes the load', async (t) => {
  const { work, src } = workDir(t, 'finalize-signal');
  fs.mkdirSync(path.join(src, 'd'));
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(src, 'd', `f${i}`), `${i}`);
  const { opts, target } = folderLoad(src, work);
  const controller = new AbortController();
  const stopper = new AbortOnPut(target, controller);
  const s = await load({
    ...opts,
    target: stopper,
    abortSignal: controller.signal,
    reporter: { phase: (name, event) => { if (name === 'finalize' && event === 'start') stopper.armed = true; } },
  });
  assert.equal(controller.signal.aborted, true, 'finalize put something');
  assert.equal(s.status, 'interrupted');
  assert.equal(s.phase, 'finalize');
  assert.ok(!fs.readdirSync(path.join(work, 'blobs')).includes(rootBlobName(9)), 'no final root yet');
  const again = await load({ ...opts, newTransfer: false });
  assert.equal(again.status, 'complete');
  await assertVerifies(target, src);
});

test('times before 1970 are clamped with a warning instead of failing the entry', async (t) => {
  const { work, src } = workDir(t, 'time');
  fs.writeFileSync(path.join(src, 'old.txt'), 'old\n');
  // Node's utimes ignores negative times; touch sets a 1960 mtime
  execFileSync('touch', ['-m', '-d', '1960-01-01 00:00:00', path.join(src, 'old.txt')]);
  assert.ok(fs.lstatSync(path.join(src, 'old.txt')).mtimeMs < 0);
  const warnings: string[] = [];
  const { opts, target } = folderLoad(src, work, { reporter: { log: (level, m) => level === 'warn' && warnings.push(m) } });
  const s = await load(opts);
  assert.equal(s.status, 'complete');
  assert.ok(warnings.some((w) => /old\.txt: mtime outside the range/.test(w)), warnings.join('\n'));
  const files: string[] = [];
  for await (const b of target.list('')) {
    const p = parseBlobName(b.name);
    if (p?.btype !== Btype.REG) continue;
    const obj = decodeObject(decodeBlob(await target.get(b.name), b.name), b.name);
    assert.ok(obj.kind === 'inode');
    files.push(obj.name.toString());
    assert.deepEqual(obj.vattr.mtime, { sec: 0, nsec: 0 });
  }
  assert.deepEqual(files, ['old.txt'], 'the one file inode was checked');
});

test('many multi-segment files with a small segment budget: no deadlock, every byte stored', async (t) => {
  const { work, src } = workDir(t, 'budget-deadlock');
  const size = 16384 + 2 * 8 * 1024 * 1024 + 1; // three segments each
  for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(src, `big-${i}.txt`), Buffer.alloc(size, 97 + i));
  // two segments of budget for five files of three: a file that waited while holding budget
  // for segments it had not consumed yet would deadlock here
  const { opts, target } = folderLoad(src, work, { segmentBudgetBytes: 2 * 8 * 1024 * 1024 });
  const s = await load(opts);
  assert.equal(s.status, 'complete');
  await assertVerifies(target, src);
});

test('boundary sizes around one full segment (8 MiB + 16 KiB ± 1), owners and modes read back exactly', async (t) => {
  const { work, src } = workDir(t, 'bounds');
  const full = 16384 + 8 * 1024 * 1024;
  for (const n of [full - 1, full, full + 1]) {
    const b = Buffer.alloc(n);
    for (let i = 0; i + 4 <= n; i += 4096) b.writeUInt32LE(i, i);
    fs.writeFileSync(path.join(src, `size-${n}.bin`), b);
  }
  fs.writeFileSync(path.join(src, 'owned.txt'), 'owned\n');
  fs.chmodSync(path.join(src, 'owned.txt'), 0o4751);
  if (process.getuid?.() === 0) fs.chownSync(path.join(src, 'owned.txt'), 1234, 5678);
  const { opts, target } = folderLoad(src, work);
  assert.equal((await load(opts)).status, 'complete');
  await assertVerifies(target, src);
  const segments = fs.readdirSync(path.join(work, 'blobs')).filter((n) => parseBlobName(n)?.btype === Btype.SEGMENT).length;
  assert.equal(segments, 1 + 1 + 2, 'full-1 and full have one segment each, full+1 has two');
});

test('bad input stops before anything is written: source is a file; state of another target', async (t) => {
  const { work, src } = workDir(t, 'badinput');
  fs.writeFileSync(path.join(src, 'a'), 'a');
  const { opts } = folderLoad(path.join(src, 'a'), work);
  await assert.rejects(load(opts), (err: unknown) => isClfsError(err) && err.code === 'E_SOURCE_NOT_FOUND' && /not a directory/.test(err.message));
  assert.ok(!fs.existsSync(path.join(work, 'state')));
  const good = folderLoad(src, work);
  assert.equal((await load(good.opts)).status, 'complete');
  await assert.rejects(load({ ...good.opts, targetKey: 'file:/somewhere/else', newTransfer: false }), (err: unknown) => isClfsError(err) && err.code === 'E_STATE_MISMATCH' && /target/.test(err.message));
});

test('a full target folder stops the load at once with a clear error; freeing space and re-running resumes', async (t) => {
  const mnt = tmp('fullfs');
  if (!mountTmpfs(t, mnt, 'size=1m,nr_inodes=400')) return;
  const work = tmp('fullfs-work');
  try {
    const src = path.join(work, 'src');
    fs.mkdirSync(src);
    for (let i = 0; i < 600; i++) fs.writeFileSync(path.join(src, `f${i}.txt`), `${i}\n`);
    const target = new FolderTarget(mnt);
    const opts = { source: src, target, targetKey: 'full', stateDir: path.join(work, 'state'), newTransfer: true, maxErrors: 0 };
    await assert.rejects(load(opts), (err: unknown) => isClfsError(err) && err.code === 'E_TARGET_IO' && /is full \(ENOSPC/.test(err.message));
    // move what was written to a roomier folder, as a user freeing space would, and resume there
    const roomy = path.join(work, 'roomy');
    fs.mkdirSync(roomy);
    for (const n of fs.readdirSync(mnt)) if (!n.startsWith('.')) fs.copyFileSync(path.join(mnt, n), path.join(roomy, n));
    const resumed = await load({ ...opts, target: new FolderTarget(roomy), newTransfer: false });
    assert.equal(resumed.status, 'complete');
    assert.deepEqual((await verify(new FolderTarget(roomy), { source: src })).problems, []);
  } finally {
    execFileSync('umount', [mnt]);
    fs.rmdirSync(mnt);
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('--compression disabled stores every CLFS blob uncompressed (header 00000000) and reads back', async (t) => {
  const { work, src } = workDir(t, 'nocomp');
  buildOddTree(src, { manyEntries: 20, bigFileBytes: 9 * 1024 * 1024 });
  const { opts, target } = folderLoad(src, work, { compression: 'disabled' });
  assert.equal((await load(opts)).status, 'complete');
  let clfs = 0;
  for (const n of fs.readdirSync(path.join(work, 'blobs'))) {
    if (parseBlobName(n) === undefined) continue;
    clfs += 1;
    assert.equal(fs.readFileSync(path.join(work, 'blobs', n)).readUInt32LE(0), 0, n);
  }
  assert.ok(clfs > 20);
  await assertVerifies(target, src);
});
