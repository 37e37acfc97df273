/**
 * The phases after TRANSFER (spec §9.4-9.6): RECONCILE rewrites hard-linked inodes with their
 * true nlink and backpointers under their final name at the reconciled version; CLEANUP deletes
 * the in-progress intermediates; FINALIZE uploads the run logs, lists them in the bucket object
 * and moves the root from its tmp name to its final name. Each step is idempotent, so a resumed
 * run simply repeats the step it was in.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  blobName,
  bucketBlobName,
  decodeBlob,
  decodeObject,
  decodeSections,
  encodeBack,
  encodeBucketBody,
  encodeSections,
  encodeVattr,
  ftypeToBtype,
  HandleType,
  INITIAL_VERSION,
  INPROGRESS_ID,
  RECONCILED_VERSION,
  rootBlobName,
} from '../codec/index.js';
import { ClfsError, isClfsError, stopsRun } from '../errors/index.js';
import { displayPath, joinPath } from '../scan/index.js';
import { EntryState, FTYPE_UNKNOWN } from '../state/index.js';
import type { EntryRow } from '../state/index.js';
import { tmpRootName } from './dir-writer.js';
import { deleteLeftoverSegments } from './file-writer.js';
import { transferInodeName } from './single-object.js';
import type { LoadRun } from './load-run.js';
import { PROBLEMS_FILE } from './run-log.js';
import { isInterruption } from './transfer.js';

const PAGE = 256;

export function bucketExtattrs(bucketUuid: string): Array<[string, string]> {
  return [
    ['bucketCurrentNameVersion', '2'],
    ['bucketNameVersion', '2'],
    ['bucketObjVersion', '2'],
    ['bucketUUID', bucketUuid],
  ];
}

function inprogressName(row: EntryRow): string {
  return blobName(row.fh, ftypeToBtype(row.ftype), INPROGRESS_ID, INITIAL_VERSION);
}

/** The parents of an inode with all its names in the tree: first link, then the others in scan order (§5.6). */
function backpointersOf(run: LoadRun, row: EntryRow): Buffer[] {
  const parents = [run.dirRow(row.parentId!).fh];
  for (const link of run.db.linksOf(row.id)) {
    if (link.state === EntryState.ERROR) continue;
    parents.push(run.dirRow(link.parentId!).fh);
  }
  return parents;
}

/** Runs `each` on every entry in `state`, a page of them at once, until none is left or the run stops. */
async function forEachEntryIn(run: LoadRun, state: EntryState, each: (row: EntryRow) => Promise<void>): Promise<void> {
  let after = 0;
  for (;;) {
    if (run.stopping) return;
    const rows = run.db.entriesInState(state, after, PAGE);
    if (rows.length === 0) return;
    after = rows[rows.length - 1]!.id;
    await Promise.all(rows.map(each));
  }
}

export async function runReconcile(run: LoadRun): Promise<void> {
  let after = 0;
  for (;;) {
    if (run.stopping) return;
    const rows = run.db.entriesInState(EntryState.INPROGRESS, after, PAGE);
    if (rows.length === 0) return;
    after = rows[rows.length - 1]!.id;
    const done = (await Promise.all(rows.map((row) => reconcileOne(run, row)))).filter((id): id is number => id !== undefined);
    if (run.stopping) return;
    // the state says RECONCILED (cleanup then deletes the in-progress blob) only once the rewritten inodes are durable
    await run.durable();
    run.db.tx(() => done.forEach((id) => run.db.setState(id, EntryState.RECONCILED)));
  }
}

async function reconcileOne(run: LoadRun, row: EntryRow): Promise<number | undefined> {
  let source = inprogressName(row);
  try {
    let blob: Buffer;
    try {
      blob = await run.target.get(source, { abortSignal: run.abortSignal });
    } catch (err) {
      if (!(isClfsError(err) && err.code === 'E_TARGET_NOT_FOUND')) throw err;
      // reconciled before, then its names changed (a retried directory): rewrite the reconciled
      // inode, whose first parent, and so its name, stays the same
      source = blobName(row.fh, ftypeToBtype(row.ftype), run.dirRow(row.parentId!).fh, RECONCILED_VERSION);
      blob = await run.target.get(source, { abortSignal: run.abortSignal });
    }
    const body = decodeBlob(blob, source);
    const decoded = decodeObject(body, source);
    if (decoded.kind !== 'inode') throw new ClfsError('E_FORMAT_CORRUPT', `${source}: expected an inode`, { subject: source });
    const parents = backpointersOf(run, row);
    const vattr = { ...decoded.vattr, nlink: parents.length };
    const sections = decodeSections(body, source).map((s) => {
      if (s.type === HandleType.VATTR) return { type: s.type, payload: encodeVattr(vattr) };
      if (s.type === HandleType.BACK) return { type: s.type, payload: encodeBack(parents) };
      return { type: s.type, payload: s.payload };
    });
    const finalName = blobName(row.fh, ftypeToBtype(row.ftype), parents[0]!, RECONCILED_VERSION);
    await run.queuePut(finalName, encodeSections(sections));
    return row.id;
  } catch (err) {
    if (isInterruption(err, run)) return undefined;
    if (stopsRun(err)) {
      run.fail(err as ClfsError);
      return undefined;
    }
    const message = `${displayPath(row.name)}: reconcile failed: ${isClfsError(err) ? err.message : String(err)}`;
    run.countError(message);
    // the inode is not in the container under its final name: it fails with every name it has,
    // and their directories are written again without them (TRANSFER runs once more)
    run.db.tx(() => {
      run.db.failFinishedInode(row.id, message);
      run.db.recountPending();
    });
    return undefined;
  }
}

