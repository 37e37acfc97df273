/**
 * TRANSFER (spec §9.3): scan directories into the state, write every non-directory, then each
 * directory once all its children are finished (so a directory never names a child that failed),
 * the root last under its tmp name. Work is claimed from the state in batches; nothing holds the
 * tree in memory; puts go through one bounded queue.
 */
import PQueue from 'p-queue';
import { Ftype } from '../codec/index.js';
import { ClfsError, errorFromJson, isClfsError, stopsRun } from '../errors/index.js';
import { displayPath } from '../scan/index.js';
import { EntryState } from '../state/index.js';
import type { Completion, EntryRow } from '../state/index.js';
import { ByteBudget } from './byte-budget.js';
import { failScan, scanDirectory, scanFailure } from './dir-scan.js';
import { LIST_AHEAD } from './scan-ahead.js';
import { NotReadyYet, writeDirectory } from './dir-writer.js';
import { entryPath, SourceChanged, writeSegmentedFile } from './file-writer.js';
import { KIND_OF_FTYPE, newEntryFrom } from './dir-scan.js';
import { fileSegmentCount } from '../codec/index.js';
import { lstatEntry } from '../scan/index.js';
import type { LoadRun } from './load-run.js';

const SMALL_BATCH = 64;
/** directories scanned per round of the claim loop, between which the event loop runs */
const SCAN_DIRS_PER_ROUND = 4;
const SEGMENT_BUDGET_BYTES = 64 * 1024 * 1024;

/**
 * Did this failure come from the run stopping (a signal, or a fatal error elsewhere)? Then it is
 * about no entry: after a fatal error, whatever jobs in flight report (aborted requests, a state
 * that is closing) is not recorded as a failed entry.
 */
export function isInterruption(err: unknown, run: LoadRun): boolean {
  if (run.fatal !== undefined) return true;
  if (isClfsError(err) && err.code === 'E_ABORTED') return true;
  return run.abortSignal.aborted && ((err as Error)?.name === 'AbortError' || err === run.abortSignal.reason);
}

export interface TransferOptions {
  preserveHardlinks: boolean;
  segmentBudgetBytes?: number;
}

/** How long a stopping run waits for jobs in flight before it abandons them. */
const DRAIN_MS = 15_000;

