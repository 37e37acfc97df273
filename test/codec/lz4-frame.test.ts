import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { isClfsError } from '../../src/errors/index.js';
import { lz4BlockDecode } from '../../src/codec/lz4-block.js';
import {
  LZ4_FRAME_HEADER,
  LZ4_WRITER_BLOCK_BYTES,
  lz4FrameCompress,
  lz4FrameDecompress,
  xxh32,
} from '../../src/codec/lz4-frame.js';
import { generatePayload } from './payload-generators.js';
import { loadLz4Cases, readVectorFile, sha256Hex } from './lz4-vectors.js';

const cases = loadLz4Cases();
const BLOB_HEADER = 4;

function byId(id: string) {
  const c = cases.find((x) => x.id === id);
  assert.ok(c, `vector ${id}`);
  return c;
}

/** Walks a frame written by our writer: [size word, data]… end mark; returns the block sizes. */
function ourBlockSizes(frame: Buffer): number[] {
  const sizes: number[] = [];
  let p = LZ4_FRAME_HEADER.length;
  for (;;) {
    const word = frame.readUInt32LE(p);
    if (word === 0) break;
    sizes.push(word);
    p += 4 + word;
  }
  assert.equal(p + 4, frame.length, 'frame ends right after the end mark');
  return sizes;
}

function assertFormatError(fn: () => unknown, code = 'E_FORMAT_CORRUPT'): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isClfsError(e), `expected ClfsError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(typeof e.offset, 'number');
    assert.match(e.message, /blob-x/);
    return true;
  });
}

describe('payload generators (vectors README) match the recorded payloads', () => {
  for (const c of cases) {
    it(`${c.id}: ${c.payload.generator} gives the recorded sha256, head and file`, () => {
      const payload = generatePayload(c.payload);
      assert.equal(payload.length, c.payload.length);
      assert.equal(payload.subarray(0, 32).toString('hex'), c.payload.head_hex);
      assert.equal(sha256Hex(payload), c.payload.sha256);
      assert.ok(readVectorFile(c.payload).equals(payload));
    });
  }
});

describe('xxh32', () => {
  it('gives the frame header checksums of the vectors', () => {
    for (const c of cases) {
      if (!c.frame) continue;
      const header = Buffer.from(c.frame.header_hex, 'hex');
      const hc = (xxh32(header, 4, header.length - 1) >>> 8) & 0xff;
      assert.equal(hc, header[header.length - 1], c.id);
    }
  });
  it('matches the known xxh32 values', () => {
    assert.equal(xxh32(Buffer.alloc(0)), 0x02cc5d05);
    assert.equal(xxh32(Buffer.from('a')), 0x550d7456);
    assert.equal(xxh32(Buffer.from('abc')), 0x32d153ff);
    assert.equal(xxh32(Buffer.from('Nobody inspects the spammish repetition')), 0xe2293b2f);
  });
});

describe('lz4FrameDecompress decodes every reference frame', () => {
  for (const c of cases) {
    if (!c.compressed) continue;
    it(`${c.id}${c.decoder_only ? ' (decoder only)' : ''}: sha256 of the decoded frame is the payload's`, () => {
      const blob = readVectorFile(c.blob);
      assert.equal(sha256Hex(blob), c.blob.sha256);
      const out = lz4FrameDecompress(blob.subarray(BLOB_HEADER), 'blob-x', BLOB_HEADER);
      assert.equal(out.length, c.payload.length);
      assert.equal(sha256Hex(out), c.payload.sha256);
    });
  }

  // node-lz4's own encoder crashes with blockChecksum: true (writeInt32LE of a u32); the
  // dec-independent-checksums vector covers block checksums.
  it('decodes frames from node-lz4 (independent blocks, content checksum, 64 KiB..4 MiB)', () => {
    const lz4 = createRequire(import.meta.url)('lz4') as { encode(b: Buffer, o: object): Buffer };
    const payload = Buffer.concat([
      generatePayload({ generator: 'text', seed: 3, length: 300000 }),
      generatePayload({ generator: 'xorshift32', seed: 3, length: 70000 }),
      Buffer.alloc(200000),
    ]);
    for (const blockMaxSize of [65536, 262144, 1048576, 4194304]) {
      const frame = lz4.encode(payload, { blockMaxSize, streamChecksum: true });
      assert.ok(lz4FrameDecompress(frame, 'blob-x').equals(payload), `blockMaxSize ${blockMaxSize}`);
    }
  });
});

