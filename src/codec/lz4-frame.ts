/**
 * LZ4 frames (format.md §4.2, §4.4): the writer the reference's blobs need, and a reader for any
 * valid frame.
 *
 * Writer: the frame header is byte for byte the reference's (`04 22 4D 18 40 50 77`: linked blocks,
 * 256 KiB, no checksums, no content size). Deliberate difference from the reference: each 256 KiB
 * block is compressed *independently* with liblz4's block compressor (the `lz4` package), where the
 * reference's LZ4F stream lets full blocks after the first match into the previous block. An
 * independent block is valid inside a linked frame (format.md §12.1), and the first block's bytes
 * are identical; later blocks may be larger than the reference's. A block under 65547 bytes goes
 * through our port of liblz4's compressor in LZ4F's table mode (lz4-block.ts), since the package's
 * one-shot call would pick another hash table there. The fallback decision (§4.3) is
 * the reference's, applied to our block sizes, so borderline payloads may go the other way.
 *
 * Reader: linked or independent blocks, 64 KiB..4 MiB, raw blocks, content size, and block and
 * content checksums, which are verified (xxh32). A dictionary id is rejected (E_FORMAT_UNSUPPORTED):
 * no CLFS writer uses one and we have no dictionary to decode against. Bytes after the end mark
 * (or after the content checksum) are rejected: a blob holds exactly one frame.
 */
import { constants as bufferConstants } from 'node:buffer';
import { createRequire } from 'node:module';
import { ClfsError, formatCorrupt } from '../errors/index.js';
import { compressSmallBlock, decodeBlock, LZ4_SMALL_BLOCK_LIMIT } from './lz4-block.js';

interface Lz4Binding {
  /** liblz4 LZ4_compress_default into output[startIdx, endIdx); 0 when it does not fit */
  encodeBlock(input: Uint8Array, output: Uint8Array, startIdx?: number, endIdx?: number): number;
}
/**
 * The package's native block binding, required directly: its main module also loads stream
 * classes and a pure-JS xxhash (12 files, 6 ms of start-up in every thread that compresses),
 * none of which we use. The package's own entry is the fallback if its layout ever moves.
 */
function loadLz4Binding(): Lz4Binding {
  const require = createRequire(import.meta.url);
  try {
    const native = require('lz4/build/Release/lz4.node') as { compress?: Lz4Binding['encodeBlock'] };
    if (typeof native.compress === 'function') return { encodeBlock: native.compress };
  } catch {
    // fall through to the package entry
  }
  return require('lz4') as Lz4Binding;
}
const lz4Binding = loadLz4Binding();

export const LZ4_FRAME_MAGIC = 0x184d2204;
/** format.md §4.2: magic, FLG 0x40 (v1, linked blocks, nothing optional), BD 0x50 (256 KiB), HC 0x77 */
export const LZ4_FRAME_HEADER: Buffer = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x40, 0x50, 0x77]);
/** format.md §4.2: the reference feeds 256 KiB chunks, each a full block */
export const LZ4_WRITER_BLOCK_BYTES = 262144;
const END_MARK_BYTES = 4;
const BLOCK_SIZE_WORD_BYTES = 4;
const CHECKSUM_BYTES = 4;
/** high bit of a block size word: the block is stored uncompressed */
const RAW_BLOCK_BIT = 0x80000000;

const FLG_VERSION_MASK = 0xc0;
const FLG_VERSION_1 = 0x40;
const FLG_BLOCK_INDEPENDENT = 0x20;
const FLG_BLOCK_CHECKSUM = 0x10;
const FLG_CONTENT_SIZE = 0x08;
const FLG_CONTENT_CHECKSUM = 0x04;
const FLG_RESERVED = 0x02;
const FLG_DICT_ID = 0x01;
const BD_RESERVED = 0x8f;
/** BD bits 6..4: 4 = 64 KiB, 5 = 256 KiB, 6 = 1 MiB, 7 = 4 MiB */
const BLOCK_MAX_BYTES_BY_CODE: readonly (number | undefined)[] = Object.freeze([
  undefined, undefined, undefined, undefined, 65536, 262144, 1048576, 4194304,
]);
/** LZ4 block format: a compressed byte expands to at most 255 output bytes, plus a few at the ends */
const MAX_EXPANSION_PER_BYTE = 256;
const MAX_EXPANSION_SLACK = 64;
/** unused output capacity we return without copying */
const SLACK_KEPT_BYTES = 4096;

