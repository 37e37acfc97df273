/**
 * `load --update`: bring a finished container up to date with its source (docs/update.md).
 *
 * The state (kept from the load, or rebuilt from the container by update-rebuild.ts) says what
 * the container holds. The diff walks the source and the state together, directory by directory
 * (one transaction per batch of directories), and turns every difference into ordinary load work: new entries are
 * rows to write, changed files are rows to write again (a new data generation, so new segment
 * names), changed directories are reopened, removed entries' rows go and their blob names are
 * queued for deletion. Only then is the root moved back to its tmp name, and the load's own
 * phases (TRANSFER, RECONCILE, CLEANUP, FINALIZE) do the writing; FINALIZE deletes the queued
 * names after everything new is in place and moves the root back. Each step is idempotent, so a
 * kill at any point and a re-run give the same container.
 */
import { createHash } from 'node:crypto';
import {
  blobName,
  Btype,
  decodeBlob,
  decodeObject,
  decodeSections,
  encodeSections,
  encodeVattr,
  fileSegmentCount,
  Ftype,
  ftypeToBtype,
  HandleType,
  INITIAL_VERSION,
  INPROGRESS_ID,
  parseBlobName,
  RECONCILED_VERSION,
  rootBlobName,
  segmentIdsOf,
  encodeTime,
  bucketBlobName,
} from '../codec/index.js';
import { ClfsError, isClfsError } from '../errors/index.js';
import { displayPath, joinPath, lstatEntry, readDirectoryBatches, skipEntryOf, sourceFs } from '../scan/index.js';
import type { SourceEntry } from '../scan/index.js';
import { DIFF_CHILD, EntryState, FTYPE_UNKNOWN, SINGLE_OBJECT_MAX_BYTES } from '../state/index.js';
import type { DiffChild, EntryRow, NewEntry, TransferIdentity } from '../state/index.js';
import { vattrOf } from './attributes.js';
import { FTYPE_OF_KIND, insertChild, newEntryFrom, unreadableChild } from './dir-scan.js';
import { indirectCount, segmentNames } from './file-writer.js';
import type { LoadRun } from './load-run.js';
import { DirLister, filterListing } from './dir-lister.js';
import type { Listed } from './dir-lister.js';

/** What an update changes (the dry run's estimate, and the summary of a run). */
export interface UpdateCounts {
  added: number;
  changed: number;
  /** entries whose attributes alone changed (their inode is rewritten, their data is not read) */
  attributesOnly: number;
  removed: number;
  bytesToUpload: number;
  blobsToWrite: number;
  blobsToDelete: number;
}

export function emptyCounts(): UpdateCounts {
  return { added: 0, changed: 0, attributesOnly: 0, removed: 0, bytesToUpload: 0, blobsToWrite: 0, blobsToDelete: 0 };
}

/**
 * The options a container was written with that an update must keep, one row each: what the
 * state stores, what the caller gave (undefined: keep the stored one), and the flag to name. A
 * new stored option (issue 19's filters) is one more row.
 */
export interface StoredOptionCheck<O> {
  readonly option: string;
  readonly stored: (identity: TransferIdentity) => unknown;
  readonly given: (options: O) => unknown;
}

export function storedOptionMismatch<O>(checks: ReadonlyArray<StoredOptionCheck<O>>, identity: TransferIdentity, options: O): { option: string; stored: string; given: string } | undefined {
  for (const c of checks) {
    const given = c.given(options);
    if (given === undefined) continue;
    const stored = c.stored(identity);
    if (JSON.stringify(given) !== JSON.stringify(stored)) return { option: c.option, stored: JSON.stringify(stored), given: JSON.stringify(given) };
  }
  return undefined;
}

type Change = 'none' | 'attrs' | 'data';

/** Times are compared as the container stores them (the reference's double arithmetic, spec §8.3). */
function sameTime(aSec: number, aNsec: number, bSec: number, bNsec: number): boolean {
  if (aSec === bSec && aNsec === bNsec) return true;
  const a = encodeTime(BigInt(aSec), BigInt(aNsec));
  const b = encodeTime(BigInt(bSec), BigInt(bNsec));
  return a !== undefined && b !== undefined && a.sec === b.sec && a.nsec === b.nsec;
}

/**
 * What makes a stored entry differ from the source, one row per attribute: a `data` difference
 * rewrites the entry's data, an `attrs` one its inode only. atime is not compared: reading the
 * tree changes it. A directory's size and nlink follow from its entries, which the diff compares.
 */
