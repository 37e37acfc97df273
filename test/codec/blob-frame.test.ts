import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isClfsError } from '../../src/errors/index.js';
import { BLOB_HEADER_BYTES, blobIsCompressed, decodeBlob, encodeBlob } from '../../src/codec/blob-frame.js';
import { LZ4_FRAME_HEADER } from '../../src/codec/lz4-frame.js';
import { generatePayload, prng } from './payload-generators.js';
import { loadLz4Cases, readVectorFile, sha256Hex } from './lz4-vectors.js';

const cases = loadLz4Cases();

function assertFormatError(fn: () => unknown, code: string, offset?: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isClfsError(e), `expected ClfsError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (offset !== undefined) assert.equal(e.offset, offset);
    assert.equal(e.subject, 'blob-x');
    assert.match(e.message, /blob-x/);
    return true;
  });
}

describe('decodeBlob gives every reference blob’s payload', () => {
  for (const c of cases) {
    it(`${c.id}: header ${c.header.compression_type}, decoded sha256 = payload sha256`, () => {
      const blob = readVectorFile(c.blob);
      assert.equal(blobIsCompressed(blob), c.compressed);
      assert.equal(blob.readUInt16LE(0), c.header.encryption_type);
      assert.equal(blob.readUInt16LE(2), c.header.compression_type);
      assert.equal(sha256Hex(decodeBlob(blob, c.id)), c.payload.sha256);
    });
  }
});

describe('encodeBlob (compressed bytes may differ from liblz4 streaming output; header and decision must not)', () => {
  for (const c of cases) {
    if (c.decoder_only) continue;
    it(`${c.id}: same 4-byte header as the reference (${c.compressed ? 'LZ4' : 'stored'}), decodes back`, () => {
      const payload = readVectorFile(c.payload);
      const blob = encodeBlob(payload, 'lz4');
      const ref = readVectorFile(c.blob);
      assert.ok(blob.subarray(0, BLOB_HEADER_BYTES).equals(ref.subarray(0, BLOB_HEADER_BYTES)));
      if (c.compressed) {
        assert.ok(blob.subarray(BLOB_HEADER_BYTES, BLOB_HEADER_BYTES + 7).equals(LZ4_FRAME_HEADER));
        assert.ok(blob.length <= payload.length + BLOB_HEADER_BYTES);
      } else {
        // The stored form is fully determined: byte for byte the reference blob.
        assert.ok(blob.equals(ref));
      }
      assert.ok(decodeBlob(blob, c.id).equals(payload));
    });
  }

  it("'disabled' stores every body verbatim behind 00000000", () => {
    const body = generatePayload({ generator: 'text', seed: 1, length: 5000 });
    const blob = encodeBlob(body, 'disabled');
    assert.equal(blob.subarray(0, 4).toString('hex'), '00000000');
    assert.ok(blob.subarray(4).equals(body));
    assert.equal(encodeBlob(new Uint8Array(0), 'disabled').toString('hex'), '00000000');
    assert.equal(encodeBlob(new Uint8Array(0), 'lz4').toString('hex'), '00000000');
  });

  it('accepts a Uint8Array view with an offset', () => {
    const backing = generatePayload({ generator: 'text', seed: 9, length: 10000 });
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 100, 5000);
    const blob = encodeBlob(view, 'lz4');
    assert.equal(blobIsCompressed(blob), true);
    assert.ok(decodeBlob(blob, 'v').equals(backing.subarray(100, 5100)));
  });
});

describe('decodeBlob rejects bad blobs with a ClfsError naming the blob and offset', () => {
  const good = encodeBlob(generatePayload({ generator: 'text', seed: 1, length: 3000 }), 'lz4');

  it('shorter than the header', () => {
    assertFormatError(() => decodeBlob(Buffer.from([0, 0, 1]), 'blob-x'), 'E_FORMAT_CORRUPT', 3);
    assertFormatError(() => decodeBlob(Buffer.alloc(0), 'blob-x'), 'E_FORMAT_CORRUPT', 0);
  });
  it('encryption type 1', () => {
    const b = Buffer.from(good);
    b.writeUInt16LE(1, 0);
    assertFormatError(() => decodeBlob(b, 'blob-x'), 'E_FORMAT_UNSUPPORTED', 0);
    assert.equal(blobIsCompressed(b), false);
  });
  it('compression type 7', () => {
    const b = Buffer.from(good);
    b.writeUInt16LE(7, 2);
    assertFormatError(() => decodeBlob(b, 'blob-x'), 'E_FORMAT_UNSUPPORTED', 2);
  });
  it('bad magic: offset 4 (blob offsets, not frame offsets)', () => {
    const b = Buffer.from(good);
    b[4] = 0;
    assertFormatError(() => decodeBlob(b, 'blob-x'), 'E_FORMAT_CORRUPT', 4);
  });
  it('bad header checksum: offset 10', () => {
    const b = Buffer.from(good);
    b[10] ^= 0xff;
    assertFormatError(() => decodeBlob(b, 'blob-x'), 'E_FORMAT_CORRUPT', 10);
  });
  it('truncated LZ4 blobs at every cut point', () => {
    for (let cut = 4; cut < good.length; cut++) {
      assertFormatError(() => decodeBlob(good.subarray(0, cut), 'blob-x'), 'E_FORMAT_CORRUPT');
    }
  });
});

describe('round trip: seeded random payloads, 0..1 MiB, mixed compressible and random', () => {
  it('200 payloads decode back, and the decision matches the frame size rule', () => {
    const rnd = prng(20240601);
    for (let k = 0; k < 200; k++) {
      const size = k < 20 ? k * 37 : Math.floor(rnd() ** 2 * 1048576);
      const parts: Buffer[] = [];
      let have = 0;
      while (have < size) {
        const len = Math.min(size - have, 1 + Math.floor(rnd() * (rnd() < 0.3 ? 300000 : 3000)));
        const kind = Math.floor(rnd() * 4);
        const seed = 1 + Math.floor(rnd() * 1e6);
        const spec =
          kind === 0
            ? ({ generator: 'zeros', length: len } as const)
            : kind === 1
              ? ({ generator: 'text', seed, length: len } as const)
              : kind === 2
                ? ({ generator: 'xorshift32', seed, length: len } as const)
                : ({ generator: 'pattern', hex: seed.toString(16).padStart(8, '0'), length: len } as const);
        parts.push(generatePayload(spec));
        have += len;
      }
      const body = Buffer.concat(parts, size);
      const blob = encodeBlob(body, 'lz4');
      assert.ok(blob.length <= size + BLOB_HEADER_BYTES, `k=${k} size=${size}`);
      assert.ok(decodeBlob(blob, `k${k}`).equals(body), `k=${k} size=${size}`);
      if (size === 0) assert.equal(blobIsCompressed(blob), false);
    }
  });
});