/** Scratch space up to this size is kept between calls (one 8 MiB segment and its framing). */
const SCRATCH_KEPT_BYTES = 9 * 1024 * 1024;
let keptScratch: Buffer | undefined;

/**
 * Room to compress into. The result is always copied out of it, so one buffer per thread serves
 * every call: a fresh 8 MiB buffer per segment cost a page fault per 4 KiB (kernel time that
 * showed in the large-file benchmark).
 */
function scratchBuffer(bytes: number): Buffer {
  if (bytes > SCRATCH_KEPT_BYTES) return Buffer.allocUnsafe(bytes);
  if (keptScratch === undefined || keptScratch.length < bytes) keptScratch = Buffer.allocUnsafe(Math.max(bytes, 64 * 1024));
  return keptScratch;
}

/**
 * Compresses `body` into a frame written at `headRoom` bytes into the result, or returns undefined
 * when the reference would store the blob uncompressed (format.md §4.3). `headRoom` lets encodeBlob
 * put its 4-byte header in front without another copy. With `borrow`, the result is a view into
 * this thread's scratch buffer, valid only until the next call (for a caller that writes it out at
 * once: an 8 MiB segment's frame is then not copied).
 */
export function lz4FrameCompressAt(body: Uint8Array, headRoom: number, borrow = false): Buffer | undefined {
  const n = body.length;
  // format.md §4.3: T counts the 4-byte blob header whatever headRoom is, against the limit n + 4.
  const limit = n + 4;
  if (n === 0) return undefined; // 4 + 7 + end mark = 15 > 4: rule 3
  const blockCount = Math.ceil(n / LZ4_WRITER_BLOCK_BYTES);
  // Each block gets room for blockLen - 1 compressed bytes: liblz4 stores a block raw exactly when its
  // compressed form is not shorter than its input (LZ4F_makeBlock), and a raw block means fallback.
  const scratch = scratchBuffer(headRoom + LZ4_FRAME_HEADER.length + n + blockCount * (BLOCK_SIZE_WORD_BYTES - 1) + END_MARK_BYTES);
  LZ4_FRAME_HEADER.copy(scratch, headRoom);
  let pos = headRoom + LZ4_FRAME_HEADER.length;
  let total = 4 + LZ4_FRAME_HEADER.length;
  for (let start = 0; start < n; start += LZ4_WRITER_BLOCK_BYTES) {
    const blockLen = Math.min(LZ4_WRITER_BLOCK_BYTES, n - start);
    const dataAt = pos + BLOCK_SIZE_WORD_BYTES;
    const block = body.subarray(start, start + blockLen);
    // Below LZ4_64Klimit liblz4's one-shot API picks another hash table than LZ4F: use our port
    // (or the addon's C of it, where the load installed it)
    const cSize =
      blockLen < LZ4_SMALL_BLOCK_LIMIT
        ? compressSmallBlock(block, scratch, dataAt, blockLen - 1)
        : lz4Binding.encodeBlock(block, scratch, dataAt, dataAt + blockLen - 1);
    // Rule 2: liblz4 would store this block raw.
    if (cSize <= 0) return undefined;
    scratch.writeUInt32LE(cSize, pos);
    pos = dataAt + cSize;
    total += BLOCK_SIZE_WORD_BYTES + cSize;
    // Rule 1: a full block is emitted while feeding, and then T >= n + 4 falls back. The partial
    // last block is emitted by the final flush, with the end mark, under rule 3.
    if (blockLen === LZ4_WRITER_BLOCK_BYTES && total >= limit) return undefined;
  }
  scratch.writeUInt32LE(0, pos);
  pos += END_MARK_BYTES;
  total += END_MARK_BYTES;
  // Rule 3: after the flush, only strictly larger falls back.
  if (total > limit) return undefined;
  // One copy to the exact size, so the result does not pin the n-sized scratch buffer.
  return borrow ? scratch.subarray(0, pos) : Buffer.from(scratch.subarray(0, pos));
}

