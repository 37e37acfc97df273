/** The shared shape of NAME and DATA payloads: u32 length + bytes. */
import { ByteCursor } from './byte-cursor.js';

export function lengthPrefixedBytes(b: Uint8Array): number {
  return 4 + b.length;
}

export function writeLengthPrefixed(buf: Buffer, off: number, b: Uint8Array): number {
  buf.writeUInt32LE(b.length, off);
  buf.set(b, off + 4);
  return off + 4 + b.length;
}

export function encodeLengthPrefixed(b: Uint8Array): Buffer {
  const buf = Buffer.alloc(lengthPrefixedBytes(b));
  writeLengthPrefixed(buf, 0, b);
  return buf;
}

/** Returns a view into the payload (no copy). */
export function decodeLengthPrefixed(payload: Uint8Array, blobName: string, offset: number, what: string): Buffer {
  const c = new ByteCursor(payload, blobName, offset, what);
  const len = c.u32('length');
  const v = c.bytes(len, 'bytes');
  c.end();
  return v;
}
