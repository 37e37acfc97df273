/**
 * The load's scan lists directories on lister threads (dir-lister.ts): a huge directory is
 * streamed a few chunks ahead of its reader, never held whole; a listing started ahead and then
 * passed over does not hold up the ones after it; and a load of a huge directory, with its
 * listing failing part way once, records the directory as failed and completes on the resume.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { load, verify, FolderTarget } from '../../src/index.js';
import type { LoadOptions } from '../../src/index.js';
import { DirLister, LocalListing, STREAM_AHEAD } from '../../src/load/dir-lister.js';
import type { Listing } from '../../src/load/dir-lister.js';
import { withSourceFaults } from '../helpers/source-faults.js';
import { availableParallelism } from 'node:os';
import { listerThreads, ScanAhead } from '../../src/load/scan-ahead.js';
import type { EntryRow } from '../../src/state/index.js';

/** Children per chunk a lister thread sends (dir-lister-worker.ts). */
const CHUNK = 4096;

function workDir(t: TestContext, prefix: string): string {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `clfsload-${prefix}-`));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  return work;
}

function fill(dir: string, files: number): void {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(dir, `f${i}`), '');
}

/** The names of a directory in the order readdir(3) gives them (fs.readdirSync sorts them). */
function readdirOrder(dir: string): string[] {
  const d = fs.opendirSync(dir);
  const names: string[] = [];
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) names.push(e.name);
  } finally {
    d.closeSync();
  }
  return names;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every child name of a stream read to its end, in the order it gave them. */
async function readAll(s: Listing): Promise<string[]> {
  const names: string[] = [];
  for (;;) {
    const c = await s.next();
    const bytes = Buffer.from(c.names);
    let start = 0;
    for (let i = 0; i < c.count; i++) {
      names.push(bytes.subarray(start, c.nameEnds[i]!).toString('latin1'));
      start = c.nameEnds[i]!;
    }
    if (c.done) return names;
  }
}

test('a huge directory is streamed a few chunks ahead of its reader, in readdir order, every child once', { timeout: 60_000 }, async (t) => {
  const big = path.join(workDir(t, 'lister'), 'big');
  const files = 4 * CHUNK + 7;
  fill(big, files);
  const lister = new DirLister(1);
  t.after(() => lister.close());
  const s = lister.stream(Buffer.from(big));
  // the thread lists until it may send no more: wait for its first chunk (a thread may take
  // seconds to start on a busy machine), then until 300 ms pass with nothing more, and count
  const deadline = Date.now() + 30_000;
  while (s.buffered === 0 && Date.now() < deadline) await sleep(20);
  let seen = -1;
  while (seen !== s.buffered) {
    seen = s.buffered;
    await sleep(300);
  }
  assert.equal(s.buffered, STREAM_AHEAD, 'chunks sent before the reader read any');
  const names = await readAll(s);
  assert.equal(names.length, files);
  assert.deepEqual(names, readdirOrder(big));
});

test('a listing started ahead and passed over is abandoned: the listings after it on its thread still come', { timeout: 60_000 }, async (t) => {
  const work = workDir(t, 'lister');
  fill(path.join(work, 'big'), 3 * CHUNK);
  fill(path.join(work, 'small'), 3);
  // one thread: the small directory's listing waits behind the big one's
  const lister = new DirLister(1);
  t.after(() => lister.close());
  const big = lister.stream(Buffer.from(path.join(work, 'big')));
  const small = lister.stream(Buffer.from(path.join(work, 'small')));
  await sleep(300);
  assert.deepEqual((await readAll(small)).sort(), ['f0', 'f1', 'f2']);
  assert.equal(big.abandoned, true);
  await assert.rejects(big.next(), /abandoned/);
  // read again from the start, it is listed whole
  assert.equal((await readAll(lister.stream(Buffer.from(path.join(work, 'big'))))).length, 3 * CHUNK);
});

