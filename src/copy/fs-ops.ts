/**
 * The file-system calls of a copy, counted (the benchmark reports operations per file) and
 * tagged with the side they failed on. Source reads go through `sourceFs`, so the source fault
 * seam works; destination calls are Node's own asynchronous ones, which run on libuv's thread
 * pool: the CLI sizes that pool before it starts (src/cli/environment.ts), since over a network
 * mount each call waits a round trip and the default four threads would cap a copy at four.
 */
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { sourceFs } from '../scan/index.js';
import { BATCH_FIELDS, BATCH_ROOT, BATCH_SETGID, BATCH_STEPS, BS_FAILED, COPY_CHOWN, COPY_FCHMOD, nativeError, nativeOps } from './native.js';

/** One extended attribute: its name and value as bytes. */
export interface Xattr {
  name: Buffer;
  value: Buffer;
}

const USER_NS = Buffer.from('user.');

export type Side = 'source' | 'dest';

export interface OpCounts {
  source: number;
  dest: number;
}

/** An errno failure and the side it came from. */
export class SideError extends Error {
  constructor(
    readonly side: Side,
    readonly errno: string,
    override readonly cause: unknown,
  ) {
    super((cause as Error)?.message ?? String(cause));
  }
}

/** The source's size was not its lstat's when it was read: the copy is retried. */
export class SourceChanged extends Error {}

/** One name of a copyBatch: what became of it (BS_* of native.ts) and, once lstat'ed, its size and mtime. */
export interface BatchResult {
  status: number;
  size: bigint;
  mtimeNs: bigint;
  uid: number;
  gid: number;
  /** status BS_FAILED: a SideError or a SourceChanged */
  error?: Error;
}

/** A native call's failure worded as Node's own errors are ("ENOSPC: no space left on device, write"), as a SideError of its side. */
function nativeSideError(side: Side, errno: number, text: string, syscall: string): SideError {
  const code = nativeError({ errno }).code ?? 'EUNKNOWN';
  const node: NodeJS.ErrnoException = new Error(`${code}: ${text.charAt(0).toLowerCase()}${text.slice(1)}, ${syscall}`);
  node.code = code;
  node.errno = errno;
  node.syscall = syscall;
  return new SideError(side, code, node);
}

function tag(side: Side) {
  return (err: unknown): never => {
    if (err instanceof SideError) throw err;
    throw new SideError(side, (err as NodeJS.ErrnoException)?.code ?? 'EUNKNOWN', err);
  };
}
const srcFail = tag('source');
const NUL = Buffer.alloc(1);
const dstFail = tag('dest');

const fsp = fs.promises;
type Handle = fs.promises.FileHandle;

/** A destination file open for writing: its descriptor. */
export type DestFile = number;

function cb<T>(call: (done: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => call((err, value) => (err ? reject(err) : resolve(value as T))));
}

export class CountedFs {
  readonly ops: OpCounts = { source: 0, dest: 0 };
  private readonly root = process.getuid?.() === 0;
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;

  private src<T>(p: Promise<T>): Promise<T> {
    this.ops.source += 1;
    return p.catch(srcFail);
  }

  /** A synchronous source call (copy's SyncGate runs cheap ones on the main thread), counted and tagged as the others. */
  srcSync<T>(call: () => T): T {
    this.ops.source += 1;
    try {
      return call();
    } catch (err) {
      return srcFail(err);
    }
  }

  private dst<T>(p: Promise<T>): Promise<T> {
    this.ops.dest += 1;
    return p.catch(dstFail);
  }

