/**
 * One 8 MiB data segment of a file (spec §6.5): read at its offset from an open descriptor,
 * framed as DATA + DATABACK, compressed. Pure of run state, so it runs on an encode worker (file
 * descriptors are shared by all threads of the process) or in the main thread.
 */
import { randomBytes } from 'node:crypto';
import { sourceFs } from '../scan/index.js';
import { BLOB_HEADER_BYTES, encodeBlob, encodeBlobInPlace, encodeFileSegmentBody, FILE_SEGMENT_DATA_OFFSET, fileSegmentBodyBytes, finishFileSegmentBody } from '../codec/index.js';
import type { Compression } from '../codec/index.js';
import { FOLDER_TEMP_PREFIX, writeFilesSync } from '../targets/folder-writes.js';
import type { FolderWorkerWrites } from '../targets/folder-target.js';

export interface SegmentJob {
  fd: number;
  /** byte offset in the file; also the DATABACK offset */
  position: number;
  length: number;
  owner: Buffer;
  ctimeSec: number;
}

/**
 * Where the encoding thread stores the segment itself (a folder target, FolderTarget.workerWrites):
 * the blob name; the blob is written to a temp name and renamed, as FolderTarget.put does.
 */
export interface SegmentWrite {
  folder: FolderWorkerWrites;
  name: string;
}

/**
 * A failed read carries the errno code (EIO, ENOENT, ...): the main thread makes it the entry's source error.
 * `written`: the encoding thread stored the blob (SegmentWrite), `bytes` long; a blob it could not
 * write comes back as `blob`, for the caller to put through the target (its errors and retries).
 */
export type SegmentResult =
  | { kind: 'blob'; blob: Buffer; got: number }
  | { kind: 'written'; bytes: number; got: number }
  | { kind: 'error'; message: string; errno: string };

/** This thread's read buffer of the last segment, when it was not handed over with the result. */
let spare: Buffer | undefined;

/**
 * A buffer of exactly `bytes` (so a stored result can be transferred whole): the spare one when it
 * fits, saving the page faults of a fresh 8 MiB buffer per segment. Taken out of `spare` while in use.
 */
function readBuffer(bytes: number): Buffer {
  const kept = spare;
  spare = undefined;
  return kept !== undefined && kept.length === bytes ? kept : Buffer.allocUnsafe(bytes);
}

export function encodeSegment(job: SegmentJob, compression: Compression, write?: SegmentWrite): SegmentResult {
  try {
    // one allocation: the blob header's 4 bytes, then the body, the file data read straight into
    // its place; a stored (incompressible) segment is returned without another copy
    const back = { ctimeSec: job.ctimeSec, offset: BigInt(job.position), owner: job.owner };
    const buf = readBuffer(BLOB_HEADER_BYTES + fileSegmentBodyBytes(job.length, back));
    const dataStart = BLOB_HEADER_BYTES + FILE_SEGMENT_DATA_OFFSET;
    let got = 0;
    while (got < job.length) {
      const n = sourceFs.readSync(job.fd, buf, dataStart + got, job.length - got, job.position + got);
      if (n === 0) break;
      got += n;
    }
    if (got === 0) return { kind: 'blob', blob: Buffer.alloc(0), got };
    if (got < job.length) {
      // the file shrank since the scan: the layout moves, so encode a copy
      return { kind: 'blob', blob: encodeBlob(encodeFileSegmentBody(buf.subarray(dataStart, dataStart + got), back), compression), got };
    }
    finishFileSegmentBody(buf.subarray(BLOB_HEADER_BYTES), got, back);
    if (write !== undefined) {
      // stored from this thread: a compressed blob is a view of the compression scratch (written
      // before the next compression), and both buffers serve the next segment
      const blob = encodeBlobInPlace(buf, compression, true);
      if (writeSegmentBlob(write, blob)) {
        spare = buf;
        return { kind: 'written', bytes: blob.length, got };
      }
      // not written: the caller puts it through the target, which maps or retries the failure
      spare = blob === buf ? undefined : buf;
      return { kind: 'blob', blob: blob === buf ? blob : Buffer.from(blob), got };
    }
    const blob = encodeBlobInPlace(buf, compression);
    // a compressed blob is a copy and the read buffer can serve the next segment; a stored one
    // is the read buffer itself, handed over to the caller
    spare = blob === buf ? undefined : buf;
    return { kind: 'blob', blob, got };
  } catch (err) {
    const e = err as { message?: string; code?: string };
    return { kind: 'error', message: e?.message ?? String(err), errno: e?.code ?? 'EIO' };
  }
}

/** FolderTarget.put's protocol from this thread: a temp name in the folder, then renamed over the blob's name. */
function writeSegmentBlob(write: SegmentWrite, blob: Buffer): boolean {
  const dir = write.folder.dir.endsWith('/') ? write.folder.dir : `${write.folder.dir}/`;
  const tempPath = `${dir}${FOLDER_TEMP_PREFIX}${write.name}.${randomBytes(6).toString('hex')}`;
  return writeFilesSync([{ tempPath, finalPath: dir + write.name, data: blob }], write.folder.fsync) === undefined;
}
