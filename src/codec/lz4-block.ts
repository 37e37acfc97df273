/**
 * LZ4 block format decoder (the sequence format inside each frame block), in plain TypeScript.
 *
 * Decodes into a caller-owned output buffer at a position, so that linked blocks can match into the
 * output of earlier blocks (the whole output is the window) and nothing is allocated per sequence.
 * Every length and offset is checked against the input, the output limit and the window start:
 * corrupt input throws E_FORMAT_CORRUPT naming the blob and the byte offset, never a RangeError,
 * and the loop always consumes input, so it cannot hang.
 */
import { formatCorrupt } from '../errors/index.js';

/** LZ4 block format: a match is at least 4 bytes long (the token stores length - 4). */
const MIN_MATCH = 4;
/** Below this many bytes a plain loop beats creating a subarray view for `set`. */
const SHORT_COPY_BYTES = 32;

export interface Lz4BlockDecodeTarget {
  /** the output buffer (whole content so far, for linked blocks) */
  readonly out: Uint8Array;
  /** first byte a match may reference: 0 for linked blocks, the block's own start for independent ones */
  readonly windowStart: number;
  /** where this block's output begins */
  readonly outPos: number;
  /** one past the last byte this block may write */
  readonly outLimit: number;
}

/**
 * Decodes as lz4BlockDecode does, with the target's fields as arguments: the output position
 * after the block, or a negative number for a malformed block (decodeBlock then runs
 * lz4BlockDecode, which says how). The package's addon has one (src/codec/lz4-native.ts).
 */
export type BlockDecoder = (src: Uint8Array, srcStart: number, srcEnd: number, out: Uint8Array, windowStart: number, outPos: number, outLimit: number) => number;

let blockDecoder: BlockDecoder | undefined;

/** The decoder decodeBlock tries first in this thread; undefined: lz4BlockDecode alone. */
export function setBlockDecoder(fn: BlockDecoder | undefined): void {
  blockDecoder = fn;
}

/**
 * What the frame reader calls for each compressed block: the installed decoder, and where it
 * finds the block malformed (or has none), lz4BlockDecode, whose error names the fault and its
 * offset; so a corrupt blob fails with the same message either way.
 */
export function decodeBlock(src: Uint8Array, srcStart: number, srcEnd: number, target: Lz4BlockDecodeTarget, blobName: string, baseOffset: number): number {
  if (blockDecoder !== undefined && srcEnd <= src.length && target.outLimit <= target.out.length && srcStart <= srcEnd && target.windowStart <= target.outPos && target.outPos <= target.outLimit) {
    const d = blockDecoder(src, srcStart, srcEnd, target.out, target.windowStart, target.outPos, target.outLimit);
    if (d >= 0) return d;
  }
  return lz4BlockDecode(src, srcStart, srcEnd, target, blobName, baseOffset);
}

/**
 * Decodes the compressed block `src[srcStart, srcEnd)` into `target.out` from `target.outPos`.
 * `baseOffset` is the position of `src[0]` in the blob, for error messages.
 * Returns the output position after the block.
 */
