/**
 * Object bodies are sequences of handles ("sections"): a 20-byte header, the payload, zero padding
 * to a multiple of 8 (format.md §5.1).
 */
import { formatCorrupt } from '../errors/index.js';
import { asBuffer } from './byte-cursor.js';

export const HANDLE_MAGIC = 0x03016005;
export const HANDLE_HEADER_BYTES = 20;
const HANDLE_ALIGN = 8;
const OFF_MAGIC = 0;
const OFF_BLOB_COUNT = 4;
const OFF_REAL_COUNT = 8;
const OFF_TYPE = 12;
const OFF_RESERVED = 16;

export enum HandleType {
  DATA = 2,
  DIRENTS = 3,
  VATTR = 4,
  BMAP = 5,
  INDIR = 7,
  BACK = 9,
  DATABACK = 10,
  EXTATTRS = 12,
  NAME = 16,
}

const KNOWN_TYPES: ReadonlySet<number> = new Set(
  Object.values(HandleType).filter((v): v is number => typeof v === 'number'),
);

export interface Section {
  type: HandleType;
  payload: Uint8Array;
}

/** A section whose payload is written in place, so a body is allocated once. */
export interface SectionWriter {
  type: HandleType;
  payloadBytes: number;
  write(body: Buffer, offset: number): void;
}

/** Total handle length (blobCount) for a payload of `realCount` bytes. */
export function sectionBytes(realCount: number): number {
  return (HANDLE_HEADER_BYTES + realCount + HANDLE_ALIGN - 1) & ~(HANDLE_ALIGN - 1);
}

export function encodeSectionWriters(writers: readonly SectionWriter[]): Buffer {
  let total = 0;
  for (const w of writers) total += sectionBytes(w.payloadBytes);
  const body = Buffer.allocUnsafe(total);
  writeSectionsInto(body, writers);
  return body;
}

/**
 * Write the sections at the start of `body` (which must hold them all): headers, payloads and
 * zeroed padding. A payload writer may leave bytes it does not own untouched, for data that was
 * read into place beforehand (see finishFileSegmentBody).
 */
export function writeSectionsInto(body: Buffer, writers: readonly SectionWriter[]): number {
  let off = 0;
  for (const w of writers) {
    const blobCount = sectionBytes(w.payloadBytes);
    body.writeUInt32LE(HANDLE_MAGIC, off + OFF_MAGIC);
    body.writeUInt32LE(blobCount, off + OFF_BLOB_COUNT);
    body.writeUInt32LE(w.payloadBytes, off + OFF_REAL_COUNT);
    body.writeUInt32LE(w.type, off + OFF_TYPE);
    body.writeUInt32LE(0, off + OFF_RESERVED);
    w.write(body, off + HANDLE_HEADER_BYTES);
    // padding and the reserved word must be 0
    body.fill(0, off + HANDLE_HEADER_BYTES + w.payloadBytes, off + blobCount);
    off += blobCount;
  }
  return off;
}

export function copyWriter(type: HandleType, payload: Uint8Array): SectionWriter {
  return {
    type,
    payloadBytes: payload.length,
    write: (body, offset) => {
      body.set(payload, offset);
    },
  };
}

export function encodeSections(sections: readonly Section[]): Buffer {
  return encodeSectionWriters(sections.map((s) => copyWriter(s.type, s.payload)));
}

/**
 * Splits a body into sections. Payloads are views into `body` (no copy); `offset` is the section
 * header's offset in the body.
 */
export function decodeSections(
  body: Uint8Array,
  blobName: string,
): Array<{ type: HandleType; payload: Buffer; offset: number }> {
  const b = asBuffer(body);
  const out: Array<{ type: HandleType; payload: Buffer; offset: number }> = [];
  let off = 0;
  while (off < b.length) {
    if (b.length - off < HANDLE_HEADER_BYTES) {
      throw formatCorrupt(blobName, off, `truncated handle header (${b.length - off} bytes left)`);
    }
    const magic = b.readUInt32LE(off + OFF_MAGIC);
    if (magic !== HANDLE_MAGIC) {
      throw formatCorrupt(blobName, off, `bad handle magic 0x${magic.toString(16).padStart(8, '0')}`);
    }
    const blobCount = b.readUInt32LE(off + OFF_BLOB_COUNT);
    const realCount = b.readUInt32LE(off + OFF_REAL_COUNT);
    const type = b.readUInt32LE(off + OFF_TYPE);
    if (blobCount !== sectionBytes(realCount)) {
      throw formatCorrupt(blobName, off + OFF_BLOB_COUNT, `blobCount ${blobCount} does not match realCount ${realCount}`);
    }
    if (blobCount > b.length - off) {
      throw formatCorrupt(blobName, off + OFF_BLOB_COUNT, `handle of ${blobCount} bytes overruns the body (${b.length - off} left)`);
    }
    if (!KNOWN_TYPES.has(type)) {
      throw formatCorrupt(blobName, off + OFF_TYPE, `unknown handle type ${type}`);
    }
    const start = off + HANDLE_HEADER_BYTES;
    out.push({ type: type as HandleType, payload: b.subarray(start, start + realCount), offset: off });
    off += blobCount;
  }
  return out;
}
