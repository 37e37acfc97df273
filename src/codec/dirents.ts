/** DIRENTS (handle type 3): packed (u32 name length, name, u16 handle length, handle), no count (format.md §5.9). */
import { ByteCursor } from './byte-cursor.js';

export interface Dirent {
  name: Buffer;
  handle: Buffer;
}

/** Wire size of one entry. */
export function direntBytes(nameLen: number, handleLen: number): number {
  return 4 + nameLen + 2 + handleLen;
}

export function writeDirent(buf: Buffer, off: number, name: Uint8Array, handle: Uint8Array): number {
  buf.writeUInt32LE(name.length, off); off += 4;
  buf.set(name, off); off += name.length;
  buf.writeUInt16LE(handle.length, off); off += 2;
  buf.set(handle, off);
  return off + handle.length;
}

export function encodeDirents(list: readonly Dirent[]): Buffer {
  let n = 0;
  for (const d of list) n += direntBytes(d.name.length, d.handle.length);
  const buf = Buffer.alloc(n);
  let off = 0;
  for (const d of list) off = writeDirent(buf, off, d.name, d.handle);
  return buf;
}

export function decodeDirents(payload: Uint8Array, blobName: string, offset: number): Dirent[] {
  const c = new ByteCursor(payload, blobName, offset, 'DIRENTS');
  const out: Dirent[] = [];
  while (c.remaining > 0) {
    const nl = c.u32('name length');
    const name = Buffer.from(c.bytes(nl, 'name'));
    const hl = c.u16('handle length');
    const handle = Buffer.from(c.bytes(hl, 'handle'));
    out.push({ name, handle });
  }
  return out;
}