export function lz4BlockDecode(
  src: Uint8Array,
  srcStart: number,
  srcEnd: number,
  target: Lz4BlockDecodeTarget,
  blobName: string,
  baseOffset: number,
): number {
  const out = target.out;
  const windowStart = target.windowStart;
  const outLimit = target.outLimit;
  let s = srcStart;
  let d = target.outPos;

  for (;;) {
    // Also catches a block that ends right after a match: the last sequence must be literals only.
    if (s >= srcEnd) throw formatCorrupt(blobName, baseOffset + s, 'LZ4 block ends without its last literals');
    const tokenAt = s;
    const token = src[s++]!;

    // Literals.
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b: number;
      do {
        if (s >= srcEnd) throw formatCorrupt(blobName, baseOffset + s, 'LZ4 literal length runs past the block');
        b = src[s++]!;
        litLen += b;
      } while (b === 255);
    }
    if (litLen > 0) {
      if (litLen > srcEnd - s) {
        throw formatCorrupt(blobName, baseOffset + tokenAt, `LZ4 literal run of ${litLen} bytes runs past the block`);
      }
      if (litLen > outLimit - d) {
        throw formatCorrupt(blobName, baseOffset + tokenAt, `LZ4 literal run of ${litLen} bytes exceeds the block size`);
      }
      if (litLen < SHORT_COPY_BYTES) {
        for (let i = 0; i < litLen; i++) out[d + i] = src[s + i]!;
      } else {
        out.set(src.subarray(s, s + litLen), d);
      }
      s += litLen;
      d += litLen;
    }
    // LZ4 block format: the last sequence holds literals only and ends the block.
    if (s === srcEnd) return d;

    // Match.
    if (srcEnd - s < 2) throw formatCorrupt(blobName, baseOffset + s, 'LZ4 match offset cut off');
    const offset = src[s]! | (src[s + 1]! << 8);
    if (offset === 0) throw formatCorrupt(blobName, baseOffset + s, 'LZ4 match offset 0');
    if (offset > d - windowStart) {
      throw formatCorrupt(blobName, baseOffset + s, `LZ4 match offset ${offset} reaches before the window`);
    }
    s += 2;
    let matchLen = (token & 15) + MIN_MATCH;
    if ((token & 15) === 15) {
      let b: number;
      do {
        if (s >= srcEnd) throw formatCorrupt(blobName, baseOffset + s, 'LZ4 match length runs past the block');
        b = src[s++]!;
        matchLen += b;
      } while (b === 255);
    }
    if (matchLen > outLimit - d) {
      throw formatCorrupt(blobName, baseOffset + tokenAt, `LZ4 match of ${matchLen} bytes exceeds the block size`);
    }
    let m = d - offset;
    if (matchLen < SHORT_COPY_BYTES) {
      // Byte by byte also gives the repeat semantics of an overlapping match (offset < length).
      const end = d + matchLen;
      while (d < end) out[d++] = out[m++]!;
    } else if (offset >= matchLen) {
      out.copyWithin(d, m, m + matchLen);
      d += matchLen;
    } else {
      // Overlapping: [m, d) is periodic with period `offset`; copying it forward doubles it each pass.
      let left = matchLen;
      while (left > 0) {
        const n = Math.min(left, d - m);
        out.copyWithin(d, m, m + n);
        d += n;
        left -= n;
      }
    }
  }
}

/*
 * Compressor for blocks under LZ4_64Klimit (65547 bytes): a port of liblz4's LZ4_compress_generic in
 * the mode the reference's linked LZ4F stream uses for its first block (32-bit hash table, 12-bit
 * 5-byte hash, acceleration 1, limited output). liblz4's LZ4_compress_default, which the `lz4`
 * package exposes, switches to a 16-bit table below that size and gives other bytes (docs/
 * dependencies.md). Checked byte for byte against python-lz4 1.9.4 on 2,935 bodies of 1 B..65 KB.
 */
const HASH_LOG = 12;
const MF_LIMIT = 12;
const LAST_LITERALS = 5;
const SKIP_TRIGGER = 6;
const MAX_DISTANCE = 65535;
/** 889523592379, the 5-byte hash prime, split into 32-bit halves */
const PRIME5_LO = 0x1bbcdcbb;
const PRIME5_HI = 0xcf;
/** LZ4_64Klimit: from this input size on LZ4_compress_default uses the same table as LZ4F */
export const LZ4_SMALL_BLOCK_LIMIT = 65536 + MF_LIMIT - 1;

function read32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/** liblz4 LZ4_hash5 on a little-endian 64-bit machine: ((read64(p) << 24) * prime5) >> (64 - 12) */
/**
 * The match table, zeroed for each block. One per thread, reused: a fresh 16 KiB table per inode
 * was most of the encode workers' garbage on small files. Safe to share: compression is
 * synchronous, so no two blocks use it at once, and every use starts by zeroing it.
 */
const TABLE = new Uint32Array(1 << HASH_LOG);
function hashTable(): Uint32Array {
  return TABLE.fill(0);
}

function hash5(b: Uint8Array, i: number): number {
  const lo = (b[i]! << 24) >>> 0;
  const hi = read32(b, i + 1);
  const top = (Math.floor((b[i]! * PRIME5_LO) / 256) + Math.imul(hi, PRIME5_LO) + Math.imul(lo, PRIME5_HI)) >>> 0;
  return top >>> (32 - HASH_LOG);
}

/** Compresses as lz4SmallBlockCompress does (same arguments, same bytes, same result). */
export type SmallBlockCompressor = (src: Uint8Array, dst: Uint8Array, dstPos: number, capacity: number) => number;

let smallBlockCompressor: SmallBlockCompressor = lz4SmallBlockCompress;

/**
 * The compressor that compressSmallBlock uses in this thread: a faster one that gives the same
 * bytes (the package's addon: src/codec/lz4-native.ts installs it after checking it), or, with
 * undefined, the port below again.
 */
export function setSmallBlockCompressor(fn: SmallBlockCompressor | undefined): void {
  smallBlockCompressor = fn ?? lz4SmallBlockCompress;
}