const ENTRY_CHECKS: ReadonlyArray<{ what: string; change: 'attrs' | 'data'; dirs: boolean; differs: (row: EntryRow, e: NewEntry) => boolean }> = [
  { what: 'size', change: 'data', dirs: false, differs: (r, e) => r.sizeBytes !== e.sizeBytes },
  { what: 'mtime', change: 'data', dirs: true, differs: (r, e) => !sameTime(r.mtimeSec, r.mtimeNsec, e.mtimeSec, e.mtimeNsec) },
  { what: 'inode number', change: 'data', dirs: false, differs: (r, e) => r.ino !== e.ino },
  { what: 'device number', change: 'data', dirs: false, differs: (r, e) => r.rdev !== e.rdev },
  { what: 'mode', change: 'attrs', dirs: true, differs: (r, e) => (r.mode & 0xffff) !== (e.mode & 0xffff) },
  { what: 'owner', change: 'attrs', dirs: true, differs: (r, e) => r.uid !== e.uid || r.gid !== e.gid },
  { what: 'ctime', change: 'attrs', dirs: true, differs: (r, e) => !sameTime(r.ctimeSec, r.ctimeNsec, e.ctimeSec, e.ctimeNsec) },
];

function compareEntry(row: EntryRow, e: NewEntry): Change {
  let change: Change = 'none';
  for (const c of ENTRY_CHECKS) {
    if (row.ftype === Ftype.DIR && !c.dirs) continue;
    if (!c.differs(row, e)) continue;
    if (c.change === 'data') return 'data';
    change = 'attrs';
  }
  return change;
}

const hex = (b: Buffer) => b.toString('hex');

function isLinked(row: EntryRow): boolean {
  return row.linkOf !== null || row.reconcile === 1;
}

/** A directory the diff descends into: one the load scanned (a new one is scanned by TRANSFER). */
function scanned(row: EntryRow): boolean {
  return row.ftype === Ftype.DIR && (row.state === EntryState.DONE || row.state === EntryState.SCANNED || row.state === EntryState.READY);
}

/** The inode name the writers give an entry (a hard-linked inode: its reconciled name). */
export function inodeName(row: EntryRow, parentFh: Buffer): string {
  return blobName(row.fh, ftypeToBtype(row.ftype), parentFh, row.reconcile ? RECONCILED_VERSION : INITIAL_VERSION);
}

/** Every blob an entry's row owns in the container (none for the root, other names of hard links and failed lstats). */
export function ownedBlobs(run: LoadRun, row: EntryRow, parentFh: Buffer): string[] {
  if (row.parentId === null || row.linkOf !== null || row.ftype === FTYPE_UNKNOWN) return [];
  const btype = ftypeToBtype(row.ftype);
  const names = row.reconcile ? [blobName(row.fh, btype, INPROGRESS_ID, INITIAL_VERSION), blobName(row.fh, btype, parentFh, RECONCILED_VERSION)] : [blobName(row.fh, btype, parentFh, INITIAL_VERSION)];
  names.push(...segmentNames(run, row.fh, 0, row.plannedSegments, row.gen));
  names.push(...run.db.knownBlobs(row.id));
  return names;
}

interface DiffContext {
  run: LoadRun;
  /** false: count only (the dry run), nothing is changed */
  apply: boolean;
  checksum: boolean;
  preserve: boolean;
  counts: UpdateCounts;
  /** primary row ids of hard-linked inodes whose names or data changed: every name is written again */
  dirtyGroups: Set<number>;
  relink: Array<{ dirId: number; name: Buffer }>;
  errors: string[];
  /** count mode: the names an update would delete (apply mode keeps them in the state) */
  deletes: Set<string>;
  /** set when the check beside the diff (compareChecked) failed: the diff stops */
  checkFailed?: unknown;
  /** apply mode: the changes of directories diffed and not yet recorded (flushChanges) */
  changes: Array<() => void>;
}

function ftypeOfEntry(e: SourceEntry): Ftype {
  return newEntryFrom(e, null, Buffer.alloc(0), null, EntryState.PENDING).ftype;
}

function objectsOfFile(sizeBytes: number): number {
  const segments = fileSegmentCount(sizeBytes);
  return 1 + segments + indirectCount(segments);
}

/**
 * Walk the source against the state from the root. Apply mode changes the state (one
 * transaction per batch of changed directories, re-runnable: a directory diffed twice finds its
 * rows already matching); count mode only counts.
 */
