import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  BlockMapBuilder,
  DIRECT_SLOTS,
  INDIRECT_POINTERS,
  type EmittedIndirect,
  decodeObject,
  dirSegmentOffset,
  encodeIndirectBody,
  fileSegmentCount,
  fileSegmentOffset,
  parseBlobName,
  segmentIdsOf,
  uuid4FromBytes,
} from '../../src/codec/index.js';
import { bytesOf, hex, readVectorJson } from './vector-files.js';

const cases = readVectorJson('objects/objects.json').cases as any[];
const byId = (id: string) => cases.find((c) => c.id === id);

/** A synthetic id for segment i (distinct, 16 bytes). */
function sid(i: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(i, 0);
  b[15] = 0xee;
  return b;
}
function counterIds(prefix: number): () => Buffer {
  let n = 0;
  return () => {
    const b = Buffer.alloc(16);
    b[0] = prefix;
    b.writeUInt32LE(++n, 4);
    return b;
  };
}

test('reg-indirect-tree0: builder reproduces the bmap and the indirect block from the recorded ids', () => {
  const c = byId('reg-indirect-tree0');
  const self = Buffer.from(c.inputs.tobj.filehandle, 'hex');
  const segIds = c.writes.filter((w: any) => w.role.startsWith('segment')).map((w: any) => parseBlobName(w.blob_name)!.id);
  const indirectWrites = c.writes.filter((w: any) => w.role.startsWith('indirect'));
  const ids = indirectWrites.map((w: any) => Buffer.from(w.encoder.args['indirect_block_id (drawn inside, uuid4)'], 'hex'));
  const b = new BlockMapBuilder(self, () => ids.shift()!);
  const emitted: EmittedIndirect[] = [];
  for (const s of segIds) emitted.push(...b.add(s));
  const fin = b.finish();
  emitted.push(...fin.emitted);
  assert.equal(emitted.length, indirectWrites.length);
  emitted.forEach((e, i) => {
    const w = indirectWrites[i];
    const body = encodeIndirectBody(e.pointers, { ctimeSec: 1700000100, offset: e.databackOffset, owner: self });
    assert.ok(body.equals(bytesOf(w.object)), `indirect ${i}`);
    assert.equal(hex(e.id), w.encoder.args['indirect_block_id (drawn inside, uuid4)']);
  });
  const inode = c.writes.find((w: any) => w.role === 'inode');
  const decoded = decodeObject(bytesOf(inode.object), inode.blob_name) as any;
  assert.deepEqual(fin.direct.map(hex), decoded.bmap.direct.map(hex));
  assert.deepEqual(fin.treeRoots.map((r) => r && hex(r)), decoded.bmap.treeRoots.map((r: any) => r && hex(r)));
});

test('reg-indirect-tree1: builder reproduces both trees from the segment-id rule (flush order, offsets)', () => {
  const c = byId('reg-indirect-tree1');
  const self = Buffer.from(c.inputs.tobj.filehandle, 'hex');
  const rule = (i: number) => uuid4FromBytes(createHash('sha256').update(`seg${i}`).digest().subarray(0, 16));
  assert.equal(hex(rule(1)), c.inputs.segment_ids.first);
  assert.equal(hex(rule(c.inputs.segment_ids.count)), c.inputs.segment_ids.last);
  const indirectWrites = c.writes.filter((w: any) => w.role.startsWith('indirect'));
  const ids = indirectWrites.map((w: any) => Buffer.from(w.encoder.args['indirect_block_id (drawn inside, uuid4)'], 'hex'));
  const b = new BlockMapBuilder(self, () => ids.shift()!);
  const emitted: EmittedIndirect[] = [];
  for (let i = 1; i <= c.inputs.segment_ids.count; i++) emitted.push(...b.add(rule(i)));
  const fin = b.finish();
  emitted.push(...fin.emitted);
  assert.equal(emitted.length, indirectWrites.length);
  emitted.forEach((e, i) => {
    const w = indirectWrites[i];
    assert.equal(w.role, `indirect (tree ${e.tree}, depth ${e.level})`);
    const body = encodeIndirectBody(e.pointers, { ctimeSec: 1700000100, offset: e.databackOffset, owner: self });
    assert.ok(body.equals(bytesOf(w.object)), `indirect ${i}`);
  });
  const inode = c.writes.find((w: any) => w.role === 'inode');
  const decoded = decodeObject(bytesOf(inode.object), inode.blob_name) as any;
  assert.deepEqual(fin.direct.map(hex), decoded.bmap.direct.map(hex));
  assert.deepEqual(fin.treeRoots.map((r) => r && hex(r)), decoded.bmap.treeRoots.map((r: any) => r && hex(r)));
});

