/**
 * Where a file's bytes become blobs. A source entry that is not a directory becomes one inode
 * object (spec §6.1, §6.2, §6.4); a regular file past 16 KiB also becomes 8 MiB data segments
 * (§6.5) and, past 1,023 segments, indirect blocks (§6.7, §7.3). Segments and indirect blocks
 * are stored before the inode that references them (§9.3).
 */
import * as fs from 'node:fs';
import {
  blobName,
  BlockMapBuilder,
  Btype,
  encodeIndirectBody,
  encodeInodeBody,
  FILE_SEGMENT_BYTES,
  fileSegmentCount,
  FIRST_SEGMENT_BYTES,
  INITIAL_VERSION,
} from '../codec/index.js';
import type { EmittedIndirect } from '../codec/index.js';
import { ClfsError } from '../errors/index.js';
import { displayPath, joinPath, sourceError, sourceFs } from '../scan/index.js';
import type { EntryRow } from '../state/index.js';
import { clampWarning, vattrOf } from './attributes.js';
import type { ByteBudget } from './byte-budget.js';
import type { LoadRun } from './load-run.js';
import type { SegmentResult } from './segment-encoder.js';
import { fileBmap, transferInodeName } from './single-object.js';

/** The file is not the one the scan saw (size or mtime): read it again with fresh attributes. */
export class SourceChanged extends Error {
  constructor(readonly path: Buffer) {
    super(`${displayPath(path)}: changed while it was read`);
  }
}

export function entryPath(parent: EntryRow, row: EntryRow): Buffer {
  return joinPath(parent.path!, row.name);
}

function clampWarner(run: LoadRun, path: Buffer): (which: string) => void {
  return (which) => run.log.warn(clampWarning(path, which));
}

/**
 * Write a regular file of any size: segments streamed one at a time under the byte budget,
 * indirect blocks as they flush, then the inode. Memory per file: the inline 16 KiB, the
 * segments in flight, and one open indirect block per tree level.
 */
