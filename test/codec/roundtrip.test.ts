import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BlockMapBuilder,
  Btype,
  type Bmap,
  type Vattr,
  decodeBmap,
  decodeDirents,
  decodeExtattrs,
  decodeObject,
  decodeVattr,
  encodeBmap,
  encodeDirents,
  encodeExtattrs,
  encodeInodeBody,
  encodeVattr,
  encodeDirSegmentBody,
  encodeIndirectBody,
  encodeFileSegmentBody,
} from '../../src/codec/index.js';
import { randomBytes, seededRandom } from './vector-files.js';

const rand = seededRandom(20240601);
const u32 = () => Math.floor(rand() * 2 ** 32);
const u64 = () => (BigInt(u32()) << 32n) | BigInt(u32());
const INODE_BTYPES = [Btype.REG, Btype.DIR, Btype.LNK, Btype.BLK, Btype.CHR, Btype.SOCK, Btype.FIFO];

function randomVattr(btype: Btype): Vattr {
  const t = () => ({ sec: u32(), nsec: u32() % 1_000_000_000 });
  return {
    mode: Math.floor(rand() * 65536), btype, uid: u32(), gid: u32(), sizeBytes: u64(),
    mtime: t(), ctime: t(), atime: t(), usedBytes: u64(), fsid: u64(), fileid: u64(),
    rdevMajor: u32(), rdevMinor: u32(), nlink: u32(), containerId: u64(),
  };
}

function randomBmap(segments: number, self: Buffer): Bmap {
  const b = new BlockMapBuilder(self, () => randomBytes(rand, 16));
  for (let i = 0; i < segments; i++) b.add(randomBytes(rand, 16));
  const f = b.finish();
  return { firstSegmentBytes: 16384, otherSegmentBytes: rand() < 0.5 ? 262144 : 8388608, direct: f.direct, treeRoots: f.treeRoots };
}

test('VATTR round trip (500 random)', () => {
  for (let i = 0; i < 500; i++) {
    const v = randomVattr(INODE_BTYPES[i % INODE_BTYPES.length]!);
    assert.deepEqual(decodeVattr(encodeVattr(v), 'x', 0), v);
  }
});

test('BMAP round trip with many segments, including indirect trees', () => {
  for (const n of [0, 1, 5, 1022, 1023, 1024, 1023 + 4096 + 17]) {
    const m = randomBmap(n, randomBytes(rand, 24));
    assert.deepEqual(decodeBmap(encodeBmap(m), 'x', 0), m);
  }
});

test('DIRENTS and EXTATTRS round trip (random names, both handle lengths)', () => {
  for (let i = 0; i < 200; i++) {
    const list = Array.from({ length: Math.floor(rand() * 50) }, () => ({
      name: randomBytes(rand, Math.floor(rand() * 300)),
      handle: randomBytes(rand, rand() < 0.5 ? 16 : 24),
    }));
    assert.deepEqual(decodeDirents(encodeDirents(list), 'x', 0), list);
    const pairs = Array.from({ length: Math.floor(rand() * 8) }, (_, k): [string, string] => [`k${k}-é${u32()}`, `v✓${u32()}`]);
    assert.deepEqual(decodeExtattrs(encodeExtattrs(pairs), 'x', 0), pairs);
  }
});

test('whole objects round trip through decodeObject (every inode kind, segments, indirect blocks)', () => {
  for (let i = 0; i < 140; i++) {
    const btype = INODE_BTYPES[i % INODE_BTYPES.length]!;
    const self = randomBytes(rand, 24);
    const vattr = randomVattr(btype);
    const bmap = randomBmap(Math.floor(rand() * 40), self);
    const name = randomBytes(rand, Math.floor(rand() * 64));
    const isDir = btype === Btype.DIR;
    const hasData = btype === Btype.REG || btype === Btype.LNK;
    const back = isDir ? undefined : Array.from({ length: 1 + Math.floor(rand() * 3) }, () => randomBytes(rand, 24));
    const data = hasData ? randomBytes(rand, Math.floor(rand() * 2000)) : undefined;
    const direntsPiece = isDir ? encodeDirents([{ name: Buffer.from('.'), handle: self }]) : undefined;
    const extattrs: Array<[string, string]> | undefined = isDir && rand() < 0.5 ? [['containeridEpoch', '2']] : undefined;
    const body = encodeInodeBody({ vattr, bmap, back, name, data, direntsPiece, extattrs });
    assert.equal(body.length % 8, 0);
    const o = decodeObject(body, 'x');
    assert.equal(o.kind, 'inode');
    if (o.kind !== 'inode') continue;
    assert.deepEqual(o.vattr, vattr);
    assert.deepEqual(o.bmap, bmap);
    assert.deepEqual(o.back, back);
    assert.deepEqual(o.name, name);
    if (hasData) assert.deepEqual(Buffer.from(o.data!), data);
    if (isDir) assert.deepEqual(Buffer.from(o.direntsBytes!), direntsPiece);
    assert.deepEqual(o.extattrs, extattrs);
  }
  const owner = randomBytes(rand, 24);
  const back = { ctimeSec: u32(), offset: u64(), owner };
  const seg = decodeObject(encodeFileSegmentBody(randomBytes(rand, 1001), back), 'x');
  assert.equal(seg.kind, 'file-segment');
  assert.deepEqual(seg.kind === 'file-segment' && seg.databack, back);
  const ptrs = Array.from({ length: 4096 }, () => randomBytes(rand, 16));
  const ind = decodeObject(encodeIndirectBody(ptrs, back), 'x');
  assert.deepEqual(ind.kind === 'indirect' && ind.pointers, ptrs);
  const ds = decodeObject(encodeDirSegmentBody(encodeDirents([{ name: Buffer.from('a'), handle: owner }]), back), 'x');
  assert.equal(ds.kind, 'dir-segment');
});
