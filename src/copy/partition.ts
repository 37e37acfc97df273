/**
 * How `copy --shard K/N` splits a tree without every shard walking all of it.
 *
 * Every shard lists the same top of the tree: the directories above the "frontier depth" D,
 * found breadth first until a level holds at least UNITS_PER_SHARD × N directories (or the tree
 * ends, or MAX_FRONTIER_DEPTH). Those few listings are the only work the shards repeat. Each
 * child of a frontier directory that is not itself a frontier directory (files at any depth up
 * to D, directories at depth D) is one unit; a shard walks only the units it owns.
 *
 * Who owns a unit: the first shard to reach the frontier deals its directories at depth D to
 * the shards in turn (in name order) and records that split beside the shards' summaries
 * (DEST/.clfsload-copy/partition-N-SRC.json, created exclusively: one shard's record wins, the
 * others adopt it). Every later run, re-run, compare and finalize of N shards reads the record,
 * so a unit's owner never changes when the tree does, and a shard re-run later never skips or
 * doubles a unit. Units the record does not name (files above D, directories made since) go to
 * the shard their path hashes to. Dealing, not hashing, the directories: 200 equal subtrees over
 * 4 shards hashed to 47/62/44/47 (max/mean 1.24), dealt they are 50 each.
 */
import * as fs from 'node:fs';
import type { Dirent } from 'node:fs';
import { z } from 'zod';
import { ClfsError } from '../errors/index.js';
import { displayPath } from '../scan/index.js';

export const UNITS_PER_SHARD = 16;
export const MAX_FRONTIER_DEPTH = 6;

export interface Shard {
  /** 0-based */
  index: number;
  count: number;
}

/** FNV-1a of the relative path bytes: the shard that owns a unit. */
export function ownerOf(rel: Buffer, count: number): number {
  if (count <= 1) return 0;
  let h = 0x811c9dc5;
  for (const b of rel) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return (h >>> 0) % count;
}

export function childRel(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 0 ? Buffer.from(name) : Buffer.concat([dir, SLASH, name]);
}
const SLASH = Buffer.from('/');

/** A directory listing entry: its name and whether it is a directory (lstat when the type is unknown). */
export type Lister = (rel: Buffer) => Promise<Array<{ name: Buffer; isDir: boolean }>>;

/**
 * The frontier depth D for `count` shards (0 for one shard: the root is the only unit), the
 * directories above it, and the directories at depth D (the directory units, sorted). With
 * `fixedDepth` (a recorded split) the walk goes to that depth whatever the tree holds now.
 */
export async function frontierDepth(count: number, list: Lister, fixedDepth?: number): Promise<{ depth: number; frontierDirs: Buffer[]; units: Buffer[] }> {
  if (count <= 1) return { depth: 0, frontierDirs: [], units: [] };
  const frontierDirs: Buffer[] = [];
  let level: Buffer[] = [Buffer.alloc(0)];
  let depth = 0;
  const deeper = () => (fixedDepth !== undefined ? depth < fixedDepth : level.length < UNITS_PER_SHARD * count && depth < MAX_FRONTIER_DEPTH);
  while (level.length > 0 && deeper()) {
    frontierDirs.push(...level);
    const listed = await Promise.all(level.map(async (rel) => (await list(rel)).filter((e) => e.isDir).map((e) => childRel(rel, e.name))));
    level = listed.flat().sort(Buffer.compare);
    depth += 1;
  }
  return { depth: fixedDepth ?? depth, frontierDirs, units: level };
}

/** More directory units than this are not recorded: hashed, so many spread evenly anyway. */
export const MAX_DEALT_UNITS = 65_536;
export const PARTITION_FORMAT = 1;

const hex = z.string().regex(/^([0-9a-f]{2})*$/);
const PartitionRecordSchema = z.object({
  format: z.literal(PARTITION_FORMAT),
  /** the source's absolute path (hex of its bytes) */
  source: hex,
  count: z.number().int().min(2),
  depth: z.number().int().min(0),
  /** relative paths of the directory units (hex), and each one's shard */
  units: z.array(hex),
  owners: z.array(z.number().int().min(0)),
});
type PartitionRecord = z.infer<typeof PartitionRecordSchema>;

/** The shards' split: the frontier depth, and the shard of each unit. */
export class Partition {
  constructor(
    readonly count: number,
    readonly depth: number,
    private readonly dealt: ReadonlyMap<string, number> = new Map(),
  ) {}

  static single(): Partition {
    return new Partition(1, 0);
  }

  /** The shard that owns the unit at `rel`. */
  owner(rel: Buffer): number {
    if (this.count <= 1) return 0;
    return this.dealt.get(rel.toString('latin1')) ?? ownerOf(rel, this.count);
  }