export async function diffTree(ctx: DiffContext, sourceAbs: Buffer): Promise<void> {
  const db = ctx.run.db;
  const root = db.rootEntry()!;
  const rootStat = lstatEntry(root.path!, root.name);
  if (rootStat.kind !== 'dir') throw new ClfsError('E_USAGE', `source ${displayPath(sourceAbs)} is not a directory`, { subject: displayPath(sourceAbs) });
  const fresh = newEntryFrom(rootStat, null, root.fh, root.path, root.state);
  if (compareEntry(root, fresh) !== 'none') {
    ctx.counts.attributesOnly += 1;
    if (ctx.apply) {
      db.tx(() => {
        db.refreshFromSource(root.id, fresh, undefined, false);
        reopenDir(ctx, root);
      });
    }
  }
  const stack: EntryRow[] = [root];
  let sinceTurn = 0;
  const lister = new DirLister(LISTER_THREADS);
  // the source directories listed ahead of the diff, by row id
  const ahead = new Map<number, Promise<Listed[]>>();
  try {
    while (stack.length > 0) {
      // stopping, or the container failed its check (compareChecked reports it): what is not recorded is diffed again by the next run
      if (ctx.run.stopping || ctx.checkFailed !== undefined) return;
      const dir = stack.pop()!;
      const listed = listAhead(lister, ahead, dir, stack);
      const before = ctx.run.stats.entriesScanned;
      const sub = await diffDirectory(ctx, dir, listed);
      for (let i = sub.length - 1; i >= 0; i--) stack.push(sub[i]!);
      // a turn of the event loop now and then: the container's listing (compareChecked) runs meanwhile
      sinceTurn += 1 + ctx.run.stats.entriesScanned - before;
      if (sinceTurn >= TURN_ENTRIES) {
        sinceTurn = 0;
        await new Promise((r) => setImmediate(r));
      }
    }
  } finally {
    await lister.close();
  }
  flushChanges(ctx);
  if (ctx.preserve) relinkGroups(ctx);
}

/** Threads that list source directories ahead of the diff, and how many directories they list ahead. */
const LISTER_THREADS = 2;
const LIST_AHEAD = 4;

/**
 * The listing of the directory the diff takes now, and the next ones it will take (the top of
 * its stack) started on the lister's threads unless they are already.
 */
function listAhead(lister: DirLister, ahead: Map<number, Promise<Listed[]>>, dir: EntryRow, stack: readonly EntryRow[]): Promise<Listed[]> {
  const want = [dir];
  for (let i = stack.length - 1; i >= 0 && want.length <= LIST_AHEAD; i--) want.push(stack[i]!);
  for (const d of want) {
    if (ahead.has(d.id)) continue;
    const p = lister.start(d.path!);
    // a directory left unread (the diff stopped) must not fail the process later
    p.catch(() => undefined);
    ahead.set(d.id, p);
  }
  const listed = ahead.get(dir.id)!;
  ahead.delete(dir.id);
  return listed;
}

/** Entries the diff compares between two turns of the event loop. */
const TURN_ENTRIES = 2000;

/**
 * The diff (diffTree) and the check that the container holds only what clfsload wrote
 * (checkOnlyOurs, against `expectedInodes`: the inode rows counted before the diff changed any),
 * side by side: the listing, one request per page of names on Azure, runs while the diff walks
 * the source, so an update waits for the longer of the two, not their sum. Only the state changes
 * meanwhile, never the container, and the check is recorded as passed (apply mode) only once it
 * has: an update killed before re-checks (StateDb.pendingUpdateCheck). Without `expectedInodes`
 * there is no check to run (it passed, or a rebuilt state was checked before, against its list).
 */
export async function compareChecked(ctx: DiffContext, sourceAbs: Buffer, expectedInodes: number | undefined): Promise<void> {
  const run = ctx.run;
  const listing = expectedInodes === undefined ? undefined : checkOnlyOurs(run, undefined, expectedInodes);
  // awaited below, unless the diff fails or the run stops first: then its outcome no longer matters
  listing?.catch((err: unknown) => (ctx.checkFailed = err));
  await diffTree(ctx, sourceAbs);
  if (listing === undefined) return;
  // a run stopped by a signal or a fatal error writes nothing more: the check is left pending
  if (run.interrupted || run.fatal !== undefined || run.abortSignal.aborted) return;
  await listing;
  if (ctx.apply) run.db.setPendingUpdateCheck(undefined);
}

/** A directory written again (its entries changed): blobs a rebuilt state knew of it, other than its inode, go. Inside tx. */
function reopenDir(ctx: DiffContext, dir: EntryRow): void {
  const db = ctx.run.db;
  db.reopen(dir.id);
  db.markRewrite(dir.id);
  const known = db.knownBlobs(dir.id);
  if (known.length === 0) return;
  // the root's names (final, tmp) are never among them: the root moves, it is not deleted
  const keep = dir.parentId === null ? undefined : inodeName(dir, ctx.run.dirRow(dir.parentId).fh);
  db.addDeletes(known.filter((n) => n !== keep));
  db.clearKnownBlobs(dir.id);
}

