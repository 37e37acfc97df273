/**
 * A scanned directory whose children are all finished becomes objects (spec §6.3, §6.6):
 * the entry stream `.`, `..`, then the children in readdir order, packed into the inline
 * DIRENTS piece and 256 KiB directory segments; segments first, then the inode.
 * Children that failed are left out (the reference keeps a dirent that points at nothing).
 */
import {
  blobName,
  BlockMapBuilder,
  Btype,
  DIR_SEGMENT_BYTES,
  DirentPacker,
  dirSegmentOffset,
  encodeDirSegmentBody,
  encodeIndirectBody,
  encodeInodeBody,
  FIRST_SEGMENT_BYTES,
  Ftype,
  INITIAL_VERSION,
  ROOT_ID,
} from '../codec/index.js';
import type { EmittedIndirect } from '../codec/index.js';
import { EntryState, FINISHED_STATES, STORED_STATES } from '../state/index.js';
import type { ChildRow, EntryRow } from '../state/index.js';
import { clampWarning, vattrOf } from './attributes.js';
import { deleteLeftoverSegments } from './file-writer.js';
import type { LoadRun } from './load-run.js';

const PAGE = 2000;
const FINISHED: ReadonlySet<EntryState> = new Set(FINISHED_STATES);

/** Thrown when a directory claimed as ready still has an unfinished child: its count was wrong. */
export class NotReadyYet extends Error {
  constructor(readonly dirId: number) {
    super(`directory row ${dirId} has an unfinished child`);
  }
}
/**
 * Segment and indirect puts of one directory in flight at once: each holds its body (up to
 * 256 KiB) until it is stored. Queuing them all at once held a huge directory's whole entry
 * stream in memory (197 MiB peak RSS at 1M entries, 385 MiB at 4M).
 */
const PUTS_IN_FLIGHT = 32;

export function rootExtattrs(run: LoadRun): Array<[string, string]> {
  return [
    ['containeridEpoch', '2'],
    ['massUUID', run.identity.massUuid],
    ['wipeEpoch', run.identity.wipeEpoch],
  ];
}

/** The name the root has until finalize (spec §3.6). */
export function tmpRootName(): string {
  return blobName(ROOT_ID, Btype.DIR, ROOT_ID, INITIAL_VERSION, { tmp: true });
}

export async function writeDirectory(run: LoadRun, dir: EntryRow): Promise<void> {
  const isRoot = dir.parentId === null;
  const parent = isRoot ? dir : run.dirRow(dir.parentId!);
  const previousSegments = dir.plannedSegments;
  const packer = new DirentPacker(dir.fh, parent.fh);
  const vattr0 = vattrOf(dir, run.identity, { sizeBytes: 0n, nlink: 2 }, () => undefined);
  const ctimeSec = vattr0.ctime.sec;
  const builder = new BlockMapBuilder(dir.fh, run.ids.indirectIds(dir.fh));
  const inflight = new Set<Promise<void>>();
  let failure: { reason: unknown } | undefined;
  const track = (put: Promise<void>) => {
    const settled: Promise<void> = put.then(
      () => void inflight.delete(settled),
      (reason: unknown) => {
        inflight.delete(settled);
        failure ??= { reason };
      },
    );
    inflight.add(settled);
  };
  /** Wait until fewer than limit puts are in flight; after a failure, for all of them, then throw it. */
  const drain = async (limit: number) => {
    while (inflight.size >= limit) await Promise.race(inflight);
    if (failure !== undefined) {
      await Promise.all(inflight);
      throw failure.reason;
    }
  };
  let piece0: Buffer | undefined;
  let segments = 0;
  let childDirs = 0;
  const storeIndirect = (blocks: EmittedIndirect[]) => {
    for (const b of blocks) {
      const body = encodeIndirectBody(b.pointers, { ctimeSec, offset: b.databackOffset, owner: dir.fh });
      track(run.queuePut(blobName(b.id, Btype.INDIRECT, dir.fh, INITIAL_VERSION), body));
    }
  };
  const closePiece = (piece: Buffer) => {
    if (piece0 === undefined) {
      piece0 = piece;
      return;
    }
    segments += 1;
    const id = run.ids.segmentId(dir.fh, segments);
    const body = encodeDirSegmentBody(piece, { ctimeSec, offset: BigInt(dirSegmentOffset(segments)), owner: dir.fh });
    track(run.queuePut(blobName(id, Btype.SEGMENT, dir.fh, INITIAL_VERSION), body));
    storeIndirect(builder.add(id));
  };
  let after = 0;
  for (;;) {
    const rows = run.db.children(dir.id, after, PAGE);
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    for (const child of rows) {
      if (!childIncluded(child)) {
        if (!FINISHED.has(child.state)) throw new NotReadyYet(dir.id);
        continue;
      }
      if (child.ftype === Ftype.DIR) childDirs += 1;
      const closed = packer.add(child.name, child.fh);
      if (closed !== undefined) closePiece(closed);
    }
    await drain(PUTS_IN_FLIGHT);
    // a short page is the last one: no query more to learn that
    if (rows.length < PAGE) break;
  }
  const last = packer.finish();
  closePiece(last);
  const finished = builder.finish();
  storeIndirect(finished.emitted);
  await drain(1);
  const vattr = vattrOf(dir, run.identity, { sizeBytes: BigInt(packer.streamBytes), nlink: 2 + childDirs }, (which) => run.log.warn(clampWarning(dir.path!, which)));
  const body = encodeInodeBody({
    vattr,
    bmap: { firstSegmentBytes: FIRST_SEGMENT_BYTES, otherSegmentBytes: DIR_SEGMENT_BYTES, direct: finished.direct, treeRoots: finished.treeRoots },
    name: dir.name,
    direntsPiece: piece0!,
    extattrs: isRoot ? rootExtattrs(run) : undefined,
  });
  const name = isRoot ? tmpRootName() : blobName(dir.fh, Btype.DIR, parent.fh, INITIAL_VERSION);
  await run.queuePut(name, body);
  if (previousSegments > segments) await deleteLeftoverSegments(run, dir.fh, segments, previousSegments);
  run.db.setPlannedSegments(dir.id, segments);
}

/**
 * A child gets a dirent only when its object is stored: DONE, or written under the in-progress
 * owner for reconcile. Another name of a hard link is DONE only once its inode is (LINKWAIT until
 * then, ERROR when the inode failed), so a directory never names an inode that is not there.
 * A directory is written only when no child is unfinished, so nothing else can be met here; the
 * check is on the state itself so that a damaged count can never let a dangling dirent through.
 */
function childIncluded(child: ChildRow): boolean {
  return STORED_STATES.has(child.state);
}
