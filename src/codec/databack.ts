/** DATABACK (handle type 10): back reference of a segment or indirect block, format.md §5.7. */
import { ByteCursor } from './byte-cursor.js';

export interface Databack {
  /** int(owner ctime): the VATTR ctime seconds after the double round trip */
  ctimeSec: number;
  /** file offset (file segment), 16384 + (k-1)·262144 (dir segment), tree << 16 | level (indirect) */
  offset: bigint;
  owner: Buffer;
}

const U64_MASK = (1n << 64n) - 1n;

export function databackBytes(d: Databack): number {
  return 4 + 8 + 2 + d.owner.length;
}

export function writeDataback(buf: Buffer, off: number, d: Databack): number {
  buf.writeUInt32LE(d.ctimeSec >>> 0, off); off += 4;
  buf.writeBigUInt64LE(d.offset & U64_MASK, off); off += 8;
  buf.writeUInt16LE(d.owner.length, off); off += 2;
  buf.set(d.owner, off);
  return off + d.owner.length;
}

export function encodeDataback(d: Databack): Buffer {
  const buf = Buffer.alloc(databackBytes(d));
  writeDataback(buf, 0, d);
  return buf;
}

export function decodeDataback(payload: Uint8Array, blobName: string, offset: number): Databack {
  const c = new ByteCursor(payload, blobName, offset, 'DATABACK');
  const ctimeSec = c.u32('create time');
  const off = c.u64('offset');
  const len = c.u16('owner length');
  const owner = Buffer.from(c.bytes(len, 'owner'));
  c.end();
  return { ctimeSec, offset: off, owner };
}