test('a listing on the calling thread (one core) gives what a lister thread gives; an unreadable directory fails naming it', { timeout: 60_000 }, async (t) => {
  const work = workDir(t, 'lister');
  const big = path.join(work, 'big');
  fill(big, 2 * CHUNK + 3);
  const lister = new DirLister(1);
  t.after(() => lister.close());
  assert.deepEqual(await readAll(new LocalListing(Buffer.from(big))), await readAll(lister.stream(Buffer.from(big))));
  assert.deepEqual(await readAll(new LocalListing(Buffer.from(big))), readdirOrder(big));
  await assert.rejects(new LocalListing(Buffer.from(path.join(work, 'gone'))).next(), /gone: vanished while loading \(ENOENT\)/);
  await assert.rejects(lister.stream(Buffer.from(path.join(work, 'gone'))).next(), /gone: vanished while loading \(ENOENT\)/);
});

test('a load of a huge directory whose listing fails part way once: the directory fails whole, the resume loads it all', { timeout: 120_000 }, async (t) => {
  const work = workDir(t, 'hugedir');
  const src = path.join(work, 'src');
  const files = 3 * CHUNK + 11;
  fill(path.join(src, 'big'), files);
  fill(path.join(src, 'small'), 5);
  const blobs = path.join(work, 'blobs');
  fs.mkdirSync(blobs);
  const target = new FolderTarget(blobs);
  const opts: LoadOptions = { source: src, target, targetKey: `file:${blobs}`, stateDir: path.join(work, 'state'), newTransfer: true };
  // past the first chunks (rows already inserted), the listing of big fails once
  const first = await withSourceFaults({ rules: [{ op: 'readdir', path: 'big', after: 2 * CHUNK + 100, times: 1 }] }, () => load(opts));
  assert.equal(first.status, 'complete-with-errors');
  assert.equal(first.errors, 1);
  assert.match(first.problems[0]!.message, /big: cannot read/);
  const again = await load({ ...opts, newTransfer: false });
  assert.equal(again.status, 'complete', JSON.stringify(again.problems));
  const report = await verify(target, { source: src });
  assert.deepEqual(report.problems, []);
  assert.ok(report.ok);
});

test('until a lister thread has answered, a small directory is listed on the calling thread; a large one, and every one after, on a thread', { timeout: 60_000 }, async (t) => {
  const work = workDir(t, 'lister');
  const root = path.join(work, 'root');
  fill(path.join(root, 'sub'), 5);
  fill(path.join(root, 'sub2'), 2);
  const big = path.join(work, 'big');
  fill(big, 3 * CHUNK);
  const row = (id: number, p: string) => ({ id, path: Buffer.from(p), sizeBytes: fs.statSync(p).size }) as unknown as EntryRow;
  assert.ok(fs.statSync(big).size >= 64 * 1024, `the big directory's own size (${fs.statSync(big).size}) is what marks it large`);
  const scans = new ScanAhead();
  t.after(() => scans.close());
  scans.warm();
  const [r, sub, sub2] = [row(1, root), row(2, path.join(root, 'sub')), row(3, path.join(root, 'sub2'))];
  scans.ahead([r, sub, sub2]);
  // at once: the threads are still starting
  const first = scans.listing(r);
  assert.ok(first instanceof LocalListing, 'the root is listed here');
  assert.deepEqual(await readAll(first), readdirOrder(root));
  // the ones after it were started ahead on a thread, which lists them once it has started
  const deadline = Date.now() + 30_000;
  while (availableParallelism() > 1 && !scans.threadsAnswered && Date.now() < deadline) await sleep(10);
  const second = scans.listing(sub);
  if (availableParallelism() > 1) assert.ok(!(second instanceof LocalListing), 'once listed ahead, a thread lists it');
  assert.deepEqual((await readAll(second)).sort(), ['f0', 'f1', 'f2', 'f3', 'f4']);
  const third = scans.listing(sub2);
  if (availableParallelism() > 1) assert.ok(!(third instanceof LocalListing), 'a thread has answered: every listing is a thread\'s');
  assert.deepEqual((await readAll(third)).sort(), ['f0', 'f1']);
  // a large directory first in a new scan goes to a thread even before one has answered
  const fresh = new ScanAhead();
  t.after(() => fresh.close());
  const large = fresh.listing(row(4, big));
  if (availableParallelism() > 1) assert.ok(!(large instanceof LocalListing));
  assert.equal((await readAll(large)).length, 3 * CHUNK);
});

test('listerThreads: none on one core, one under four cores, two from four', () => {
  assert.deepEqual([1, 2, 3, 4, 16, 64].map(listerThreads), [0, 1, 1, 2, 2, 2]);
});
