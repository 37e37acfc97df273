/** The messages between DirLister (dir-lister.ts) and its threads (dir-lister-worker.ts). */

/** lstat fields per child in ListChunk.fields: mode uid gid size mtimeNs ctimeNs atimeNs ino dev rdev nlink */
export const FIELDS = 11;

export interface ListRequest {
  id: number;
  /** the directory's path bytes as latin1 (one character per byte) */
  path: string;
}

export interface ListChunk {
  id: number;
  done: boolean;
  count: number;
  names: ArrayBuffer;
  nameEnds: Uint32Array;
  fields: BigInt64Array;
  hints: Uint8Array;
  errorAt: Int32Array;
  errors: Array<{ code?: string; message: string }>;
  /** the directory could not be opened or listed: nothing of it is of use */
  dirError?: { code?: string; message: string };
}

