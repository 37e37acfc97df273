/**
 * clfsload's own N-API addon (native/clfsload_native.c, built at `npm ci` by
 * scripts/build-native.mjs): SEEK_DATA/SEEK_HOLE, futimens/utimensat to the nanosecond, and
 * extended attributes by name bytes, and a small file's whole copy in one call (copySmall). Loaded once; `undefined` when it was not built (another
 * platform, no compiler at install) or when CLFSLOAD_NATIVE=0 asks for the fallback, in which
 * case copy uses Node's own calls: zero blocks skipped for sparse files, times to the
 * microsecond, and --xattrs is refused with a one-line error.
 */
import { loadAddon } from '../targets/native-addon.js';
import * as os from 'node:os';

export interface NativeOps {
  lseek(fd: number, offset: number, whence: number): number;
  readonly SEEK_DATA: number;
  readonly SEEK_HOLE: number;
  /** flat [start, end, start, end, ...] of the data in [start, end); null: the file system cannot tell */
  dataExtents(fd: number, start: number, end: number): Promise<number[] | null>;
  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): Promise<void>;
  utimensat(path: Buffer, atimeNs: bigint, mtimeNs: bigint, nofollow: boolean): Promise<void>;
  /** flat [name, value, name, value, ...] */
  getXattrs(target: Buffer | number, nofollow: boolean): Promise<Buffer[]>;
  setXattrs(target: Buffer | number, nofollow: boolean, names: Buffer[], values: Buffer[], removeOthers: boolean): Promise<void>;
  /**
   * A small file in one call on the pool (native/clfsload_native.c says each step): `src` read
   * whole (or `data` given), `dest` created exclusive with `mode`, written, given its owner
   * (flags & COPY_CHOWN), its set-id bits again (flags & COPY_FCHMOD), its times, and closed;
   * removed again when a step after the create fails. Resolves with the calls made (source +
   * 256 * dest); rejects with `side`, `ops` and `errno`, or `changed` when the source's size
   * was not its lstat's.
   */
  copySmall(src: Buffer | null, data: Buffer | null, size: number, dest: Buffer, mode: number, uid: number, gid: number, flags: number, atimeNs: bigint, mtimeNs: bigint): Promise<number>;
  /**
   * The regular files `names` (NUL-terminated, back to back) of the directory `srcDir`, into
   * `destDir` where nothing is yet, one after another in one call on the pool: each lstat'ed,
   * then, when it is a plain small file (regular, one link, at most `maxSize` bytes, not sparse),
   * copied as copySmall copies one, its owner given when `flags & BATCH_ROOT` and it differs from
   * `uid`/`gid` (always under `flags & BATCH_SETGID`). `out` gets BATCH_FIELDS int64 per name
   * (native/clfsload_native.c says which); the call stops at the first failure and resolves with
   * that failure's strerror text (null when none failed).
   */
  copyBatch(srcDir: Buffer, destDir: Buffer, names: Buffer, count: number, out: BigInt64Array, maxSize: number, uid: number, gid: number, flags: number): Promise<string | null | undefined>;
}

export const COPY_CHOWN = 1;
export const COPY_FCHMOD = 2;
export const BATCH_ROOT = 1;
export const BATCH_SETGID = 2;
export const BATCH_FIELDS = 8;
export const BS_NOT_TRIED = 0;
export const BS_COPIED = 1;
export const BS_OTHER = 2;
export const BS_FAILED = 3;
/** copyBatch's step numbers: the first four on the source side */
export const BATCH_STEPS = ['lstat', 'open', 'read', 'close', 'open', 'write', 'fchown', 'fchmod', 'futimens', 'close'] as const;

let loaded: { ops: NativeOps | undefined; why: string } | undefined;

function load(): { ops: NativeOps | undefined; why: string } {
  if (loaded !== undefined) return loaded;
  if (process.env.CLFSLOAD_NATIVE === '0') return (loaded = { ops: undefined, why: 'CLFSLOAD_NATIVE=0' });
  const { addon, why } = loadAddon();
  return (loaded = { ops: addon as NativeOps | undefined, why });
}

export function nativeOps(): NativeOps | undefined {
  return load().ops;
}

/** Why the addon is not there (empty when it is). */
export function nativeMissing(): string {
  return load().why;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));

/** The addon's error as Node's: `code` the errno name (ENOTSUP, ENOENT, ...). */
export function nativeError(err: unknown): NodeJS.ErrnoException {
  const e = err as NodeJS.ErrnoException & { errno?: number };
  if (typeof e?.errno === 'number' && e.code === undefined) {
    // EOPNOTSUPP and ENOTSUP are one number on Linux; the name users look for is ENOTSUP
    e.code = e.errno === os.constants.errno.ENOTSUP ? 'ENOTSUP' : (ERRNO_NAMES.get(e.errno) ?? 'EUNKNOWN');
  }
  return e;
}
