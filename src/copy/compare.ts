/**
 * `compare SOURCE DEST` (and `copy --verify`): every entry of the source (or of one shard's part)
 * against the destination, in parallel: type, size, mode, owner (when run as root, since only
 * root can copy owners), mtime (to the precision both sides keep: copy.ts sameTime), symlink
 * target, device numbers, hard-link groups (names that share an inode in the source share one in
 * the destination, and no others), names only the destination has; `checksum` reads both sides;
 * `xattrs`: the extended attributes (user.* when not root, every namespace as root), names and values.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClfsError } from '../errors/index.js';
import { DEFAULT_FILTERS, displayPath, holdsMarker, kindOfMode, SourceFilter, type FilterSpec } from '../scan/index.js';
import { COPY_META_DIR, describe, sameFileContent, sameTime } from './copy.js';
import { CountedFs, type Xattr } from './fs-ops.js';
import { nativeMissing, nativeOps } from './native.js';
import { childRel, direntIsDir, sharedPartition, type Shard } from './partition.js';
import { TaskPool } from './pool.js';

export interface CompareOptions {
  /** bytes for a path that is not valid UTF-8 (so for dest) */
  source: string | Buffer;
  dest: string | Buffer;
  shard?: Shard;
  frontierDepth?: number;
  checksum?: boolean;
  /** compare extended attributes (needs the native addon) */
  xattrs?: boolean;
  /** compare owner and group (default: when running as root) */
  owners?: boolean;
  threads?: number;
  /** what the copy left out: neither compared nor reported missing (default DEFAULT_FILTERS) */
  filters?: FilterSpec;
  /** stop after this many differences (default 100,000) */
  maxDifferences?: number;
  abortSignal?: AbortSignal;
}

export interface Difference {
  path: string;
  what: string;
}

export interface CompareReport {
  ok: boolean;
  entries: number;
  bytesCompared: number;
  differences: Difference[];
  differencesTotal: number;
  owners: boolean;
  checksum: boolean;
  xattrs: boolean;
  seconds: number;
  interrupted: boolean;
}

type Stats = fs.BigIntStats;
type Task = { t: 'list'; rel: Buffer; depth: number; owned: boolean } | { t: 'entry'; rel: Buffer; depth: number };

const SLASH = Buffer.from('/');
function join(root: Buffer, rel: Buffer): Buffer {
  return rel.length === 0 ? root : Buffer.concat([root, SLASH, rel]);
}

/** An absolute path as bytes, resolved on latin1 (one code unit per byte) so bytes that are not UTF-8 stay. */
function resolveBytes(p: string | Buffer): Buffer {
  const latin1 = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s) : s).toString('latin1');
  return Buffer.from(path.resolve(latin1(process.cwd()), latin1(p)), 'latin1');
}