export async function writeSegmentedFile(run: LoadRun, row: EntryRow, parent: EntryRow, budget: ByteBudget): Promise<number> {
  const path = entryPath(parent, row);
  const previousSegments = row.plannedSegments;
  run.db.setWriting(row.id, Math.max(fileSegmentCount(row.sizeBytes), previousSegments));
  let handle: fs.promises.FileHandle;
  try {
    handle = await sourceFs.promises.open(path, 'r');
  } catch (err) {
    throw sourceError(path, err);
  }
  const clamp = clampWarner(run, path);
  const vattr0 = vattrOf(row, run.identity, { sizeBytes: 0n, nlink: 1 }, clamp);
  const ctimeSec = vattr0.ctime.sec;
  const builder = new BlockMapBuilder(row.fh, run.ids.indirectIds(row.fh, row.gen));
  const progress = new SegmentProgressTracker(run, row);
  const inflight: Array<Promise<void>> = [];
  let failure: unknown;
  const track = (p: Promise<void>) => {
    p.catch((err) => {
      failure ??= err;
    });
    inflight.push(p);
  };
  const storeIndirect = (blocks: EmittedIndirect[]) => {
    for (const b of blocks) {
      const body = encodeIndirectBody(b.pointers, { ctimeSec, offset: b.databackOffset, owner: row.fh });
      track(run.queuePut(blobName(b.id, Btype.INDIRECT, row.fh, INITIAL_VERSION), body));
    }
  };
  let inline: Buffer;
  let total = 0;
  let segments = 0;
  /** the highest segment a worker stored after the file turned out to end before it (0: none) */
  let writtenPast = 0;
  // segments are read, framed and compressed on the encode workers, a few at a time per file,
  // and stored in order of completion; the byte budget bounds what is in memory
  const window = Math.max(2, run.encoders.size * 2);
  try {
    inline = Buffer.allocUnsafe(FIRST_SEGMENT_BYTES);
    const first = await readFully(handle, inline, 0, Math.min(FIRST_SEGMENT_BYTES, row.sizeBytes), path);
    inline = inline.subarray(0, first);
    total = first;
    let ended = first < FIRST_SEGMENT_BYTES;
    const stored = ended ? 0 : await progress.start(handle, path);
    if (stored > 0) {
      // an interrupted attempt stored segments 1..stored of this very file: its block map is
      // rebuilt from their deterministic ids, and the indirect blocks they filled are put again
      for (let k = 1; k <= stored; k++) storeIndirect(builder.add(run.ids.segmentId(row.fh, k)));
      segments = stored;
      total = Math.min(row.sizeBytes, first + stored * FILE_SEGMENT_BYTES);
      run.stats.bytesDone += total - first;
      run.log.info(`${displayPath(path)}: resuming from segment ${stored + 1} of ${fileSegmentCount(row.sizeBytes)} (${stored} stored by an interrupted run)`);
    }
    while (!ended && total < row.sizeBytes && failure === undefined && !run.stopping) {
      const batch: Array<{ k: number; want: number; id: Buffer; name: string; result: Promise<SegmentResult> }> = [];
      for (let position = total; batch.length < window && position < row.sizeBytes; ) {
        const want = Math.min(FILE_SEGMENT_BYTES, row.sizeBytes - position);
        // wait only for the first segment of a batch: waiting while holding budget for segments
        // not yet consumed would deadlock with other files doing the same
        if (batch.length === 0) await budget.acquire(want);
        else if (!budget.tryAcquire(want)) break;
        const k = segments + batch.length + 1;
        const id = run.ids.segmentId(row.fh, k, row.gen);
        const name = blobName(id, Btype.SEGMENT, row.fh, INITIAL_VERSION);
        // into a folder the worker stores the segment itself (the same temp name and rename as a put)
        batch.push({ k, want, id, name, result: run.encoders.segment({ fd: handle.fd, position, length: want, owner: row.fh, ctimeSec }, run.folder === undefined ? undefined : name) });
        position += want;
      }
      for (const { k, want, id, name, result } of batch) {
        const r = await result;
        if (r.kind === 'error') {
          budget.release(want);
          failure ??= sourceError(path, Object.assign(new Error(r.message), { code: r.errno }));
          continue;
        }
        if (ended || r.got === 0) {
          // a segment past the end the worker stored anyway is removed with the leftovers below
          if (r.kind === 'written') writtenPast = Math.max(writtenPast, k);
          budget.release(want);
          ended = true;
          continue;
        }
        segments = k;
        track(
          (r.kind === 'written' ? run.workerWrote(name, r.bytes) : run.queuePutBlob(name, r.blob))
            .then(() => progress.stored(k))
            .finally(() => budget.release(want)),
        );
        storeIndirect(builder.add(id));
        total += r.got;
        run.stats.bytesDone += r.got;
        if (r.got < want) ended = true; // the file shrank since the scan
      }
      // keep the number of tracked promises per file bounded
      if (inflight.length > 64) await Promise.allSettled(inflight.splice(0, inflight.length - 8));
      // recorded beside the segments, not before the next ones: the flush it waits for syncs
      // everything written so far, and a loop that waited on it left the workers idle meanwhile
      if (failure === undefined && !run.stopping) track(progress.recordIfDue());
    }
    if (failure === undefined && !run.stopping) {
      // the bytes read are the file the scan saw only if its size and mtime still match: a file
      // written while it was read is neither stored truncated nor mixed (the caller retries it)
      const st = await handle.stat({ bigint: true });
      const scanMtime = BigInt(row.mtimeSec) * 1_000_000_000n + BigInt(row.mtimeNsec);
      if (st.size !== BigInt(total) || total !== row.sizeBytes || st.mtimeNs !== scanMtime) failure = new SourceChanged(path);
    }
  } finally {
    await Promise.allSettled(inflight);
    await handle.close().catch(() => undefined);
  }
  const finished = builder.finish();
  storeIndirect(finished.emitted);
  await Promise.allSettled(inflight);
  if (failure !== undefined) throw failure;
  if (run.stopping) throw new ClfsError('E_ABORTED', 'stopped before the file was complete');
  const vattr = vattrOf(row, run.identity, { sizeBytes: BigInt(total), nlink: 1 }, () => undefined);
  const bmap = fileBmap(finished.direct, finished.treeRoots);
  const body = encodeInodeBody({ vattr, bmap, back: [parent.fh], name: row.name, data: inline });
  await run.queuePut(transferInodeName(row, parent.fh, run.identity), body);
  progress.finished();
  await deleteLeftoverSegments(run, row.fh, segments, Math.max(previousSegments, writtenPast), row.gen);
  run.stats.bytesDone += inline.length;
  return total;
}

/** How often a file being written records how far its segments are stored (each record may cost the target a sync). */
const PROGRESS_EVERY_MS = 1000;

function nsOf(sec: number, nsec: number): bigint {
  return BigInt(sec) * 1_000_000_000n + BigInt(nsec);
}

/**
 * Which segments of one file are stored, as the longest run from the first (puts complete out of
 * order), recorded in the state now and then so that a resume continues after it instead of
 * reading the whole file again. Only a file that was, when opened, the one the scan saw (size,
 * mtime, ctime) records anything: the segments were read with the scan's attributes, and a
 * resume trusts them only when the file still has those same attributes.
 */
class SegmentProgressTracker {
  private contiguous = 0;
  private readonly ahead = new Set<number>();
  private recorded = 0;
  private lastRecord = Date.now();
  private enabled = false;
  private hadRow = false;
  /** a record (its flush, then its row) is under way */
  private recording = false;

