/**
 * Set a path's times to the nanosecond, not following a symlink, synchronously. Not fs.utimesSync:
 * Node passes a double of seconds, and since Node 24 (libuv without its old truncation to the
 * microsecond) the file gets that double's own nanoseconds (2003-04-05T06:07:08.123 comes out
 * as .123000025), so a test that sets a time and expects it back exactly would depend on the
 * Node line. Python's os.utime(ns=...) sets the integers as given.
 */
import { execFileSync } from 'node:child_process';

export function setTimesNs(p: string, atimeNs: bigint, mtimeNs: bigint): void {
  execFileSync('python3', ['-c', 'import os,sys; os.utime(sys.argv[1], ns=(int(sys.argv[2]), int(sys.argv[3])), follow_symlinks=False)', p, String(atimeNs), String(mtimeNs)]);
}

/** A Date's time in ns (whole milliseconds). */
export function dateNs(d: Date): bigint {
  return BigInt(d.getTime()) * 1_000_000n;
}
