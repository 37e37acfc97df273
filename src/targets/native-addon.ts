/**
 * The package's own addon (native/clfsload_native.c, built by `npm run build:native`), loaded
 * once for the process: the copy's file-system calls (src/copy/native.ts) and the reader threads'
 * scheduling policy (thread-policy.ts) both come from it. Reads no environment: the copy's
 * CLFSLOAD_NATIVE=0 is checked by the copy.
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