/** Returns the frame, or undefined when the reference would store the blob uncompressed (§4.3). */
export function lz4FrameCompress(body: Uint8Array): Buffer | undefined {
  return lz4FrameCompressAt(body, 0);
}

const PRIME32_1 = 0x9e3779b1;
const PRIME32_2 = 0x85ebca77;
const PRIME32_3 = 0xc2b2ae3d;
const PRIME32_4 = 0x27d4eb2f;
const PRIME32_5 = 0x165667b1;

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function readU32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/** xxHash32 of `data[start, end)`, as the LZ4 frame format uses it (header, block and content checksums). */
export function xxh32(data: Uint8Array, start = 0, end = data.length, seed = 0): number {
  let i = start;
  let h: number;
  if (end - start >= 16) {
    let v1 = (seed + PRIME32_1 + PRIME32_2) | 0;
    let v2 = (seed + PRIME32_2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - PRIME32_1) | 0;
    const limit = end - 16;
    while (i <= limit) {
      v1 = Math.imul(rotl32((v1 + Math.imul(readU32(data, i), PRIME32_2)) | 0, 13), PRIME32_1);
      v2 = Math.imul(rotl32((v2 + Math.imul(readU32(data, i + 4), PRIME32_2)) | 0, 13), PRIME32_1);
      v3 = Math.imul(rotl32((v3 + Math.imul(readU32(data, i + 8), PRIME32_2)) | 0, 13), PRIME32_1);
      v4 = Math.imul(rotl32((v4 + Math.imul(readU32(data, i + 12), PRIME32_2)) | 0, 13), PRIME32_1);
      i += 16;
    }
    h = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) | 0;
  } else {
    h = (seed + PRIME32_5) | 0;
  }
  h = (h + (end - start)) | 0;
  while (i + 4 <= end) {
    h = Math.imul(rotl32((h + Math.imul(readU32(data, i), PRIME32_3)) | 0, 17), PRIME32_4);
    i += 4;
  }
  while (i < end) {
    h = Math.imul(rotl32((h + Math.imul(data[i]!, PRIME32_5)) | 0, 11), PRIME32_1);
    i++;
  }
  h ^= h >>> 15;
  h = Math.imul(h, PRIME32_2);
  h ^= h >>> 13;
  h = Math.imul(h, PRIME32_3);
  h ^= h >>> 16;
  return h >>> 0;
}

/** What the frame header says. */
interface FrameDescriptor {
  blockIndependent: boolean;
  blockChecksum: boolean;
  contentChecksum: boolean;
  contentSize: number | undefined;
  blockMaxBytes: number;
  /** offset of the first block size word in the frame */
  blocksAt: number;
}

