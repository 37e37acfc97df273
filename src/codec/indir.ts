/** INDIR (handle type 7): the pointers of an indirect block, all 16-byte ids (format.md §5.5). */
import { decodeIdList, encodeIdList } from './id-list.js';
import { OBCACHE_ID_BYTES } from './ids.js';

export function encodeIndir(pointers: readonly Uint8Array[]): Buffer {
  return encodeIdList(pointers);
}

export function decodeIndir(payload: Uint8Array, blobName: string, offset: number): Buffer[] {
  return decodeIdList(payload, blobName, offset, 'INDIR', OBCACHE_ID_BYTES);
}
