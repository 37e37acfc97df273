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
import { sourceFs } from '../scan/index.js';

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

function tag(side: Side) {
  return (err: unknown): never => {
    if (err instanceof SideError) throw err;
    throw new SideError(side, (err as NodeJS.ErrnoException)?.code ?? 'EUNKNOWN', err);
  };
}
const srcFail = tag('source');
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

  private src<T>(p: Promise<T>): Promise<T> {
    this.ops.source += 1;
    return p.catch(srcFail);
  }

  private dst<T>(p: Promise<T>): Promise<T> {
    this.ops.dest += 1;
    return p.catch(dstFail);
  }

  // ---- source ----
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
  futimes(fd: DestFile, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    return this.dst(cb<void>((done) => fs.futimes(fd, seconds(atimeNs), seconds(mtimeNs), (err) => done(err))));
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
  mkdirp(p: string, mode: number): Promise<void> {
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
    return this.dst(fsp.lutimes(p, seconds(atimeNs), seconds(mtimeNs)));
  }
  utimes(p: Buffer, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    return this.dst(fsp.utimes(p, seconds(atimeNs), seconds(mtimeNs)));
  }

  /**
   * A fifo, device or socket at `staging` (an ASCII path: Node has no mknod, and a child
   * process takes its arguments as strings, so byte names are reached by a rename afterwards).
   */
  async mknod(staging: string, final: Buffer, kind: string, mode: number, rdev: bigint): Promise<void> {
    this.ops.dest += 1;
    if (kind === 'socket') {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(staging, () => resolve());
      }).catch(dstFail);
      // moved before the close: a closing server removes the socket file at the path it bound
      try {
        await fsp.chmod(staging, mode & 0o7777);
        await fsp.rename(staging, final);
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
    await this.rename(staging, final);
  }
}

/**
 * Node passes times as a double of seconds, which cannot hold nanoseconds; aim at the middle of
 * the microsecond so the destination keeps the source's microseconds exactly.
 */
export function seconds(ns: bigint): number {
  return (Number(ns / 1000n) + 0.5) / 1e6;
}

/** Linux's dev_t encoding (glibc gnu_dev_major / gnu_dev_minor). */
export function major(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}
export function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}