function readDescriptor(frame: Uint8Array, blobName: string, base: number): FrameDescriptor {
  if (frame.length < 7) throw formatCorrupt(blobName, base + frame.length, 'LZ4 frame header cut off');
  const magic = readU32(frame, 0);
  if (magic !== LZ4_FRAME_MAGIC) {
    throw formatCorrupt(blobName, base, `not an LZ4 frame (magic 0x${magic.toString(16).padStart(8, '0')})`);
  }
  const flg = frame[4]!;
  const bd = frame[5]!;
  if ((flg & FLG_VERSION_MASK) !== FLG_VERSION_1) {
    throw new ClfsError('E_FORMAT_UNSUPPORTED', `${blobName}: LZ4 frame version ${flg >>> 6} at byte ${base + 4} is not 1`, {
      subject: blobName,
      offset: base + 4,
    });
  }
  if ((flg & FLG_RESERVED) !== 0) throw formatCorrupt(blobName, base + 4, 'LZ4 FLG reserved bit set');
  if ((flg & FLG_DICT_ID) !== 0) {
    throw new ClfsError(
      'E_FORMAT_UNSUPPORTED',
      `${blobName}: LZ4 frame at byte ${base} needs a dictionary (dict id flag), which CLFS never uses`,
      { subject: blobName, offset: base + 4 },
    );
  }
  if ((bd & BD_RESERVED) !== 0) throw formatCorrupt(blobName, base + 5, 'LZ4 BD reserved bits set');
  const blockMaxBytes = BLOCK_MAX_BYTES_BY_CODE[(bd >>> 4) & 7];
  if (blockMaxBytes === undefined) throw formatCorrupt(blobName, base + 5, `LZ4 block size code ${(bd >>> 4) & 7}`);
  let p = 6;
  let contentSize: number | undefined;
  if ((flg & FLG_CONTENT_SIZE) !== 0) {
    if (frame.length < p + 8 + 1) throw formatCorrupt(blobName, base + frame.length, 'LZ4 frame header cut off');
    const lo = readU32(frame, p);
    const hi = readU32(frame, p + 4);
    // Anything at or above 2^32 cannot be a blob we can hold; the bound check below rejects it too.
    contentSize = hi === 0 ? lo : Number.MAX_SAFE_INTEGER;
    p += 8;
  }
  const hc = (xxh32(frame, 4, p) >>> 8) & 0xff;
  if (frame[p] !== hc) {
    throw formatCorrupt(blobName, base + p, `LZ4 header checksum 0x${frame[p]!.toString(16)} != 0x${hc.toString(16)}`);
  }
  return {
    blockIndependent: (flg & FLG_BLOCK_INDEPENDENT) !== 0,
    blockChecksum: (flg & FLG_BLOCK_CHECKSUM) !== 0,
    contentChecksum: (flg & FLG_CONTENT_CHECKSUM) !== 0,
    contentSize,
    blockMaxBytes,
    blocksAt: p + 1,
  };
}

/**
 * Walks the block size words without decoding, checking that every block lies inside the frame, and
 * returns an upper bound of the decoded size, so the output is allocated once.
 */
function scanBlocks(frame: Uint8Array, desc: FrameDescriptor, blobName: string, base: number): number {
  let p = desc.blocksAt;
  let bound = 0;
  const trailer = desc.blockChecksum ? CHECKSUM_BYTES : 0;
  for (;;) {
    if (frame.length - p < BLOCK_SIZE_WORD_BYTES) {
      throw formatCorrupt(blobName, base + frame.length, 'LZ4 frame cut off (no end mark)');
    }
    const word = readU32(frame, p);
    if (word === 0) break;
    const size = (word & ~RAW_BLOCK_BIT) >>> 0;
    const raw = (word & RAW_BLOCK_BIT) !== 0;
    if (size > desc.blockMaxBytes) {
      throw formatCorrupt(blobName, base + p, `LZ4 block of ${size} bytes exceeds the frame's ${desc.blockMaxBytes}`);
    }
    if (size === 0) throw formatCorrupt(blobName, base + p, 'empty raw LZ4 block');
    if (frame.length - p - BLOCK_SIZE_WORD_BYTES < size + trailer) {
      throw formatCorrupt(blobName, base + frame.length, `LZ4 block at byte ${base + p} cut off`);
    }
    bound += raw ? size : Math.min(desc.blockMaxBytes, size * MAX_EXPANSION_PER_BYTE + MAX_EXPANSION_SLACK);
    p += BLOCK_SIZE_WORD_BYTES + size + trailer;
  }
  return bound;
}

/**
 * Decodes one LZ4 frame. `baseOffset` is where the frame starts in the blob (4 after the blob
 * header), so error offsets are blob offsets. Throws E_FORMAT_CORRUPT / E_FORMAT_UNSUPPORTED.
 */