describe('lz4FrameCompress (compressed bytes may differ from liblz4 streaming output: independent blocks)', () => {
  it('LZ4_FRAME_HEADER is the reference header 04 22 4D 18 40 50 77', () => {
    assert.equal(LZ4_FRAME_HEADER.toString('hex'), '04224d18405077');
    assert.equal(byId('text-small').frame!.header_hex, '04224d18405077');
  });

  for (const c of cases) {
    if (c.decoder_only) continue;
    it(`${c.id}: same compressed-vs-stored decision as the reference (${c.compressed ? 'compressed' : 'stored'}); header, blocks <= 256 KiB, decodes back`, () => {
      const payload = readVectorFile(c.payload);
      const frame = lz4FrameCompress(payload);
      assert.equal(frame !== undefined, c.compressed);
      if (!frame) return;
      assert.ok(frame.subarray(0, 7).equals(LZ4_FRAME_HEADER));
      const sizes = ourBlockSizes(frame);
      assert.equal(sizes.length, Math.ceil(payload.length / LZ4_WRITER_BLOCK_BYTES));
      for (const s of sizes) assert.ok(s < LZ4_WRITER_BLOCK_BYTES && (s & 0x80000000) === 0);
      assert.ok(lz4FrameDecompress(frame, 'blob-x').equals(payload));
      assert.ok(4 + frame.length <= payload.length + 4, 'frame + blob header is not larger than stored');
    });
  }

  it('a first block of 256 KiB equals the reference block byte for byte (same liblz4 block compressor)', () => {
    for (const id of ['exact-256k', '256k-plus-4096', '8m-compressible', 'zeros-1m']) {
      const c = byId(id);
      const ref = readVectorFile(c.blob).subarray(BLOB_HEADER);
      const first = c.frame!.blocks[0]!;
      const refBlock = ref.subarray(first.offset, first.offset + 4 + first.length);
      const ours = lz4FrameCompress(readVectorFile(c.payload))!;
      assert.ok(ours.subarray(7, 7 + 4 + first.length).equals(refBlock), id);
    }
  });

  it('text-small (3000 B, one small block): the whole frame equals the reference (TS port of the byU32 compressor)', () => {
    const c = byId('text-small');
    const ours = lz4FrameCompress(readVectorFile(c.payload))!;
    assert.ok(ours.equals(readVectorFile(c.blob).subarray(BLOB_HEADER)));
  });

  it('exact-256k: the whole frame equals the reference (one block, end mark)', () => {
    const c = byId('exact-256k');
    const ours = lz4FrameCompress(readVectorFile(c.payload))!;
    assert.ok(ours.equals(readVectorFile(c.blob).subarray(BLOB_HEADER)));
  });

  it('fallback rules (§4.3): a 1-byte or tiny incompressible last block falls back; rule 1 >= vs rule 3 >', () => {
    const text = generatePayload({ generator: 'text', seed: 1, length: LZ4_WRITER_BLOCK_BYTES + 1 });
    assert.equal(lz4FrameCompress(text), undefined);
    assert.equal(lz4FrameCompress(Buffer.alloc(0)), undefined);
    assert.equal(lz4FrameCompress(Buffer.alloc(1)), undefined);
    // Short zeros: the smallest n where 4 + 7 + 4 + c + 4 <= n + 4 holds.
    for (let n = 1; n < 64; n++) {
      const frame = lz4FrameCompress(Buffer.alloc(n));
      if (frame) assert.ok(frame.length <= n, `n=${n}: frame ${frame.length}`);
    }
  });

  it('rule 3 accepts a frame exactly as long as the payload (T == n + 4)', () => {
    // Find a zeros-prefixed payload whose frame length equals n; there is one among small sizes.
    let found = false;
    for (let n = 16; n < 400 && !found; n++) {
      for (let z = 0; z <= n && !found; z++) {
        const p = Buffer.concat([Buffer.alloc(z), generatePayload({ generator: 'xorshift32', seed: n, length: n - z })]);
        const frame = lz4FrameCompress(p);
        if (frame && frame.length === n) found = true;
      }
    }
    assert.ok(found, 'some payload has frame length == n and is still compressed');
  });
});

