import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DirentPacker, INLINE_DIRENTS_LIMIT, decodeDirents, direntBytes } from '../../src/codec/index.js';
import { bytesOf, entryFilePieces, readVectorJson, seededRandom, randomBytes } from './vector-files.js';

const cases = readVectorJson('objects/objects.json').cases as any[];

for (const id of ['dir-empty', 'dir-few', 'dir-segments', 'root-lifecycle']) {
  test(`${id}: DirentPacker reproduces the reference's entry file piece by piece`, () => {
    const c = cases.find((x) => x.id === id);
    const file = bytesOf(c.inputs.entry_file);
    const want = entryFilePieces(file);
    const all = want.flatMap((p, i) => decodeDirents(p, `${id} piece ${i}`, 0));
    const packer = new DirentPacker(all[0]!.handle, all[1]!.handle);
    const got: Buffer[] = [];
    for (const e of all.slice(2)) {
      const closed = packer.add(e.name, e.handle);
      if (closed) got.push(Buffer.from(closed));
    }
    got.push(packer.finish());
    assert.equal(got.length, want.length);
    got.forEach((p, i) => assert.ok(p.equals(want[i]!), `piece ${i}`));
    assert.equal(packer.streamBytes, file.length);
    assert.equal(packer.streamBytes, c.inputs.tobj.size);
  });
}

test('pieces never exceed their limit and are never empty (random names, seeded)', () => {
  const rand = seededRandom(42);
  const self = Buffer.alloc(24, 7);
  const packer = new DirentPacker(self, Buffer.alloc(16, 1));
  const pieces: Buffer[] = [];
  let total = 4;
  for (let i = 0; i < 5000; i++) {
    const name = randomBytes(rand, 1 + Math.floor(rand() * 255));
    const closed = packer.add(name, self);
    if (closed) pieces.push(Buffer.from(closed));
  }
  pieces.push(packer.finish());
  assert.ok(pieces[0]!.length <= INLINE_DIRENTS_LIMIT);
  for (const p of pieces.slice(1)) assert.ok(p.length > 0 && p.length <= 262144);
  for (const p of pieces.slice(1)) total += 4 + p.length;
  assert.equal(packer.streamBytes, total + pieces[0]!.length);
  assert.equal(pieces.reduce((n, p) => n + decodeDirents(p, 'x', 0).length, 0), 5002);
  assert.equal(direntBytes(3, 24), 33);
});
