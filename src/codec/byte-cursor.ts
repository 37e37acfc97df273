/**
 * Bounds-checked little-endian reads for the payload decoders. One cursor per decode call; every
 * short read becomes E_FORMAT_CORRUPT naming the blob and the absolute byte offset.
 */
import { formatCorrupt } from '../errors/index.js';

export class ByteCursor {
  private pos = 0;
  private readonly buf: Buffer;

  /** `base` is the absolute offset of `bytes[0]` inside the object body, for messages. */
  constructor(
    bytes: Uint8Array,
    private readonly blobName: string,
    private readonly base: number,
    private readonly what: string,
  ) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  fail(detail: string, at: number = this.pos): never {
    throw formatCorrupt(this.blobName, this.base + at, `${this.what}: ${detail}`);
  }

  private need(n: number, field: string): void {
    if (n > this.buf.length - this.pos) {
      this.fail(`${field} needs ${n} bytes, ${this.buf.length - this.pos} left`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A view (no copy) of the next n bytes. */
  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Throws unless the payload was consumed exactly. */
  end(): void {
    if (this.pos !== this.buf.length) this.fail(`${this.buf.length - this.pos} trailing bytes`);
  }
}

/** Accepts any Uint8Array without copying. */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