export async function compare(o: CompareOptions): Promise<CompareReport> {
  const started = Date.now();
  const src = resolveBytes(o.source);
  const dst = resolveBytes(o.dest);
  const shownOf = (p: string | Buffer) => (typeof p === 'string' ? p : displayPath(p));
  for (const [p, shown, code] of [
    [src, shownOf(o.source), 'E_SOURCE_NOT_FOUND'],
    [dst, shownOf(o.dest), 'E_USAGE'],
  ] as const) {
    let ok = false;
    try {
      ok = fs.statSync(p).isDirectory();
    } catch {
      ok = false;
    }
    if (!ok) throw new ClfsError(code, `${shown}: not a directory; compare takes two directories`, { subject: shown });
  }
  if (o.xattrs === true && nativeOps() === undefined) {
    throw new ClfsError('E_USAGE', `--xattrs needs clfsload's native addon (${nativeMissing()}); or compare without --xattrs`, { subject: '--xattrs' });
  }
  const shard = o.shard ?? { index: 0, count: 1 };
  const filter = SourceFilter.compile(o.filters ?? DEFAULT_FILTERS);
  const filtering = filter.active || filter.markers.length > 0;
  /** The same rule as copy's: a name the filters leave out, on either side, is not compared. */
  const excluded = (root: Buffer, rel: Buffer, name: Buffer, isDir: boolean): boolean =>
    filtering && (filter.excluded(rel, name, isDir) || (isDir && filter.markers.length > 0 && holdsMarker(filter.markers, join(root, rel))));
  const owners = o.owners ?? process.getuid?.() === 0;
  const maxDiff = o.maxDifferences ?? 100_000;
  const fsx = new CountedFs();
  const differences: Difference[] = [];
  let total = 0;
  let entries = 0;
  let bytes = 0;
  // hard-link groups: source inode -> destination inodes, destination inode -> source inodes
  const bySource = new Map<string, { names: Buffer[]; dest: Set<string> }>();
  const byDest = new Map<string, Set<string>>();
  const differ = (rel: Buffer, what: string): void => {
    total += 1;
    if (differences.length < maxDiff) differences.push({ path: displayPath(rel.length === 0 ? Buffer.from('.') : rel, { escapeBackslash: true }), what });
    if (total >= maxDiff) pool.stop();
  };
  const list = async (rel: Buffer): Promise<Array<{ name: Buffer; isDir: boolean }>> => {
    const abs = join(src, rel);
    const l = await fsx.srcReaddir(abs);
    const all = await Promise.all(l.map(async (d) => ({ name: d.name as unknown as Buffer, isDir: direntIsDir(d) ?? (await fsx.srcLstat(join(abs, d.name as unknown as Buffer))).isDirectory() })));
    return all.filter((e) => !excluded(src, childRel(rel, e.name), e.name, e.isDir));
  };
  // the split the copy's shards recorded (read, never made here)
  const partition = await sharedPartition({ count: shard.count, source: src, metaDir: join(dst, Buffer.from(COPY_META_DIR)), list, record: false, depth: o.frontierDepth });
  const depth = partition.depth;

  const entry = async (rel: Buffer, d: number): Promise<void> => {
    entries += 1;
    const s = await fsx.srcLstat(join(src, rel));
    const t = await fsx.lstat(join(dst, rel));
    if (t === undefined) return differ(rel, 'missing in the destination');
    const sk = kindOfMode(Number(s.mode));
    const tk = kindOfMode(Number(t.mode));
    if (sk !== tk) return differ(rel, `type: source ${sk}, destination ${tk}`);
    if (sk !== 'symlink' && (Number(s.mode) & 0o7777) !== (Number(t.mode) & 0o7777)) differ(rel, `mode: source ${(Number(s.mode) & 0o7777).toString(8)}, destination ${(Number(t.mode) & 0o7777).toString(8)}`);
    if (owners && (s.uid !== t.uid || s.gid !== t.gid)) differ(rel, `owner: source ${s.uid}:${s.gid}, destination ${t.uid}:${t.gid}`);
    if (o.xattrs === true) {
      const [a, b] = await Promise.all([fsx.srcXattrs(join(src, rel)), fsx.xattrs(join(dst, rel))]);
      const what = xattrDifference(a, b);
      if (what !== undefined) differ(rel, what);
    }
    if (sk !== 'dir' && !sameTime(s.mtimeNs, t.mtimeNs)) differ(rel, `mtime: source ${timeString(s.mtimeNs)}, destination ${timeString(t.mtimeNs)}`);
    if (sk === 'file') {
      if (s.size !== t.size) differ(rel, `size: source ${s.size}, destination ${t.size}`);
      else if (o.checksum === true) {
        if (!(await sameFileContent(fsx, join(src, rel), join(dst, rel), Number(s.size)))) differ(rel, 'content differs');
        bytes += Number(s.size);
      }
      if (s.nlink > 1n || t.nlink > 1n) {
        const sKey = `${s.dev}:${s.ino}`;
        const tKey = `${t.dev}:${t.ino}`;
        let g = bySource.get(sKey);
        if (g === undefined) bySource.set(sKey, (g = { names: [], dest: new Set() }));
        g.names.push(rel);
        g.dest.add(tKey);
        let back = byDest.get(tKey);
        if (back === undefined) byDest.set(tKey, (back = new Set()));
        back.add(sKey);
      }
    } else if (sk === 'symlink') {
      const [a, b] = await Promise.all([fsx.srcReadlink(join(src, rel)), fsx.readlink(join(dst, rel))]);
      if (!a.equals(b)) differ(rel, `symlink target: source ${displayPath(a)}, destination ${displayPath(b)}`);
    } else if (sk === 'chardev' || sk === 'blockdev') {
      if (s.rdev !== t.rdev) differ(rel, `device: source ${s.rdev}, destination ${t.rdev}`);
    } else if (sk === 'dir') {
      dirTimes.push({ rel, s, t });
      pool.push({ t: 'list', rel, depth: d, owned: true });
    }
  };
  const dirTimes: Array<{ rel: Buffer; s: Stats; t: Stats }> = [];

  const listBoth = async (rel: Buffer, d: number, owned: boolean): Promise<void> => {
    const sl = await fsx.srcReaddir(join(src, rel));
    const names = new Set<string>();
    for (const e of sl) {
      const name = e.name as unknown as Buffer;
      names.add(name.toString('latin1'));
      const crel = childRel(rel, name);
      let isDir = direntIsDir(e);
      if (filtering) {
        isDir ??= (await fsx.srcLstat(join(src, crel))).isDirectory();
        // its name stays in `names`: a copy of it in the destination is not "only in the destination"
        if (excluded(src, crel, name, isDir)) continue;
      }
      if (!owned) {
        isDir ??= (await fsx.srcLstat(join(src, crel))).isDirectory();
        if (isDir && d + 1 < depth) {
          pool.push({ t: 'list', rel: crel, depth: d + 1, owned: false });
          continue;
        }
        if (partition.owner(crel) !== shard.index) continue;
      }
      pool.push({ t: 'entry', rel: crel, depth: d + 1 });
    }
    let present: Buffer[];
    try {
      present = await fsx.readdir(join(dst, rel));
    } catch (err) {
      return differ(rel, `cannot list the destination (${describe(err)})`);
    }
    for (const name of present) {
      if (names.has(name.toString('latin1'))) continue;
      if (rel.length === 0 && name.toString() === COPY_META_DIR) continue;
      const crel = childRel(rel, name);
      if (!owned && partition.owner(crel) !== shard.index) continue;
      if (filtering) {
        const there = await fsx.lstat(join(dst, crel));
        if (there !== undefined && excluded(dst, crel, name, there.isDirectory())) continue;
      }
      differ(crel, 'only in the destination');
    }
  };

  const pool = new TaskPool<Task>(
    async (t) => (t.t === 'list' ? listBoth(t.rel, t.depth, t.owned) : entry(t.rel, t.depth)),
    o.threads ?? 32,
    (err, t) => differ(t.rel, `cannot compare (${describe(err)})`),
  );
  const onAbort = () => pool.stop();
  o.abortSignal?.addEventListener('abort', onAbort);
  if (depth === 0) await entry(Buffer.alloc(0), 0).catch((err: unknown) => differ(Buffer.alloc(0), `cannot compare (${describe(err)})`));
  else pool.push({ t: 'list', rel: Buffer.alloc(0), depth: 0, owned: false });
  await pool.drained();
  o.abortSignal?.removeEventListener('abort', onAbort);
  // directory times last: a directory's listing was read before its mtime was compared
  for (const { rel, s, t } of dirTimes) {
    if (!sameTime(s.mtimeNs, t.mtimeNs)) differ(rel, `mtime: source ${timeString(s.mtimeNs)}, destination ${timeString(t.mtimeNs)}`);
  }
  for (const g of bySource.values()) {
    if (g.dest.size > 1) for (const n of g.names) differ(n, `hard links: the source's names of one inode are ${g.dest.size} inodes in the destination`);
  }
  for (const [tKey, sources] of byDest) {
    if (sources.size > 1) {
      for (const s of sources) for (const n of bySource.get(s)?.names ?? []) differ(n, `hard links: linked in the destination (inode ${tKey.split(':')[1]}) to names that are other inodes in the source`);
    }
  }
  return {
    ok: total === 0 && !(o.abortSignal?.aborted ?? false),
    entries,
    bytesCompared: bytes,
    differences,
    differencesTotal: total,
    owners,
    checksum: o.checksum === true,
    xattrs: o.xattrs === true,
    seconds: (Date.now() - started) / 1000,
    interrupted: o.abortSignal?.aborted ?? false,
  };
}

/** The first difference of two sorted attribute lists, in words; undefined when equal. */
function xattrDifference(a: Xattr[], b: Xattr[]): string | undefined {
  const name = (x: Xattr) => displayPath(x.name);
  const others = new Map(b.map((x) => [x.name.toString('latin1'), x.value]));
  const out: string[] = [];
  for (const x of a) {
    const v = others.get(x.name.toString('latin1'));
    if (v === undefined) out.push(`${name(x)} missing in the destination`);
    else if (!v.equals(x.value)) out.push(`${name(x)} differs (source ${x.value.length} bytes, destination ${v.length} bytes)`);
    others.delete(x.name.toString('latin1'));
  }
  for (const k of others.keys()) out.push(`${displayPath(Buffer.from(k, 'latin1'))} only in the destination`);
  return out.length === 0 ? undefined : `xattrs: ${out.join(', ')}`;
}

function timeString(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(Number(s) * 1000).toISOString().slice(0, 19)}.${frac}Z`;
}
