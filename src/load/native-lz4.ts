/**
 * The addon's C of the small-block LZ4 compressor (native/clfsload_native.c, lz4SmallBlock) in
 * place of the TypeScript port (src/codec/lz4-block.ts), for the thread that calls it: the main
 * thread of a load and each encode worker. An inode of a small file is one such block, and on
 * the 20,000-file bench tree the port took about 22 µs of an encode worker's ~95 µs per file, C
 * about 7 (docs/benchmarks.md, issue 17).
 *
 * The bytes must not change (the port is what was checked against the reference), so before it
 * is used the C is run beside the port on a few fixed inputs, compressible and not, with room to
 * spare and without, and any difference (an addon built from other sources, say) keeps the port.
 * CLFSLOAD_NATIVE=0 keeps the port too, as it keeps Node's calls in the copy.
 */
import { lz4SmallBlockCompress, setSmallBlockCompressor } from '../codec/lz4-block.js';
import type { SmallBlockCompressor } from '../codec/lz4-block.js';
import { loadAddon } from '../targets/native-addon.js';

let decided: { native: boolean; why: string } | undefined;

/** Installs the C compressor in this thread when it is there and agrees with the port; says which is used, and why not C. */
export function useNativeLz4(env: NodeJS.ProcessEnv = process.env): { native: boolean; why: string } {
  if (decided !== undefined) return decided;
  decided = decide(env);
  if (decided.native) setSmallBlockCompressor(loadAddon().addon!.lz4SmallBlock as SmallBlockCompressor);
  return decided;
}

function decide(env: NodeJS.ProcessEnv): { native: boolean; why: string } {
  if (env.CLFSLOAD_NATIVE === '0') return { native: false, why: 'CLFSLOAD_NATIVE=0' };
  const { addon, why } = loadAddon();
  const fn = addon?.lz4SmallBlock;
  if (typeof fn !== 'function') return { native: false, why: addon === undefined ? why : 'the addon has no lz4SmallBlock: run npm run build:native' };
  const disagrees = disagreement(fn as SmallBlockCompressor);
  if (disagrees !== undefined) return { native: false, why: `the addon's lz4SmallBlock ${disagrees}: run npm run build:native` };
  return { native: true, why: '' };
}

/** How `fn` departs from the port on the self-check inputs, or undefined when it gives the same results and bytes on all of them. */
export function disagreement(fn: SmallBlockCompressor): string | undefined {
  try {
    const differs = selfCheckInputs().find((src) => !sameOutput(fn, src));
    return differs === undefined ? undefined : `gives other bytes than the port on a ${differs.length}-byte input`;
  } catch (err) {
    return `failed: ${(err as Error).message}`;
  }
}

/** Both compressors into fresh buffers, with room for blockLen - 1 bytes (what the frame writer gives) and with half of that. */
function sameOutput(fn: SmallBlockCompressor, src: Uint8Array): boolean {
  for (const capacity of [Math.max(0, src.length - 1), src.length >> 1]) {
    const a = new Uint8Array(capacity + 3);
    const b = new Uint8Array(capacity + 3);
    const na = lz4SmallBlockCompress(src, a, 3, capacity);
    const nb = fn(src, b, 3, capacity);
    if (na !== nb || !Buffer.from(a).equals(Buffer.from(b))) return false;
  }
  return true;
}

/** Text-like, incompressible, zero-rich and tiny inputs, made the same way every time. */
function selfCheckInputs(): Uint8Array[] {
  let seed = 0x2545f491;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const words = ['inode', 'segment', 'bucket', 'container', 'handle', '\n', ' ', '0123', 'CLFS'];
  const text = Buffer.from(Array.from({ length: 900 }, () => words[next() % words.length]).join(''));
  const noise = Uint8Array.from({ length: 5000 }, () => next() >>> 24);
  const sparse = Uint8Array.from({ length: 20000 }, () => (next() % 16 === 0 ? next() >>> 24 : 0));
  return [text, noise, sparse, text.subarray(0, 13), text.subarray(0, 12), new Uint8Array(0), Buffer.concat([noise.subarray(0, 300), text, noise.subarray(300, 700)])];
}