async function diffDirectory(ctx: DiffContext, dir: EntryRow, children: Promise<Listed[]>): Promise<EntryRow[]> {
  const run = ctx.run;
  const db = run.db;
  const listing = new Map<string, SourceEntry>();
  const order: Array<[string, SourceEntry]> = [];
  const failed = new Map<string, { name: Buffer; message: string }>();
  try {
    // the transfer's filters (changed by this update, when it was given others): what they leave out is not an entry
    const skip = skipEntryOf(run.filter, run.rootPath, () => (run.stats.entriesExcluded += 1));
    const listed = filterListing(dir.path!, await children, skip);
    for (const f of listed.failed) failed.set(keyOf(f.name), { name: f.name, message: f.error.message });
    for (const e of listed.entries) {
      const key = keyOf(e.name);
      listing.set(key, e);
      order.push([key, e]);
    }
    run.stats.entriesScanned += listed.entries.length;
  } catch (err) {
    // the load failed a directory it could not read; an update cannot tell what it holds now
    throw new ClfsError('E_SOURCE_UNREADABLE', `${displayPath(dir.path!)}: cannot read directory (${(err as Error).message}); fix it and re-run the update`, { subject: displayPath(dir.path!) });
  }
  const seen = new Set<string>();
  const removals: EntryRow[] = [];
  const additions: SourceEntry[] = [];
  const refreshes: Array<{ row: EntryRow; fresh: NewEntry; change: 'attrs' | 'data' }> = [];
  const unreadable: Array<{ name: Buffer; message: string }> = [];
  const descend: EntryRow[] = [];
  let dirChanged = false;
  // --checksum reads the data of every unchanged file: no row is passed over on its lstat alone
  const quick = !ctx.checksum;
  for (const child of db.diffChildren(dir.id)) {
    const key = keyOf(child[DIFF_CHILD.name]);
    seen.add(key);
    const e = listing.get(key);
    // the common case, an unchanged file: compared on the raw row, no row object built
    if (quick && e !== undefined && unchangedNonDir(child, e, ctx.preserve)) continue;
    const row = db.entry(child[DIFF_CHILD.id])!;
    if (e === undefined) {
      if (ctx.preserve && isLinked(row)) ctx.dirtyGroups.add(row.linkOf ?? row.id);
      else removals.push(row);
      const f = failed.get(key);
      if (f !== undefined) unreadable.push(f);
      dirChanged = true;
      continue;
    }
    if (row.ftype === FTYPE_UNKNOWN || row.state === EntryState.ERROR || row.ftype !== ftypeOfEntry(e)) {
      if (ctx.preserve && isLinked(row)) {
        ctx.dirtyGroups.add(row.linkOf ?? row.id);
        ctx.relink.push({ dirId: dir.id, name: e.name });
      } else {
        removals.push(row);
        additions.push(e);
      }
      dirChanged = true;
      continue;
    }
    const fresh = newEntryFrom(e, dir.id, row.fh, row.path, row.state);
    let change = compareEntry(row, fresh);
    if (ctx.preserve && (isLinked(row) || (e.kind !== 'dir' && e.nlink !== 1))) {
      if (isLinked(row) && row.nlink === e.nlink && change === 'none' && !(ctx.checksum && (await contentDiffers(ctx, dir, row)))) continue;
      if (isLinked(row)) ctx.dirtyGroups.add(row.linkOf ?? row.id);
      else removals.push(row);
      ctx.relink.push({ dirId: dir.id, name: e.name });
      dirChanged = true;
      continue;
    }
    if (change === 'none' && ctx.checksum && row.state === EntryState.DONE && (row.ftype === Ftype.REG || row.ftype === Ftype.LNK) && (await contentDiffers(ctx, dir, row))) change = 'data';
    if (e.kind === 'dir') {
      if (change !== 'none') refreshes.push({ row, fresh, change });
      if (scanned(row)) descend.push(row);
      continue;
    }
    if (change === 'none') continue;
    // the inode is written again under the name the directory holds: the directory stays as it is
    refreshes.push({ row, fresh, change });
  }
  for (const [key, e] of order) {
    if (seen.has(key)) continue;
    if (ctx.preserve && e.kind !== 'dir' && e.nlink !== 1) ctx.relink.push({ dirId: dir.id, name: e.name });
    else additions.push(e);
    dirChanged = true;
  }
  for (const [key, f] of failed) {
    if (seen.has(key)) continue;
    unreadable.push(f);
    dirChanged = true;
  }
  count(ctx, dir, removals, additions, refreshes, dirChanged);
  for (const f of unreadable) ctx.errors.push(f.message);
  if (!ctx.apply) return descend;
  // an unchanged directory: nothing to record (a directory diffed again after a kill finds its rows matching)
  if (!dirChanged && removals.length === 0 && refreshes.length === 0 && additions.length === 0 && unreadable.length === 0) return descend;
  // recorded with the next directories' changes, in one transaction (flushChanges)
  ctx.changes.push(() => {
    for (const r of removals) removeSubtree(ctx, r, dir);
    for (const { row, fresh, change } of refreshes) {
      if (row.ftype === Ftype.DIR) {
        db.refreshFromSource(row.id, fresh, undefined, false);
        reopenDir(ctx, row);
      } else if (change === 'data') {
        // new segments under a new generation; the old ones (and what a rebuilt state knew) are deleted at FINALIZE
        const keep = inodeName(row, dir.fh);
        db.addDeletes(segmentNames(run, row.fh, 0, row.plannedSegments, row.gen));
        db.addDeletes(db.knownBlobs(row.id).filter((n) => n !== keep));
        db.clearKnownBlobs(row.id);
        db.refreshFromSource(row.id, fresh, EntryState.PENDING, true);
        db.markRewrite(row.id);
      } else if (segmented(row)) {
        db.refreshFromSource(row.id, fresh, undefined, false);
        db.addAttrPatch(row.id);
      } else {
        // a one-object entry: writing it again reads at most 16 KiB
        db.refreshFromSource(row.id, fresh, EntryState.PENDING, false);
        db.markRewrite(row.id);
      }
    }
    const counters = db.counters;
    for (const e of additions) insertChild(run, dir, e, ctx.preserve, counters, EntryState.HELD);
    for (const f of unreadable) db.insertEntry(unreadableChild(dir.id, f.name, f.message));
    db.setCounters(counters);
    db.releaseHeld(dir.id);
    if (dirChanged) reopenDir(ctx, dir);
  });
  if (ctx.changes.length >= TX_DIRS) flushChanges(ctx);
  return descend;
}

