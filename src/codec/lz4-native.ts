/**
 * The addon's C of the two LZ4 block routines that run once per object (native/clfsload_native.c):
 * the small-block compressor of src/codec/lz4-block.ts (every small file's inode is one such
 * block: the port took about 22 µs of an encode worker's ~95 µs per file on the bench tree, C
 * about 7) and the block decoder (5% of a verify's main thread). The caller hands the functions
 * over (targets/native-addon.ts loads them); the codec itself loads nothing.
 *
 * The bytes must not change: the TypeScript is what was checked against the reference. So before
 * either is used in a thread it is run beside the TypeScript on fixed inputs (compressible and
 * not, with room and without; blocks and their corruptions), and any difference (an addon built
 * from other sources, say) keeps the TypeScript. A block the C decoder finds malformed is decoded
 * again by the TypeScript, whose error names the fault.
 */
import { lz4BlockDecode, lz4SmallBlockCompress, setBlockDecoder, setSmallBlockCompressor } from './lz4-block.js';
import type { BlockDecoder, SmallBlockCompressor } from './lz4-block.js';

export interface NativeLz4Functions {
  lz4SmallBlock?: unknown;
  lz4BlockDecode?: unknown;
}

export interface NativeLz4Use {
  compress: boolean;
  decode: boolean;
  /** why either is not used ('' when both are) */
  why: string;
}

let installed: NativeLz4Use | undefined;

/**
 * Installs, in this thread, each of the addon's functions that agrees with the TypeScript, once
 * (later calls return the first answer). `fns` undefined: the TypeScript, for `why`.
 */
export function installNativeLz4({ fns, why }: { fns: NativeLz4Functions | undefined; why: string }): NativeLz4Use {
  if (installed !== undefined) return installed;
  const reasons: string[] = [];
  let compress = false;
  let decode = false;
  if (fns === undefined) reasons.push(why);
  else {
    compress = adopt(fns.lz4SmallBlock, 'lz4SmallBlock', compressorDisagreement, setSmallBlockCompressor, reasons);
    decode = adopt(fns.lz4BlockDecode, 'lz4BlockDecode', decoderDisagreement, setBlockDecoder, reasons);
  }
  installed = { compress, decode, why: reasons.join('; ') };
  return installed;
}

/** Installs `fn` with `install` when it is a function that `disagreement` finds no fault in; else adds why not to `reasons`. */
function adopt<F>(fn: unknown, name: string, disagreement: (f: F) => string | undefined, install: (f: F) => void, reasons: string[]): boolean {
  const why = typeof fn === 'function' ? disagreement(fn as F) : `the addon has no ${name}`;
  if (why !== undefined) {
    reasons.push(why);
    return false;
  }
  install(fn as F);
  return true;
}

/** How `fn` departs from lz4SmallBlockCompress on the self-check inputs, or undefined when it gives the same results and bytes on all of them. */
export function compressorDisagreement(fn: SmallBlockCompressor): string | undefined {
  try {
    for (const src of selfCheckInputs()) {
      for (const capacity of [Math.max(0, src.length - 1), src.length >> 1]) {
        const a = new Uint8Array(capacity + 3);
        const b = new Uint8Array(capacity + 3);
        if (lz4SmallBlockCompress(src, a, 3, capacity) !== fn(src, b, 3, capacity) || !Buffer.from(a).equals(Buffer.from(b))) {
          return `lz4SmallBlock gives other bytes than the TypeScript on a ${src.length}-byte input`;
        }
      }
    }
    return undefined;
  } catch (err) {
    return `lz4SmallBlock failed: ${(err as Error).message}`;
  }
}

/**
 * How `fn` departs from lz4BlockDecode on the self-check blocks, or undefined: each block decodes
 * to its input (alone, and after a prefix it may match into), and each cut or damaged block
 * gives what the TypeScript gives (the same output, or a refusal).
 */
export function decoderDisagreement(fn: BlockDecoder): string | undefined {
  try {
    for (const src of selfCheckInputs()) {
      const block = new Uint8Array(src.length + (src.length >> 7) + 32);
      const n = lz4SmallBlockCompress(src, block, 0, block.length);
      if (n === 0) continue;
      const bad = Uint8Array.from(block.subarray(0, n));
      bad[n >> 1] = bad[n >> 1]! ^ 0xff;
      // intact (also after a prefix it may not match into), cut short, damaged
      const cases: Array<[Uint8Array, number, number]> = [[block.subarray(0, n), 0, 0], [block.subarray(0, n), 7, 7], [block.subarray(0, n >> 1), 0, 0], [bad, 0, 0]];
      for (const [v, windowStart, outPos] of cases) {
        const limit = outPos + src.length;
        const a = new Uint8Array(limit + 5).fill(0x5a);
        const b = new Uint8Array(limit + 5).fill(0x5a);
        let want: number;
        try {
          want = lz4BlockDecode(v, 0, v.length, { out: a, windowStart, outPos, outLimit: limit }, 'self-check', 0);
        } catch {
          want = -1;
        }
        const got = fn(v, 0, v.length, b, windowStart, outPos, limit);
        if ((want < 0) !== (got < 0) || (want >= 0 && (want !== got || !Buffer.from(a).equals(Buffer.from(b))))) {
          return `lz4BlockDecode decodes a ${v.length}-byte block otherwise than the TypeScript`;
        }
      }
    }
    return undefined;
  } catch (err) {
    return `lz4BlockDecode failed: ${(err as Error).message}`;
  }
}

/**
 * Text-like, incompressible, zero-rich and tiny inputs, made the same way every time. Small: the
 * check runs at the start of every thread that compresses or decodes, before the TypeScript is
 * compiled, and must cost little next to a one-file load: 7-8 ms per thread here, against about
 * 100 ms with the 30 KB of inputs and the 20 decodes per input it first had.
 */
let inputs: Uint8Array[] | undefined;

function selfCheckInputs(): Uint8Array[] {
  if (inputs !== undefined) return inputs;
  let seed = 0x2545f491;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const words = ['inode', 'segment', 'bucket', 'container', 'handle', '\n', ' ', '0123', 'CLFS'];
  let t = '';
  for (let i = 0; i < 200; i++) t += words[next() % words.length];
  const text = Buffer.from(t);
  // plain loops: Uint8Array.from with a callback took 4 ms here before it was compiled
  const noise = new Uint8Array(600);
  for (let i = 0; i < noise.length; i++) noise[i] = next() >>> 24;
  const sparse = new Uint8Array(1500);
  for (let i = 0; i < sparse.length; i++) sparse[i] = next() % 16 === 0 ? next() >>> 24 : 0;
  inputs = [text, noise, sparse, text.subarray(0, 13), text.subarray(0, 12), new Uint8Array(0), Buffer.concat([noise.subarray(0, 100), text.subarray(0, 400), noise.subarray(100, 200)])];
  return inputs;
}
