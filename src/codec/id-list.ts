/**
 * The shared wire shape of BACK and INDIR: u32 count, then count × (u16 length + id bytes).
 */
import { ByteCursor } from './byte-cursor.js';

export function idListBytes(ids: readonly Uint8Array[]): number {
  let n = 4;
  for (const id of ids) n += 2 + id.length;
  return n;
}

export function writeIdList(buf: Buffer, off: number, ids: readonly Uint8Array[]): number {
  buf.writeUInt32LE(ids.length, off); off += 4;
  for (const id of ids) {
    buf.writeUInt16LE(id.length, off); off += 2;
    buf.set(id, off); off += id.length;
  }
  return off;
}

export function encodeIdList(ids: readonly Uint8Array[]): Buffer {
  const buf = Buffer.alloc(idListBytes(ids));
  writeIdList(buf, 0, ids);
  return buf;
}

/** `fixedLength`: every id must have this length (INDIR: 16). */
export function decodeIdList(
  payload: Uint8Array,
  blobName: string,
  offset: number,
  what: string,
  fixedLength?: number,
): Buffer[] {
  const c = new ByteCursor(payload, blobName, offset, what);
  const count = c.u32('count');
  // each entry needs at least its 2-byte length: reject absurd counts before looping
  if (count * 2 > c.remaining) c.fail(`count ${count} cannot fit in ${c.remaining} bytes`, 0);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const at = c.offset;
    const len = c.u16('id length');
    if (fixedLength !== undefined && len !== fixedLength) c.fail(`id length ${len}, expected ${fixedLength}`, at);
    out.push(Buffer.from(c.bytes(len, 'id')));
  }
  c.end();
  return out;
}
