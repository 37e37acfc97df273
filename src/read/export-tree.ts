/**
 * `export`: restore a container's tree (or a subtree, or one file) into a local directory without
 * the cache: data, modes, mtimes/atimes, symlinks, hard links (an inode reached twice becomes
 * fs.link), fifos; devices and ownership only when running as root.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Btype, type ClfsTime } from '../codec/index.js';
import { ClfsError } from '../errors/index.js';
import type { Target } from '../targets/target.js';
import { ContainerReader, displayClfsPath, escapeName, type Inode, isDotOrDotDot, type ReadOptions } from './container-reader.js';

export interface ExportTreeOptions extends ReadOptions {
  /** the container path to export ('' or '/' = the whole tree); a file is written as destDir/NAME */
  path?: Buffer | string;
  /** replace existing files (an existing directory is reused) */
  force?: boolean;
}

export interface ExportSummary {
  dirs: number;
  files: number;
  symlinks: number;
  fifos: number;
  devices: number;
  hardlinks: number;
  bytes: number;
  /** entries that could not be recreated here (sockets; devices when not root), with why */
  skipped: Array<{ path: string; reason: string; kind: 'chardev' | 'blockdev' | 'socket' }>;
}

const SLASH = Buffer.from('/');

function join(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, SLASH, name]);
}

function seconds(t: ClfsTime): number {
  return t.sec + t.nsec / 1e9;
}

const S_IFMT = 0o170000;

class Exporter {
  readonly summary: ExportSummary = { dirs: 0, files: 0, symlinks: 0, fifos: 0, devices: 0, hardlinks: 0, bytes: 0, skipped: [] };
  /** inodes with nlink > 1 already written: blob → the local path (hard links are rare) */
  readonly linked = new Map<string, Buffer>();
  readonly asRoot = process.getuid?.() === 0;

  constructor(
    readonly reader: ContainerReader,
    readonly options: ExportTreeOptions,
    readonly scratchDir: string,
  ) {}

  checkAbort(): void {
    if (this.options.abortSignal?.aborted === true) throw new ClfsError('E_ABORTED', 'export aborted');
  }

  /** Makes room for a new entry at dest; true when an existing directory may be reused. */
  prepare(dest: Buffer, wantDir: boolean): boolean {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(dest as unknown as string);
    } catch {
      return false;
    }
    if (wantDir && st.isDirectory()) return true;
    if (this.options.force !== true) {
      const shown = escapeName(dest);
      throw new ClfsError('E_USAGE', `${shown}: already exists; pass --force to overwrite`, { subject: shown });
    }
    fs.rmSync(dest as unknown as string, { recursive: true, force: true });
    return false;
  }

  /** Ownership first (chown clears setuid bits), then mode, then times. */
  finish(dest: Buffer, inode: Inode): void {
    const v = inode.obj.vattr;
    const p = dest as unknown as string;
    if (v.btype === Btype.LNK) {
      if (this.asRoot) fs.lchownSync(p, v.uid, v.gid);
      fs.lutimesSync(p, seconds(v.atime), seconds(v.mtime));
      return;
    }
    if (this.asRoot) fs.chownSync(p, v.uid, v.gid);
    fs.chmodSync(p, v.mode & ~S_IFMT);
    fs.utimesSync(p, seconds(v.atime), seconds(v.mtime));
  }

  /**
   * mkfifo/mknod take string arguments, and names may not be valid UTF-8: make the node under an
   * ASCII temp name in the export's top directory (same file system), then rename it into place.
   */
  viaTempName(dest: Buffer, run: (tmp: string) => void): void {
    const tmp = path.join(this.scratchDir, `.clfsload-export-${randomBytes(6).toString('hex')}`);
    run(tmp);
    fs.renameSync(tmp, dest as unknown as string);
  }

  async writeEntry(inode: Inode, dest: Buffer, parts: Buffer[]): Promise<void> {
    this.checkAbort();
    const v = inode.obj.vattr;
    const shown = displayClfsPath(parts);
    if (v.btype === Btype.DIR) {
      await this.writeDir(inode, dest, parts);
      return;
    }
    if (v.nlink > 1) {
      const first = this.linked.get(inode.blob);
      if (first !== undefined) {
        this.prepare(dest, false);
        fs.linkSync(first as unknown as string, dest as unknown as string);
        this.summary.hardlinks++;
        return;
      }
    }
    this.prepare(dest, false);
    const p = dest as unknown as string;
    switch (v.btype) {
      case Btype.REG: {
        const fd = fs.openSync(p, 'wx', 0o600);
        try {
          for await (const chunk of this.reader.content(inode, this.options)) {
            fs.writeSync(fd, chunk);
            this.summary.bytes += chunk.length;
          }
        } finally {
          fs.closeSync(fd);
        }
        this.summary.files++;
        break;
      }
      case Btype.LNK:
        fs.symlinkSync((inode.obj.data ?? Buffer.alloc(0)) as unknown as string, p);
        this.summary.symlinks++;
        break;
      case Btype.FIFO:
        this.viaTempName(dest, (tmp) => execFileSync('mkfifo', [tmp]));
        this.summary.fifos++;
        break;
      case Btype.CHR:
      case Btype.BLK: {
        if (!this.asRoot) {
          this.summary.skipped.push({ path: shown, reason: 'device files need root', kind: v.btype === Btype.CHR ? 'chardev' : 'blockdev' });
          return;
        }
        const kind = v.btype === Btype.CHR ? 'c' : 'b';
        this.viaTempName(dest, (tmp) => execFileSync('mknod', [tmp, kind, String(v.rdevMajor), String(v.rdevMinor)]));
        this.summary.devices++;
        break;
      }
      default:
        this.summary.skipped.push({ path: shown, reason: 'sockets cannot be recreated from a container', kind: 'socket' });
        return;
    }
    this.finish(dest, inode);
    if (v.nlink > 1) this.linked.set(inode.blob, dest);
  }

  async writeDir(dir: Inode, dest: Buffer, parts: Buffer[]): Promise<void> {
    if (!this.prepare(dest, true)) fs.mkdirSync(dest as unknown as string, { mode: 0o700 });
    else fs.chmodSync(dest as unknown as string, 0o700);
    this.summary.dirs++;
    const subdirs: Array<{ name: Buffer; handle: Buffer }> = [];
    for await (const d of this.reader.dirents(dir, this.options)) {
      if (isDotOrDotDot(d.name)) continue;
      if (d.name.includes(0x2f) || d.name.length === 0) {
        throw new ClfsError('E_FORMAT_CORRUPT', `${displayClfsPath([...parts, d.name])}: a name with '/' or empty cannot be exported`);
      }
      const child = await this.reader.readInode(d.handle, dir.handle, this.options);
      if (child.obj.vattr.btype === Btype.DIR) {
        // directories after the files: only handles are kept meanwhile
        subdirs.push({ name: d.name, handle: d.handle });
        continue;
      }
      await this.writeEntry(child, join(dest, d.name), [...parts, d.name]);
    }
    for (const s of subdirs) {
      const child = await this.reader.readInode(s.handle, dir.handle, this.options);
      await this.writeDir(child, join(dest, s.name), [...parts, s.name]);
    }
    // modes and times last: adding children changes the directory's mtime
    this.finish(dest, dir);
  }
}