/** Directories whose changes the diff records in one transaction. */
const TX_DIRS = 32;

/**
 * The changes of the directories diffed since the last flush, in one transaction, in the order
 * they were diffed (a directory's before its subdirectories'). Re-runnable as the diff is: a kill
 * before the commit leaves those directories as they were, and the next run diffs them again.
 */
function flushChanges(ctx: DiffContext): void {
  if (ctx.changes.length === 0) return;
  const changes = ctx.changes;
  ctx.changes = [];
  ctx.run.db.tx(() => {
    for (const apply of changes) apply();
  });
}

/** A map key of a name's bytes (latin1: one character per byte, so any byte string, UTF-8 or not). */
function keyOf(name: Buffer): string {
  return name.toString('latin1');
}

const NS = 1_000_000_000n;

/**
 * Whether a non-directory's row matches its lstat exactly, so compareEntry would find nothing and
 * the diff would pass it over: same type, not failed, not a hard link the diff relinks, and the
 * same size, times (to the nanosecond), inode and device numbers, mode and owner. Anything else
 * (a time equal only as the container stores it, a directory) goes the whole row's way.
 */
function unchangedNonDir(c: DiffChild, e: SourceEntry, preserve: boolean): boolean {
  if (e.kind === 'dir' || c[DIFF_CHILD.ftype] !== FTYPE_OF_KIND[e.kind] || c[DIFF_CHILD.state] === EntryState.ERROR) return false;
  if (preserve && (c[DIFF_CHILD.linkOf] !== null || c[DIFF_CHILD.reconcile] === 1 || e.nlink !== 1)) return false;
  if (c[DIFF_CHILD.size] !== Number(e.sizeBytes) || (c[DIFF_CHILD.mode] & 0xffff) !== (e.mode & 0xffff) || c[DIFF_CHILD.uid] !== e.uid || c[DIFF_CHILD.gid] !== e.gid) return false;
  if (e.mtimeNs < 0n || e.ctimeNs < 0n) return false;
  if (c[DIFF_CHILD.mtimeSec] !== Number(e.mtimeNs / NS) || c[DIFF_CHILD.mtimeNsec] !== Number(e.mtimeNs % NS)) return false;
  if (c[DIFF_CHILD.ctimeSec] !== Number(e.ctimeNs / NS) || c[DIFF_CHILD.ctimeNsec] !== Number(e.ctimeNs % NS)) return false;
  return c[DIFF_CHILD.ino] === e.ino.toString() && c[DIFF_CHILD.rdev] === e.rdev.toString();
}

function segmented(row: EntryRow): boolean {
  return row.ftype === Ftype.REG && row.sizeBytes > SINGLE_OBJECT_MAX_BYTES;
}

