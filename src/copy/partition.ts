/**
 * How `copy --shard K/N` splits a tree without every shard walking all of it.
 *
 * Every shard lists the same top of the tree: the directories above the "frontier depth" D,
 * found breadth first until a level holds at least UNITS_PER_SHARD × N directories (or the tree
 * ends, or MAX_FRONTIER_DEPTH). Those few listings are the only work the shards repeat. Each
 * child of a frontier directory that is not itself a frontier directory (files at any depth up
 * to D, directories at depth D) is one unit, owned by the shard its path hashes to; a shard walks
 * only the subtrees it owns. Hashing names (not dealing a sorted list round-robin) keeps a
 * name's owner fixed when the tree changes between the shards' runs, so a shard re-run later
 * never skips or doubles a unit. Many units per shard spread bytes and files evenly; the
 * benchmark reports max/mean per shard.
 */
import type { Dirent } from 'node:fs';

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

/** The frontier depth D for `count` shards: 0 for one shard (the root is the only unit). */
export async function frontierDepth(count: number, list: Lister): Promise<{ depth: number; frontierDirs: Buffer[] }> {
  if (count <= 1) return { depth: 0, frontierDirs: [] };
  const frontierDirs: Buffer[] = [];
  let level: Buffer[] = [Buffer.alloc(0)];
  let depth = 0;
  while (level.length > 0 && level.length < UNITS_PER_SHARD * count && depth < MAX_FRONTIER_DEPTH) {
    frontierDirs.push(...level);
    const listed = await Promise.all(level.map(async (rel) => (await list(rel)).filter((e) => e.isDir).map((e) => childRel(rel, e.name))));
    level = listed.flat().sort(Buffer.compare);
    depth += 1;
  }
  return { depth, frontierDirs };
}

/** Dirent type, or undefined when the file system did not say (DT_UNKNOWN). */
export function direntIsDir(d: Dirent): boolean | undefined {
  if (d.isDirectory()) return true;
  if (d.isFile() || d.isSymbolicLink() || d.isFIFO() || d.isSocket() || d.isCharacterDevice() || d.isBlockDevice()) return false;
  return undefined;
}
