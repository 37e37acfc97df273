/**
 * The payload generators of the shared vectors (vectors README, "Payload generators"), so tests can
 * rebuild large payloads and check their recorded sha256 and head_hex.
 */

export type PayloadSpec =
  | { generator: 'zeros'; length: number }
  | { generator: 'pattern'; hex: string; length: number }
  | { generator: 'xorshift32'; seed: number; length: number }
  | { generator: 'stamped'; seed: number; length: number }
  | { generator: 'text'; seed: number; length: number }
  | { generator: 'concat'; parts: PayloadSpec[]; length?: number };

const STAMP_BLOCK_BYTES = 4096;
const STAMP_BYTES = 8;

function xorshift32(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function stamped(seed: number, length: number): Buffer {
  const base = xorshift32(seed, STAMP_BLOCK_BYTES);
  const out = Buffer.allocUnsafe(length);
  const block = Buffer.from(base);
  for (let k = 0, at = 0; at < length; k++, at += STAMP_BLOCK_BYTES) {
    block.writeBigUInt64LE(BigInt(k), 0);
    block.copy(out, at, 0, Math.min(STAMP_BLOCK_BYTES, length - at));
  }
  return out;
}

function text(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (let i = seed; at < length; i++) {
    const line = `line ${String(i).padStart(8, '0')}: the quick brown fox jumps over the lazy dog\n`;
    at += out.write(line, at, 'latin1');
  }
  return out;
}

function pattern(hex: string, length: number): Buffer {
  const unit = Buffer.from(hex, 'hex');
  const out = Buffer.allocUnsafe(length);
  if (length > 0) out.fill(unit);
  return out;
}

export function generatePayload(spec: PayloadSpec): Buffer {
  switch (spec.generator) {
    case 'zeros':
      return Buffer.alloc(spec.length);
    case 'pattern':
      return pattern(spec.hex, spec.length);
    case 'xorshift32':
      return xorshift32(spec.seed, spec.length);
    case 'stamped':
      return stamped(spec.seed, spec.length);
    case 'text':
      return text(spec.seed, spec.length);
    case 'concat':
      return Buffer.concat(spec.parts.map(generatePayload));
  }
}

/** xorshift32 as a seeded source of test decisions, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}