function count(ctx: DiffContext, dir: EntryRow, removals: EntryRow[], additions: SourceEntry[], refreshes: Array<{ row: EntryRow; fresh: NewEntry; change: 'attrs' | 'data' }>, dirChanged: boolean): void {
  const c = ctx.counts;
  const db = ctx.run.db;
  for (const r of removals) {
    const rows = r.ftype === Ftype.DIR ? [r, ...db.subtreeRows(r.id)] : [r];
    c.removed += rows.length;
    if (!ctx.apply) {
      const fhOf = new Map<number, Buffer>([[dir.id, dir.fh]]);
      for (const x of rows) fhOf.set(x.id, x.fh);
      for (const x of rows) for (const n of ownedBlobs(ctx.run, x, fhOf.get(x.parentId!) ?? dir.fh)) ctx.deletes.add(n);
    }
  }
  for (const e of additions) {
    if (e.kind === 'dir') {
      countNewTree(c, joinPath(dir.path!, e.name), skipEntryOf(ctx.run.filter, ctx.run.rootPath));
    } else {
      c.added += 1;
      if (e.kind === 'file') c.bytesToUpload += Number(e.sizeBytes);
      c.blobsToWrite += e.kind === 'file' ? objectsOfFile(Number(e.sizeBytes)) : 1;
    }
  }
  for (const { row, fresh, change } of refreshes) {
    if (row.ftype === Ftype.DIR) {
      c.attributesOnly += 1;
      continue;
    }
    if (change === 'data') {
      c.changed += 1;
      c.bytesToUpload += fresh.sizeBytes;
      c.blobsToWrite += objectsOfFile(fresh.sizeBytes);
      if (!ctx.apply) {
        const keep = inodeName(row, dir.fh);
        for (const n of [...segmentNames(ctx.run, row.fh, 0, row.plannedSegments, row.gen), ...db.knownBlobs(row.id)]) if (n !== keep) ctx.deletes.add(n);
      }
    } else {
      c.attributesOnly += 1;
      c.blobsToWrite += 1;
      if (!segmented(row) && row.ftype === Ftype.REG) c.bytesToUpload += row.sizeBytes;
    }
  }
  const rewritten = [...(dirChanged ? [dir] : []), ...refreshes.filter((r) => r.row.ftype === Ftype.DIR).map((r) => r.row)];
  for (const d of rewritten) {
    c.blobsToWrite += 1 + d.plannedSegments;
    if (ctx.apply || d.parentId === null) continue;
    // a rebuilt state's directory segments (other ids) are replaced
    const keep = inodeName(d, d.id === dir.id ? ctx.run.dirRow(d.parentId).fh : dir.fh);
    for (const n of db.knownBlobs(d.id)) if (n !== keep) ctx.deletes.add(n);
  }
}

/** A new directory's tree, counted (TRANSFER scans it as in a load). Byte paths: names need not be UTF-8. */
function countNewTree(c: UpdateCounts, top: Buffer, skip: ReturnType<typeof skipEntryOf>): void {
  const stack = [top];
  c.added += 1;
  while (stack.length > 0) {
    const dir = stack.pop()!;
    c.blobsToWrite += 1;
    try {
      for (const batch of readDirectoryBatches(dir, 1000, () => undefined, skip)) {
        for (const e of batch) {
          c.added += 1;
          if (e.kind === 'dir') stack.push(joinPath(dir, e.name));
          else if (e.kind === 'file') {
            c.bytesToUpload += Number(e.sizeBytes);
            c.blobsToWrite += objectsOfFile(Number(e.sizeBytes));
          } else c.blobsToWrite += 1;
        }
      }
    } catch {
      // unreadable: TRANSFER reports it
    }
  }
}

/** A removed entry: its rows go (a directory's whole subtree), and every blob they own is queued for deletion. Inside tx. */
function removeSubtree(ctx: DiffContext, row: EntryRow, parent: EntryRow): void {
  const db = ctx.run.db;
  const rows = row.ftype === Ftype.DIR ? [row, ...db.subtreeRows(row.id)] : [row];
  const fhOf = new Map<number, Buffer>([[parent.id, parent.fh]]);
  for (const r of rows) fhOf.set(r.id, r.fh);
  const names: string[] = [];
  for (const r of rows) {
    if (isLinked(r)) ctx.dirtyGroups.add(r.linkOf ?? r.id);
    names.push(...ownedBlobs(ctx.run, r, fhOf.get(r.parentId!)!));
  }
  db.addDeletes(names);
  db.deleteRows(rows.map((r) => r.id));
  db.repairInodesOf(rows);
}

/**
 * Hard-linked inodes whose names, count or data changed are written again whole: every name's
 * row goes, the inode's blobs are queued for deletion, and every name the source still has is
 * scanned in again (the first one becomes the new inode, the others its names; RECONCILE then
 * writes its nlink and backpointers). One transaction.
 */
