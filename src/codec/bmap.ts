/** BMAP (handle type 5): segment sizes, direct slots and the four indirect tree roots (format.md §5.4). */
import { ByteCursor } from './byte-cursor.js';
import { OBCACHE_ID_BYTES } from './ids.js';

export const BMAP_TREE_COUNT = 4;
export const BMAP_MAX_DIRECT = 1024;
const EMPTY_ROOT = Buffer.alloc(OBCACHE_ID_BYTES);

export interface Bmap {
  firstSegmentBytes: number;
  otherSegmentBytes: number;
  /** slot 0 is the inode's own handle; later slots are segment ids */
  direct: Buffer[];
  /** length 4; undefined = unused tree (stored as 16 zero bytes) */
  treeRoots: Array<Buffer | undefined>;
}

export function bmapBytes(b: Bmap): number {
  let n = 4 + 4 + 4;
  for (const d of b.direct) n += 2 + d.length;
  n += 4 + BMAP_TREE_COUNT * (2 + OBCACHE_ID_BYTES);
  return n;
}

export function writeBmap(buf: Buffer, off: number, b: Bmap): number {
  buf.writeUInt32LE(b.firstSegmentBytes, off); off += 4;
  buf.writeUInt32LE(b.otherSegmentBytes, off); off += 4;
  buf.writeUInt32LE(b.direct.length, off); off += 4;
  for (const d of b.direct) {
    buf.writeUInt16LE(d.length, off); off += 2;
    buf.set(d, off); off += d.length;
  }
  buf.writeUInt32LE(BMAP_TREE_COUNT, off); off += 4;
  for (let t = 0; t < BMAP_TREE_COUNT; t++) {
    const root = b.treeRoots[t] ?? EMPTY_ROOT;
    buf.writeUInt16LE(OBCACHE_ID_BYTES, off); off += 2;
    buf.set(root, off); off += OBCACHE_ID_BYTES;
  }
  return off;
}

export function encodeBmap(b: Bmap): Buffer {
  const buf = Buffer.alloc(bmapBytes(b));
  writeBmap(buf, 0, b);
  return buf;
}

export function decodeBmap(payload: Uint8Array, blobName: string, offset: number): Bmap {
  const c = new ByteCursor(payload, blobName, offset, 'BMAP');
  const firstSegmentBytes = c.u32('first segment bytes');
  const otherSegmentBytes = c.u32('other segment bytes');
  const at = c.offset;
  const count = c.u32('direct count');
  if (count < 1 || count > BMAP_MAX_DIRECT) c.fail(`direct count ${count} outside 1..${BMAP_MAX_DIRECT}`, at);
  const direct: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const len = c.u16('direct id length');
    direct.push(Buffer.from(c.bytes(len, 'direct id')));
  }
  const tat = c.offset;
  const trees = c.u32('tree count');
  if (trees !== BMAP_TREE_COUNT) c.fail(`tree count ${trees}, expected ${BMAP_TREE_COUNT}`, tat);
  const treeRoots: Array<Buffer | undefined> = [];
  for (let t = 0; t < BMAP_TREE_COUNT; t++) {
    const lat = c.offset;
    const len = c.u16('tree root length');
    if (len !== OBCACHE_ID_BYTES) c.fail(`tree root length ${len}, expected ${OBCACHE_ID_BYTES}`, lat);
    const id = c.bytes(len, 'tree root');
    treeRoots.push(id.equals(EMPTY_ROOT) ? undefined : Buffer.from(id));
  }
  c.end();
  return { firstSegmentBytes, otherSegmentBytes, direct, treeRoots };
}