/** An absolute byte path: relative to the working directory, `.`, `..` and repeated slashes resolved (path.resolve on bytes). */
export function resolveBytes(p: Buffer): Buffer {
  const whole = p[0] === 0x2f ? p : Buffer.concat([Buffer.from(process.cwd()), SLASH, p]);
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= whole.length; i++) {
    if (i < whole.length && whole[i] !== 0x2f) continue;
    const part = whole.subarray(start, i);
    start = i + 1;
    if (part.length === 0 || (part.length === 1 && part[0] === 0x2e)) continue;
    if (part.length === 2 && part[0] === 0x2e && part[1] === 0x2e) parts.pop();
    else parts.push(part);
  }
  return Buffer.concat(parts.flatMap((x) => [SLASH, x]).concat(parts.length === 0 ? [SLASH] : []));
}

function parentOf(abs: Buffer): Buffer {
  const at = abs.lastIndexOf(0x2f);
  return at <= 0 ? SLASH : abs.subarray(0, at);
}

/**
 * Restores the tree (or `options.path`) under destDir, a path as a string or as its bytes (not
 * always UTF-8); see the module comment.
 */
export async function exportTree(target: Target, destDir: string | Buffer, options: ExportTreeOptions = {}): Promise<ExportSummary> {
  const reader = await ContainerReader.open(target, options);
  const { inode, name, parts } = await reader.resolve(options.path ?? '', options);
  const dest = resolveBytes(typeof destDir === 'string' ? Buffer.from(destDir) : destDir);
  const isDir = inode.obj.vattr.btype === Btype.DIR;
  // the folder the export's top entry goes in, made first
  const holder = isDir ? parentOf(dest) : dest;
  fs.mkdirSync(holder as unknown as string, { recursive: true });
  // temp names for mkfifo/mknod (string arguments) go in the top directory; a path that is not
  // UTF-8 is reached through a descriptor of the folder it is in
  const utf8 = Buffer.from(dest.toString('utf8')).equals(dest);
  const fd = utf8 ? undefined : fs.openSync(holder as unknown as string, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const exporter = new Exporter(reader, options, fd === undefined ? dest.toString('utf8') : `/proc/self/fd/${fd}`);
    if (isDir) await exporter.writeDir(inode, dest, parts);
    else await exporter.writeEntry(inode, join(dest, name), parts);
    return exporter.summary;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

