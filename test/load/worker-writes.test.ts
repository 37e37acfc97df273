/**
 * Into a plain folder the encode workers write the small blobs themselves (issue 17): the folder
 * target's own put and putMany then see only what the main thread stores (directories, the bucket
 * object, large files' objects), and any other target (a wrapper that counts, limits or injects
 * faults) sees every blob. A write that fails on the worker is stored through the target instead.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CountingTarget, FolderTarget, load, RetryTarget, verify } from '../../src/index.js';
import type { Target } from '../../src/index.js';
import type { PutManyItem, PutOptions } from '../../src/targets/target.js';
import { buildSmallFilesTree } from '../helpers/tree-builder.js';
import { writeRangeBlobs } from '../../src/load/single-object.js';
import type { RangeResult } from '../../src/load/single-object.js';

const FILES = 300;

/** A real folder target that counts the blobs stored through its own put and putMany. */
class CountedFolder extends FolderTarget {
  stored = 0;

  override put(name: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    this.stored += 1;
    return super.put(name, data, options);
  }

  override putMany(items: readonly PutManyItem[], options?: PutOptions): Promise<void> {
    this.stored += items.length;
    return super.putMany(items, options);
  }
}

function work(t: TestContext, name: string): { src: string; blobs: string; state: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `clfsload-${name}-`));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'src');
  buildSmallFilesTree(src, FILES, 6);
  const blobs = path.join(dir, 'blobs');
  fs.mkdirSync(blobs);
  return { src, blobs, state: path.join(dir, 'state') };
}

async function loadInto(target: Target, w: { src: string; blobs: string; state: string }, encodeWorkers: number) {
  const s = await load({ source: w.src, target, targetKey: `file:${w.blobs}`, stateDir: w.state, newTransfer: true, encodeWorkers });
  assert.equal(s.status, 'complete');
  assert.equal(s.errors, 0);
  const report = await verify(new FolderTarget(w.blobs), { source: w.src });
  assert.deepEqual(report.problems, []);
  return s;
}

test('into a folder under retries (as the CLI opens it) the encode workers write every small file; the folder target stores the rest', async (t) => {
  const w = work(t, 'worker-writes');
  const folder = new CountedFolder(w.blobs);
  const s = await loadInto(new RetryTarget(folder), w, 2);
  assert.equal(s.kindsWritten.file, FILES);
  // the bucket object, 7 directories, the root's rename and the logs: nowhere near one per file
  assert.ok(folder.stored < 30, `the folder target stored ${folder.stored} blobs itself`);
  assert.ok(s.blobsWritten > FILES, 'the summary counts the blobs the workers wrote');
});

test('with no encode workers, or under another wrapper, every blob goes through the target', async (t) => {
  const bare = work(t, 'worker-writes-none');
  const folder = new CountedFolder(bare.blobs);
  const s = await loadInto(folder, bare, 0);
  assert.ok(folder.stored >= FILES, `encoded in the main thread: ${folder.stored} blobs through the target`);
  assert.equal(s.kindsWritten.file, FILES);

  const wrapped = work(t, 'worker-writes-wrapped');
  const inner = new CountedFolder(wrapped.blobs);
  const counting = new CountingTarget(inner);
  await loadInto(counting, wrapped, 2);
  assert.ok(counting.counts.put >= FILES, `a wrapper that counts sees every blob (${counting.counts.put} puts)`);
  assert.ok(inner.stored >= FILES);
});

test('writeRangeBlobs: written up to the first failure, the rest left with their bytes for the target to store', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-range-writes-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // the second name is taken by a directory: its write fails (EISDIR)
  fs.mkdirSync(path.join(dir, 'b'));
  const blob = (name: string): RangeResult => ({ kind: 'blob', name, blob: Buffer.from(`data of ${name}`), writtenSize: 1, warnings: [], id: 1, parentId: 0, ftype: 2, reconcile: 0 });
  const results: RangeResult[] = [blob('a'), { kind: 'segmented', id: 2, parentId: 0, ftype: 2, reconcile: 0 }, blob('b'), blob('c'), blob('../escape')];
  writeRangeBlobs(results, { dir, fsync: false });
  const [a, , b, c, escape] = results as Array<RangeResult & { kind: 'blob' }>;
  assert.equal(a!.written, true);
  assert.equal(a!.bytes, 'data of a'.length);
  assert.equal((a as { blob?: Buffer }).blob, undefined, 'a written blob comes back without its bytes');
  assert.equal(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'data of a');
  for (const r of [b!, c!, escape!]) {
    assert.notEqual(r.written, true, `${r.name} is not written`);
    assert.equal(r.blob.toString(), `data of ${r.name}`, `${r.name} keeps its bytes`);
  }
  assert.ok(!fs.existsSync(path.join(dir, 'c')), 'nothing is written after the first failure');
  assert.ok(!fs.existsSync(path.join(path.dirname(dir), 'escape')), 'a name that is not a plain file name is left to the target, which refuses it');
});
