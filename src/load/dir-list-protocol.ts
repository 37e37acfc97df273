/** The messages between DirLister (dir-lister.ts) and its threads (dir-lister-worker.ts). */

/** lstat fields per child in ListChunk.fields: mode uid gid size mtimeNs ctimeNs atimeNs ino dev rdev nlink */
export const FIELDS = 11;

/**
 * Slots of the Int32Array over the lister's shared control buffer (workerData.control), through
 * which the caller paces streamed listings (DirLister.stream) while a thread is in its
 * synchronous listing loop and reads no messages:
 * - TICK: bumped by the caller on every change of the other slots (the threads wait on it)
 * - FLOOR: streamed listings with a lower id are abandoned (the caller will not read them)
 * - ACTIVE: the id of the streamed listing the caller reads now
 * - CONSUMED: chunks of ACTIVE the caller has read
 */
export const CONTROL_SLOTS = 4;
export const TICK = 0;
export const FLOOR = 1;
export const ACTIVE = 2;
export const CONSUMED = 3;

export interface ListRequest {
  id: number;
  /** the directory's path bytes as latin1 (one character per byte) */
  path: string;
  /**
   * Chunks the thread may send beyond those the caller has read (a streamed listing), or -1: the
   * whole listing at once (DirLister.start).
   */
  ahead: number;
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
  /** a streamed listing abandoned on the caller's word (its id fell below FLOOR) */
  abandoned?: boolean;
}