/** What the LZ4 frame writer calls for a block under LZ4_SMALL_BLOCK_LIMIT: lz4SmallBlockCompress, or the compressor installed in its place. */
export function compressSmallBlock(src: Uint8Array, dst: Uint8Array, dstPos: number, capacity: number): number {
  return smallBlockCompressor(src, dst, dstPos, capacity);
}

/**
 * Compresses `src` (shorter than LZ4_SMALL_BLOCK_LIMIT) into `dst[dstPos, dstPos + capacity)`.
 * Returns the compressed length, or 0 when it does not fit (liblz4's limited-output contract; its
 * conservative checks are kept so that 0 comes back exactly when liblz4 returns 0).
 */
export function lz4SmallBlockCompress(src: Uint8Array, dst: Uint8Array, dstPos: number, capacity: number): number {
  const n = src.length;
  const olimit = dstPos + capacity;
  const mflimitPlusOne = n - MF_LIMIT + 1;
  const matchLimit = n - LAST_LITERALS;
  let op = dstPos;
  let anchor = 0;
  let ip = 0;
  let match = 0;
  main: if (n >= MF_LIMIT + 1) {
    const table = hashTable();
    table[hash5(src, 0)] = 0;
    ip = 1;
    let forwardH = hash5(src, ip);
    for (;;) {
      let forwardIp = ip;
      let step = 1;
      let searchMatchNb = 1 << SKIP_TRIGGER;
      for (;;) {
        const h = forwardH;
        const current = forwardIp;
        const matchIndex = table[h]!;
        ip = forwardIp;
        forwardIp += step;
        step = searchMatchNb++ >> SKIP_TRIGGER;
        if (forwardIp > mflimitPlusOne) break main;
        match = matchIndex;
        forwardH = hash5(src, forwardIp);
        table[h] = current;
        if (matchIndex + MAX_DISTANCE < current) continue;
        if (read32(src, match) === read32(src, ip)) break;
      }
      while (ip > anchor && match > 0 && src[ip - 1] === src[match - 1]) {
        ip--;
        match--;
      }
      const litLength = ip - anchor;
      let token = op++;
      if (op + litLength + (2 + 1 + LAST_LITERALS) + Math.floor(litLength / 255) > olimit) return 0;
      if (litLength >= 15) {
        let len = litLength - 15;
        dst[token] = 15 << 4;
        for (; len >= 255; len -= 255) dst[op++] = 255;
        dst[op++] = len;
      } else {
        dst[token] = litLength << 4;
      }
      for (let k = 0; k < litLength; k++) dst[op + k] = src[anchor + k]!;
      op += litLength;
      for (;;) {
        const distance = ip - match;
        dst[op] = distance & 0xff;
        dst[op + 1] = distance >>> 8;
        op += 2;
        let a = ip + MIN_MATCH;
        let b = match + MIN_MATCH;
        while (a < matchLimit && src[a] === src[b]) {
          a++;
          b++;
        }
        let matchCode = a - (ip + MIN_MATCH);
        ip = a;
        if (op + (1 + LAST_LITERALS) + Math.floor((matchCode + 240) / 255) > olimit) return 0;
        if (matchCode >= 15) {
          dst[token] = dst[token]! + 15;
          matchCode -= 15;
          for (; matchCode >= 255; matchCode -= 255) dst[op++] = 255;
          dst[op++] = matchCode;
        } else {
          dst[token] = dst[token]! + matchCode;
        }
        anchor = ip;
        if (ip >= mflimitPlusOne) break main;
        table[hash5(src, ip - 2)] = ip - 2;
        const h = hash5(src, ip);
        const matchIndex = table[h]!;
        match = matchIndex;
        table[h] = ip;
        if (matchIndex + MAX_DISTANCE >= ip && read32(src, match) === read32(src, ip)) {
          token = op++;
          dst[token] = 0;
          continue;
        }
        break;
      }
      forwardH = hash5(src, ++ip);
    }
  }
  const lastRun = n - anchor;
  if (op + lastRun + 1 + Math.floor((lastRun + 255 - 15) / 255) > olimit) return 0;
  if (lastRun >= 15) {
    let acc = lastRun - 15;
    dst[op++] = 15 << 4;
    for (; acc >= 255; acc -= 255) dst[op++] = 255;
    dst[op++] = acc;
  } else {
    dst[op++] = lastRun << 4;
  }
  for (let k = 0; k < lastRun; k++) dst[op + k] = src[anchor + k]!;
  op += lastRun;
  return op - dstPos;
}
