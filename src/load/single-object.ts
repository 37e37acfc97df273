/**
 * Encoding of one-object entries (files ≤ 16 KiB, symlinks, devices, fifos, sockets) from their
 * stored lstat: read the bytes, build the inode, compress. Pure of run state, so it runs either in
 * the main thread or in an encode worker (`encode-worker.ts`).
 */
import { blobName, encodeBlob, encodeInodeBody, FILE_SEGMENT_BYTES, FIRST_SEGMENT_BYTES, Ftype, ftypeToBtype, INITIAL_VERSION, INPROGRESS_ID } from '../codec/index.js';
import type { Bmap, Compression } from '../codec/index.js';
import { errorToJson } from '../errors/index.js';
import type { ClfsErrorJson } from '../errors/index.js';
import { joinPath, sourceError, sourceFaults, sourceFs } from '../scan/index.js';
import { errnoError } from '../targets/native-addon.js';
import type { NativeSmallFileIo } from '../targets/native-addon.js';
import { writeFilesSync } from '../targets/folder-writes.js';
import type { LeanPut } from '../targets/lean-put.js';
import type PQueue from 'p-queue';
import type { FolderWorkerWrites } from '../targets/folder-target.js';
import type { EntryRow, SingleObjectRow, TransferIdentity } from '../state/index.js';
import { clampWarning, vattrOf } from './attributes.js';

export interface SingleObjectJob {
  row: EntryRow;
  parentFh: Buffer;
  parentPath: Buffer;
}

export type SingleObjectResult =
  /**
   * `written`: stored already, by the thread that encoded it (writeRangeBlobs); `blob` is then
   * empty and `bytes` its length
   */
  | { kind: 'blob'; name: string; blob: Buffer; writtenSize: number; warnings: string[] | undefined; written?: boolean; bytes?: number }
  /** grew past 16 KiB, or changed, since the scan: take the segmented path (which checks and retries) */
  | { kind: 'segmented' }
  /** the entry failed: its ClfsError as data, rebuilt with its code on the main thread */
  | { kind: 'error'; error: ClfsErrorJson };

const SMALL_READ = FIRST_SEGMENT_BYTES + 1;

/**
 * Read a small file whole; `undefined` when it has grown past 16 KiB, 'changed' when it is not
 * the file the scan saw (size or mtime differ after the read): it was written while it was read,
 * or since the scan, and the segmented path retries it with fresh attributes.
 */
function readSmallFile(path: Buffer, scratch: Buffer, row: EntryRow): Buffer | undefined | 'changed' {
  if (nativeRead !== undefined && sourceFaults() === undefined) {
    // open, read to the end, fstat and close in one call (a fault plan's seam is sourceFs: not here)
    const got = nativeRead(path, scratch, readStat);
    if (got < 0) {
      const call = READ_CALLS[readStat[3]!] ?? 'open';
      throw errnoError(got, call, call === 'open' ? path : undefined);
    }
    if (got === SMALL_READ) return undefined;
    if (readStat[0] !== got || got !== row.sizeBytes || readStat[1] !== row.mtimeSec || readStat[2] !== row.mtimeNsec) return 'changed';
    return scratch.subarray(0, got);
  }
  const fd = sourceFs.openSync(path, 'r');
  try {
    let got = 0;
    for (;;) {
      const n = sourceFs.readSync(fd, scratch, got, SMALL_READ - got, null);
      if (n === 0) break;
      got += n;
      if (got === SMALL_READ) return undefined;
    }
    const st = sourceFs.fstatSync(fd, { bigint: true });
    if (st.size !== BigInt(got) || got !== row.sizeBytes || st.mtimeNs !== BigInt(row.mtimeSec) * 1_000_000_000n + BigInt(row.mtimeNsec)) return 'changed';
    return scratch.subarray(0, got);
  } finally {
    sourceFs.closeSync(fd);
  }
}

