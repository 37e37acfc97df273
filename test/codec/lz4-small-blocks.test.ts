import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { encodeBlob } from '../../src/codec/blob-frame.js';
import { decodeBlob } from '../../src/codec/blob-frame.js';
import { lz4BlockDecode, lz4SmallBlockCompress, setBlockDecoder, setSmallBlockCompressor, LZ4_SMALL_BLOCK_LIMIT } from '../../src/codec/lz4-block.js';
import type { BlockDecoder, SmallBlockCompressor } from '../../src/codec/lz4-block.js';
import { compressorDisagreement, decoderDisagreement, installNativeLz4 } from '../../src/codec/lz4-native.js';
import { isClfsError } from '../../src/errors/index.js';
import { loadAddon, nativeLz4Functions } from '../../src/targets/native-addon.js';
import { generatePayload, prng } from './payload-generators.js';
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

function nativeDecoder(): BlockDecoder {
  const fn = loadAddon().addon?.lz4BlockDecode;
  assert.equal(typeof fn, 'function', `the addon is built with lz4BlockDecode (${loadAddon().why})`);
  return fn as BlockDecoder;
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

test("small blocks: the addon's C gives the reference blob too, installed by installNativeLz4, and decodes each blob back", () => {
  try {
    assert.deepEqual(installNativeLz4(nativeLz4Functions({})), { compress: true, decode: true, why: '' });
    blobsMatchTheReference('addon');
    for (const c of fixture.cases) assert.ok(decodeBlob(encodeBlob(generatePayload(c.payload), 'lz4'), 'b').equals(generatePayload(c.payload)));
  } finally {
    setSmallBlockCompressor(undefined);
    setBlockDecoder(undefined);
  }
});

test("small blocks: the addon's C and the port agree on 3,000 seeded inputs, offsets and capacities (result and every byte of dst)", () => {
  const c = native();
  const rnd = prng(0x9e3779b9);
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

test('small blocks: a compressor or a decoder that departs from the TypeScript is not used', () => {
  assert.equal(compressorDisagreement(lz4SmallBlockCompress), undefined);
  assert.equal(compressorDisagreement(native()), undefined);
  assert.match(compressorDisagreement(() => 0) ?? '', /other bytes than the TypeScript/);
  const offByOne: SmallBlockCompressor = (src, dst, pos, cap) => {
    const n = lz4SmallBlockCompress(src, dst, pos, cap);
    if (n > 0) dst[pos + n - 1] = dst[pos + n - 1]! ^ 1;
    return n;
  };
  assert.match(compressorDisagreement(offByOne) ?? '', /other bytes/);
  assert.match(compressorDisagreement(() => {
    throw new Error('boom');
  }) ?? '', /failed: boom/);
  const ts: BlockDecoder = (src, s, e, out, windowStart, outPos, outLimit) => {
    try {
      return lz4BlockDecode(src, s, e, { out, windowStart, outPos, outLimit }, 'x', 0);
    } catch {
      return -1;
    }
  };
  assert.equal(decoderDisagreement(ts), undefined);
  assert.equal(decoderDisagreement(nativeDecoder()), undefined);
  // accepts what the TypeScript refuses
  assert.match(decoderDisagreement((src, s, e, out, w, p, l) => Math.max(0, ts(src, s, e, out, w, p, l))) ?? '', /otherwise than the TypeScript/);
  // one byte of output wrong
  assert.match(decoderDisagreement((src, s, e, out, w, p, l) => {
    const d = ts(src, s, e, out, w, p, l);
    if (d > p) out[p] = out[p]! ^ 1;
    return d;
  }) ?? '', /otherwise/);
});

test("blocks: the addon's decoder gives the TypeScript's output on 3,000 seeded blocks and their corruptions, and refuses what it refuses", () => {
  const dec = nativeDecoder();
  const rnd = prng(0x1234567);
  let refused = 0;
  for (let k = 0; k < 3000; k++) {
    const n = 13 + Math.floor(rnd() ** 2 * 20000);
    const src = Buffer.alloc(n);
    const repeat = rnd();
    for (let i = 0; i < n; i++) src[i] = i > 8 && rnd() < repeat ? src[i - 1 - Math.floor(rnd() * 8)]! : Math.floor(rnd() * 256);
    const block = Buffer.alloc(n + (n >> 7) + 32);
    const len = lz4SmallBlockCompress(src, block, 0, block.length);
    let v = block.subarray(0, len);
    // a third intact, the others cut short or with bytes changed
    if (k % 3 === 1) v = v.subarray(0, Math.floor(rnd() * len));
    else if (k % 3 === 2) {
      v = Buffer.from(v);
      for (let j = 0; j < 3; j++) v[Math.floor(rnd() * v.length)] = Math.floor(rnd() * 256);
    }
    const prefix = k % 2 === 0 ? 0 : 100;
    const limit = prefix + (k % 5 === 0 ? n >> 1 : n);
    const a = Buffer.alloc(limit + 64, 0x5a);
    const b = Buffer.alloc(limit + 64, 0x5a);
    let want: number;
    try {
      want = lz4BlockDecode(v, 0, v.length, { out: a, windowStart: k % 4 === 0 ? prefix : 0, outPos: prefix, outLimit: limit }, 'x', 0);
    } catch (err) {
      assert.ok(isClfsError(err), String(err));
      want = -1;
      refused++;
    }
    const got = dec(v, 0, v.length, b, k % 4 === 0 ? prefix : 0, prefix, limit);
    if (want < 0) assert.ok(got < 0, `block ${k}: refused by the TypeScript, ${got} from C`);
    else {
      assert.equal(got, want, `block ${k}`);
      assert.ok(a.equals(b), `block ${k}: the same output, nothing written past the limit`);
    }
  }
  assert.ok(refused > 500 && refused < 2500, `blocks refused and blocks decoded (${refused} refused)`);
});

test('blocks: a corrupt blob gives the same error with the C decoder installed as without', () => {
  const blob = encodeBlob(generatePayload({ generator: 'text', seed: 5, length: 30000 }), 'lz4');
  const outcomes = (withC: boolean): string[] => {
    setBlockDecoder(withC ? nativeDecoder() : undefined);
    try {
      const out: string[] = [];
      // every byte after the frame header flipped, one at a time
      for (let at = 11; at < blob.length; at++) {
        const bad = Buffer.from(blob);
        bad[at] = bad[at]! ^ 0xff;
        try {
          out.push(`${at}: decoded ${createHash('sha256').update(decodeBlob(bad, 'blob-y')).digest('hex').slice(0, 16)}`);
        } catch (err) {
          assert.ok(isClfsError(err), String(err));
          out.push(`${at}: ${err.code} ${err.message}`);
        }
      }
      return out;
    } finally {
      setBlockDecoder(undefined);
    }
  };
  const ts = outcomes(false);
  assert.deepEqual(outcomes(true), ts);
  const refused = ts.filter((e) => /E_FORMAT_CORRUPT/.test(e)).length;
  assert.ok(refused > 50 && refused < ts.length, `${refused} of ${ts.length} damaged blobs refused`);
});
