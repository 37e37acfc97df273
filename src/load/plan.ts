/**
 * `plan`: cut a source tree into subtrees that several machines load into one container at once
 * (issue 14). The top levels are read breadth-first until there are at least 8 units per shard
 * (or a depth limit); every directory above that cut, and every child of one, gets its handle
 * here, so a subtree's objects can be written under their final names by any shard, and its
 * root's `..` is known. Units (a subtree, or a run of files of one directory above the cut) are
 * estimated and given to shards by longest-processing-time bin packing; each shard gets a
 * disjoint range of sequence numbers. The container must be empty; the plan writes its bucket
 * object, as INIT does for a single load.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHmac, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { bucketBlobName, encodeBlob, encodeBucketBody, Ftype, generateFileHandle, ROOT_ID } from '../codec/index.js';
import type { Compression } from '../codec/index.js';
import { ClfsError, isClfsError } from '../errors/index.js';
import { displayPath, joinPath, lstatEntry, readDirectoryBatches } from '../scan/index.js';
import type { SourceEntry, SourceKind } from '../scan/index.js';
import { TransferIdentitySchema } from '../state/index.js';
import type { TransferIdentity } from '../state/index.js';
import type { Target } from '../targets/target.js';
import { bucketExtattrs } from './finishing-phases.js';
import { checkTargetOutsideSource, freshIdentity } from './load.js';
import { Random64 } from './load-run.js';
import { checkSource } from './source-root.js';

export const PLAN_FORMAT = 1;
/** units per shard the cut aims for: enough for the bin packing to balance */
export const UNITS_PER_SHARD = 8;
export const DEFAULT_PLAN_DEPTH = 4;
/** entries a subtree's estimate reads before it extrapolates from what it saw */
export const DEFAULT_ESTIMATE_ENTRIES = 20_000;
/** files of one directory above the cut per unit */
const FILES_PER_UNIT = 4096;
/** a unit's weight: its entries plus its bytes at this many per entry (a small file's cost) */
const BYTES_PER_ENTRY_COST = 256 * 1024;
export const MAX_SHARDS = 4096;
/** sequence numbers: the plan's handles from 1001, then one range of this size per shard */
const SHARD_SEQ_SIZE = 2 ** 36;
const SHARD_SEQ_BASE = 2 ** 36;
/** hard-linked inodes' shared handles take their sequence numbers from [2^52, 2^53) */
const LINK_SEQ_BASE = 2n ** 52n;
const DIRMGR_COUNT = 48;
/** in-progress copies of hard-linked inodes: shard K writes them at this version + K */
const INPROGRESS_VERSION_BASE = 1000;

const hex = z.string().regex(/^([0-9a-f]{2})*$/);

const PlanChildSchema = z.object({
  name: hex,
  /** its handle; '' when the plan could not lstat it (the shard does, and gives it one) */
  fh: hex,
  /** index in `dirs` when it is a directory above the cut */
  dir: z.number().int().optional(),
  /** index in `units` otherwise */
  unit: z.number().int().optional(),
});

const PlanDirSchema = z.object({
  path: hex,
  fh: hex,
  parent: z.number().int().nullable(),
  children: z.array(PlanChildSchema),
});

const PlanUnitSchema = z.object({
  shard: z.number().int(),
  dir: z.number().int(),
  /** indexes into the directory's children */
  children: z.array(z.number().int()),
  entries: z.number(),
  bytes: z.number(),
  /** whether entries and bytes are a count (true) or extrapolated from part of the subtree */
  exact: z.boolean(),
});