  // ---- source ----
  /** A positional read of a source descriptor on the thread pool (faultable, like every source read). */
  srcReadFd(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    return this.src(sourceFs.promises.readFd(fd, buf, offset, length, position));
  }
  srcLstat(p: Buffer): Promise<fs.BigIntStats> {
    return this.src(sourceFs.promises.lstat(p, { bigint: true }) as Promise<fs.BigIntStats>);
  }
  srcReaddir(p: Buffer): Promise<fs.Dirent[]> {
    return this.src(sourceFs.promises.readdir(p, { withFileTypes: true, encoding: 'buffer' as BufferEncoding }) as unknown as Promise<fs.Dirent[]>);
  }
  srcReadlink(p: Buffer): Promise<Buffer> {
    return this.src(sourceFs.promises.readlink(p, { encoding: 'buffer' }) as Promise<Buffer>);
  }
  srcOpen(p: Buffer): Promise<Handle> {
    return this.src(sourceFs.promises.open(p, 'r'));
  }
  srcRead(h: Handle, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
    return this.src(h.read(buf, off, len, pos).then((r) => r.bytesRead));
  }
  srcClose(h: Handle): Promise<void> {
    return this.src(h.close());
  }
  /**
   * The data extents of [start, end) of an open source file (SEEK_DATA/SEEK_HOLE through the
   * addon): flat [start, end, ...]; undefined when the addon is not there or the file system
   * cannot tell (EINVAL), and the caller reads it all.
   */
  srcDataExtents(h: Handle, start: number, end: number): Promise<number[] | undefined> {
    const n = nativeOps();
    if (n === undefined) return Promise.resolve(undefined);
    return this.src(n.dataExtents(h.fd, start, end).then((e) => e ?? undefined, (err: unknown) => Promise.reject(nativeError(err))));
  }
  /**
   * The extended attributes of a source entry (lgetxattr: a symlink's own), those this process
   * may copy: every namespace as root, user.* otherwise. A file system without xattrs has none.
   */
  srcXattrs(p: Buffer): Promise<Xattr[]> {
    return this.src(readXattrs(p, this.root));
  }