export async function runCleanup(run: LoadRun): Promise<void> {
  await forEachEntryIn(run, EntryState.RECONCILED, async (row) => {
    try {
      await run.deleteBlob(inprogressName(row));
    } catch (err) {
      if (stopsRun(err) || isInterruption(err, run)) throw err;
      // the reference only warns here: the target is intact, the intermediate is left over
      run.log.warn(`${inprogressName(row)}: delete failed (${(err as Error).message}); re-run to retry`);
      return;
    }
    run.db.tx(() => run.db.setState(row.id, EntryState.DONE));
  });
}

/** The source path of an entry. */
export function entrySourcePath(run: LoadRun, row: EntryRow): Buffer {
  return row.parentId === null ? row.path! : joinPath(run.dirRow(row.parentId).path!, row.name);
}

/** problems.txt: one source path per failed entry, as the reference writes it. */
export function writeProblems(run: LoadRun): number {
  const file = path.join(run.db.dir, PROBLEMS_FILE);
  fs.rmSync(file, { force: true });
  let after = 0;
  let count = 0;
  const fd = fs.openSync(file, 'w');
  try {
    for (;;) {
      const rows = run.db.errorsAfter(after, 1000);
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;
      for (const row of rows) {
        fs.writeSync(fd, `${displayPath(entrySourcePath(run, row))}\t${row.error ?? ''}\n`);
        count += 1;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  if (count === 0) fs.rmSync(file, { force: true });
  return count;
}

/**
 * A failed entry is left out of its directory, so whatever it had stored before failing (a
 * partly written inode, the segments of a file that could not be read to the end) is unreachable:
 * delete it. Every such name is known (filehandle, deterministic segment ids), and deleting a
 * missing blob is a no-op.
 */
export async function removeFailedEntryObjects(run: LoadRun, keepSegments?: (row: EntryRow) => boolean): Promise<void> {
  let after = 0;
  for (;;) {
    const rows = run.db.errorsAfter(after, 256);
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    for (const row of rows) {
      if (row.parentId === null || row.linkOf !== null || row.ftype === FTYPE_UNKNOWN) continue;
      await run.deleteBlob(transferInodeName(row, run.dirRow(row.parentId).fh, run.identity));
      // a shard's hard-linked inode: another shard may have stored the same segments (src/load/shard.ts)
      if (keepSegments?.(row) !== true) await deleteLeftoverSegments(run, row.fh, 0, row.plannedSegments, row.gen);
      // its segments are gone: a later retry must not continue after them
      run.db.clearSegmentProgress(row.id);
    }
  }
}

export async function runFinalize(run: LoadRun): Promise<void> {
  await removeFailedEntryObjects(run);
  const problems = writeProblems(run);
  if (problems > 0) run.log.warn(`${problems} entries failed; listed in ${PROBLEMS_FILE}`);
  run.log.info('finalize: uploading logs, updating the bucket object, moving the root to its final name');
  const logs = fs
    .readdirSync(run.db.dir)
    .filter((f) => f.endsWith('.txt'))
    .sort();
  if (problems > 0) run.db.setProblemsUploaded(true);
  else if (run.db.problemsUploaded) {
    // a problems.txt an earlier finalize put there lists failures this run has put right
    await run.deleteBlob(PROBLEMS_FILE);
    run.db.setProblemsUploaded(false);
  }
  for (const f of logs) {
    await run.putRaw(f, fs.readFileSync(path.join(run.db.dir, f)));
  }
  const extattrs = bucketExtattrs(run.identity.bucketUuid);
  logs.forEach((f, i) => extattrs.push([`logfile${String(i + 1).padStart(3, '0')}`, f]));
  await run.putObject(bucketBlobName(), encodeBucketBody(extattrs));
  const tmp = tmpRootName();
  const finalName = rootBlobName(INITIAL_VERSION);
  let tmpBlob: Buffer | undefined;
  try {
    tmpBlob = await run.target.get(tmp, { abortSignal: run.abortSignal });
  } catch (err) {
    if (!(isClfsError(err) && err.code === 'E_TARGET_NOT_FOUND')) throw err;
  }
  if (tmpBlob !== undefined) {
    await run.durable();
    await run.putObject(finalName, decodeBlob(tmpBlob, tmp));
    await run.durable();
    await run.deleteBlob(tmp);
  } else if (!(await run.target.exists(finalName))) {
    throw new ClfsError('E_STATE_MISMATCH', `${run.target.description}: neither the tmp root nor the final root exists; the container does not belong to this state. Start again with --new into an empty container`);
  }
}