export const PlanSchema = z.object({
  planFormat: z.literal(PLAN_FORMAT),
  planId: z.string().length(36),
  createdAt: z.string(),
  /** the target without credentials; the URL itself only when it holds no secret (file://) */
  targetKey: z.string(),
  targetUrl: z.string().optional(),
  identity: TransferIdentitySchema,
  shards: z.number().int().min(1).max(MAX_SHARDS),
  depth: z.number().int(),
  seqPlanEnd: z.number().int(),
  dirs: z.array(PlanDirSchema),
  units: z.array(PlanUnitSchema),
});
export type Plan = z.infer<typeof PlanSchema>;
export type PlanDir = z.infer<typeof PlanDirSchema>;
export type PlanChild = z.infer<typeof PlanChildSchema>;
export type PlanUnit = z.infer<typeof PlanUnitSchema>;

/** The sequence numbers shard K may hand out: [start, end). */
export function shardSeqRange(k: number): { start: number; end: number } {
  const start = SHARD_SEQ_BASE + k * SHARD_SEQ_SIZE;
  return { start, end: start + SHARD_SEQ_SIZE };
}

/** Shard K's identity: the plan's, with a version of its own for in-progress hard-link inodes. */
export function shardIdentity(plan: Plan, k: number): TransferIdentity {
  return { ...plan.identity, inprogressVersion: INPROGRESS_VERSION_BASE + k };
}

export function inprogressVersionOf(k: number): number {
  return INPROGRESS_VERSION_BASE + k;
}

/**
 * The handle of a hard-linked inode, from the transfer's secret and its (dev, ino, type) only: every
 * shard that meets one of its names gives it this handle, so the directories of all shards name
 * the same inode and the finalize only merges its names (spec §8.6).
 */
export function sharedLinkHandle(identity: TransferIdentity, e: Pick<SourceEntry, 'dev' | 'ino'>, ftype: Ftype): Buffer {
  const secret = Buffer.from(identity.idSecretHex, 'hex');
  const draw = (i: number) => createHmac('sha256', secret).update(`link:${e.dev}:${e.ino}:${ftype}:${i}`).digest();
  const first = draw(0);
  const seq = LINK_SEQ_BASE + (first.readBigUInt64LE(0) & (LINK_SEQ_BASE - 1n));
  let i = 0;
  const random = () => {
    for (;;) {
      const v = draw(++i).readBigUInt64LE(8);
      if (v !== 0n) return v;
    }
  };
  return generateFileHandle({ containerId: identity.containerId, dmidSrc: 0, dmidTgt: 0, ftype, seq }, random);
}

/** The folder next to the plan file where shard states, reports and the finalize's state live. */
export function planWorkDir(planFile: string): string {
  return `${path.resolve(planFile)}.d`;
}

export function shardDir(planFile: string, k: number): string {
  return path.join(planWorkDir(planFile), `shard-${String(k).padStart(4, '0')}`);
}

export function readPlan(planFile: string): Plan {
  let text: string;
  try {
    text = fs.readFileSync(planFile, 'utf8');
  } catch (err) {
    throw new ClfsError('E_USAGE', `--plan ${planFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the file \`clfsload plan\` wrote`, { subject: planFile });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ClfsError('E_USAGE', `--plan ${planFile}: not a clfsload plan (not JSON); give the file \`clfsload plan\` wrote`, { subject: planFile });
  }
  const parsed = PlanSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ClfsError('E_USAGE', `--plan ${planFile}: not a clfsload plan of this version (${issue?.path.join('.')}: ${issue?.message}); make it again with this clfsload`, { subject: planFile });
  }
  return parsed.data;
}

/** Write a file so that a reader sees the old one or the new one whole (temp name, then rename). */
export function writeFileAtomic(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
}

export interface PlanOptions {
  /** bytes for a path that is not valid UTF-8 */
  source: string | Buffer;
  target: Target;
  targetKey: string;
  /** stored in the plan so shards need no target argument; leave it out when it holds a secret */
  targetUrl?: string;
  planFile: string;
  shards: number;
  compression?: Compression;
  preserveHardlinks?: boolean;
  /** levels read at most before the cut (default 4) */
  depth?: number;
  /** entries each subtree's estimate reads at most (default 20,000) */
  estimateEntries?: number;
  abortSignal?: AbortSignal;
}

