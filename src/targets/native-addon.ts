/**
 * The package's own addon (native/clfsload_native.c, built by `npm run build:native`), loaded
 * once for the process: the copy's file-system calls (src/copy/native.ts) and the reader threads'
 * scheduling policy (thread-policy.ts) come from it, and the LZ4 block functions of a load and the
 * read commands (nativeLz4Functions). Reads no environment: the copy checks its CLFSLOAD_NATIVE=0
 * itself, and nativeLz4Functions is given the environment.
 */
import { createRequire } from 'node:module';
import * as util from 'node:util';

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

/** readSmall of the addon (native/clfsload_native.c), as the load's small-file reads call it. */
export interface NativeSmallFileIo {
  readSmall(path: Buffer, buf: Uint8Array, stat: Float64Array): number;
}

/**
 * The addon's one-call small-file read (a load's files of a few KiB: open, read, fstat and close
 * in one call instead of four or five through fs: 12.2 -> 7.5 us a file of the bench tree, warm),
 * or why not; like nativeLz4Functions, CLFSLOAD_NATIVE=0 in `env` keeps Node's calls. A write of a
 * blob the same way was measured too and gained nothing (12.6 against 12.2-14.3 us: the create is
 * the kernel's), so blobs are still written with fs's calls.
 */
export function nativeFileFunctions(env: NodeJS.ProcessEnv): { fns: NativeSmallFileIo | undefined; why: string } {
  if (env.CLFSLOAD_NATIVE === '0') return { fns: undefined, why: 'CLFSLOAD_NATIVE=0' };
  const { addon, why } = loadAddon();
  if (addon === undefined) return { fns: undefined, why };
  if (typeof addon.readSmall !== 'function') return { fns: undefined, why: 'the addon predates readSmall: run npm run build:native' };
  return { fns: { readSmall: addon.readSmall as NativeSmallFileIo['readSmall'] }, why: '' };
}

/**
 * The error Node's fs would give for a -errno the addon returned: code, errno, syscall, and the
 * path for a call by path (Node names none for a call on a descriptor).
 */
export function errnoError(ret: number, syscall: string, path?: Uint8Array): NodeJS.ErrnoException {
  const [code, text] = errorNames().get(ret) ?? [`E${-ret}`, `error ${-ret}`];
  if (path === undefined) return Object.assign(new Error(`${code}: ${text}, ${syscall}`), { code, errno: ret, syscall });
  const shown = Buffer.from(path).toString();
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${shown}'`), { code, errno: ret, syscall, path: shown });
}

let names: Map<number, [string, string]> | undefined;
function errorNames(): Map<number, [string, string]> {
  names ??= util.getSystemErrorMap();
  return names;
}