  // ---- destination ----
  lstat(p: Buffer): Promise<fs.BigIntStats | undefined> {
    this.ops.dest += 1;
    return fsp.lstat(p, { bigint: true }).then(
      (s) => s,
      (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : dstFail(err)),
    );
  }
  readdir(p: Buffer): Promise<Buffer[]> {
    return this.dst(fsp.readdir(p, { encoding: 'buffer' }));
  }
  readlink(p: Buffer): Promise<Buffer> {
    return this.dst(fsp.readlink(p, { encoding: 'buffer' }));
  }
  /**
   * Exclusive create with the final mode (the copy runs with umask 0). The file a copy writes is
   * a plain descriptor with callback calls: a FileHandle costs a tracked object per file and its
   * own close path (measured in the copy's CPU profile as the largest items).
   */
  create(p: Buffer, mode: number): Promise<DestFile> {
    return this.dst(cb<number>((done) => fs.open(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode, done)));
  }
  openRead(p: Buffer): Promise<Handle> {
    return this.dst(fsp.open(p, 'r'));
  }
  read(h: Handle, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
    return this.dst(h.read(buf, off, len, pos).then((r) => r.bytesRead));
  }
  write(fd: DestFile, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
    return this.dst(cb<number>((done) => fs.write(fd, buf, off, len, pos, (err, n) => done(err, n))));
  }
  truncate(fd: DestFile, size: number): Promise<void> {
    return this.dst(cb<void>((done) => fs.ftruncate(fd, size, (err) => done(err))));
  }
  fchown(fd: DestFile, uid: number, gid: number): Promise<void> {
    return this.dst(cb<void>((done) => fs.fchown(fd, uid, gid, (err) => done(err))));
  }
  fchmod(fd: DestFile, mode: number): Promise<void> {
    return this.dst(cb<void>((done) => fs.fchmod(fd, mode, (err) => done(err))));
  }
  /** Times to the nanosecond through the addon (futimens); else Node's double, to the microsecond. */
  futimes(fd: DestFile, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    const n = nativeOps();
    if (n !== undefined) return this.dst(n.futimens(fd, atimeNs, mtimeNs).catch((err: unknown) => Promise.reject(nativeError(err))));
    return this.dst(cb<void>((done) => fs.futimes(fd, seconds(atimeNs), seconds(mtimeNs), (err) => done(err))));
  }
  /** The destination entry's extended attributes (compare), as srcXattrs reads the source's. */
  xattrs(p: Buffer): Promise<Xattr[]> {
    return this.dst(readXattrs(p, this.root));
  }
  /**
   * Sets these attributes on a destination file (its descriptor) or entry (its path, the link
   * itself); `removeOthers`: an entry that was there before loses the ones the source has not.
   */
  setXattrs(target: DestFile | Buffer, list: Xattr[], removeOthers: boolean): Promise<void> {
    const n = nativeOps();
    if (n === undefined) return Promise.reject(new Error('--xattrs needs the native addon'));
    if (list.length === 0 && !removeOthers) return Promise.resolve();
    return this.dst(
      n.setXattrs(target, true, list.map((x) => x.name), list.map((x) => x.value), removeOthers).catch((err: unknown) => Promise.reject(nativeError(err))),
    );
  }
  /**
   * A small file's copy in one native call (NativeOps.copySmall): the source read from `src`
   * (or `data`, already read through the source seam), DEST created, written, owned, timed and
   * closed on one pool thread. Its calls are counted as made; a failure is a SideError of the
   * side it came from (DEST already removed), a size change a SourceChanged.
   */
  copySmall(src: Buffer | null, data: Buffer | null, size: number, dest: Buffer, mode: number, owner: { uid: number; gid: number; setIds: boolean } | undefined, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    const n = nativeOps()!;
    const flags = owner === undefined ? 0 : COPY_CHOWN | (owner.setIds ? COPY_FCHMOD : 0);
    return n.copySmall(src, data, size, dest, mode, owner?.uid ?? 0, owner?.gid ?? 0, flags, atimeNs, mtimeNs).then(
      (ops) => {
        this.ops.source += ops & 255;
        this.ops.dest += ops >> 8;
      },
      (err: unknown) => {
        const e = err as NodeJS.ErrnoException & { side?: Side; ops?: number; changed?: string };
        if (typeof e.ops === 'number') {
          this.ops.source += e.ops & 255;
          this.ops.dest += e.ops >> 8;
        }
        if (e.changed !== undefined) throw new SourceChanged(`${e.changed} while being copied`);
        throw nativeSideError(e.side === 'source' ? 'source' : 'dest', e.errno ?? 0, e.message.slice(e.message.indexOf(': ') + 2), e.syscall ?? 'call');
      },
    );
  }
  /**
   * The regular files `names` of the source directory `srcDir`, copied into `destDir` (a
   * directory this run created: nothing is there) by one native call (NativeOps.copyBatch): each
   * lstat'ed, and copied when it is a plain small file of at most `maxSize` bytes. One result per
   * name; the calls are counted as made. The call stops at the first failure: the names after it
   * are BS_NOT_TRIED.
   */
  async copyBatch(srcDir: Buffer, destDir: Buffer, names: Buffer[], maxSize: number, setgid: boolean): Promise<BatchResult[]> {
    const n = nativeOps()!;
    const parts: Buffer[] = [];
    for (const name of names) parts.push(name, NUL);
    const out = new BigInt64Array(names.length * BATCH_FIELDS);
    const flags = (this.root ? BATCH_ROOT : 0) | (setgid ? BATCH_SETGID : 0);
    const text = await n.copyBatch(srcDir, destDir, Buffer.concat(parts), names.length, out, maxSize, this.uid, this.gid, flags).catch((err: unknown) => {
      throw new SideError('dest', nativeError(err).code ?? 'EUNKNOWN', err);
    });
    const results: BatchResult[] = [];
    for (let i = 0; i < names.length; i++) {
      const r = i * BATCH_FIELDS;
      const status = Number(out[r]);
      const ops = Number(out[r + 7]);
      this.ops.source += ops & 0xffff;
      this.ops.dest += ops >>> 16;
      const res: BatchResult = { status, size: out[r + 3]!, mtimeNs: out[r + 4]!, uid: Number(out[r + 5]), gid: Number(out[r + 6]) };
      if (status === BS_FAILED) {
        const errno = Number(out[r + 1]);
        const step = Number(out[r + 2]);
        if (errno < 0) res.error = new SourceChanged(`${errno === -1 ? 'grew' : 'shrank'} while being copied`);
        else res.error = nativeSideError(step < 4 ? 'source' : 'dest', errno, text ?? 'error', BATCH_STEPS[step] ?? 'call');
      }
      results.push(res);
    }
    return results;
  }
  close(fd: DestFile): Promise<void> {
    return this.dst(cb<void>((done) => fs.close(fd, (err) => done(err))));
  }
  mkdir(p: Buffer, mode: number): Promise<boolean> {
    this.ops.dest += 1;
    return fsp.mkdir(p, { mode }).then(
      () => true,
      (err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? false : dstFail(err)),
    );
  }
  mkdirp(p: string | Buffer, mode: number): Promise<void> {
    return this.dst(fsp.mkdir(p, { recursive: true, mode }).then(() => undefined));
  }
  symlink(target: Buffer, p: Buffer): Promise<void> {
    return this.dst(fsp.symlink(target, p));
  }
  link(existing: Buffer, p: Buffer): Promise<void> {
    return this.dst(fsp.link(existing, p));
  }
  rename(from: Buffer | string, to: Buffer): Promise<void> {
    return this.dst(fsp.rename(from, to));
  }
  unlink(p: Buffer): Promise<void> {
    return this.dst(fsp.unlink(p));
  }
  rm(p: Buffer): Promise<void> {
    return this.dst(fsp.rm(p, { recursive: true, force: true }));
  }
  lchown(p: Buffer, uid: number, gid: number): Promise<void> {
    return this.dst(fsp.lchown(p, uid, gid));
  }
  chmod(p: Buffer, mode: number): Promise<void> {
    return this.dst(fsp.chmod(p, mode));
  }
  lutimes(p: Buffer, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    const n = nativeOps();
    if (n !== undefined) return this.dst(n.utimensat(p, atimeNs, mtimeNs, true).catch((err: unknown) => Promise.reject(nativeError(err))));
    return this.dst(fsp.lutimes(p, seconds(atimeNs), seconds(mtimeNs)));
  }
  utimes(p: Buffer, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    const n = nativeOps();
    if (n !== undefined) return this.dst(n.utimensat(p, atimeNs, mtimeNs, false).catch((err: unknown) => Promise.reject(nativeError(err))));
    return this.dst(fsp.utimes(p, seconds(atimeNs), seconds(mtimeNs)));
  }