let nativeRead: NativeSmallFileIo['readSmall'] | undefined;
/** readSmall's stat out: size, mtime s, mtime ns, and which call failed */
const readStat = new Float64Array(4);
const READ_CALLS = ['open', 'open', 'read', 'fstat', 'close'];

/**
 * Read small files in this thread with the addon's one-call readSmall (native-addon.ts,
 * nativeFileFunctions), or with sourceFs's calls again (undefined). Set per thread; a source
 * fault plan (tests) always takes sourceFs's calls.
 */
export function setNativeSmallReads(fn: NativeSmallFileIo['readSmall'] | undefined): void {
  nativeRead = fn;
}

/** The inode's name during transfer: owner = parent, or the in-progress owner when it will be reconciled (§3.4). */
export function transferInodeName(row: EntryRow, parentFh: Buffer, identity: TransferIdentity): string {
  // shards that share a hard-linked inode's handle write its in-progress copy at a version of their own
  const version = row.reconcile ? (identity.inprogressVersion ?? INITIAL_VERSION) : INITIAL_VERSION;
  return blobName(row.fh, ftypeToBtype(row.ftype), row.reconcile ? INPROGRESS_ID : parentFh, version);
}

/** BMAP of a non-directory (spec §5.4): slot 0 is the inode itself, then its segments. */
export function fileBmap(direct: Buffer[], treeRoots: Array<Buffer | undefined> = [undefined, undefined, undefined, undefined]): Bmap {
  return { firstSegmentBytes: FIRST_SEGMENT_BYTES, otherSegmentBytes: FILE_SEGMENT_BYTES, direct, treeRoots };
}

export class SingleObjectEncoder {
  private readonly scratch = Buffer.allocUnsafe(SMALL_READ);

  constructor(
    private readonly identity: TransferIdentity,
    private readonly compression: Compression,
  ) {}

  encode(job: SingleObjectJob): SingleObjectResult {
    const { row, parentFh } = job;
    const path = joinPath(job.parentPath, row.name);
    // made only for a clamped time: an empty array per result was one more object to clone
    let warnings: string[] | undefined;
    try {
      let data: Buffer | undefined;
      let sizeBytes: bigint;
      try {
        if (row.ftype === Ftype.REG) {
          const read = readSmallFile(path, this.scratch, row);
          if (read === undefined || read === 'changed') return { kind: 'segmented' };
          data = read;
          sizeBytes = BigInt(data.length);
        } else if (row.ftype === Ftype.LNK) {
          data = sourceFs.readlinkSync(path as unknown as string, { encoding: 'buffer' }) as unknown as Buffer;
          // Deliberate difference (docs/format.md §9): the target's byte length; the reference
          // stores its character count, which cuts non-ASCII targets short.
          sizeBytes = BigInt(data.length);
        } else {
          sizeBytes = BigInt(row.sizeBytes);
        }
      } catch (err) {
        throw sourceError(path, err);
      }
      const vattr = vattrOf(row, this.identity, { sizeBytes, nlink: 1 }, (which) => (warnings ??= []).push(clampWarning(path, which)));
      const body = encodeInodeBody({
        vattr,
        bmap: fileBmap([row.fh]),
        back: [parentFh],
        name: row.name,
        data,
      });
      return { kind: 'blob', name: transferInodeName(row, parentFh, this.identity), blob: encodeBlob(body, this.compression), writtenSize: Number(sizeBytes), warnings };
    } catch (err) {
      return { kind: 'error', error: errorToJson(err) };
    }
  }
}

/** What the transfer needs back about each entry of a range, with its encoding. */
export type RangeResult = SingleObjectResult & { id: number; parentId: number; ftype: number; reconcile: number };

export interface SingleObjectSource {
  singleObjectRows(firstId: number, lastId: number): SingleObjectRow[];
}

/**
 * Read the pending one-object entries with ids in [first, last] from the state and encode them.
 * Run on an encode worker, this keeps row reading and its garbage off the main thread, which
 * only hands out id ranges (issue 7: row objects and their structured clones to the workers were
 * a fifth of the main thread's time on small files).
 */
