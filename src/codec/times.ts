/**
 * VATTR time fields (format.md §8.3). The reference reads st_*time as a Python float and splits it
 * again, so the stored nanoseconds are the double's, not the file system's; we redo that arithmetic.
 */
export interface ClfsTime {
  sec: number;
  nsec: number;
}

const NS_PER_SEC = 1_000_000_000n;
const U32_LIMIT = 2 ** 32;

/** Returns undefined when the result does not fit the u32 fields (before 1970, or at/after 2^32 s). */
export function encodeTime(sec: bigint, nsec: bigint): ClfsTime | undefined {
  // CPython: sec + nsec * 1e-9 in IEEE double, then (int(t), int((t - int(t)) * 1e9))
  const t = Number(sec) + Number(nsec) * 1e-9;
  const s = Math.trunc(t);
  const ns = Math.trunc((t - s) * 1e9);
  if (!(s >= 0 && s < U32_LIMIT && ns >= 0 && ns < U32_LIMIT)) return undefined;
  return { sec: s, nsec: ns };
}

/** From Node's bigint lstat `*timeNs` fields. */
export function encodeTimeNs(ns: bigint): ClfsTime | undefined {
  let sec = ns / NS_PER_SEC;
  let rem = ns - sec * NS_PER_SEC;
  if (rem < 0n) {
    // stat reports (floor seconds, non-negative nanoseconds)
    sec -= 1n;
    rem += NS_PER_SEC;
  }
  return encodeTime(sec, rem);
}
