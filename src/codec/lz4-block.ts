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