/** Resolves when `p` settles or after `ms`, whichever comes first; says which. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function runTransfer(run: LoadRun, options: TransferOptions): Promise<void> {
  const db = run.db;
  const scans = run.scans;
  run.beginTransferProgress();
  const jobLimit = Math.max(2, Math.min(16, run.concurrency));
  const jobs = new PQueue({ concurrency: jobLimit });
  const budget = new ByteBudget(options.segmentBudgetBytes ?? SEGMENT_BUDGET_BYTES);
  let fileCursor = 0;
  let dirCursor = 0;
  // set when a pass over the whole state (cursors at 0) found nothing to claim
  let sweptFromStart = false;
  let wake: () => void = () => undefined;
  let woken = new Promise<void>((r) => (wake = r));
  const addJob = (fn: () => Promise<void>) => {
    void jobs
      .add(async () => {
        try {
          await fn();
        } catch (err) {
          noteJobFailure(run, err);
        }
      })
      .finally(() => wake());
  };
  // a fatal error anywhere wakes the claim loop, which then stops
  run.abortSignal.addEventListener('abort', () => wake(), { once: true });

  while (!run.stopping) {
    let claimed = 0;
    try {
      // directories first: scanning feeds all the other work; the next ones are listed meanwhile
      const dirs = db.pendingDirs(dirCursor, SCAN_DIRS_PER_ROUND + LIST_AHEAD);
      scans.ahead(dirs);
      for (const dir of dirs.slice(0, SCAN_DIRS_PER_ROUND)) {
        dirCursor = dir.id;
        claimed += 1;
        try {
          await scanDirectory(run, dir, scans.listing(dir), options.preserveHardlinks);
        } catch (err) {
          if (stopsRun(err)) throw err;
          failScan(run, dir, scanFailure(err, dir));
        }
        if (run.stopping) break;
      }
      if (run.stopping) break;
      if (jobs.size < jobLimit * 2) {
        // ids only: the encode workers read the rows of one-object entries themselves
        const files = db.pendingFileIds(fileCursor, SMALL_BATCH * 4);
        if (files.length > 0) fileCursor = files[files.length - 1]![0];
        claimed += files.length;
        let first = 0;
        let last = 0;
        let count = 0;
        const flush = () => {
          if (count === 0) return;
          const [a, b] = [first, last];
          addJob(() => writeSingleObjects(run, a, b, budget));
          count = 0;
        };
        for (const [id, single] of files) {
          if (single) {
            if (count === 0) first = id;
            last = id;
            count += 1;
            if (count === SMALL_BATCH) flush();
          } else {
            const row = db.entry(id)!;
            addJob(() => writeOneSegmented(run, row, budget));
          }
        }
        flush();
        for (const dir of db.readyDirs(0, 32)) {
          claimed += 1;
          db.tx(() => db.setWriting(dir.id, dir.plannedSegments));
          addJob(() => writeOneDirectory(run, dir));
        }
      }
      if (claimed > 0) sweptFromStart = false;
      if (claimed === 0) {
        // completions held back may make directories ready: record them before deciding
        // anything, at once when nothing else is running, else when their batch is due (each
        // record may cost the target a sync: one per finished job cost the small benchmark 35%)
        if (run.hasPendingCompletions && ((jobs.size === 0 && jobs.pending === 0) || run.completionsDue)) {
          await run.flushCompletions();
          continue;
        }
        if (jobs.size === 0 && jobs.pending === 0) {
          // Before deciding that the transfer is over, look once more from the start of the
          // state (work can become pending behind a cursor), and derive the directories' counts
          // from their rows: a wrong count must never leave a directory waiting for nothing.
          if (!sweptFromStart) {
            fileCursor = 0;
            dirCursor = 0;
            sweptFromStart = true;
            continue;
          }
          const recounted = db.recountPending();
          if (recounted === 0) break;
          run.log.warn(`${recounted} directories had a wrong count of unfinished children; recounted`);
          sweptFromStart = false;
          continue;
        }
        await woken;
        woken = new Promise<void>((r) => (wake = r));
      } else if (jobs.size >= jobLimit * 2) {
        await Promise.race([jobs.onSizeLessThan(jobLimit), woken]);
      } else {
        // Scanning and claiming are synchronous: let finished encodes, puts and timers run between
        // rounds. Without this the loop scanned ~60 directories before its first await, and every
        // put in flight waited for it (20 ms puts took 30-40 ms in the latency benchmark).
        await new Promise<void>((r) => setImmediate(r));
      }
    } catch (err) {
      noteJobFailure(run, err);
      break;
    }
    run.reporter.progress?.(run.snapshot());
  }
  if (run.fatal !== undefined) {
    // stopping for a fatal error: jobs in flight were aborted; give them a bounded time to end
    jobs.clear();
    const drained = await within(Promise.all([jobs.onIdle(), run.puts.onIdle()]), DRAIN_MS);
    if (!drained) run.log.warn(`stopping: ${jobs.pending + run.puts.pending} jobs still in flight after ${DRAIN_MS / 1000} s were abandoned`);
    throw run.fatal;
  }
  await jobs.onIdle();
  await run.puts.onIdle();
  await run.flushCompletions();
  if (run.fatal !== undefined) throw run.fatal;
}

function noteJobFailure(run: LoadRun, err: unknown): void {
  if (isInterruption(err, run)) return;
  if (stopsRun(err)) {
    run.fail(err as ClfsError);
    return;
  }
  // one line for the user; the stack goes to the run log (and to stderr with --debug)
  run.log.debug(`internal error: ${(err as Error)?.stack ?? String(err)}`);
  run.fail(new ClfsError('E_INTERNAL', `internal error: ${(err as Error)?.message ?? String(err)}; the state is kept: re-run to resume, and report it with the run log (output.txt in the state folder)`, { cause: err }));
}

/** A failure of one entry: fatal ones stop the run; the rest are counted and the entry left out. */
function entryFailure(run: LoadRun, row: EntryRef, what: string, err: unknown): Completion | undefined {
  if (isInterruption(err, run)) return undefined;
  if (stopsRun(err)) {
    run.fail(err as ClfsError);
    return undefined;
  }
  const message = isClfsError(err) ? err.message : `${what}: ${(err as Error)?.message ?? String(err)}`;
  run.countError(message);
  run.stats.entriesFinished += 1;
  return { id: row.id, parentId: row.parentId, state: EntryState.ERROR, error: message, linked: row.reconcile === 1 };
}