export function lz4FrameDecompress(frame: Uint8Array, blobName: string, baseOffset = 0): Buffer {
  const base = baseOffset;
  const desc = readDescriptor(frame, blobName, base);
  const bound = scanBlocks(frame, desc, blobName, base);
  let capacity = bound;
  if (desc.contentSize !== undefined) {
    if (desc.contentSize > bound) {
      throw formatCorrupt(blobName, base + 6, `LZ4 content size ${desc.contentSize} cannot come from these blocks`);
    }
    capacity = desc.contentSize;
  }
  // a small frame (an inode, a directory segment) decodes into one kept buffer and is copied out
  // at its exact size: a fresh buffer of the bound per blob (up to 255x the block) kept the
  // garbage collector busy for 40% of a verify
  const scratch = capacity <= DECODE_SCRATCH_BYTES;
  const out = scratch ? decodeScratch(capacity) : allocateOutput(capacity, blobName, base);
  let d = 0;
  let p = desc.blocksAt;
  for (;;) {
    const word = readU32(frame, p);
    if (word === 0) break;
    const size = (word & ~RAW_BLOCK_BIT) >>> 0;
    const dataAt = p + BLOCK_SIZE_WORD_BYTES;
    const dataEnd = dataAt + size;
    if (desc.blockChecksum) {
      const want = readU32(frame, dataEnd);
      const got = xxh32(frame, dataAt, dataEnd);
      if (want !== got) throw formatCorrupt(blobName, base + dataEnd, 'LZ4 block checksum mismatch');
    }
    if ((word & RAW_BLOCK_BIT) !== 0) {
      if (size > capacity - d) throw formatCorrupt(blobName, base + p, 'LZ4 raw block exceeds the content size');
      out.set(frame.subarray(dataAt, dataEnd), d);
      d += size;
    } else {
      d = decodeBlock(
        frame,
        dataAt,
        dataEnd,
        {
          out,
          windowStart: desc.blockIndependent ? d : 0,
          outPos: d,
          outLimit: Math.min(capacity, d + desc.blockMaxBytes),
        },
        blobName,
        base,
      );
    }
    p = dataEnd + (desc.blockChecksum ? CHECKSUM_BYTES : 0);
  }
  p += END_MARK_BYTES;
  if (desc.contentSize !== undefined && d !== desc.contentSize) {
    throw formatCorrupt(blobName, base + p, `LZ4 content is ${d} bytes, the header says ${desc.contentSize}`);
  }
  if (desc.contentChecksum) {
    if (frame.length - p < CHECKSUM_BYTES) throw formatCorrupt(blobName, base + frame.length, 'LZ4 content checksum cut off');
    if (readU32(frame, p) !== xxh32(out, 0, d)) throw formatCorrupt(blobName, base + p, 'LZ4 content checksum mismatch');
    p += CHECKSUM_BYTES;
  }
  if (p !== frame.length) {
    throw formatCorrupt(blobName, base + p, `${frame.length - p} bytes after the end of the LZ4 frame`);
  }
  // The bound of a short last block can be far above its content (255x expansion): copy out
  // rather than pin the slack.
  const slack = capacity - d;
  return scratch || slack > Math.max(SLACK_KEPT_BYTES, d >>> 3) ? Buffer.from(out.subarray(0, d)) : out.subarray(0, d);
}

/** Frames that may decode to at most this many bytes use the kept decode buffer. */
const DECODE_SCRATCH_BYTES = 1 << 20;
let keptDecode: Buffer | undefined;

/** The kept decode buffer (one per thread; decoding is synchronous, and the result is always copied out of it). */
function decodeScratch(bytes: number): Buffer {
  if (keptDecode === undefined || keptDecode.length < bytes) keptDecode = Buffer.allocUnsafe(DECODE_SCRATCH_BYTES);
  return keptDecode;
}

function allocateOutput(capacity: number, blobName: string, base: number): Buffer {
  try {
    if (capacity > bufferConstants.MAX_LENGTH) throw new RangeError('over buffer.constants.MAX_LENGTH');
    return Buffer.allocUnsafe(capacity);
  } catch (cause) {
    throw new ClfsError('E_FORMAT_LIMIT', `${blobName}: LZ4 frame at byte ${base} would decode to up to ${capacity} bytes, more than can be allocated`, {
      subject: blobName,
      offset: base,
      cause,
    });
  }
}