describe('lz4FrameDecompress rejects corrupt frames with a ClfsError naming blob and offset', () => {
  const good = lz4FrameCompress(generatePayload({ generator: 'text', seed: 1, length: 3000 }))!;

  it('bad magic', () => {
    const f = Buffer.from(good);
    f[0] = 0x05;
    assertFormatError(() => lz4FrameDecompress(f, 'blob-x'));
  });
  it('bad header checksum', () => {
    const f = Buffer.from(good);
    f[6] ^= 1;
    assertFormatError(() => lz4FrameDecompress(f, 'blob-x'));
  });
  it('dict id flag: E_FORMAT_UNSUPPORTED', () => {
    const f = Buffer.concat([good.subarray(0, 6), Buffer.alloc(4), good.subarray(6)]);
    f[4] |= 1;
    f[10] = (xxh32(f, 4, 10) >>> 8) & 0xff;
    assertFormatError(() => lz4FrameDecompress(f, 'blob-x'), 'E_FORMAT_UNSUPPORTED');
  });
  it('version 2: E_FORMAT_UNSUPPORTED', () => {
    const f = Buffer.from(good);
    f[4] = 0x80;
    f[6] = (xxh32(f, 4, 6) >>> 8) & 0xff;
    assertFormatError(() => lz4FrameDecompress(f, 'blob-x'), 'E_FORMAT_UNSUPPORTED');
  });
  it('block size over the BD maximum', () => {
    const f = Buffer.from(good);
    f.writeUInt32LE(LZ4_WRITER_BLOCK_BYTES + 1, 7);
    assertFormatError(() => lz4FrameDecompress(f, 'blob-x'));
  });
  it('bytes after the end mark', () => {
    assertFormatError(() => lz4FrameDecompress(Buffer.concat([good, Buffer.from([0])]), 'blob-x'));
  });
  it('content size that disagrees with the content', () => {
    const c = byId('dec-independent-checksums');
    const f = Buffer.from(readVectorFile(c.blob).subarray(BLOB_HEADER));
    f.writeUInt32LE(c.payload.length - 1, 6);
    f[14] = (xxh32(f, 4, 14) >>> 8) & 0xff;
    assertFormatError(() => lz4FrameDecompress(f, 'blob-x'));
  });
  it('block and content checksum mismatches', () => {
    const c = byId('dec-independent-checksums');
    const blockSum = Buffer.from(readVectorFile(c.blob).subarray(BLOB_HEADER));
    const b0 = c.frame!.blocks[0]!;
    blockSum[b0.offset + 4 + b0.length] ^= 1;
    assertFormatError(() => lz4FrameDecompress(blockSum, 'blob-x'));
    const contentSum = Buffer.from(readVectorFile(c.blob).subarray(BLOB_HEADER));
    contentSum[contentSum.length - 1] ^= 1;
    assertFormatError(() => lz4FrameDecompress(contentSum, 'blob-x'));
  });

  it('truncated at every cut point of small frames and many of large ones', () => {
    for (const c of cases) {
      if (!c.compressed) continue;
      const frame = readVectorFile(c.blob).subarray(BLOB_HEADER);
      const step = frame.length < 4000 ? 1 : Math.floor(frame.length / 997);
      for (let cut = 0; cut < frame.length; cut += step) {
        assertFormatError(() => lz4FrameDecompress(frame.subarray(0, cut), 'blob-x', BLOB_HEADER));
      }
      assertFormatError(() => lz4FrameDecompress(frame.subarray(0, frame.length - 1), 'blob-x', BLOB_HEADER));
    }
  });

  it('flipped bytes: ClfsError or a (wrong) decode, never RangeError or a hang', () => {
    let rejected = 0;
    let seed = 12345;
    const rnd = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    for (const id of ['text-small', 'exact-256k', '256k-plus-4096', 'zeros-1m', 'dec-linked-64k-contentsum', 'dec-raw-block-inside']) {
      const frame = readVectorFile(byId(id).blob).subarray(BLOB_HEADER);
      for (let k = 0; k < 300; k++) {
        const f = Buffer.from(frame);
        const flips = 1 + Math.floor(rnd() * 3);
        for (let j = 0; j < flips; j++) {
          // Favour the first bytes (header, first block's tokens), where flips change the structure.
          const at = rnd() < 0.5 ? Math.floor(rnd() * Math.min(64, f.length)) : Math.floor(rnd() * f.length);
          f[at] ^= 1 << Math.floor(rnd() * 8);
        }
        try {
          lz4FrameDecompress(f, 'blob-x', BLOB_HEADER);
        } catch (e) {
          assert.ok(isClfsError(e), `${id} flip ${k}: ${String(e)}`);
          rejected += 1;
        }
      }
    }
    // The flips are seeded, so the count is fixed (886 of 1800 today): a decoder that stopped
    // checking would still pass the loop above, not this.
    assert.ok(rejected > 600, `only ${rejected} of 1800 damaged frames were rejected`);
  });
});

