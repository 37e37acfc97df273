/** DATA (handle type 2): inline file bytes, segment bytes or symlink target (format.md §5.8). */
import { decodeLengthPrefixed, encodeLengthPrefixed } from './length-prefixed.js';

export function encodeDataSection(data: Uint8Array): Buffer {
  return encodeLengthPrefixed(data);
}

/** A view into `payload` (no copy: segments are 8 MiB). */
export function decodeDataSection(payload: Uint8Array, blobName: string, offset: number): Buffer {
  return decodeLengthPrefixed(payload, blobName, offset, 'DATA');
}
