/**
 * The package's own addon (native/clfsload_native.c, built by `npm run build:native`), loaded
 * once for the process: the copy's file-system calls (src/copy/native.ts) and the reader threads'
 * scheduling policy (thread-policy.ts) come from it, and the LZ4 block functions of a load and the
 * read commands (nativeLz4Functions). Reads no environment: the copy checks its CLFSLOAD_NATIVE=0
 * itself, and nativeLz4Functions is given the environment.
 */
import { createRequire } from 'node:module';

let loaded: { addon: Record<string, unknown> | undefined; why: string } | undefined;

/** The addon's exports, or undefined and why (a one-line reason with the fix). */
export function loadAddon(): { addon: Record<string, unknown> | undefined; why: string } {
  if (loaded !== undefined) return loaded;
  try {
    // dist/src/targets/native-addon.js -> native/build/Release (the package root's native/)
    loaded = { addon: createRequire(import.meta.url)('../../../native/build/Release/clfsload_native.node') as Record<string, unknown>, why: '' };
  } catch (err) {
    loaded = { addon: undefined, why: `not built: ${(err as Error).message.split('\n')[0]}; run npm run build:native` };
  }
  return loaded;
}

/**
 * The addon's two LZ4 block functions for the codec's installNativeLz4 (codec/lz4-native.ts), or
 * why not: CLFSLOAD_NATIVE=0 in `env` (the caller's process.env) keeps the TypeScript, as it keeps
 * Node's calls in the copy.
 */
export function nativeLz4Functions(env: NodeJS.ProcessEnv): { fns: { lz4SmallBlock?: unknown; lz4BlockDecode?: unknown } | undefined; why: string } {
  if (env.CLFSLOAD_NATIVE === '0') return { fns: undefined, why: 'CLFSLOAD_NATIVE=0' };
  const { addon, why } = loadAddon();
  return addon === undefined ? { fns: undefined, why } : { fns: { lz4SmallBlock: addon.lz4SmallBlock, lz4BlockDecode: addon.lz4BlockDecode }, why: '' };
}
