/**
 * The one step after all the shards of a copy have finished (in any order):
 * `copy --finalize SOURCE DEST --shards N`. It links the names of a hard-linked file that fell in
 * different shards (each shard wrote its own copy of the data; the later ones become links to the
 * first), then sets owner, mode and times of the directories every shard wrote into (the ones
 * above the frontier, the root among them) and of the directories whose names it re-linked,
 * deepest first, and their extended attributes when the shards copied them (--xattrs).
 * `reportCopy` adds up the shards' summaries (`copy --report`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClfsError } from '../errors/index.js';
import { displayPath, holdsMarker, NO_FILTERS, SourceFilter } from '../scan/index.js';
import { COPY_META_DIR, describe, shardSummaryPath, type CopySummary } from './copy.js';
import { CountedFs, resolveBytes, showArg } from './fs-ops.js';
import { direntIsDir, frontierDepth } from './partition.js';

export interface FinalizeOptions {
  /** bytes for a path that is not valid UTF-8 */
  source: string | Buffer;
  dest: string | Buffer;
  shards: number;
}

export interface FinalizeSummary {
  ok: boolean;
  shards: number;
  missing: number[];
  relinked: number;
  directories: number;
  problems: Array<{ path: string; message: string }>;
  seconds: number;
}

export interface ShardsReport {
  shards: number;
  missing: number[];
  incomplete: number[];
  totals: { entries: number; files: number; dirs: number; symlinks: number; specials: number; hardlinks: number; bytes: number; skipped: number; errors: number };
  maxSeconds: number;
  filesPerSecond: number;
  bytesPerSecond: number;
  /** work per shard, max over mean: 1 is a perfect split */
  balance: { files: number; bytes: number };
  perShard: Array<{ shard: number; status: string; files: number; bytes: number; seconds: number; errors: number }>;
}

function readSummaries(dest: string | Buffer, shards: number): { found: Array<CopySummary | undefined> } {
  const found: Array<CopySummary | undefined> = [];
  for (let i = 0; i < shards; i++) {
    const file = shardSummaryPath(dest, { index: i, count: shards });
    try {
      found.push(JSON.parse(fs.readFileSync(file, 'utf8')) as CopySummary);
    } catch {
      found.push(undefined);
    }
  }
  return { found };
}

function checkShards(shards: number): void {
  if (!Number.isInteger(shards) || shards < 1) throw new ClfsError('E_USAGE', '--shards must be the number of shards the copy ran with (a whole number ≥ 1)', { subject: '--shards' });
}

export function reportCopy(dest: string | Buffer, shards: number): ShardsReport {
  checkShards(shards);
  const { found } = readSummaries(dest, shards);
  const totals = { entries: 0, files: 0, dirs: 0, symlinks: 0, specials: 0, hardlinks: 0, bytes: 0, skipped: 0, errors: 0 };
  const perShard: ShardsReport['perShard'] = [];
  const missing: number[] = [];
  const incomplete: number[] = [];
  let maxSeconds = 0;
  found.forEach((s, i) => {
    if (s === undefined) {
      missing.push(i);
      return;
    }
    if (s.status !== 'complete') incomplete.push(i);
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += s[k] as number;
    maxSeconds = Math.max(maxSeconds, s.seconds);
    perShard.push({ shard: i, status: s.status, files: s.files + s.hardlinks + s.symlinks + s.specials, bytes: s.bytes, seconds: s.seconds, errors: s.errors });
  });
  const ratio = (xs: number[]): number => {
    const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    return mean > 0 ? Math.max(...xs) / mean : 1;
  };
  const files = totals.files + totals.hardlinks + totals.symlinks + totals.specials;
  return {
    shards,
    missing,
    incomplete,
    totals,
    maxSeconds,
    filesPerSecond: maxSeconds > 0 ? files / maxSeconds : 0,
    bytesPerSecond: maxSeconds > 0 ? totals.bytes / maxSeconds : 0,
    balance: { files: ratio(perShard.map((p) => p.files)), bytes: ratio(perShard.map((p) => p.bytes)) },
    perShard,
  };
}

