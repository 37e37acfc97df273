import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { childRel, ownerOf, partitionFile, sharedPartition, UNITS_PER_SHARD } from '../../src/copy/partition.js';
import type { Lister } from '../../src/copy/partition.js';
import { isClfsError } from '../../src/errors/index.js';

/** A tree held as a map from a directory's relative path to its subdirectory names. */
function lister(tree: Map<string, string[]>): Lister {
  return async (rel) => (tree.get(rel.toString('latin1')) ?? []).map((n) => ({ name: Buffer.from(n, 'latin1'), isDir: true }));
}

/** `tops` top directories of `subs` subdirectories each: the units are the subdirectories. */
function twoLevels(tops: number, subs: number): Map<string, string[]> {
  const tree = new Map<string, string[]>();
  const top: string[] = [];
  for (let a = 0; a < tops; a++) {
    const t = `d${String(a).padStart(3, '0')}`;
    top.push(t);
    tree.set(t, Array.from({ length: subs }, (_, b) => `s${String(b).padStart(4, '0')}`));
  }
  tree.set('', top);
  return tree;
}

function tmpMeta(t: { after: (fn: () => void) => void }): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfs-partition-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return Buffer.from(path.join(dir, '.clfsload-copy'));
}

const SOURCE = Buffer.from('/data/set');

function unitsOf(tree: Map<string, string[]>): Buffer[] {
  const out: Buffer[] = [];
  for (const t of tree.get('')!) for (const s of tree.get(t)!) out.push(childRel(Buffer.from(t), Buffer.from(s)));
  return out;
}

test('sharedPartition: equal subtrees are dealt evenly (hashing them was not), and the split is recorded', async (t) => {
  const meta = tmpMeta(t);
  const tree = twoLevels(20, 10);
  const p = await sharedPartition({ count: 4, source: SOURCE, metaDir: meta, list: lister(tree), record: true });
  assert.equal(p.depth, 2);
  assert.equal(p.dealtUnits, 200);
  const dealt = [0, 0, 0, 0];
  const hashed = [0, 0, 0, 0];
  for (const u of unitsOf(tree)) {
    dealt[p.owner(u)]! += 1;
    hashed[ownerOf(u, 4)]! += 1;
  }
  assert.deepEqual(dealt, [50, 50, 50, 50]);
  // what the shards did before: the same units hashed are uneven (so this test can tell them apart)
  assert.ok(Math.max(...hashed) > 55, `hashed: ${hashed.join(' ')}`);
  assert.ok(fs.existsSync(partitionFile(meta, SOURCE, 4)), 'recorded beside the summaries');
});

test('sharedPartition: a later run reads the record, so a unit keeps its shard and the depth holds when the tree changes', async (t) => {
  const meta = tmpMeta(t);
  const tree = twoLevels(20, 10);
  const first = await sharedPartition({ count: 4, source: SOURCE, metaDir: meta, list: lister(tree), record: true });
  // the tree changes: a new top directory, one removed, and so many more that a fresh walk would cut elsewhere
  const changed = twoLevels(20, 10);
  changed.set('', [...changed.get('')!.filter((n) => n !== 'd007'), 'new0', ...Array.from({ length: UNITS_PER_SHARD * 4 }, (_, i) => `more${i}`)]);
  changed.set('new0', ['x', 'y', 'z']);
  const again = await sharedPartition({ count: 4, source: SOURCE, metaDir: meta, list: lister(changed), record: true });
  assert.equal(again.depth, first.depth);
  for (const u of unitsOf(tree)) assert.equal(again.owner(u), first.owner(u), u.toString());
  // a unit the record does not name goes by its hash, the same in every shard
  const fresh = Buffer.from('new0/x');
  assert.equal(again.owner(fresh), ownerOf(fresh, 4));
  // compare and finalize read it too, without writing
  const reader = await sharedPartition({ count: 4, source: SOURCE, metaDir: meta, list: lister(changed), record: false });
  for (const u of unitsOf(tree)) assert.equal(reader.owner(u), first.owner(u));
});