  /**
   * A fifo, device or socket made as `name` in the folder `stagingDir`, then renamed to `final`.
   * Node has no mknod, and a child process (mknod(1)) takes its arguments as strings, so the
   * folder is reached through a descriptor of ours (/proc/PID/fd/N): any bytes in its path stay.
   */
  async mknod(stagingDir: Buffer, name: string, final: Buffer, kind: string, mode: number, rdev: bigint): Promise<void> {
    this.ops.dest += 1;
    const dirFd = await cb<number>((done) => fs.open(stagingDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, done)).catch(dstFail);
    const staging = `/proc/${process.pid}/fd/${dirFd}/${name}`;
    const stagedBytes = Buffer.concat([stagingDir, Buffer.from(`/${name}`)]);
    try {
      await this.makeNode(staging, stagedBytes, final, kind, mode, rdev);
    } finally {
      await new Promise((r) => fs.close(dirFd, r));
    }
  }

  private async makeNode(staging: string, stagedBytes: Buffer, final: Buffer, kind: string, mode: number, rdev: bigint): Promise<void> {
    if (kind === 'socket') {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(staging, () => resolve());
      }).catch(dstFail);
      // moved before the close: a closing server removes the socket file at the path it bound
      try {
        await fsp.chmod(stagedBytes, mode & 0o7777);
        await fsp.rename(stagedBytes, final);
      } catch (err) {
        dstFail(err);
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      return;
    }
    const type = kind === 'fifo' ? ['p'] : [kind === 'chardev' ? 'c' : 'b', String(major(rdev)), String(minor(rdev))];
    await new Promise<void>((resolve, reject) => {
      const child = spawn('mknod', ['-m', (mode & 0o7777).toString(8), staging, ...type], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve();
        else {
          const e: NodeJS.ErrnoException = new Error(`mknod: ${err.trim() || `exit ${code}`}`);
          e.code = /Operation not permitted/.test(err) ? 'EPERM' : 'EIO';
          reject(e);
        }
      });
    }).catch(dstFail);
    await this.rename(stagedBytes, final);
  }
}

