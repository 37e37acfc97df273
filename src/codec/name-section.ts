/** NAME (handle type 16): the object's name where it was first found, raw bytes (format.md §5.10). */
import { decodeLengthPrefixed, encodeLengthPrefixed } from './length-prefixed.js';

export function encodeNameSection(name: Uint8Array): Buffer {
  return encodeLengthPrefixed(name);
}

export function decodeNameSection(payload: Uint8Array, blobName: string, offset: number): Buffer {
  return Buffer.from(decodeLengthPrefixed(payload, blobName, offset, 'NAME'));
}
