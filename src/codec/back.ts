/** BACK (handle type 9): the parent directories of a non-directory inode, format.md §5.6. */
import { decodeIdList, encodeIdList } from './id-list.js';

export function encodeBack(parents: readonly Uint8Array[]): Buffer {
  return encodeIdList(parents);
}

export function decodeBack(payload: Uint8Array, blobName: string, offset: number): Buffer[] {
  return decodeIdList(payload, blobName, offset, 'BACK');
}