  constructor(
    private readonly run: LoadRun,
    private readonly row: EntryRow,
  ) {}

  private get identity() {
    const r = this.row;
    return { sizeBytes: r.sizeBytes, mtimeNs: nsOf(r.mtimeSec, r.mtimeNsec), ctimeNs: nsOf(r.ctimeSec, r.ctimeNsec) };
  }

  /** Check the open file against the scan and any recorded progress; returns how many segments need not be written again. */
  async start(handle: fs.promises.FileHandle, path: Buffer): Promise<number> {
    const st = await handle.stat({ bigint: true });
    const want = this.identity;
    this.enabled = st.size === BigInt(want.sizeBytes) && st.mtimeNs === want.mtimeNs && st.ctimeNs === want.ctimeNs;
    const p = this.run.db.segmentProgress(this.row.id);
    if (p === undefined) return 0;
    this.hadRow = true;
    const same =
      this.enabled && p.fh.equals(this.row.fh) && p.sizeBytes === want.sizeBytes && p.mtimeNs === want.mtimeNs && p.ctimeNs === want.ctimeNs && p.segments <= fileSegmentCount(want.sizeBytes);
    if (!same) {
      if (p.segments > 0 && p.fh.equals(this.row.fh)) this.run.log.info(`${displayPath(path)}: changed since ${p.segments} of its segments were stored; writing it from the start`);
      this.run.db.clearSegmentProgress(this.row.id);
      this.hadRow = false;
      return 0;
    }
    this.contiguous = this.recorded = p.segments;
    return p.segments;
  }

  /** Segment k's put resolved. */
  stored(k: number): void {
    this.ahead.add(k);
    while (this.ahead.delete(this.contiguous + 1)) this.contiguous += 1;
  }

  /**
   * Record the contiguous run stored so far, when a record is due and none is under way. The
   * caller need not wait for it, but must let it settle before finished() (the writer awaits
   * every promise it tracked before storing the inode).
   */
  recordIfDue(): Promise<void> {
    if (this.recording || !this.enabled || this.contiguous <= this.recorded || Date.now() - this.lastRecord < PROGRESS_EVERY_MS) return Promise.resolve();
    this.recording = true;
    return this.record(this.contiguous).finally(() => {
      this.recording = false;
    });
  }

  private async record(segments: number): Promise<void> {
    // what the state records as stored must survive a power loss (the folder target syncs)
    await this.run.durable();
    this.run.db.setSegmentProgress({ id: this.row.id, fh: this.row.fh, ...this.identity, segments });
    this.recorded = segments;
    this.hadRow = true;
    this.lastRecord = Date.now();
  }

  /** The inode is stored: nothing is left to resume. */
  finished(): void {
    if (this.hadRow) this.run.db.clearSegmentProgress(this.row.id);
  }
}

/**
 * After a redo wrote fewer segments than an interrupted attempt, remove the attempt's extra
 * segments and indirect blocks (their ids are deterministic, so their names are known).
 */
export async function deleteLeftoverSegments(run: LoadRun, owner: Buffer, nowSegments: number, previousSegments: number, gen = 0): Promise<void> {
  for (const name of segmentNames(run, owner, nowSegments, previousSegments, gen)) await run.deleteBlob(name);
}

/** Names of segments nowSegments+1..previousSegments of generation `gen`, and of the indirect blocks only the larger count emits. */
export function segmentNames(run: Pick<LoadRun, 'ids'>, owner: Buffer, nowSegments: number, previousSegments: number, gen = 0): string[] {
  const names: string[] = [];
  if (previousSegments <= nowSegments) return names;
  for (let k = nowSegments + 1; k <= previousSegments; k++) {
    names.push(blobName(run.ids.segmentId(owner, k, gen), Btype.SEGMENT, owner, INITIAL_VERSION));
  }
  const before = indirectCount(previousSegments);
  for (let n = indirectCount(nowSegments); n < before; n++) {
    names.push(blobName(run.ids.indirectId(owner, n, gen), Btype.INDIRECT, owner, INITIAL_VERSION));
  }
  return names;
}

/** How many indirect blocks the block map of `segments` segments emits. */
export function indirectCount(segments: number): number {
  let n = 0;
  const b = new BlockMapBuilder(Buffer.alloc(24), () => {
    n += 1;
    return Buffer.alloc(16);
  });
  const dummy = Buffer.alloc(16);
  for (let k = 0; k < segments; k++) b.add(dummy);
  b.finish();
  return n;
}

async function readFully(handle: fs.promises.FileHandle, buf: Buffer, position: number, length: number, path: Buffer): Promise<number> {
  let got = 0;
  try {
    while (got < length) {
      const { bytesRead } = await handle.read(buf, got, length - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
  } catch (err) {
    throw sourceError(path, err);
  }
  return got;
}
