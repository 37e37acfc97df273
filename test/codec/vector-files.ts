/** Reads the golden vectors under format/vectors (copied from the shared set; tests never read ../shared). */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { mulberry32 } from '../../src/targets/index.js';

/** dist/test/codec → repo root */
export const VECTORS_DIR = new URL('../../../format/vectors/', import.meta.url);

export function readVectorJson<T = any>(rel: string): T {
  return JSON.parse(readFileSync(new URL(rel, VECTORS_DIR), 'utf8')) as T;
}

export function readVectorFile(rel: string, gzip = false): Buffer {
  const raw = readFileSync(new URL(rel, VECTORS_DIR));
  return gzip ? gunzipSync(raw) : raw;
}

/** `{hex}` or `{file, gzip}` byte reference of the vectors README. */
export function bytesOf(ref: { hex?: string; file?: string; gzip?: boolean }): Buffer {
  if (typeof ref.hex === 'string') return Buffer.from(ref.hex, 'hex');
  if (typeof ref.file === 'string') return readVectorFile(ref.file, ref.gzip === true);
  throw new Error('byte reference without hex or file');
}

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Payload generators of the vectors README. */
export function generatePayload(spec: any): Buffer {
  switch (spec.generator) {
    case 'zeros':
      return Buffer.alloc(spec.length);
    case 'pattern': {
      const p = Buffer.from(spec.hex, 'hex');
      const out = Buffer.alloc(spec.length);
      for (let i = 0; i < out.length; i++) out[i] = p[i % p.length]!;
      return out;
    }
    case 'xorshift32':
      return xorshift32(spec.seed, spec.length);
    case 'stamped': {
      const base = xorshift32(spec.seed, 4096);
      const out = Buffer.alloc(spec.length);
      const block = Buffer.from(base);
      for (let k = 0, off = 0; off < out.length; k++, off += 4096) {
        block.writeBigUInt64LE(BigInt(k), 0);
        block.copy(out, off, 0, Math.min(4096, out.length - off));
      }
      return out;
    }
    case 'text': {
      const parts: string[] = [];
      let n = 0;
      for (let i = spec.seed; n < spec.length; i++) {
        const line = `line ${String(i).padStart(8, '0')}: the quick brown fox jumps over the lazy dog\n`;
        parts.push(line);
        n += line.length;
      }
      return Buffer.from(parts.join(''), 'ascii').subarray(0, spec.length);
    }
    case 'concat':
      return Buffer.concat(spec.parts.map(generatePayload));
    default:
      if (typeof spec.hex === 'string') return Buffer.from(spec.hex, 'hex');
      throw new Error(`unknown generator ${spec.generator}`);
  }
}

function xorshift32(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Deterministic PRNG for property tests (mulberry32). */
export const seededRandom = mulberry32;

export function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** Splits the reference's local entries file (u32 length + DIRENTS bytes, per piece). */
export function entryFilePieces(file: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < file.length; ) {
    const n = file.readUInt32LE(off);
    out.push(file.subarray(off + 4, off + 4 + n));
    off += 4 + n;
  }
  return out;
}
