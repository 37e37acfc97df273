/**
 * The two 32-bit hashes that prefix CLFS blob names (format.md §2).
 * Hot path: plain integer loops, no allocation beyond the result string.
 */

const FNV_PRIME = 0x01000193;
const MURMUR_SEED = 0x8c6749ad;
const MURMUR_M = 0x5bd1e995;
const MURMUR_R = 24;

/** FNV-1 (multiply, then xor) starting from 0, not the usual offset basis (format.md §2.1). */
export function fnv1(b: Uint8Array): number {
  let h = 0;
  for (let i = 0; i < b.length; i++) {
    h = Math.imul(h, FNV_PRIME) ^ b[i]!;
  }
  return h >>> 0;
}

/** MurmurHash2, 32 bit, seed 0x8C6749AD, little-endian words (format.md §2.2). */
export function murmur2(b: Uint8Array): number {
  const n = b.length;
  let h = (MURMUR_SEED ^ n) | 0;
  let i = 0;
  const whole = n & ~3;
  for (; i < whole; i += 4) {
    let k = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    k = Math.imul(k, MURMUR_M);
    k ^= k >>> MURMUR_R;
    k = Math.imul(k, MURMUR_M);
    h = Math.imul(h, MURMUR_M) ^ k;
  }
  const rem = n & 3;
  if (rem === 3) h ^= b[i + 2]! << 16;
  if (rem >= 2) h ^= b[i + 1]! << 8;
  if (rem >= 1) {
    h ^= b[i]!;
    h = Math.imul(h, MURMUR_M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR_M);
  h ^= h >>> 15;
  return h >>> 0;
}

const HEX_BYTE: readonly string[] = Object.freeze(
  Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0')),
);

/** `n` as 8 upper-case hex digits. */
export function hex32(n: number): string {
  return HEX_BYTE[(n >>> 24) & 0xff]! + HEX_BYTE[(n >>> 16) & 0xff]! + HEX_BYTE[(n >>> 8) & 0xff]! + HEX_BYTE[n & 0xff]!;
}

/** hash64 as printed in names: `%016X` of fnv1 << 32 | murmur2 (format.md §2.3). */
export function hash64Hex(b: Uint8Array): string {
  return hex32(fnv1(b)) + hex32(murmur2(b));
}