export async function finalizeCopy(o: FinalizeOptions): Promise<FinalizeSummary> {
  const started = Date.now();
  checkShards(o.shards);
  const src = resolveBytes(o.source);
  const dst = resolveBytes(o.dest);
  const { found } = readSummaries(o.dest, o.shards);
  const missing = found.flatMap((s, i) => (s === undefined || s.status !== 'complete' || s.dryRun ? [i] : []));
  const problems: FinalizeSummary['problems'] = [];
  if (missing.length > 0) return { ok: false, shards: o.shards, missing, relinked: 0, directories: 0, problems, seconds: 0 };
  const depths = new Set(found.map((s) => s!.frontierDepth));
  if (depths.size > 1) {
    throw new ClfsError('E_USAGE', `the shards split the tree differently (frontier depths ${[...depths].join(', ')}: the top of the source changed between their runs); run every shard again, then --finalize`, { subject: showArg(o.dest) });
  }
  const fsx = new CountedFs();
  const join = (root: Buffer, rel: Buffer) => (rel.length === 0 ? root : Buffer.concat([root, Buffer.from('/'), rel]));
  // hard links across shards: the first shard's first name is the one the others link to
  const groups = new Map<string, Buffer[][]>();
  found.forEach((s) => {
    for (const g of s!.openLinks) {
      const list = groups.get(g.key) ?? [];
      list.push(g.names.map((h) => Buffer.from(h, 'hex')));
      groups.set(g.key, list);
    }
  });
  const touched = new Map<string, Buffer>();
  let relinked = 0;
  let seq = 0;
  for (const parts of groups.values()) {
    if (parts.length < 2) continue;
    const canonical = parts[0]![0]!;
    const c = await fsx.lstat(join(dst, canonical));
    if (c === undefined) {
      problems.push({ path: displayPath(canonical), message: 'missing in the destination: run its shard again' });
      continue;
    }
    for (const names of parts.slice(1)) {
      for (const rel of names) {
        try {
          const d = await fsx.lstat(join(dst, rel));
          if (d !== undefined && d.ino === c.ino) continue;
          const dir = path.dirname(rel.toString('latin1'));
          const parent = dir === '.' ? Buffer.alloc(0) : Buffer.from(dir, 'latin1');
          const tmp = join(dst, Buffer.concat([parent.length > 0 ? Buffer.concat([parent, Buffer.from('/')]) : Buffer.alloc(0), Buffer.from(`.clfsload-link-${process.pid}-${seq++}`)]));
          await fsx.link(join(dst, canonical), tmp);
          await fsx.rename(tmp, join(dst, rel));
          relinked += 1;
          touched.set(parent.toString('latin1'), parent);
        } catch (err) {
          problems.push({ path: displayPath(rel), message: describe(err) });
        }
      }
    }
  }
  // the directories above the frontier, and those re-linked into: owner, mode, times
  const list = async (rel: Buffer) => {
    const abs = join(src, rel);
    const l = await fsx.srcReaddir(abs);
    const all = await Promise.all(l.map(async (d) => ({ name: d.name as unknown as Buffer, isDir: direntIsDir(d) ?? (await fsx.srcLstat(join(abs, d.name as unknown as Buffer))).isDirectory() })));
    // the shards split the tree their filters left (summaries of older runs have none: everything)
    return all.filter((e) => {
      const crel = rel.length === 0 ? e.name : Buffer.concat([rel, Buffer.from('/'), e.name]);
      return !(filter.excluded(crel, e.name, e.isDir) || (e.isDir && filter.markers.length > 0 && holdsMarker(filter.markers, join(src, crel))));
    });
  };
  const filter = SourceFilter.compile(found[0]!.filters ?? NO_FILTERS);
  // the directories above the depth the shards split at (the tree may have changed since)
  const { frontierDirs } = await frontierDepth(o.shards, list, [...depths][0]);
  for (const d of frontierDirs) touched.set(d.toString('latin1'), d);
  const dirs = [...touched.values()].sort((a, b) => depthOf(b) - depthOf(a));
  const root = process.getuid?.() === 0;
  // a shard sets a frontier directory's attributes only when it made it, and no shard the root's
  const xattrs = found.some((s) => s!.xattrs === true);
  for (const rel of dirs) {
    try {
      const s = await fsx.srcLstat(join(src, rel));
      const t = join(dst, rel);
      if (root) await fsx.lchown(t, Number(s.uid), Number(s.gid));
      await fsx.chmod(t, Number(s.mode) & 0o7777);
      // as a single run sets an existing directory's: the source's, and none it has not
      if (xattrs) await fsx.setXattrs(t, await fsx.srcXattrs(join(src, rel)), true);
      await fsx.utimes(t, s.atimeNs, s.mtimeNs);
    } catch (err) {
      problems.push({ path: displayPath(rel.length === 0 ? Buffer.from('.') : rel), message: describe(err) });
    }
  }
  const ok = problems.length === 0;
  if (ok) {
    const file = join(dst, Buffer.from(`${COPY_META_DIR}/finalized.json`));
    fs.writeFileSync(file, JSON.stringify({ shards: o.shards, relinked, at: new Date().toISOString() }));
    // the write into the meta folder changed the root's mtime: set it again
    const s = await fsx.srcLstat(src);
    await fsx.utimes(dst, s.atimeNs, s.mtimeNs);
  }
  return { ok, shards: o.shards, missing: [], relinked, directories: dirs.length, problems, seconds: (Date.now() - started) / 1000 };
}

function depthOf(rel: Buffer): number {
  if (rel.length === 0) return 0;
  let n = 1;
  for (const b of rel) if (b === 0x2f) n += 1;
  return n;
}