export interface ShardLoadEstimate {
  shard: number;
  units: number;
  entries: number;
  bytes: number;
  weight: number;
}

export interface PlanSummary {
  planFile: string;
  workDir: string;
  shards: number;
  depth: number;
  dirsAboveCut: number;
  units: number;
  perShard: ShardLoadEstimate[];
  /** the heaviest shard's weight over the mean (1 = perfect) */
  balance: number;
  seconds: number;
}

function weightOf(u: { entries: number; bytes: number }): number {
  return u.entries + u.bytes / BYTES_PER_ENTRY_COST;
}

const FTYPE_OF: Record<SourceKind, Ftype> = { dir: Ftype.DIR, file: Ftype.REG, symlink: Ftype.LNK, blockdev: Ftype.BLK, chardev: Ftype.CHR, socket: Ftype.SOCK, fifo: Ftype.FIFO };

/**
 * Entries and bytes under a directory (itself not counted), reading at most `limit` entries
 * breadth-first; past it, the count is scaled by the directories still unread over those read.
 */
export function estimateSubtree(dirPath: Buffer, limit: number): { entries: number; bytes: number; exact: boolean } {
  const queue: Buffer[] = [dirPath];
  let entries = 0;
  let bytes = 0;
  let dirsRead = 0;
  while (queue.length > 0 && entries < limit) {
    const dir = queue.shift()!;
    dirsRead += 1;
    try {
      for (const batch of readDirectoryBatches(dir, 1000, () => undefined)) {
        for (const e of batch) {
          entries += 1;
          if (e.kind === 'dir') queue.push(joinPath(dir, e.name));
          else if (e.kind === 'file') bytes += Number(e.sizeBytes);
        }
      }
    } catch {
      // an unreadable directory fails in the shard, with its path; it weighs nothing here
    }
  }
  if (queue.length === 0) return { entries, bytes, exact: true };
  const scale = (dirsRead + queue.length) / dirsRead;
  return { entries: Math.round(entries * scale), bytes: Math.round(bytes * scale), exact: false };
}