function finishedState(row: EntryRef): EntryState.DONE | EntryState.INPROGRESS {
  return row.reconcile ? EntryState.INPROGRESS : EntryState.DONE;
}

/** The completion of an entry that was stored; a hard link's first name carries its other names with it. */
function stored(row: EntryRef, writtenSize?: number): Completion {
  return { id: row.id, parentId: row.parentId, state: finishedState(row), writtenSize, linked: row.reconcile === 1 };
}

function countKind(run: LoadRun, row: EntryRef): void {
  const kind = KIND_OF_FTYPE.get(row.ftype);
  if (kind !== undefined) run.stats.kinds[kind] = (run.stats.kinds[kind] ?? 0) + 1;
  run.stats.entriesDone += 1;
  run.stats.entriesFinished += 1;
}

/** What the transfer needs of an entry to record its outcome. */
type EntryRef = Pick<EntryRow, 'id' | 'parentId' | 'ftype' | 'reconcile'>;

/**
 * The pending one-object entries with ids in [first, last]: read and encoded on an encode worker
 * (the main thread only hands out the range), stored together, recorded together.
 */
async function writeSingleObjects(run: LoadRun, firstId: number, lastId: number, budget: ByteBudget): Promise<void> {
  const completions: Completion[] = [];
  const workerStores = run.encoders.stores && !run.stopping;
  const results = await run.encoders.encodeRange(firstId, lastId, workerStores);
  const blobs: Array<{ row: EntryRef; name: string; data: Buffer; writtenSize: number }> = [];
  // stored by the worker (encodeRange's write): into a folder, recorded like putMany's; into a
  // container, durable already
  const written: string[] = [];
  let writtenBytes = 0;
  for (const r of results) {
    const row: EntryRef = { id: r.id, parentId: r.parentId, ftype: r.ftype, reconcile: r.reconcile };
    if (r.kind === 'segmented') {
      // grew past 16 KiB since the scan
      await writeOneSegmented(run, run.db.entry(r.id)!, budget);
    } else if (r.kind === 'error') {
      const err = errorFromJson(r.error);
      const c = entryFailure(run, row, r.error.message, err);
      if (c !== undefined) completions.push(c);
    } else {
      if (r.warnings !== undefined) for (const w of r.warnings) run.log.warn(w);
      if (r.written === true) {
        written.push(r.name);
        completions.push(stored(row, r.writtenSize));
        countKind(run, row);
        run.stats.bytesDone += r.writtenSize;
        run.stats.blobsWritten += 1;
        run.stats.bytesUploaded += r.bytes ?? 0;
        writtenBytes += r.bytes ?? 0;
      } else blobs.push({ row, name: r.name, data: r.blob, writtenSize: r.writtenSize });
    }
  }
  if (written.length > 0) {
    // known to the folder's next flush before any completion is recorded (flushOnce flushes first)
    const backlog = run.folder?.workerWritten(written, writtenBytes);
    if (backlog !== undefined) await backlog;
    if (blobs.length === 0) {
      run.complete(completions);
      return;
    }
  }
  const storedBlob = (b: (typeof blobs)[number]) => {
    completions.push(stored(b.row, b.writtenSize));
    countKind(run, b.row);
    run.stats.bytesDone += b.writtenSize;
    run.stats.blobsWritten += 1;
    run.stats.bytesUploaded += b.data.length;
  };
  if (run.target.features.putMany && blobs.length > 1 && !run.stopping) {
    try {
      await run.target.putMany!(blobs, { abortSignal: run.abortSignal });
      blobs.forEach(storedBlob);
      run.complete(completions);
      return;
    } catch (err) {
      if (stopsRun(err) || isInterruption(err, run)) {
        run.complete(completions);
        throw err;
      }
      // fall through: store one by one to find the entry that fails
    }
  }
  // what a worker could not store failed there once already: one put alone first, so that a
  // refusal that stops the run (an expired SAS) is sent once more, not once per blob in flight
  // (through the run's queue like the rest: --concurrency bounds it too)
  const probe = workerStores && run.folder === undefined && blobs.length > 1 ? (run.puts.add(() => run.sendPut(blobs[0]!.name, blobs[0]!.data)) as Promise<void>) : undefined;
  if (probe !== undefined) await probe.catch(() => undefined);
  const settled = await Promise.allSettled(
    blobs.map(async (b, i) => {
      if (i === 0 && probe !== undefined) return probe;
      await run.puts.onSizeLessThan(run.concurrency * 2);
      await run.puts.add(() => run.sendPut(b.name, b.data));
    }),
  );
  settled.forEach((r, i) => {
    const b = blobs[i]!;
    if (r.status === 'fulfilled') storedBlob(b);
    else {
      const c = entryFailure(run, b.row, b.name, r.reason);
      if (c !== undefined) completions.push(c);
    }
  });
  run.complete(completions);
}