test('sharedPartition: shards racing to record keep exactly one split, and all of them use it', async (t) => {
  const meta = tmpMeta(t);
  // each shard sees the tree a little differently (it changed while they started)
  const views = [twoLevels(20, 10), twoLevels(21, 10), twoLevels(19, 12), twoLevels(22, 9)];
  const parts = await Promise.all(views.map((v) => sharedPartition({ count: 4, source: SOURCE, metaDir: meta, list: lister(v), record: true })));
  const names = fs.readdirSync(meta.toString());
  assert.deepEqual(names, [path.basename(partitionFile(meta, SOURCE, 4).toString())], 'one record, no temporary file left');
  for (const v of views) for (const u of unitsOf(v)) assert.equal(new Set(parts.map((p) => p.owner(u))).size, 1, `${u} has one owner`);
});

test('sharedPartition: one shard records nothing; --dry-run (record: false) writes nothing; another source has its own record', async (t) => {
  const meta = tmpMeta(t);
  const tree = twoLevels(20, 10);
  const one = await sharedPartition({ count: 1, source: SOURCE, metaDir: meta, list: lister(tree), record: true });
  assert.equal(one.depth, 0);
  assert.equal(one.owner(Buffer.from('d000/s0001')), 0);
  const dry = await sharedPartition({ count: 4, source: SOURCE, metaDir: meta, list: lister(tree), record: false });
  assert.equal(dry.dealtUnits, 200);
  assert.equal(fs.existsSync(meta.toString()), false);
  await sharedPartition({ count: 4, source: SOURCE, metaDir: meta, list: lister(tree), record: true });
  const other = Buffer.from('/data/other');
  assert.notDeepEqual(partitionFile(meta, other, 4), partitionFile(meta, SOURCE, 4));
  await sharedPartition({ count: 4, source: other, metaDir: meta, list: lister(twoLevels(3, 40)), record: true });
  assert.equal(fs.readdirSync(meta.toString()).length, 2);
});

test('sharedPartition: a damaged record stops the shard with the file named and the fix', async (t) => {
  const meta = tmpMeta(t);
  fs.mkdirSync(meta.toString(), { recursive: true });
  const file = partitionFile(meta, SOURCE, 4);
  fs.writeFileSync(file, '{"format":1,"source":"');
  await assert.rejects(
    sharedPartition({ count: 4, source: SOURCE, metaDir: meta, list: lister(twoLevels(20, 10)), record: true }),
    (err: unknown) => isClfsError(err) && err.code === 'E_USAGE' && err.message.includes(file.toString()) && /remove it, then run every shard again/.test(err.message),
  );
});

test('sharedPartition: shards that ran before splits were recorded (their summaries, no record) keep the hashed split', async (t) => {
  const meta = tmpMeta(t);
  fs.mkdirSync(path.join(meta.toString(), 'shards'), { recursive: true });
  fs.writeFileSync(path.join(meta.toString(), 'shards', '2-of-4.json'), '{}');
  const tree = twoLevels(20, 10);
  const p = await sharedPartition({ count: 4, source: SOURCE, metaDir: meta, list: lister(tree), record: true });
  assert.equal(p.dealtUnits, 0);
  for (const u of unitsOf(tree)) assert.equal(p.owner(u), ownerOf(u, 4));
  // recorded so: a later shard of 4 reads the same, summaries or not
  fs.rmSync(path.join(meta.toString(), 'shards'), { recursive: true });
  const later = await sharedPartition({ count: 4, source: SOURCE, metaDir: meta, list: lister(tree), record: true });
  assert.equal(later.dealtUnits, 0);
  // summaries of another shard count do not matter
  const five = await sharedPartition({ count: 5, source: SOURCE, metaDir: meta, list: lister(tree), record: true });
  assert.equal(five.dealtUnits, 200);
});