function build(n: number) {
  const b = new BlockMapBuilder(Buffer.alloc(24, 1), counterIds(0xaa));
  const emitted: EmittedIndirect[] = [];
  let maxOpen = 0;
  for (let i = 1; i <= n; i++) {
    emitted.push(...b.add(sid(i)));
    maxOpen = Math.max(maxOpen, b.openPointerCount);
  }
  const fin = b.finish();
  return { ...fin, emitted: [...emitted, ...fin.emitted], maxOpen };
}

test('1023 + 4096 segments fill tree 0 exactly: no empty block, tree 1 unused', () => {
  const r = build(1023 + 4096);
  assert.equal(r.direct.length, DIRECT_SLOTS);
  assert.equal(r.emitted.length, 1);
  assert.equal(r.emitted[0]!.pointers.length, INDIRECT_POINTERS);
  assert.ok(r.treeRoots[0] && r.treeRoots[1] === undefined);
});

test('1023 + 4096 + 4096 segments: the empty-leaf quirk of format.md §7.3', () => {
  const r = build(1023 + 4096 + 4096);
  assert.deepEqual(
    r.emitted.map((e) => [e.tree, e.level, e.pointers.length, Number(e.databackOffset)]),
    [
      [0, 0, 4096, 0],
      [1, 1, 4096, 65537],
      [1, 1, 0, 65537],
      [1, 0, 2, 65536],
    ],
  );
  assert.ok(r.treeRoots[1]!.equals(r.emitted[3]!.id));
  assert.deepEqual(r.emitted[3]!.pointers, [r.emitted[1]!.id, r.emitted[2]!.id]);
});

test('1023 + 4096 + 4096 + 1 segments: no empty leaf, a second leaf with one pointer', () => {
  const r = build(1023 + 4096 + 4096 + 1);
  assert.deepEqual(r.emitted.map((e) => [e.tree, e.level, e.pointers.length]), [[0, 0, 4096], [1, 1, 4096], [1, 1, 1], [1, 0, 2]]);
});

test('memory: the builder holds only its open blocks, and emitted blocks are not retained', () => {
  const r = build(1023 + 4096 + 3 * 4096 + 7);
  // open leaf (≤ 4096) + open tree-1 root (a few pointers)
  assert.ok(r.maxOpen <= INDIRECT_POINTERS + 8, `max open pointers ${r.maxOpen}`);
  const leaves = r.emitted.filter((e) => e.tree === 1 && e.level === 1);
  assert.equal(new Set(leaves.map((e) => e.pointers)).size, leaves.length);
});

test('segmentIdsOf walks direct slots and trees in block order', async () => {
  const n = 1023 + 4096 + 4096 + 5;
  const r = build(n);
  const store = new Map(r.emitted.map((e) => [hex(e.id), e]));
  const seen: number[] = [];
  for await (const { block, id } of segmentIdsOf(
    { firstSegmentBytes: 16384, otherSegmentBytes: 8388608, direct: r.direct, treeRoots: r.treeRoots },
    async (id, tree, level) => {
      const e = store.get(hex(id))!;
      assert.equal(e.tree, tree);
      assert.equal(e.level, level);
      return e.pointers;
    },
  )) {
    assert.ok(id.equals(sid(block)), `block ${block}`);
    seen.push(block);
  }
  assert.equal(seen.length, n);
  assert.equal(seen[n - 1], n);
});

test('segment counts and offsets', () => {
  assert.deepEqual([0, 16384, 16385, 16384 + 8388608, 16384 + 8388608 + 1, 16384 + 2 * 8388608 + 1].map(fileSegmentCount), [0, 0, 1, 1, 2, 3]);
  assert.equal(fileSegmentOffset(1), 16384);
  assert.equal(fileSegmentOffset(3), 16384 + 2 * 8388608);
  assert.deepEqual([1, 2, 3].map(dirSegmentOffset), [16384, 278528, 540672]);
});