describe('lz4BlockDecode bounds', () => {
  const target = (out: Uint8Array, outLimit = out.length) => ({ out, windowStart: 0, outPos: 0, outLimit });
  it('offset 0, offset before the window, overlong literals and matches throw', () => {
    const out = Buffer.alloc(64);
    // token 0x10: 1 literal, then offset 0
    assertFormatError(() => lz4BlockDecode(Buffer.from([0x10, 0x61, 0x00, 0x00, 0x00]), 0, 5, target(out), 'blob-x', 0));
    // 1 literal then offset 2 (only 1 byte of output)
    assertFormatError(() => lz4BlockDecode(Buffer.from([0x10, 0x61, 0x02, 0x00, 0x00]), 0, 5, target(out), 'blob-x', 0));
    // 15 + 255 + ... literal length running past the input
    assertFormatError(() => lz4BlockDecode(Buffer.from([0xf0, 0xff]), 0, 2, target(out), 'blob-x', 0));
    // 5 literals into an output limit of 4
    assertFormatError(() => lz4BlockDecode(Buffer.from([0x50, 1, 2, 3, 4, 5]), 0, 6, target(out, 4), 'blob-x', 0));
    // match of 4 + 15 + 200 bytes into 64
    assertFormatError(() => lz4BlockDecode(Buffer.from([0x1f, 0x61, 0x01, 0x00, 200, 0x00]), 0, 6, target(out), 'blob-x', 0));
    // a block ending right after a match
    assertFormatError(() => lz4BlockDecode(Buffer.from([0x10, 0x61, 0x01, 0x00]), 0, 4, target(out), 'blob-x', 0));
  });
  it('overlapping matches repeat the pattern (short and long)', () => {
    const out = Buffer.alloc(2000);
    // 3 literals 'abc', match offset 3 length 4 + 15 + 255 + 100, then 0 literals
    const n = lz4BlockDecode(Buffer.from([0x3f, 0x61, 0x62, 0x63, 0x03, 0x00, 0xff, 100, 0x00]), 0, 9, target(out), 'blob-x', 0);
    assert.equal(n, 3 + 4 + 15 + 255 + 100);
    assert.equal(out.subarray(0, n).toString(), 'abc'.repeat(200).slice(0, n));
  });
});
