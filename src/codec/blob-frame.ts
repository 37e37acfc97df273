/**
 * The 4-byte blob header and body (format.md §4): u16le encryption type (always 0) and u16le
 * compression type (0 = body stored verbatim, 1 = one LZ4 frame follows).
 */
import { ClfsError, formatCorrupt } from '../errors/index.js';
import { lz4FrameCompressAt, lz4FrameDecompress } from './lz4-frame.js';

export type Compression = 'lz4' | 'disabled';

export const BLOB_HEADER_BYTES = 4;
const ENCRYPTION_NONE = 0;
const COMPRESSION_STORED = 0;
const COMPRESSION_LZ4 = 1;
const COMPRESSION_OFFSET = 2;

/**
 * 4-byte header + LZ4 frame, or + the body verbatim: with 'lz4', the stored form is chosen exactly
 * by the reference's fallback rules (format.md §4.3), applied to our blocks.
 */
export function encodeBlob(body: Uint8Array, compression: Compression): Buffer {
  const compressed = compression === 'lz4' ? lz4Blob(body) : undefined;
  if (compressed !== undefined) return compressed;
  const blob = Buffer.allocUnsafe(BLOB_HEADER_BYTES + body.length);
  blob.set(body, BLOB_HEADER_BYTES);
  return writeHeader(blob, COMPRESSION_STORED);
}

/** The LZ4 form with its header, or undefined where the reference stores the body (§4.3). */
function lz4Blob(body: Uint8Array, borrow = false): Buffer | undefined {
  const blob = lz4FrameCompressAt(body, BLOB_HEADER_BYTES, borrow);
  return blob === undefined ? undefined : writeHeader(blob, COMPRESSION_LZ4);
}

function writeHeader(blob: Buffer, compressionType: number): Buffer {
  blob.writeUInt16LE(ENCRYPTION_NONE, 0);
  blob.writeUInt16LE(compressionType, COMPRESSION_OFFSET);
  return blob;
}

/**
 * encodeBlob for a body that sits at offset 4 of `withHeadroom` (the caller left 4 bytes in
 * front): the stored form is then written in place, without copying an 8 MiB segment again.
 * With `borrow`, an LZ4 result is a view into this thread's compression scratch buffer, valid only
 * until the next compression in this thread (the same bytes, not copied out).
 */
export function encodeBlobInPlace(withHeadroom: Buffer, compression: Compression, borrow = false): Buffer {
  const compressed = compression === 'lz4' ? lz4Blob(withHeadroom.subarray(BLOB_HEADER_BYTES), borrow) : undefined;
  return compressed ?? writeHeader(withHeadroom, COMPRESSION_STORED);
}

function readHeader(blob: Uint8Array, blobName: string): number {
  if (blob.length < BLOB_HEADER_BYTES) {
    throw formatCorrupt(blobName, blob.length, `blob of ${blob.length} bytes is shorter than its 4-byte header`);
  }
  const encryption = blob[0]! | (blob[1]! << 8);
  if (encryption !== ENCRYPTION_NONE) {
    // format.md §4.1: types 1 and 2 are defined but never produced, and the reader rejects them.
    throw new ClfsError('E_FORMAT_UNSUPPORTED', `${blobName}: encryption type ${encryption} at byte 0 is not supported (only 0, none)`, {
      subject: blobName,
      offset: 0,
    });
  }
  const compression = blob[2]! | (blob[3]! << 8);
  if (compression !== COMPRESSION_STORED && compression !== COMPRESSION_LZ4) {
    throw new ClfsError(
      'E_FORMAT_UNSUPPORTED',
      `${blobName}: compression type ${compression} at byte ${COMPRESSION_OFFSET} is not supported (0 stored, 1 LZ4)`,
      { subject: blobName, offset: COMPRESSION_OFFSET },
    );
  }
  return compression;
}

/**
 * Checks the header and returns the body. A stored body is a view into `blob` (no copy).
 * Throws E_FORMAT_CORRUPT / E_FORMAT_UNSUPPORTED naming the blob and the byte offset.
 */
export function decodeBlob(blob: Uint8Array, blobName: string): Buffer {
  const compression = readHeader(blob, blobName);
  const rest = blob.subarray(BLOB_HEADER_BYTES);
  if (compression === COMPRESSION_STORED) {
    return Buffer.from(rest.buffer, rest.byteOffset, rest.byteLength);
  }
  return lz4FrameDecompress(rest, blobName, BLOB_HEADER_BYTES);
}

/** Whether the blob starts with the LZ4 header `00 00 01 00`; never throws (decodeBlob checks the rest). */
export function blobIsCompressed(blob: Uint8Array): boolean {
  return blob.length >= BLOB_HEADER_BYTES && blob[0] === 0 && blob[1] === 0 && blob[2] === COMPRESSION_LZ4 && blob[3] === 0;
}