  /** units dealt by the record (the rest are hashed) */
  get dealtUnits(): number {
    return this.dealt.size;
  }
}

/** Where N shards of `source` record their split, in the destination every shard writes into. */
export function partitionFile(metaDir: Buffer, source: Buffer, count: number): Buffer {
  const tag = ownerOf(source, 2 ** 31).toString(16).padStart(8, '0');
  return Buffer.concat([metaDir, Buffer.from(`/partition-${count}-${tag}.json`)]);
}

function fromRecord(r: PartitionRecord): Partition {
  const dealt = new Map<string, number>();
  r.units.forEach((u, i) => dealt.set(Buffer.from(u, 'hex').toString('latin1'), r.owners[i]!));
  return new Partition(r.count, r.depth, dealt);
}

/** The record in `file`, undefined when there is none (or it is another source's). */
function readRecord(file: Buffer, source: Buffer, count: number): Partition | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ClfsError('E_TARGET_IO', `${displayPath(file)}: cannot read the shards' split (${(err as Error).message}); fix the destination and run again`, { subject: displayPath(file) });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const r = PartitionRecordSchema.safeParse(parsed);
  if (!r.success || r.data.units.length !== r.data.owners.length || r.data.owners.some((o) => o >= count) || r.data.count !== count) {
    throw new ClfsError('E_USAGE', `${displayPath(file)}: not a split of ${count} shards that clfsload can read; remove it, then run every shard again`, { subject: displayPath(file) });
  }
  if (r.data.source !== source.toString('hex')) return undefined;
  return fromRecord(r.data);
}

export interface PartitionOptions {
  count: number;
  /** the source's absolute path */
  source: Buffer;
  /** DEST/.clfsload-copy: where the split is recorded and read */
  metaDir: Buffer;
  list: Lister;
  /** make and record the split when there is none (copy); else only read it (compare, finalize, --dry-run) */
  record: boolean;
  /** the depth a caller already knows (a shard's summary): used when no split is recorded */
  depth?: number;
}

/**
 * The split every one of N shards uses: the recorded one, else (the first shard to get here) one
 * dealt now and recorded, unless another shard recorded its own meanwhile, which is then used.
 */
export async function sharedPartition(o: PartitionOptions): Promise<Partition> {
  if (o.count <= 1) return Partition.single();
  const file = partitionFile(o.metaDir, o.source, o.count);
  const recorded = readRecord(file, o.source, o.count);
  if (recorded !== undefined) return recorded;
  const found = await frontierDepth(o.count, o.list, o.depth);
  const { depth } = found;
  // shards of a version that hashed every unit ran into this DEST already (their summaries are
  // there, no record is): the split stays theirs, recorded with nothing dealt
  const units = found.units.length > MAX_DEALT_UNITS || hashedBefore(o.metaDir, o.count) ? [] : found.units;
  // dealt to the shards in turn, in the order given (sorted names)
  const record: PartitionRecord = { format: PARTITION_FORMAT, source: o.source.toString('hex'), count: o.count, depth, units: units.map((u) => u.toString('hex')), owners: units.map((_, i) => i % o.count) };
  if (!o.record) return fromRecord(record);
  fs.mkdirSync(o.metaDir, { recursive: true });
  const tmp = Buffer.concat([file, Buffer.from(`.${process.pid}.${Date.now()}.tmp`)]);
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(record)}\n`);
    // link() fails when the name exists: of shards racing here, exactly one record is kept
    fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new ClfsError('E_TARGET_IO', `${displayPath(file)}: cannot record the shards' split (${(err as Error).message}); fix the destination and run again`, { subject: displayPath(file) });
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  // ours, or the one another shard recorded first
  return readRecord(file, o.source, o.count) ?? fromRecord(record);
}

/** Did shards of N run here before splits were recorded (a summary of one, and no record)? */
function hashedBefore(metaDir: Buffer, count: number): boolean {
  let names: string[];
  try {
    names = fs.readdirSync(Buffer.concat([metaDir, Buffer.from('/shards')]), 'utf8');
  } catch {
    return false;
  }
  return names.some((n) => n.endsWith(`-of-${count}.json`));
}

/** Dirent type, or undefined when the file system did not say (DT_UNKNOWN). */
export function direntIsDir(d: Dirent): boolean | undefined {
  if (d.isDirectory()) return true;
  if (d.isFile() || d.isSymbolicLink() || d.isFIFO() || d.isSocket() || d.isCharacterDevice() || d.isBlockDevice()) return false;
  return undefined;
}