function relinkGroups(ctx: DiffContext): void {
  const run = ctx.run;
  const db = run.db;
  if (ctx.dirtyGroups.size === 0 && ctx.relink.length === 0) return;
  if (!ctx.apply) {
    ctx.counts.changed += ctx.relink.length;
    return;
  }
  db.tx(() => {
    const relink = [...ctx.relink];
    for (const primaryId of ctx.dirtyGroups) {
      const primary = db.entry(primaryId);
      const rows = [...(primary !== undefined && primary.linkOf === null ? [primary] : []), ...db.linksOf(primaryId)];
      for (const r of rows) {
        const parent = db.entry(r.parentId!);
        if (parent === undefined) continue;
        db.addDeletes(ownedBlobs(run, r, parent.fh));
        reopenDir(ctx, parent);
        relink.push({ dirId: parent.id, name: r.name });
      }
      db.deleteRows(rows.map((r) => r.id));
    }
    db.repairInodeMap();
    const counters = db.counters;
    const done = new Set<string>();
    const namesOf = new Map<number, Set<string>>();
    for (const { dirId, name } of relink) {
      const key = `${dirId}/${hex(name)}`;
      if (done.has(key)) continue;
      done.add(key);
      const dir = db.entry(dirId);
      if (dir === undefined || dir.ftype !== Ftype.DIR || dir.path === null) continue;
      let names = namesOf.get(dirId);
      if (names === undefined) {
        names = new Set(db.childRows(dirId).map((r) => hex(r.name)));
        namesOf.set(dirId, names);
      }
      if (names.has(hex(name))) continue;
      let e: SourceEntry;
      try {
        e = lstatEntry(joinPath(dir.path, name), name);
      } catch (err) {
        if (isClfsError(err) && /ENOENT|no such file/i.test(err.message)) continue;
        db.insertEntry(unreadableChild(dir.id, name, (err as Error).message));
        ctx.errors.push((err as Error).message);
        names.add(hex(name));
        reopenDir(ctx, dir);
        continue;
      }
      insertChild(run, dir, e, true, counters, EntryState.HELD);
      names.add(hex(name));
      db.releaseHeld(dir.id);
      reopenDir(ctx, dir);
    }
    db.setCounters(counters);
  });
}

/** --checksum: whether the stored bytes of a file (or a symlink's target) differ from the source's. */
async function contentDiffers(ctx: DiffContext, dir: EntryRow, row: EntryRow): Promise<boolean> {
  // another name of a hard-linked inode: the inode's first name compares its data
  if (row.linkOf !== null) return false;
  const run = ctx.run;
  const path = joinPath(dir.path!, row.name);
  const known = run.db.knownBlobs(row.id).filter((n) => {
    const p = parseBlobName(n);
    return p !== undefined && p.id.equals(row.fh);
  });
  const name = known[0] ?? inodeName(row, dir.fh);
  let blob: Buffer;
  try {
    blob = await run.target.get(name, { abortSignal: run.abortSignal });
  } catch (err) {
    if (isClfsError(err) && err.code === 'E_TARGET_NOT_FOUND') return true;
    throw err;
  }
  const obj = decodeObject(decodeBlob(blob, name), name);
  if (obj.kind !== 'inode') return true;
  if (row.ftype === Ftype.LNK) {
    const target = sourceFs.readlinkSync(path as unknown as string, { encoding: 'buffer' }) as unknown as Buffer;
    return !target.equals(obj.data ?? Buffer.alloc(0));
  }
  const stored = createHash('sha256');
  if (obj.data !== undefined) stored.update(obj.data);
  for await (const { id } of segmentIdsOf(obj.bmap, async (iid) => {
    const n = blobName(iid, Btype.INDIRECT, row.fh, INITIAL_VERSION);
    const o = decodeObject(decodeBlob(await run.target.get(n, { abortSignal: run.abortSignal }), n), n);
    if (o.kind !== 'indirect') throw new ClfsError('E_FORMAT_CORRUPT', `${n}: expected an indirect block`, { subject: n });
    return o.pointers;
  })) {
    const n = blobName(id, Btype.SEGMENT, row.fh, INITIAL_VERSION);
    const o = decodeObject(decodeBlob(await run.target.get(n, { abortSignal: run.abortSignal }), n), n);
    if (o.kind === 'file-segment') stored.update(o.data);
  }
  const source = createHash('sha256');
  const fd = sourceFs.openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = sourceFs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      source.update(buf.subarray(0, n));
    }
  } finally {
    sourceFs.closeSync(fd);
  }
  return stored.digest('hex') !== source.digest('hex');
}

export function newDiffContext(run: LoadRun, apply: boolean, checksum: boolean): DiffContext {
  return { run, apply, checksum, preserve: run.identity.preserveHardlinks, counts: emptyCounts(), dirtyGroups: new Set(), relink: [], errors: [], deletes: new Set(), changes: [] };
}

/**
 * Before an update writes anything: the container must hold only what clfsload wrote. A cache
 * that used the container as its storage writes objects of its own and higher versions of ours
 * (spec §3.5); an update would then overwrite or delete the cache's data. One listing.
 * `known`: every blob name a state rebuilt from the container found reachable; `expectedInodes`:
 * the inodes the state says the container holds (default: counted now).
 */