export function encodeRange(source: SingleObjectSource, encoder: SingleObjectEncoder, firstId: number, lastId: number): RangeResult[] {
  // the row's fields set on encode's own result, not spread into a copy: the spread of results
  // of three shapes cost more than the inode's framing (6.6 µs a file on the bench tree)
  return source.singleObjectRows(firstId, lastId).map((row) => {
    const r = encoder.encode({ row, parentFh: row.parentFh, parentPath: row.parentPath }) as RangeResult;
    r.id = row.id;
    r.parentId = row.parentId!;
    r.ftype = row.ftype;
    r.reconcile = row.reconcile;
    return r;
  });
}

/**
 * Write a range's blobs into a folder target from this thread, in place and in order (as the
 * folder's putMany does), and mark each one written, its bytes dropped so they are not copied
 * back. At the first failure the rest keep their bytes, unwritten: the main thread stores them
 * through the target, which maps the failure to its error (and stops the run if it must), so a
 * write here never decides an entry's fate.
 */
export function writeRangeBlobs(results: RangeResult[], folder: FolderWorkerWrites): void {
  const blobs: Array<RangeResult & { kind: 'blob' }> = [];
  for (const r of results) if (r.kind === 'blob' && isPlainName(r.name)) blobs.push(r);
  if (blobs.length === 0) return;
  const dir = folder.dir.endsWith('/') ? folder.dir : `${folder.dir}/`;
  const failure = writeFilesSync(
    blobs.map((b) => ({ finalPath: dir + b.name, data: b.blob })),
    folder.fsync,
  );
  const written = failure === undefined ? blobs.length : failure.index;
  for (let i = 0; i < written; i++) {
    const b = blobs[i]!;
    b.written = true;
    b.bytes = b.blob.length;
    // no buffer at all, not an empty one: each would be one more object to clone and rebuild
    // on the main thread (EncoderPool puts an empty one back there); set to undefined, not
    // deleted: a deleted property leaves a slow object, which cloned at about twice the cost
    (b as { blob?: Buffer }).blob = undefined;
  }
}

/**
 * Put a range's blobs into an Azure container from this thread (an encode worker's own LeanPut,
 * AzureTarget.workerPuts), through `queue` (as many at a time as the thread has sockets), and
 * mark each one that the service
 * acknowledged written, its bytes dropped. A put that fails, for whatever reason (a throttled
 * request, a refusal, the signal), keeps its bytes, and so does every put not yet sent once the
 * signal is aborted: the main thread puts them again through the target, whose retries and error
 * mapping decide, so a put here never decides an entry's fate either. `onFailure` is called at
 * the first failure (the worker then aborts its other puts, so that a refused SAS is not sent
 * again and again). True when every put went through.
 *
 * The queue, not the socket pool's own: the pool sends its next request the moment an answer
 * arrives, before the caller learns that the answer was a refusal, where the queue starts the
 * next put only once the last one's outcome has been handled here (onFailure included), so a
 * failure stops this thread's puts before another is sent.
 */
export async function putRangeBlobs(results: RangeResult[], lean: LeanPut, queue: PQueue, signal: AbortSignal, onFailure: () => void): Promise<boolean> {
  const blobs: Array<RangeResult & { kind: 'blob' }> = [];
  for (const r of results) if (r.kind === 'blob') blobs.push(r);
  let failed = false;
  await Promise.all(
    blobs.map((b) =>
      queue.add(async () => {
        try {
          if (signal.aborted) throw signal.reason;
          await lean.put(b.name, b.blob, signal);
          b.written = true;
          b.bytes = b.blob.length;
          (b as { blob?: Buffer }).blob = undefined;
        } catch {
          if (!failed) onFailure();
          failed = true;
        }
      }),
    ),
  );
  return !failed;
}

/** A name the folder target would accept as a file name (anything else goes through the target, which refuses it). */
function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.startsWith('.clfsload-tmp-') && !/[/\\\0]/.test(name);
}