/** Shards by longest processing time: heaviest unit first, each to the lightest shard so far. */
export function packUnits(weights: readonly number[], shards: number): number[] {
  const order = weights.map((w, i) => [w, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const load = new Array<number>(shards).fill(0);
  const out = new Array<number>(weights.length).fill(0);
  for (const [w, i] of order) {
    let best = 0;
    for (let k = 1; k < shards; k++) if (load[k]! < load[best]!) best = k;
    out[i] = best;
    load[best]! += w;
  }
  return out;
}

export async function makePlan(options: PlanOptions): Promise<PlanSummary> {
  const started = Date.now();
  const sourceAbs = checkSource(options.source);
  const n = options.shards;
  if (!Number.isInteger(n) || n < 1 || n > MAX_SHARDS) throw new ClfsError('E_USAGE', `--shards ${n}: give a whole number from 1 to ${MAX_SHARDS}`, { subject: '--shards' });
  const planFile = path.resolve(options.planFile);
  if (fs.existsSync(planFile)) throw new ClfsError('E_USAGE', `--plan ${options.planFile} already exists: a plan is made once per container; remove it or give another name`, { subject: options.planFile });
  const workDir = planWorkDir(planFile);
  if (fs.existsSync(workDir)) throw new ClfsError('E_USAGE', `${workDir} already exists (the shard folders of an earlier plan of that name): remove it or give another --plan`, { subject: workDir });
  if (!fs.existsSync(path.dirname(planFile))) throw new ClfsError('E_USAGE', `--plan ${options.planFile}: folder ${path.dirname(planFile)} does not exist; create it first`, { subject: options.planFile });
  checkTargetOutsideSource(options.targetKey, sourceAbs);
  const target = options.target;
  if (target.features.checkAccess) await target.checkAccess!({ abortSignal: options.abortSignal });
  for await (const b of target.list('', { abortSignal: options.abortSignal })) {
    throw new ClfsError('E_TARGET_NOT_EMPTY', `${target.description} is not empty (it holds ${b.name}): a planned load needs an empty container; use a new container`, { subject: target.description });
  }
  const identity = freshIdentity(sourceAbs, options);
  const maxDepth = Math.max(1, options.depth ?? DEFAULT_PLAN_DEPTH);
  const estimateEntries = options.estimateEntries ?? DEFAULT_ESTIMATE_ENTRIES;
  const random = new Random64();
  const counters = { seqNext: 1001, dmidCounter: 0 };
  const handleFor = (parentFh: Buffer, e: SourceEntry): Buffer => {
    const ftype = FTYPE_OF[e.kind];
    if (identity.preserveHardlinks && e.kind !== 'dir' && e.nlink !== 1) return sharedLinkHandle(identity, e, ftype);
    const dmidSrc = parentFh.length === 24 ? parentFh[5]! : 0;
    let dmidTgt = dmidSrc;
    if (ftype === Ftype.DIR) {
      counters.dmidCounter = (counters.dmidCounter + 1) % DIRMGR_COUNT;
      dmidTgt = counters.dmidCounter;
    }
    const seq = BigInt(counters.seqNext++);
    return generateFileHandle({ containerId: identity.containerId, dmidSrc, dmidTgt, ftype, seq }, random.next);
  };

  const dirs: PlanDir[] = [{ path: Buffer.from(sourceAbs).toString('hex'), fh: ROOT_ID.toString('hex'), parent: null, children: [] }];
  // units whose weight is known (runs of files); subtrees are estimated once the cut is fixed
  type Pending = { dir: number; children: number[]; entries: number; bytes: number; exact: boolean; sizes?: number[] };
  const pending: Pending[] = [];
  let frontier = [0];
  let depth = 0;
  let candidates: Array<{ dir: number; child: number; path: Buffer }> = [];
  for (;;) {
    if (options.abortSignal?.aborted) throw new ClfsError('E_ABORTED', 'plan interrupted; nothing was written to the target');
    candidates = [];
    for (const d of frontier) {
      const dir = dirs[d]!;
      const dirPath = Buffer.from(dir.path, 'hex');
      const dirFh = Buffer.from(dir.fh, 'hex');
      let files: Pending | undefined;
      const addFile = (child: number, bytes: number) => {
        if (files === undefined || files.children.length >= FILES_PER_UNIT) {
          files = { dir: d, children: [], entries: 0, bytes: 0, exact: true, sizes: [] };
          pending.push(files);
        }
        files.children.push(child);
        files.sizes!.push(bytes);
        files.entries += 1;
        files.bytes += bytes;
      };
      try {
        for (const batch of readDirectoryBatches(dirPath, 1000, (_err, name) => {
          // the shard lstats it again, and fails it with its path if it still cannot
          dir.children.push({ name: name.toString('hex'), fh: '' });
          addFile(dir.children.length - 1, 0);
        })) {
          for (const e of batch) {
            dir.children.push({ name: e.name.toString('hex'), fh: handleFor(dirFh, e).toString('hex') });
            const child = dir.children.length - 1;
            if (e.kind === 'dir') candidates.push({ dir: d, child, path: joinPath(dirPath, e.name) });
            else addFile(child, e.kind === 'file' ? Number(e.sizeBytes) : 0);
          }
        }
      } catch (err) {
        throw new ClfsError('E_SOURCE_UNREADABLE', `${displayPath(dirPath)}: cannot read it to plan the load (${isClfsError(err) ? err.message : String(err)}); fix it and plan again`, { subject: displayPath(dirPath) });
      }
    }
    depth += 1;
    if (candidates.length === 0 || candidates.length + pending.length >= UNITS_PER_SHARD * n || depth >= maxDepth) break;
    frontier = [];
    for (const c of candidates) {
      dirs.push({ path: c.path.toString('hex'), fh: dirs[c.dir]!.children[c.child]!.fh, parent: c.dir, children: [] });
      dirs[c.dir]!.children[c.child]!.dir = dirs.length - 1;
      frontier.push(dirs.length - 1);
    }
  }
  for (const c of candidates) {
    const est = estimateSubtree(c.path, estimateEntries);
    // the subtree root itself is one entry more
    pending.push({ dir: c.dir, children: [c.child], entries: est.entries + 1, bytes: est.bytes, exact: est.exact });
  }
  // a run of files heavier than an even share of a unit is cut up, so one flat directory does not
  // make one shard the slowest
  const share = pending.reduce((a, u) => a + weightOf(u), 0) / (UNITS_PER_SHARD * n);
  for (let i = 0; i < pending.length; i++) {
    const u = pending[i]!;
    if (u.sizes === undefined || weightOf(u) <= share * 1.5 || u.children.length < 2) continue;
    const pieces: Pending[] = [];
    let piece: Pending | undefined;
    u.children.forEach((c, j) => {
      if (piece === undefined || weightOf(piece) >= share) {
        piece = { dir: u.dir, children: [], entries: 0, bytes: 0, exact: true, sizes: [] };
        pieces.push(piece);
      }
      piece.children.push(c);
      piece.entries += 1;
      piece.bytes += u.sizes![j]!;
    });
    pending.splice(i, 1, ...pieces);
    i += pieces.length - 1;
  }
  const shardOf = packUnits(pending.map(weightOf), n);
  const units: PlanUnit[] = pending.map((u, i) => ({ shard: shardOf[i]!, dir: u.dir, children: u.children, entries: u.entries, bytes: u.bytes, exact: u.exact }));
  units.forEach((u, i) => u.children.forEach((c) => (dirs[u.dir]!.children[c]!.unit = i)));
  if (counters.seqNext >= SHARD_SEQ_BASE) throw new ClfsError('E_USAGE', `the top ${depth} levels of ${displayPath(sourceAbs)} hold too many entries to plan; give a smaller --depth`);
  const plan: Plan = {
    planFormat: PLAN_FORMAT,
    planId: randomUUID(),
    createdAt: identity.createdAt,
    targetKey: options.targetKey,
    targetUrl: options.targetUrl,
    identity,
    shards: n,
    depth,
    seqPlanEnd: counters.seqNext,
    dirs,
    units,
  };
  // the bucket object first, as INIT does: from now on the container is this load's
  await target.put(bucketBlobName(), encodeBlob(encodeBucketBody(bucketExtattrs(identity.bucketUuid)), identity.compression), { abortSignal: options.abortSignal });
  if (target.features.flush) await target.flush!({ abortSignal: options.abortSignal });
  fs.mkdirSync(workDir, { recursive: true });
  writeFileAtomic(planFile, `${JSON.stringify(plan)}\n`);
  const perShard: ShardLoadEstimate[] = Array.from({ length: n }, (_, shard) => ({ shard, units: 0, entries: 0, bytes: 0, weight: 0 }));
  for (const u of units) {
    const s = perShard[u.shard]!;
    s.units += 1;
    s.entries += u.entries;
    s.bytes += u.bytes;
    s.weight += weightOf(u);
  }
  const mean = perShard.reduce((a, s) => a + s.weight, 0) / n;
  const max = Math.max(...perShard.map((s) => s.weight));
  return {
    planFile,
    workDir,
    shards: n,
    depth,
    dirsAboveCut: dirs.length,
    units: units.length,
    perShard,
    balance: mean === 0 ? 1 : max / mean,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Source path of a plan directory. */
export function planDirPath(d: PlanDir): Buffer {
  return Buffer.from(d.path, 'hex');
}

/** lstat of a plan entry's source (the shard and the finalize read attributes when they run). */
export function lstatPlanChild(d: PlanDir, c: PlanChild): SourceEntry {
  const name = Buffer.from(c.name, 'hex');
  return lstatEntry(joinPath(planDirPath(d), name), name);
}

export { FTYPE_OF as PLAN_FTYPE_OF };
