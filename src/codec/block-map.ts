/**
 * Block maps (format.md §7): direct slots, then four indirect trees of growing depth, built while
 * segments stream in. Memory: one open indirect block per level of the current tree.
 */
import { ClfsError } from '../errors/index.js';
import type { Bmap } from './bmap.js';

export const FIRST_SEGMENT_BYTES = 16384;
export const FILE_SEGMENT_BYTES = 8388608;
export const DIR_SEGMENT_BYTES = 262144;
/** slots 0..1023, slot 0 = the inode itself */
export const DIRECT_SLOTS = 1024;
export const INDIRECT_POINTERS = 4096;
export const TREE_COUNT = 4;
const TREE_OFFSET_SHIFT = 16n;

export interface EmittedIndirect {
  id: Buffer;
  tree: number;
  /** 0 = tree root, `tree` = leaf level (pointers are data segment ids) */
  level: number;
  pointers: Buffer[];
  /** DATABACK offset: tree << 16 | level */
  databackOffset: bigint;
}

export function indirectDatabackOffset(tree: number, level: number): bigint {
  return (BigInt(tree) << TREE_OFFSET_SHIFT) + BigInt(level);
}

export class BlockMapBuilder {
  private readonly direct: Buffer[];
  private readonly treeRoots: Array<Buffer | undefined> = [undefined, undefined, undefined, undefined];
  private tree = 0;
  /** open block per level 0..tree; undefined until the current tree gets its first segment */
  private open: Buffer[][] | undefined;
  private finished = false;

  constructor(
    selfId: Buffer,
    private readonly newIndirectId: () => Buffer,
  ) {
    this.direct = [selfId];
  }

  /** Pointers held in open blocks (what the builder keeps besides the direct list). */
  get openPointerCount(): number {
    let n = 0;
    for (const b of this.open ?? []) n += b.length;
    return n;
  }

  /** Appends the next segment; returns the indirect blocks that became full, children first. */
  add(segmentId: Buffer): EmittedIndirect[] {
    if (this.finished) throw new ClfsError('E_INTERNAL', 'BlockMapBuilder.add after finish');
    if (this.direct.length < DIRECT_SLOTS) {
      this.direct.push(segmentId);
      return [];
    }
    if (this.tree >= TREE_COUNT) {
      throw new ClfsError('E_FORMAT_LIMIT', 'file too large: all four indirect trees are full');
    }
    if (this.open === undefined) {
      this.open = [];
      for (let l = 0; l <= this.tree; l++) this.open.push([]);
    }
    const open = this.open;
    open[this.tree]!.push(segmentId);
    const emitted: EmittedIndirect[] = [];
    for (let level = this.tree; level >= 0 && open[level]!.length === INDIRECT_POINTERS; level--) {
      const id = this.emit(level, open[level]!, emitted);
      open[level] = [];
      if (level === 0) {
        // format.md §7.3: a full root closes the tree; the next segment starts tree + 1
        this.treeRoots[this.tree] = id;
        this.tree++;
        this.open = undefined;
        if (this.tree === TREE_COUNT) {
          // the reference raises "file too large" when tree 3 fills
          throw new ClfsError('E_FORMAT_LIMIT', 'file too large: all four indirect trees are full');
        }
      } else {
        open[level - 1]!.push(id);
      }
    }
    return emitted;
  }

  /**
   * Closes the open blocks from leaf to root. format.md §7.3 quirk: a leaf flushed because it was
   * exactly full leaves an empty open leaf, which is still emitted (n = 0) like the reference does.
   */
  finish(): { direct: Buffer[]; treeRoots: Array<Buffer | undefined>; emitted: EmittedIndirect[] } {
    if (this.finished) throw new ClfsError('E_INTERNAL', 'BlockMapBuilder.finish called twice');
    this.finished = true;
    const emitted: EmittedIndirect[] = [];
    const open = this.open;
    if (open !== undefined) {
      for (let level = this.tree; level >= 0; level--) {
        const id = this.emit(level, open[level]!, emitted);
        if (level === 0) this.treeRoots[this.tree] = id;
        else open[level - 1]!.push(id);
      }
      this.open = undefined;
    }
    return { direct: this.direct, treeRoots: this.treeRoots.slice(), emitted };
  }

  private emit(level: number, pointers: Buffer[], into: EmittedIndirect[]): Buffer {
    const id = this.newIndirectId();
    into.push({ id, tree: this.tree, level, pointers, databackOffset: indirectDatabackOffset(this.tree, level) });
    return id;
  }
}

/** Number of 8 MiB segments after the inline block (block 0) for a regular file. */
export function fileSegmentCount(sizeBytes: number): number {
  if (sizeBytes <= FIRST_SEGMENT_BYTES) return 0;
  return Math.ceil((sizeBytes - FIRST_SEGMENT_BYTES) / FILE_SEGMENT_BYTES);
}

/** File offset (and DATABACK offset) of segment block k ≥ 1. */
export function fileSegmentOffset(k: number): number {
  return FIRST_SEGMENT_BYTES + (k - 1) * FILE_SEGMENT_BYTES;
}

/** DATABACK offset of directory segment block k ≥ 1: advances by 262144 whatever the piece length. */
export function dirSegmentOffset(k: number): number {
  return FIRST_SEGMENT_BYTES + (k - 1) * DIR_SEGMENT_BYTES;
}

/**
 * Walks a decoded bmap's data segment ids in block order (block 1, 2, ...), loading indirect
 * blocks on demand; at most one block per level is held.
 */
export async function* segmentIdsOf(
  bmap: Bmap,
  loadIndirect: (id: Buffer, tree: number, level: number) => Promise<Buffer[]>,
): AsyncIterable<{ block: number; id: Buffer }> {
  let block = 0;
  for (let k = 1; k < bmap.direct.length; k++) {
    block = k;
    yield { block, id: bmap.direct[k]! };
  }
  block = DIRECT_SLOTS - 1;
  async function* walk(id: Buffer, tree: number, level: number): AsyncGenerator<Buffer> {
    const pointers = await loadIndirect(id, tree, level);
    for (const p of pointers) {
      if (level === tree) yield p;
      else yield* walk(p, tree, level + 1);
    }
  }
  for (let t = 0; t < TREE_COUNT; t++) {
    const root = bmap.treeRoots[t];
    if (root === undefined) continue;
    for await (const id of walk(root, t, 0)) {
      block++;
      yield { block, id };
    }
  }
}
