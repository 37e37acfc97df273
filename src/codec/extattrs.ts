/** EXTATTRS (handle type 12): ordered UTF-8 key/value pairs (format.md §5.11). */
import { ByteCursor } from './byte-cursor.js';

export function extattrsBytes(pairs: ReadonlyArray<readonly [string, string]>): number {
  let n = 4;
  for (const [k, v] of pairs) n += 4 + Buffer.byteLength(k, 'utf8') + 4 + Buffer.byteLength(v, 'utf8');
  return n;
}

export function writeExtattrs(buf: Buffer, off: number, pairs: ReadonlyArray<readonly [string, string]>): number {
  buf.writeUInt32LE(pairs.length, off); off += 4;
  for (const [k, v] of pairs) {
    const kl = buf.write(k, off + 4, 'utf8');
    buf.writeUInt32LE(kl, off); off += 4 + kl;
    const vl = buf.write(v, off + 4, 'utf8');
    buf.writeUInt32LE(vl, off); off += 4 + vl;
  }
  return off;
}

export function encodeExtattrs(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  const buf = Buffer.alloc(extattrsBytes(pairs));
  writeExtattrs(buf, 0, pairs);
  return buf;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeExtattrs(payload: Uint8Array, blobName: string, offset: number): Array<[string, string]> {
  const c = new ByteCursor(payload, blobName, offset, 'EXTATTRS');
  const count = c.u32('count');
  if (count * 8 > c.remaining) c.fail(`count ${count} cannot fit in ${c.remaining} bytes`, 0);
  const out: Array<[string, string]> = [];
  const text = (field: string): string => {
    const at = c.offset;
    const len = c.u32(`${field} length`);
    const bytes = c.bytes(len, field);
    try {
      return utf8.decode(bytes);
    } catch {
      return c.fail(`${field} is not UTF-8`, at);
    }
  };
  for (let i = 0; i < count; i++) {
    const k = text('key');
    const v = text('value');
    out.push([k, v]);
  }
  c.end();
  return out;
}
