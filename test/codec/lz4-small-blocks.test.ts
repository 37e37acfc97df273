import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { encodeBlob } from '../../src/codec/blob-frame.js';
import { lz4SmallBlockCompress, setSmallBlockCompressor, LZ4_SMALL_BLOCK_LIMIT } from '../../src/codec/lz4-block.js';
import type { SmallBlockCompressor } from '../../src/codec/lz4-block.js';
import { disagreement, useNativeLz4 } from '../../src/load/native-lz4.js';
import { loadAddon } from '../../src/targets/native-addon.js';
import { generatePayload } from './payload-generators.js';
import type { PayloadSpec } from './payload-generators.js';

// Bodies under LZ4_64Klimit and the blobs the reference's own compressor made of them
// (test/fixtures/make-lz4-small-blocks.py): the bytes the port, and the addon's C of it, must give.
const fixture = JSON.parse(fs.readFileSync(new URL('../../../test/fixtures/lz4-small-blocks.json', import.meta.url), 'utf8')) as {
  cases: Array<{ payload: PayloadSpec; length: number; blob_bytes: number; blob_sha256: string; compressed: boolean }>;
};

function native(): SmallBlockCompressor {
  const fn = loadAddon().addon?.lz4SmallBlock;
  assert.equal(typeof fn, 'function', `the addon is built with lz4SmallBlock (${loadAddon().why})`);
  return fn as SmallBlockCompressor;
}

function blobsMatchTheReference(label: string): void {
  let compressed = 0;
  for (const c of fixture.cases) {
    const body = generatePayload(c.payload);
    assert.equal(body.length, c.length);
    const blob = encodeBlob(body, 'lz4');
    assert.equal(blob.length, c.blob_bytes, `${label}: blob length of a ${c.length}-byte body (${JSON.stringify(c.payload).slice(0, 120)})`);
    assert.equal(createHash('sha256').update(blob).digest('hex'), c.blob_sha256, `${label}: blob bytes of a ${c.length}-byte body`);
    if (c.compressed) compressed++;
  }
  assert.ok(compressed > 300 && compressed < fixture.cases.length, `both outcomes covered (${compressed} of ${fixture.cases.length} compressed)`);
}

test('small blocks: the TypeScript port gives the reference blob, byte for byte, for 400 bodies under 65,547 bytes', () => {
  setSmallBlockCompressor(undefined);
  blobsMatchTheReference('port');
});

test("small blocks: the addon's C gives the reference blob too, and useNativeLz4 installs it", () => {
  try {
    const used = useNativeLz4({});
    assert.deepEqual(used, { native: true, why: '' });
    blobsMatchTheReference('addon');
  } finally {
    setSmallBlockCompressor(undefined);
  }
});

test("small blocks: the addon's C and the port agree on 3,000 seeded inputs, offsets and capacities (result and every byte of dst)", () => {
  const c = native();
  let x = 0x9e3779b9;
  const rnd = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
  const a = Buffer.alloc(140_000);
  const b = Buffer.alloc(140_000);
  let zeros = 0;
  for (let k = 0; k < 3000; k++) {
    const n = k < 100 ? k : Math.min(LZ4_SMALL_BLOCK_LIMIT - 1, Math.floor(rnd() ** 2 * LZ4_SMALL_BLOCK_LIMIT));
    const src = Buffer.alloc(n);
    const alphabet = 1 + Math.floor(rnd() * 255);
    const repeat = rnd();
    for (let i = 0; i < n; i++) src[i] = i > 8 && rnd() < repeat ? src[i - 1 - Math.floor(rnd() * 8)]! : Math.floor(rnd() * alphabet);
    const capacity = Math.max(0, [n - 1, n, n + 32, n >> 1, n >> 3][k % 5]!);
    const pos = k % 7;
    a.fill(0xa5, 0, pos + capacity + 64);
    b.fill(0xa5, 0, pos + capacity + 64);
    const ra = lz4SmallBlockCompress(src, a, pos, capacity);
    const rb = c(src, b, pos, capacity);
    if (ra === 0) zeros++;
    assert.equal(rb, ra, `input ${k}: ${n} bytes, capacity ${capacity}`);
    assert.ok(a.subarray(0, pos + capacity + 64).equals(b.subarray(0, pos + capacity + 64)), `input ${k}: the same bytes, nothing written outside`);
  }
  assert.ok(zeros > 300 && zeros < 2700, `inputs that fit and inputs that do not (${zeros} did not)`);
});

test("small blocks: the addon refuses a dst range outside dst and a src of 65,547 bytes or more", () => {
  const c = native();
  assert.throws(() => c(Buffer.alloc(100), Buffer.alloc(50), 10, 41), RangeError);
  assert.throws(() => c(Buffer.alloc(LZ4_SMALL_BLOCK_LIMIT), Buffer.alloc(LZ4_SMALL_BLOCK_LIMIT * 2), 0, LZ4_SMALL_BLOCK_LIMIT), RangeError);
  assert.throws(() => c('text' as unknown as Uint8Array, Buffer.alloc(50), 0, 10), TypeError);
});

test('small blocks: a compressor that departs from the port is not used', () => {
  assert.equal(disagreement(lz4SmallBlockCompress), undefined);
  assert.match(disagreement(() => 0) ?? '', /other bytes than the port/);
  const offByOne: SmallBlockCompressor = (src, dst, pos, cap) => {
    const n = lz4SmallBlockCompress(src, dst, pos, cap);
    if (n > 0) dst[pos + n - 1] = dst[pos + n - 1]! ^ 1;
    return n;
  };
  assert.match(disagreement(offByOne) ?? '', /other bytes/);
  assert.match(disagreement(() => {
    throw new Error('boom');
  }) ?? '', /failed: boom/);
});