export async function checkOnlyOurs(run: LoadRun, known: Set<string> | undefined, expectedInodes?: number): Promise<void> {
  const foreign = (name: string, why: string) =>
    new ClfsError('E_STATE_MISMATCH', `${run.target.description} holds ${name} (${why}), which this load did not write: a cache has written to the container, and an update would destroy its changes; load the source into a new container with --new instead`, { subject: name });
  let inodes = 0;
  const root = rootBlobName(INITIAL_VERSION);
  const bucket = bucketBlobName();
  for await (const b of run.target.list('', { abortSignal: run.abortSignal, namesOnly: true })) {
    const p = parseBlobName(b.name);
    if (p === undefined) {
      if (/^[^/]+\.txt$/.test(b.name)) continue; // the run logs finalize uploads
      throw foreign(b.name, 'not a CLFS object');
    }
    if (p.tmp) throw foreign(b.name, 'an unfinished root');
    if (p.nameVersion === 1) {
      if (b.name !== bucket) throw foreign(b.name, 'a special object');
      continue;
    }
    if (p.version !== INITIAL_VERSION && p.version !== RECONCILED_VERSION) throw foreign(b.name, `version ${p.version}`);
    if (p.btype === undefined || p.btype < Btype.REG || p.btype > Btype.INDIRECT) throw foreign(b.name, `object type ${p.btype}`);
    if (b.name === root) continue;
    if (known !== undefined && !known.has(b.name)) throw foreign(b.name, 'not reachable from the root');
    if (p.btype <= Btype.FIFO) inodes += 1;
  }
  const expected = expectedInodes ?? run.db.countInodeRows();
  if (known === undefined && inodes !== expected) {
    throw new ClfsError('E_STATE_MISMATCH', `${run.target.description} holds ${inodes} inodes where this load wrote ${expected}: something else has written to or deleted from the container; load the source into a new container with --new instead`, { subject: run.target.description });
  }
}

/**
 * The container stops looking finished (spec §3.6) before anything in it changes: the root is
 * set to be written again (TRANSFER writes it last, under its tmp name, as in a load) and its
 * final name deleted. A kill at any point leaves either the old finished container or one with
 * no final root; the root's content is always in the state.
 */
export async function rootToTmp(ctx: DiffContext): Promise<void> {
  const run = ctx.run;
  const root = run.db.rootEntry()!;
  run.db.tx(() => reopenDir(ctx, root));
  run.db.recountPending();
  await run.deleteBlob(rootBlobName(INITIAL_VERSION));
  await run.durable();
}

/** Inodes whose attributes alone changed: each read back, its VATTR replaced, written under the same name. */
export async function applyAttributePatches(run: LoadRun): Promise<void> {
  for (;;) {
    if (run.stopping) return;
    const rows = run.db.attrPatches(64);
    if (rows.length === 0) return;
    await Promise.all(
      rows.map(async (row) => {
        const parent = run.dirRow(row.parentId!);
        const known = run.db.knownBlobs(row.id).filter((n) => parseBlobName(n)?.id.equals(row.fh) === true);
        const name = known[0] ?? inodeName(row, parent.fh);
        let blob: Buffer;
        try {
          blob = await run.target.get(name, { abortSignal: run.abortSignal });
        } catch (err) {
          if (!(isClfsError(err) && err.code === 'E_TARGET_NOT_FOUND')) throw err;
          // not where the state says: write the whole file again
          run.db.tx(() => {
            run.db.addDeletes(segmentNames(run, row.fh, 0, row.plannedSegments, row.gen));
            run.db.refreshFromSource(row.id, row, EntryState.PENDING, true);
            run.db.markRewrite(row.id);
          });
          run.db.attrPatched(row.id);
          return;
        }
        const body = decodeBlob(blob, name);
        const decoded = decodeObject(body, name);
        if (decoded.kind !== 'inode') throw new ClfsError('E_FORMAT_CORRUPT', `${name}: expected an inode`, { subject: name });
        const vattr = { ...vattrOf(row, run.identity, { sizeBytes: decoded.vattr.sizeBytes, nlink: decoded.vattr.nlink }, (w) => run.log.warn(`${displayPath(row.name)}: ${w} clamped`)), usedBytes: decoded.vattr.usedBytes };
        const sections = decodeSections(body, name).map((s) => ({ type: s.type, payload: s.type === HandleType.VATTR ? encodeVattr(vattr) : s.payload }));
        await run.queuePut(name, encodeSections(sections));
        await run.durable();
        run.db.attrPatched(row.id);
      }),
    );
  }
}

/** FINALIZE of an update, first: what the update replaced or removed is deleted, now that nothing references it. */
export async function runUpdateDeletes(run: LoadRun): Promise<void> {
  for (;;) {
    if (run.stopping) return;
    const names = run.db.pendingDeletes(256);
    if (names.length === 0) return;
    await Promise.all(names.map((n) => run.puts.add(() => run.deleteBlob(n))));
    await run.durable();
    run.db.deletesDone(names);
  }
}