async function readXattrs(p: Buffer, root: boolean): Promise<Xattr[]> {
  const n = nativeOps();
  if (n === undefined) throw new Error('--xattrs needs the native addon');
  let flat: Buffer[];
  try {
    flat = await n.getXattrs(p, true);
  } catch (err) {
    const e = nativeError(err);
    if (e.code === 'ENOTSUP') return [];
    throw e;
  }
  const out: Xattr[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i]!;
    if (root || name.subarray(0, USER_NS.length).equals(USER_NS)) out.push({ name, value: flat[i + 1]! });
  }
  return out.sort((a, b) => Buffer.compare(a.name, b.name));
}

/**
 * Node passes times as a double of seconds, which cannot hold nanoseconds; aim at the middle of
 * the microsecond so the destination keeps the source's microseconds exactly.
 */
export function seconds(ns: bigint): number {
  return (Number(ns / 1000n) + 0.5) / 1e6;
}

/**
 * The time a destination gets from seconds(ns) through Node's utimes where libuv passes on the
 * double's own nanoseconds (Node 24; Node 20 and 22 truncate to the microsecond, which
 * sameTime takes as a microsecond destination): seconds(ns) split as libuv splits it. The
 * double cannot hold the microsecond exactly (its step is about 240 ns in this century), so this
 * is the one value such a copy can leave, and sameTime counts it as the source's time.
 * undefined before 1970, where this is not worked out.
 */
export function throughDouble(ns: bigint): bigint | undefined {
  if (ns < 0n) return undefined;
  const d = seconds(ns);
  const whole = Math.trunc(d);
  return BigInt(whole) * 1_000_000_000n + BigInt(Math.trunc((d - whole) * 1e9));
}

/** Linux's dev_t encoding (glibc gnu_dev_major / gnu_dev_minor). */
export function major(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}
export function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

const SHELL_PLAIN = /^[A-Za-z0-9_./:@%+=,^-]+$/;

/**
 * A command-line path as `ls` shows a name (its default shell-escape quoting): as it is when
 * that is safe to paste, else in single quotes with each byte that is not printable UTF-8 as
 * $'\ooo' (octal), so `caf<0xe9>` reads 'caf'$'\351' and pastes back to the same bytes.
 */
export function shellQuote(p: string | Buffer): string {
  const bytes = typeof p === 'string' ? Buffer.from(p) : p;
  const text = bytes.toString('utf8');
  const exact = Buffer.from(text, 'utf8').equals(bytes);
  if (exact && SHELL_PLAIN.test(text)) return text;
  let out = '';
  let quoted = '';
  const flush = () => {
    if (quoted !== '') out += `'${quoted.replace(/'/g, `'\\''`)}'`;
    quoted = '';
  };
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let n = 1;
    if (b >= 0x80) {
      // one valid UTF-8 sequence stays as it is
      const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 ? 2 : 0;
      const piece = len > 0 ? bytes.subarray(i, i + len) : undefined;
      n = piece !== undefined && piece.length === len && Buffer.from(piece.toString('utf8'), 'utf8').equals(piece) && !piece.toString('utf8').includes('\ufffd') ? len : 0;
    }
    if (n === 0 || b < 0x20 || b === 0x7f) {
      flush();
      out += `$'\\${b.toString(8).padStart(3, '0')}'`;
      i += 1;
    } else {
      quoted += bytes.subarray(i, i + n).toString('utf8');
      i += n;
    }
  }
  flush();
  return out;
}

/** A command-line path for messages and summaries: as typed when it is plain UTF-8, else shellQuote. */
export function showArg(p: string | Buffer): string {
  if (typeof p === 'string') return p;
  const text = p.toString('utf8');
  return Buffer.from(text, 'utf8').equals(p) && !/[\x00-\x1f\x7f]/.test(text) ? text : shellQuote(p);
}

/** An absolute path as bytes, resolved on latin1 (one code unit per byte) so bytes that are not UTF-8 stay. */
export function resolveBytes(p: string | Buffer): Buffer {
  const latin1 = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s) : s).toString('latin1');
  return Buffer.from(path.resolve(latin1(process.cwd()), latin1(p)), 'latin1');
}