/** Reads of a file that keeps changing while it is read, before it fails. */
const CHANGED_ATTEMPTS = 3;

async function writeOneSegmented(run: LoadRun, row: EntryRow, budget: ByteBudget): Promise<void> {
  const parent = run.dirRow(row.parentId!);
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const written = await writeSegmentedFile(run, row, parent, budget);
        countKind(run, row);
        run.complete([stored(row, written)]);
        return;
      } catch (err) {
        if (!(err instanceof SourceChanged)) throw err;
        if (attempt === CHANGED_ATTEMPTS) {
          throw new ClfsError('E_SOURCE_CHANGED', `${displayPath(err.path)}: changed while it was read (${CHANGED_ATTEMPTS} times); entry skipped, re-run when it is quiet to load it`, { subject: displayPath(err.path), recoverable: true });
        }
        run.log.warn(`${displayPath(err.path)}: changed while it was read; reading it again`);
        refreshFromSource(run, row, err.path);
      }
    }
  } catch (err) {
    const c = entryFailure(run, row, displayPath(entryPath(parent, row)), err);
    if (c !== undefined) run.complete([c]);
  }
}

/** The entry's attributes taken again from the source, for another read of a file that changed. */
function refreshFromSource(run: LoadRun, row: EntryRow, path: Buffer): void {
  const e = lstatEntry(path, row.name);
  if (e.kind !== 'file') throw new ClfsError('E_SOURCE_CHANGED', `${displayPath(path)}: is no longer a regular file; entry skipped`, { subject: displayPath(path), recoverable: true });
  const fresh = newEntryFrom(e, row.parentId, row.fh, null, row.state);
  // the segments an earlier attempt may have written are known, so fewer of them now are deleted
  row.plannedSegments = Math.max(row.plannedSegments, fileSegmentCount(row.sizeBytes));
  const attributes: Partial<EntryRow> = { sizeBytes: fresh.sizeBytes, mode: fresh.mode, uid: fresh.uid, gid: fresh.gid, mtimeSec: fresh.mtimeSec, mtimeNsec: fresh.mtimeNsec, ctimeSec: fresh.ctimeSec, ctimeNsec: fresh.ctimeNsec, atimeSec: fresh.atimeSec, atimeNsec: fresh.atimeNsec };
  Object.assign(row, attributes);
  run.db.refreshAttributes(row.id, row);
}

async function writeOneDirectory(run: LoadRun, dir: EntryRow): Promise<void> {
  try {
    if (run.stopping) {
      run.db.tx(() => run.db.setState(dir.id, EntryState.READY));
      return;
    }
    if (run.shard?.writesDirectory(dir) === false) {
      // above the cut: the plan's finalize writes it, with every shard's children
      run.complete([{ id: dir.id, parentId: dir.parentId, state: EntryState.DONE }]);
      return;
    }
    await writeDirectory(run, dir);
    countKind(run, dir);
    run.complete([{ id: dir.id, parentId: dir.parentId, state: EntryState.DONE }]);
  } catch (err) {
    if (err instanceof NotReadyYet) {
      // a wrong count let it through early: wait for its children like any scanned directory
      run.log.debug(`${displayPath(dir.path ?? dir.name)}: claimed before all its children were finished; waiting for them`);
      run.db.tx(() => run.db.waitForChildren(dir.id));
      return;
    }
    const c = entryFailure(run, dir, displayPath(dir.path ?? dir.name), err);
    if (c !== undefined) run.complete([c]);
  }
}
