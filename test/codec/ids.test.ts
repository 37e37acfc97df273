import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Btype,
  Ftype,
  ROOT_ID,
  BUCKET_ID,
  INPROGRESS_ID,
  NULL_FILEHANDLE,
  containerWord,
  decodeFileHandle,
  encodeFileHandle,
  fnv1,
  ftypeToBtype,
  generateFileHandle,
  rdevSplit,
  uuid4FromBytes,
  uuidString,
} from '../../src/codec/index.js';
import { isClfsError as isErr } from '../../src/errors/index.js';
import { readVectorJson } from './vector-files.js';

const hashes = readVectorJson('hashes.json').cases as any[];

test('filehandles of hashes.json decode to their recorded parameters and re-encode identically', () => {
  const fhs = hashes.filter((c) => c.filehandle_params !== undefined);
  assert.ok(fhs.length > 0);
  for (const c of fhs) {
    const p = c.filehandle_params;
    const bytes = Buffer.from(c.input, 'hex');
    const d = decodeFileHandle(bytes);
    assert.equal(d.containerWord, containerWord(p.containerid));
    assert.equal(d.dmidSrc, p.dmid_src);
    assert.equal(d.dmidTgt, p.dmid_tgt);
    assert.equal(d.ftype, p.ftype);
    assert.equal(d.seq, BigInt(p.seq));
    const again = encodeFileHandle({ containerId: p.containerid, dmidSrc: p.dmid_src, dmidTgt: p.dmid_tgt, ftype: p.ftype, seq: BigInt(p.seq), random: d.random });
    assert.ok(again.equals(bytes));
  }
});

test('spec §1.1 sample handle and container word', () => {
  assert.equal(containerWord(0x29fbd3f5), 0x3f7a7eb1);
  const fh = encodeFileHandle({ containerId: 0x29fbd3f5, dmidSrc: 0, dmidTgt: 0, ftype: Ftype.REG, seq: 2013n, random: 0x6643f1de583a3574n });
  assert.equal(fh.toString('hex'), 'b17e7a3f00000200dd0700000000000074353a58def14366');
});

test('generateFileHandle draws from random64 and never returns a handle whose fnv1 is 0', () => {
  const draws = [5n, 6n];
  const fh = generateFileHandle({ containerId: 1, dmidSrc: 0, dmidTgt: 1, ftype: Ftype.DIR, seq: 1001n }, () => draws.shift()!);
  assert.notEqual(fnv1(fh), 0);
  assert.equal(decodeFileHandle(fh).random, 5n);
});

test('well-known ids, types, uuid, rdev', () => {
  assert.equal(ROOT_ID.toString('hex'), '00'.repeat(15) + '64');
  assert.equal(BUCKET_ID.toString('hex'), '00'.repeat(15) + '63');
  assert.equal(INPROGRESS_ID.toString('hex'), '00'.repeat(15) + '62');
  assert.equal(NULL_FILEHANDLE.length, 24);
  assert.deepEqual([Ftype.DIR, Ftype.REG, Ftype.LNK, Ftype.BLK, Ftype.CHR, Ftype.SOCK, Ftype.FIFO].map(ftypeToBtype), [Btype.DIR, Btype.REG, Btype.LNK, Btype.BLK, Btype.CHR, Btype.SOCK, Btype.FIFO]);
  const u = uuid4FromBytes(Buffer.alloc(16, 0xff));
  assert.equal(uuidString(u), 'ffffffff-ffff-4fff-bfff-ffffffffffff');
  assert.deepEqual(rdevSplit(0xffffffffn), { major: 4095, minor: 1048575 });
  // spec §5.3: makedev(259, 65537)
  const makedev = (ma: bigint, mi: bigint) => ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
  assert.deepEqual(rdevSplit(makedev(259n, 65537n)), { major: 259, minor: 65537 });
  assert.throws(() => decodeFileHandle(Buffer.alloc(16)), (e) => isErr(e) && e.code === 'E_FORMAT_CORRUPT');
});
