/**
 * `load`: one local tree into one empty container, resumable. The phases follow the reference's
 * write protocol (spec §9): INIT (bucket object first) → TRANSFER → [RECONCILE → CLEANUP] →
 * FINALIZE → DONE, with the phase and every entry's progress in the local state.
 */
import { installNativeLz4 } from '../codec/lz4-native.js';
import { nativeFileFunctions, nativeLz4Functions } from '../targets/native-addon.js';
import { setNativeSmallReads } from './single-object.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { bucketBlobName, decodeBlob, decodeObject, encodeBlob, encodeBucketBody, Ftype, ROOT_ID } from '../codec/index.js';
import type { Compression } from '../codec/index.js';
import { ClfsError, isClfsError } from '../errors/index.js';
import { DEFAULT_FILTERS, describeFilters, displayPath, joinPath, lstatEntry, sameFilters, SourceFilter } from '../scan/index.js';
import type { FilterSpec, SourceEntry, SourceKind } from '../scan/index.js';
import { checkState, EntryState, FTYPE_UNKNOWN, Phase, StateDb, STATE_FORMAT_VERSION, STORED_STATES } from '../state/index.js';
import type { Counters, EntryRow, StateFaultPlan, TransferIdentity } from '../state/index.js';
import type { Target } from '../targets/target.js';
import { insertChild, KIND_OF_FTYPE, newEntryFrom } from './dir-scan.js';
import { bucketExtattrs, entrySourcePath, runCleanup, runFinalize, runReconcile, writeProblems } from './finishing-phases.js';
import { LoadRun } from './load-run.js';
import type { LogLevel, Reporter } from './reporter.js';
import { PROBLEMS_FILE, RunLog } from './run-log.js';
import { runTransfer } from './transfer.js';
import { basenameBytes, checkSource } from './source-root.js';
import { storedFilters } from './state-maintenance.js';
import { applyAttributePatches, checkOnlyOurs, compareChecked, newDiffContext, rootToTmp, runUpdateDeletes, storedOptionMismatch } from './update.js';
import type { StoredOptionCheck, UpdateCounts } from './update.js';
import { rebuildState } from './update-rebuild.js';
import type { ShardSeam } from './load-run.js';

export interface LoadOptions {
  /** the source root as the user typed it (its last component names the root, spec §5.10); bytes for a path that is not valid UTF-8 */
  source: string | Buffer;
  target: Target;
  /** the target without credentials ("azure:acct/cont"), stored to recognise the transfer on resume */
  targetKey: string;
  stateDir: string;
  /** start a new transfer (the target must be empty); otherwise resume the one in stateDir */
  newTransfer: boolean;
  /** default lz4 for a new load; on resume, must match or be omitted */
  compression?: Compression;
  preserveHardlinks?: boolean;
  /** stop once this many entries failed; 0 = unlimited (default 50, as the reference) */
  maxErrors?: number;
  /** on resume, retry entries that failed before (default true, as the reference) */
  retryErrors?: boolean;
  /** blob requests in flight (default from the target's capabilities) */
  concurrency?: number;
  logLevel?: LogLevel;
  reporter?: Reporter;
  abortSignal?: AbortSignal;
  /** bytes of file segments in flight at once (default 64 MiB): bounds memory on large files */
  segmentBudgetBytes?: number;
  /** worker threads that read and encode files, and into a folder write the small ones (default: one per CPU; 0 = main thread) */
  encodeWorkers?: number;
  /** failures to inject into the state store (tests; the CLI takes it from CLFSLOAD_STATE_FAULTS) */
  stateFaults?: StateFaultPlan;
  /**
   * the phases this call may run (default: all). A run stops with status `phases-done` before a
   * phase not listed: a shard runs TRANSFER alone, a coordinator INIT and FINALIZE.
   */
  phases?: readonly Phase[];
  /**
   * What to leave out (src/scan/filter.ts). A new load stores them (default: DEFAULT_FILTERS, the
   * NAS snapshot directories left out); a resume uses the stored ones and refuses other filters;
   * an update stores the new ones and removes or adds what they change.
   */
  filters?: FilterSpec;
  /**
   * bring the finished container up to date with the source (docs/update.md): from the state
   * folder when it holds the load, else from a state rebuilt from the container
   */
  update?: boolean;
  /** with `update`: compare the data of files whose attributes match, too (reads them and their blobs) */
  checksum?: boolean;
  /** one shard of a planned load, or its finalize (src/load/shard-seam.ts) */
  shard?: ShardSeam;
}

export type LoadStatus = 'complete' | 'complete-with-errors' | 'already-complete' | 'interrupted' | 'error-budget-exceeded' | 'phases-done';

export interface LoadSummary {
  status: LoadStatus;
  phase: Phase;
  stateDir: string;
  /** entries (names) of the whole transfer known to the state: scanned so far, every run */
  entries: number;
  /** of those, finished (stored or failed), every run */
  entriesDone: number;
  /** entries this run stored */
  entriesWritten: number;
  /** stored entries of the whole transfer by kind ('dir', 'file', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev') */
  kinds: Partial<Record<SourceKind, number>>;
  /** this run's entriesWritten by kind */
  kindsWritten: Partial<Record<SourceKind, number>>;
  /** bytes of the regular files of the whole transfer */
  fileBytes: number;
  /** of those, in finished files */
  fileBytesDone: number;
  blobsWritten: number;
  bytesUploaded: number;
  blobsDeleted: number;
  errors: number;
  /** failed entries (the first 1,000; problemsFile lists every one) */
  problems: Array<{ path: string; message: string }>;
  problemsTotal: number;
  /** problems.txt in the state folder: one line per failed entry (path, tab, reason) */
  problemsFile?: string;
  /** inodes with more than 1,023 names whose extra names got a new inode */
  linkSplits: number;
  /** entries the filters left out this run (an excluded directory counts once) */
  excluded: number;
  seconds: number;
  /** with `update`: what the comparison found this run (a resumed update counts what was left) */
  update?: UpdateCounts;
}

export const DEFAULT_MAX_ERRORS = 50;

/**
 * Encode worker threads when the caller does not say: one per core the process may run on
 * (os.availableParallelism follows the CPU affinity: `taskset -c 0,1` gives 2). No cap: a load
 * of small files on a 16-core machine needs every core (issue 17).
 */
export function defaultEncodeWorkers(): number {
  return os.availableParallelism();
}

function hexOf(p: Buffer): string {
  return p.toString('hex');
}

/** Whether one of two absolute folders is the other or inside it. */
function overlaps(a: string, b: string): boolean {
  const withSep = (p: string) => (p.endsWith(path.sep) ? p : p + path.sep);
  return withSep(a).startsWith(withSep(b)) || withSep(b).startsWith(withSep(a));
}

/** A byte path as overlaps compares it: one code unit per byte. */
function bytewise(p: string | Buffer): string {
  return (typeof p === 'string' ? Buffer.from(p) : p).toString('latin1');
}

function checkStateOutsideSource(stateDir: string, sourceAbs: Buffer): void {
  if (overlaps(bytewise(path.resolve(stateDir)), bytewise(sourceAbs))) {
    throw new ClfsError('E_USAGE', `state folder ${stateDir} overlaps the source ${displayPath(sourceAbs)}: put the state somewhere outside the tree being loaded`, { subject: stateDir });
  }
}

/**
 * A folder target inside the source would load its own blobs (and grow while it is scanned); one
 * that holds the source would mix the two. Refused before anything is written.
 */
export function checkTargetOutsideSource(targetKey: string, sourceAbs: Buffer): void {
  if (!targetKey.startsWith('file:')) return;
  const dir = path.resolve(targetKey.slice('file:'.length).replace(/^\/\/(?=\/)/, ''));
  if (overlaps(bytewise(dir), bytewise(sourceAbs))) {
    throw new ClfsError('E_USAGE', `target folder ${dir} overlaps the source ${displayPath(sourceAbs)}: put the target somewhere outside the tree being loaded`, { subject: dir });
  }
}

async function firstBlob(target: Target, signal?: AbortSignal): Promise<string | undefined> {
  for await (const b of target.list('', { abortSignal: signal })) return b.name;
  return undefined;
}

async function writeBucket(target: Target, identity: TransferIdentity): Promise<void> {
  await target.put(bucketBlobName(), encodeBlob(encodeBucketBody(bucketExtattrs(identity.bucketUuid)), identity.compression));
}

/** The container's bucket object must be this transfer's (same bucketUUID) before a resume writes anything. */
async function checkBucket(target: Target, identity: TransferIdentity): Promise<void> {
  const name = bucketBlobName();
  let blob: Buffer;
  try {
    blob = await target.get(name);
  } catch (err) {
    if (isClfsError(err) && err.code === 'E_TARGET_NOT_FOUND') {
      throw new ClfsError('E_STATE_MISMATCH', `${target.description} has no CLFS bucket object: it is not the container this state was loading; check the target or start again with --new`, { subject: target.description });
    }
    throw err;
  }
  const decoded = decodeObject(decodeBlob(blob, name), name);
  const uuid = decoded.kind === 'bucket' ? new Map(decoded.extattrs).get('bucketUUID') : undefined;
  if (uuid !== identity.bucketUuid) {
    throw new ClfsError('E_STATE_MISMATCH', `${target.description} holds another CLFS load (bucket ${uuid ?? '?'}, state expects ${identity.bucketUuid}); check the target or start again with --new`, { subject: target.description });
  }
}

/**
 * A new transfer's identity: the container id, fsid, UUIDs and id secret drawn at random. A load
 * stores its filters in it too; a plan (src/load/plan.ts) shares it with all of its shards.
 */
export function freshIdentity(sourceAbs: Buffer, o: Pick<LoadOptions, 'targetKey' | 'compression' | 'preserveHardlinks'>): TransferIdentity {
  return {
    formatVersion: STATE_FORMAT_VERSION,
    sourceRootHex: hexOf(sourceAbs),
    targetKey: o.targetKey,
    compression: o.compression ?? 'lz4',
    preserveHardlinks: o.preserveHardlinks ?? false,
    containerId: randomInt(1, 0xffffffff),
    fsid: randomInt(1, 0xffffffff),
    bucketUuid: randomUUID(),
    massUuid: randomUUID(),
    wipeEpoch: randomUUID(),
    idSecretHex: randomBytes(32).toString('hex'),
    createdAt: new Date().toISOString(),
  };
}

function newIdentity(sourceAbs: Buffer, options: LoadOptions): TransferIdentity {
  return { ...freshIdentity(sourceAbs, options), filters: copyFilters(options.filters ?? DEFAULT_FILTERS) };
}

function copyFilters(f: FilterSpec): FilterSpec {
  return { exclude: [...f.exclude], include: [...f.include], excludeIfPresent: [...f.excludeIfPresent], keepSnapshotDirs: f.keepSnapshotDirs };
}
/**
 * The options a transfer stores and a resume (or an update) must not change, one row each: a
 * given value must match the stored one; an option not given keeps it. A new stored option is
 * one more row.
 */
export const STORED_OPTIONS: ReadonlyArray<StoredOptionCheck<LoadOptions>> = [
  { option: 'compression', stored: (i) => i.compression, given: (o) => o.compression },
  { option: 'preserve-hardlinks', stored: (i) => i.preserveHardlinks, given: (o) => o.preserveHardlinks },
];

function checkIdentity(identity: TransferIdentity, sourceAbs: Buffer, options: LoadOptions, stateDir: string): void {
  const mismatch = (what: string, stored: string, given: string) =>
    new ClfsError('E_STATE_MISMATCH', `state folder ${stateDir} belongs to another transfer (${what}: stored ${stored}, given ${given}); use the same ${what}, or --new with a new state folder`, { subject: stateDir });
  if (identity.sourceRootHex !== hexOf(sourceAbs)) throw mismatch('source', displayPath(Buffer.from(identity.sourceRootHex, 'hex')), displayPath(sourceAbs));
  if (identity.targetKey !== options.targetKey) throw mismatch('target', identity.targetKey, options.targetKey);
  const m = storedOptionMismatch(STORED_OPTIONS, identity, options);
  if (m !== undefined) {
    if (options.update) {
      throw new ClfsError('E_STATE_MISMATCH', `${options.target.description} was loaded with ${m.option} ${m.stored}, and this update asks for ${m.given}: an update keeps the load's options; drop --${m.option}, or load into a new container with --new`, { subject: `--${m.option}` });
    }
    throw mismatch(m.option, m.stored, m.given);
  }
  const stored = storedFilters(identity);
  // an update may change the filters: it removes what they now leave out and adds what they let in
  if (options.filters !== undefined && !sameFilters(options.filters, stored) && options.update !== true) {
    // a silent change would leave the container half one selection, half the other
    throw new ClfsError(
      'E_STATE_MISMATCH',
      `state folder ${stateDir} was loading with ${describeFilters(stored)}, not ${describeFilters(options.filters)}: resume with the same filter options (or none, to use the stored ones); to change them, load again with --update and the new filters`,
      { subject: '--exclude' },
    );
  }
}

/**
 * Put the state back into a shape the writers can continue from (docs/architecture.md, "Resume
 * model"): the consistency check repairs what a dead run left, then failed entries are retried,
 * and every count is derived again from the rows. A state that cannot be repaired is refused
 * here, before anything is written.
 */
function prepareResume(run: LoadRun, retryErrors: boolean, sourceBytes: Buffer, targetKey: string): { findings: string[]; retried: number; phase: Phase } {
  const db = run.db;
  const report = checkState(db, { repair: true });
  if (report.damage.length > 0) {
    throw new ClfsError(
      'E_STATE_CORRUPT',
      `state folder ${db.dir} is damaged (${report.damage.join('; ')}) and cannot be resumed; start over into a new, empty container: clfsload load ${displayPath(sourceBytes)} ${targetKey.startsWith('file:') ? `file://${targetKey.slice(5)}` : 'TARGET'} --new --state NEW_STATE_FOLDER`,
      { subject: db.dir },
    );
  }
  let retried = 0;
  if (retryErrors) {
    let after = 0;
    for (;;) {
      const rows = db.errorsAfter(after, 1000);
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;
      db.tx(() => {
        const counters = db.counters;
        for (const row of rows) retryEntry(run, row, counters);
        db.setCounters(counters);
      });
      retried += rows.length;
    }
    if (retried > 0) db.recountPending();
  }
  let phase = report.phase;
  if (retried > 0 && phase !== Phase.TRANSFER) phase = Phase.TRANSFER;
  return { findings: report.findings, retried, phase };
}

/**
 * One failed entry back to work (inside the caller's transaction). Every directory that must
 * name it again is reopened: its parent, and for a hard-linked inode the directories of all its
 * other names, which were written without them.
 */
function retryEntry(run: LoadRun, row: EntryRow, counters: Counters): void {
  const db = run.db;
  if (row.parentId === null) {
    // the root: scanned again if its scan failed, written again otherwise
    db.markForRetry(row.id, db.hasChildren(row.id) ? EntryState.READY : EntryState.PENDING);
    return;
  }
  const parent = db.entry(row.parentId)!;
  if (row.ftype === FTYPE_UNKNOWN) {
    // its lstat failed: lstat it again, and it takes its place as a child like any scanned one
    const path = joinPath(parent.path!, row.name);
    let e: SourceEntry;
    try {
      e = lstatEntry(path, row.name);
    } catch (err) {
      db.setError(row.id, (err as Error).message);
      return;
    }
    db.deleteEntry(row.id);
    insertChild(run, parent, e, run.identity.preserveHardlinks, counters, EntryState.HELD);
    db.releaseHeld(parent.id);
    db.reopen(parent.id);
    return;
  }
  if (row.linkOf !== null) {
    // another name: it follows its inode (retried in this same pass when it failed too)
    const primary = db.entry(row.linkOf);
    const ok = primary !== undefined && STORED_STATES.has(primary.state);
    db.markForRetry(row.id, ok ? EntryState.DONE : EntryState.LINKWAIT);
    if (ok) db.reconcileAgain(primary.id);
    db.reopen(parent.id);
    return;
  }
  const next = row.ftype === Ftype.DIR ? (db.hasChildren(row.id) ? EntryState.READY : EntryState.PENDING) : EntryState.PENDING;
  db.markForRetry(row.id, next);
  db.reopen(parent.id);
  for (const link of db.linksOf(row.id)) {
    if (link.state === EntryState.ERROR || link.state === EntryState.DONE) {
      db.markForRetry(link.id, EntryState.LINKWAIT);
      db.reopen(link.parentId!);
    }
  }
}

export async function load(options: LoadOptions): Promise<LoadSummary> {
  const sourceAbs = checkSource(options.source);
  // this thread's small blocks (directory inodes, files encoded here) through the addon's C when it gives the port's bytes
  installNativeLz4(nativeLz4Functions(process.env));
  // and its small files read in one call each
  const fileIo = nativeFileFunctions(process.env).fns;
  setNativeSmallReads(fileIo?.readSmall);
  // a pattern that cannot be read is refused before anything else
  if (options.filters !== undefined) SourceFilter.compile(options.filters);
  checkStateOutsideSource(options.stateDir, sourceAbs);
  checkTargetOutsideSource(options.targetKey, sourceAbs);
  const reporter = options.reporter ?? {};
  if (options.update) {
    if (options.newTransfer) throw new ClfsError('E_USAGE', '--update brings a loaded container up to date and --new starts a new load: give one of them', { subject: '--update' });
    if (!StateDb.holdsTransfer(options.stateDir)) {
      // the load's state is not here: rebuild it from the container (a shell left by an interrupted rebuild is started over)
      for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) fs.rmSync(path.join(options.stateDir, f), { force: true });
      if (options.target.features.checkAccess) await options.target.checkAccess!({ abortSignal: options.abortSignal });
      await rebuildState({ target: options.target, targetKey: options.targetKey, stateDir: options.stateDir, sourceAbs, abortSignal: options.abortSignal });
    }
  }
  let db: StateDb;
  let identity: TransferIdentity;
  // a state folder whose INIT was interrupted before the identity was stored holds nothing
  // to resume: nothing was written to the target yet, so the load starts over
  const startOver = !options.newTransfer && fs.existsSync(path.join(options.stateDir, 'state.db')) && !StateDb.holdsTransfer(options.stateDir);
  if (options.newTransfer || startOver) {
    // before the target is contacted
    StateDb.refuseExisting(options.stateDir);
    if (options.target.features.checkAccess) await options.target.checkAccess!({ abortSignal: options.abortSignal });
    const existing = options.shard === undefined ? await firstBlob(options.target, options.abortSignal) : undefined;
    // a shard's container holds the plan's bucket object and the other shards' blobs
    if (options.shard !== undefined) await checkBucket(options.target, options.shard.identity);
    if (existing !== undefined) {
      throw new ClfsError('E_TARGET_NOT_EMPTY', `${options.target.description} is not empty (it holds ${existing}): a CLFS load needs an empty container; use a new container, or resume the earlier load without --new`, { subject: options.target.description });
    }
    db = StateDb.open(options.stateDir, { create: true, faults: options.stateFaults });
    identity = options.shard?.identity ?? newIdentity(sourceAbs, options);
    const rootStat = lstatEntry(sourceAbs, basenameBytes(sourceAbs));
    const shard = options.shard;
    db.tx(() => {
      db.setMeta('identity', identity);
      // the plan wrote the bucket object: a shard starts in TRANSFER
      db.setMeta('phase', shard === undefined ? Phase.INIT : Phase.TRANSFER);
      if (shard === undefined) db.insertEntry(newEntryFrom(rootStat, null, ROOT_ID, Buffer.from(sourceAbs), EntryState.PENDING));
      else shard.seed(db);
    });
  } else {
    db = StateDb.open(options.stateDir, { create: false, faults: options.stateFaults });
    const stored = db.identity;
    if (stored === undefined) throw new ClfsError('E_STATE_CORRUPT', `state folder ${options.stateDir} has no transfer identity; remove it and start again with --new`);
    identity = stored;
    checkIdentity(identity, sourceAbs, options, options.stateDir);
    if (options.update === true && options.filters !== undefined && !sameFilters(options.filters, storedFilters(identity))) {
      // an update with other filters: from now on they are the transfer's (the comparison removes
      // what they leave out and adds what they let in)
      identity = { ...identity, filters: copyFilters(options.filters) };
      db.setMeta('identity', identity);
    }
  }
  const log = new RunLog(options.stateDir, reporter, options.logLevel ?? 'info');
  if (startOver) log.warn(`state folder ${options.stateDir} held an interrupted start; starting the load over`);
  // a busy or slow state disk is waited out; say so once it takes a while
  db.onRetry = (e) => {
    if (e.attempt === 1 || e.attempt % 10 === 0) log.warn(`state folder ${e.dir}: ${e.code} on a ${e.what} (${e.message}); retrying (attempt ${e.attempt}, ${(e.elapsedMs / 1000).toFixed(1)} s so far)`);
  };
  const run = new LoadRun({
    db,
    target: options.target,
    identity,
    log,
    reporter,
    concurrency: options.concurrency ?? options.target.capabilities.maxConnections,
    maxErrors: options.maxErrors ?? DEFAULT_MAX_ERRORS,
    abortSignal: options.abortSignal,
    encodeWorkers: options.encodeWorkers ?? defaultEncodeWorkers(),
    filter: SourceFilter.compile(storedFilters(identity)),
    shard: options.shard,
  });
  const ticker = setInterval(() => reporter.progress?.(run.snapshot()), 1000);
  ticker.unref();
  // the lister threads start while INIT runs, so the first directories are listed when TRANSFER wants them
  if (db.phase === Phase.INIT || db.phase === Phase.TRANSFER) run.scans.warm();
  try {
    return await runPhases(run, { ...options, newTransfer: options.newTransfer || startOver }, sourceAbs);
  } finally {
    clearInterval(ticker);
    await run.encoders.close();
    await run.scans.close();
    log.close();
    db.close();
  }
}

interface PhaseContext {
  run: LoadRun;
  options: LoadOptions;
  sourceAbs: Buffer;
  /** with --update: what the comparison found */
  update?: UpdateCounts;
}

/**
 * The write protocol as data (spec §9): what each phase does and which phase follows, decided
 * from the state. Each step is idempotent, so a resumed run repeats the phase it was in; a caller
 * may run only some phases (LoadOptions.phases), e.g. TRANSFER alone for one shard.
 */
const PHASES: Record<Exclude<Phase, Phase.DONE>, { run: (c: PhaseContext) => Promise<void>; next: (c: PhaseContext) => Phase }> = {
  [Phase.INIT]: {
    run: async ({ run }) => {
      await writeBucket(run.target, run.identity);
      run.stats.blobsWritten += 1;
    },
    next: () => Phase.TRANSFER,
  },
  [Phase.TRANSFER]: {
    run: ({ run, options }) => runTransfer(run, { preserveHardlinks: run.identity.preserveHardlinks, segmentBudgetBytes: options.segmentBudgetBytes }),
    next: ({ run, options, sourceAbs }) => {
      const root = run.db.rootEntry()!;
      if (root.state !== EntryState.DONE) {
        throw new ClfsError('E_SOURCE_UNREADABLE', `source root ${displayPath(sourceAbs)} could not be loaded (${root.error ?? 'unfinished'}); fix it and re-run to resume`, { subject: displayPath(sourceAbs) });
      }
      // a shard leaves its hard-linked inodes to the plan's finalize
      return options.shard?.finish === undefined && run.db.countAwaitingReconcile() > 0 ? Phase.RECONCILE : Phase.FINALIZE;
    },
  },
  [Phase.RECONCILE]: {
    run: async ({ run }) => {
      await runReconcile(run);
      await run.puts.onIdle();
    },
    // an inode that could not be reconciled failed with all its names: their directories are written again
    next: ({ run }) => (run.db.countUnfinished() > 0 ? Phase.TRANSFER : Phase.CLEANUP),
  },
  [Phase.CLEANUP]: { run: ({ run }) => runCleanup(run), next: () => Phase.FINALIZE },
  [Phase.FINALIZE]: {
    run: async ({ run, options }) => {
      // an update's replaced and removed blobs go only now, when nothing written references them
      await runUpdateDeletes(run);
      if (run.stopping) return;
      await (options.shard?.finish ?? runFinalize)(run);
    },
    next: () => Phase.DONE,
  },
};

async function runPhases(run: LoadRun, options: LoadOptions, sourceAbs: Buffer): Promise<LoadSummary> {
  const db = run.db;
  const log = run.log;
  let phase = db.phase;
  const retryErrors = options.retryErrors ?? true;
  const ctx: PhaseContext = { run, options, sourceAbs };
  if (options.update) {
    const early = await beginUpdate(ctx);
    if (early !== undefined) return early;
    phase = db.phase;
  } else if (db.updateStage === 'scan') {
    throw new ClfsError('E_USAGE', `an update of ${run.target.description} is in progress: finish it by running the same command with --update`, { subject: '--update' });
  }
  if (!options.newTransfer) {
    if (phase === Phase.INIT) {
      const existing = await firstBlob(run.target, run.abortSignal);
      if (existing !== undefined && existing !== bucketBlobName()) {
        throw new ClfsError('E_TARGET_NOT_EMPTY', `${run.target.description} is not empty (it holds ${existing}); it is not the container this state was starting to load`);
      }
    } else {
      await checkBucket(run.target, run.identity);
      const finished = phase === Phase.DONE && (db.errorCount() === 0 || !retryErrors);
      const healthy = (r: { findings: string[]; damage: string[] }) => r.findings.length === 0 && r.damage.length === 0;
      if (finished && healthy(checkState(db, { repair: false }))) {
        const errors = db.errorCount();
        if (errors > 0) {
          // --no-retry-errors: nothing is done, and what failed is still failed
          log.warn(`load already finished with ${errors} failed entries (listed in ${PROBLEMS_FILE}); re-run without --no-retry-errors to retry them`);
          return summary(run, 'complete-with-errors', Phase.DONE);
        }
        log.info('load already complete; nothing to do');
        return summary(run, 'already-complete', Phase.DONE);
      }
      const r = prepareResume(run, retryErrors, sourceAbs, options.targetKey);
      for (const f of r.findings) log.warn(`state repaired on resume: ${f}`);
      log.info(`resuming in phase ${r.phase}: ${r.retried} failed entries retried`);
      phase = r.phase;
      if (phase === Phase.DONE) phase = Phase.FINALIZE;
      db.setPhase(phase);
    }
  }
  log.info(`clfsload: ${displayPath(Buffer.from(sourceAbs))} -> ${run.target.description} (compression ${run.identity.compression}, hardlinks ${run.identity.preserveHardlinks ? 'preserved' : 'copied'}, ${describeFilters(storedFilters(run.identity))})`);
  const stopped = (): LoadSummary | undefined => {
    if (run.fatal !== undefined) throw run.fatal;
    if (run.interrupted) return summary(run, 'interrupted', phase);
    if (run.budgetExceeded) {
      log.error(`stopped: ${run.stats.errors} errors reached --max-errors ${run.maxErrors}; fix them and re-run to resume`);
      return summary(run, 'error-budget-exceeded', phase);
    }
    return undefined;
  };
  const allowed = new Set(options.phases ?? Object.values(Phase));
  while (phase !== Phase.DONE) {
    const step = PHASES[phase];
    if (step === undefined) throw new ClfsError('E_STATE_CORRUPT', `state folder ${db.dir}: unknown phase ${String(phase)}; remove the folder and start again with --new`);
    if (!allowed.has(phase)) {
      log.info(`phase ${phase} is not this run's to do (phases ${[...allowed].join(', ')}); stopping here`);
      return summary(run, 'phases-done', phase);
    }
    run.phaseName = phase;
    run.reporter.phase?.(phase, 'start');
    log.info(`phase ${phase} started`);
    try {
      await step.run(ctx);
    } catch (err) {
      // the user's signal aborted one of this phase's requests (finalize's, say): every phase
      // resumes, so this is an interrupt like any other, with its summary and resume command
      if (run.interrupted && run.fatal === undefined && isClfsError(err) && err.code === 'E_ABORTED') return summary(run, 'interrupted', phase);
      throw err;
    }
    // the phase's last figures are the state's (FINALIZE changes no entry); a phase the run left part way is not said to end
    if (phase !== Phase.INIT) {
      if (phase !== Phase.FINALIZE) run.syncProgress();
      run.reporter.progress?.(run.snapshot());
    }
    if (!run.stopping) {
      run.reporter.phase?.(phase, 'end');
      log.info(`phase ${phase} ended`);
    }
    const s = stopped();
    if (s) return s;
    phase = step.next(ctx);
    db.setPhase(phase);
  }
  if (db.updateStage !== undefined) db.setUpdateStage(undefined);
  const errors = db.errorCount();
  log.info(`done: ${run.stats.entriesDone} entries written, ${run.stats.blobsWritten} blobs, ${errors} errors, elapsed ${((Date.now() - run.startedAt) / 1000).toFixed(3)} s`);
  return summary(run, errors > 0 ? 'complete-with-errors' : 'complete', phase, ctx.update);
}

/**
 * The first part of an update (docs/update.md): refuse a container clfsload did not write alone,
 * compare the source with the state, and only when something differs move the root to its tmp
 * name and hand over to the load's phases. Returns a summary when there is nothing to write.
 */
async function beginUpdate(ctx: PhaseContext): Promise<LoadSummary | undefined> {
  const { run, options, sourceAbs } = ctx;
  const db = run.db;
  let stage = db.updateStage;
  if (stage === 'write' && db.phase === Phase.DONE) {
    // the previous update finished; only its marker was left
    db.setUpdateStage(undefined);
    stage = undefined;
  }
  if (stage === undefined) {
    if (db.phase !== Phase.DONE) {
      throw new ClfsError('E_USAGE', `the load into ${run.target.description} has not finished (phase ${db.phase}): resume it with the same command without --update, then update`, { subject: '--update' });
    }
    await checkBucket(run.target, run.identity);
    // a rebuilt state is checked against what its rebuild listed; the load's own state beside the diff
    if (db.isRebuilt) await checkOnlyOurs(run, db.allKnownBlobs());
    const expectedInodes = db.isRebuilt ? undefined : db.countInodeRows();
    db.tx(() => {
      db.setUpdateStage('scan');
      db.setPendingUpdateCheck(expectedInodes);
    });
    stage = 'scan';
  }
  if (stage === 'scan') {
    run.phaseName = 'update';
    run.log.info(`update: comparing ${displayPath(sourceAbs)} with ${run.target.description}${options.checksum ? ' (data too: --checksum)' : ''}`);
    const diff = newDiffContext(run, true, options.checksum ?? false);
    await compareChecked(diff, sourceAbs, db.pendingUpdateCheck);
    if (run.interrupted) return summary(run, 'interrupted', Phase.DONE);
    if (run.fatal !== undefined) throw run.fatal;
    for (const m of diff.errors) run.countError(m);
    db.recountPending();
    ctx.update = { ...diff.counts, blobsToDelete: db.countDeletes() };
    const c = ctx.update;
    run.log.info(`update: ${c.added} entries added, ${c.changed} changed, ${c.attributesOnly} with new attributes only, ${c.removed} removed; ${c.blobsToDelete} blobs to delete`);
    if (db.countNotDone() + db.countDeletes() + db.countAttrPatches() === 0) {
      db.setUpdateStage(undefined);
      run.log.info('update: the container is up to date; nothing written');
      return summary(run, 'already-complete', Phase.DONE, c);
    }
    await rootToTmp(diff);
    db.tx(() => {
      db.setMeta('update', 'write');
      db.setMeta('phase', Phase.TRANSFER);
    });
  }
  await applyAttributePatches(run);
  return undefined;
}

/** Failed entries listed in the summary (all of them are in the problems file). */
const SUMMARY_PROBLEMS = 1000;

function summary(run: LoadRun, status: LoadStatus, phase: Phase, update?: UpdateCounts): LoadSummary {
  const totals = run.db.summaryTotals();
  const kinds: Partial<Record<SourceKind, number>> = {};
  for (const [ftype, n] of totals.stored) {
    const kind = KIND_OF_FTYPE.get(ftype);
    if (kind !== undefined) kinds[kind] = n;
  }
  const errors = run.db.errorCount();
  // the problems file is the complete list, kept in the state folder whatever stopped the run
  const problemsTotal = writeProblems(run);
  const problems = run.db.errorsAfter(0, SUMMARY_PROBLEMS).map((r) => ({ path: displayPath(entrySourcePath(run, r)), message: r.error ?? 'failed' }));
  return {
    status,
    phase,
    stateDir: run.db.dir,
    entries: totals.entries,
    entriesDone: totals.doneEntries,
    entriesWritten: run.stats.entriesDone,
    kinds,
    kindsWritten: run.stats.kinds,
    fileBytes: totals.fileBytes,
    fileBytesDone: totals.doneFileBytes,
    blobsWritten: run.stats.blobsWritten,
    bytesUploaded: run.stats.bytesUploaded,
    blobsDeleted: run.stats.blobsDeleted,
    errors,
    problems,
    problemsTotal,
    problemsFile: problemsTotal > 0 ? path.join(run.db.dir, PROBLEMS_FILE) : undefined,
    linkSplits: run.stats.linkSplits,
    excluded: run.stats.entriesExcluded,
    seconds: (Date.now() - run.startedAt) / 1000,
    ...(update === undefined ? {} : { update }),
  };
}

/** What `load --update --dry-run` prints: what an update would change, with nothing written anywhere. */
export interface UpdateEstimate extends UpdateCounts {
  /** the state the comparison used: the load's, or one rebuilt from the container (then thrown away) */
  stateFrom: 'state-folder' | 'container';
  seconds: number;
}

/**
 * Compare the source with the container as `load --update` would, and count what it would do.
 * Nothing is written to the target or to the state folder: without the load's state, one is
 * rebuilt from the container in a temporary folder and removed afterwards.
 */
export async function updateDryRun(options: LoadOptions): Promise<UpdateEstimate> {
  const started = Date.now();
  const sourceAbs = checkSource(options.source);
  checkStateOutsideSource(options.stateDir, sourceAbs);
  let stateDir = options.stateDir;
  let temporary: string | undefined;
  if (!StateDb.holdsTransfer(stateDir)) {
    temporary = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-update-'));
    stateDir = temporary;
    await rebuildState({ target: options.target, targetKey: options.targetKey, stateDir, sourceAbs, abortSignal: options.abortSignal });
  }
  const db = StateDb.open(stateDir, { create: false });
  // its log is thrown away: the dry run leaves the state folder as it was
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-update-log-'));
  const log = new RunLog(logDir, {}, 'error');
  try {
    const identity = db.identity!;
    checkIdentity(identity, sourceAbs, { ...options, update: true }, stateDir);
    if (db.phase !== Phase.DONE && db.updateStage === undefined) {
      throw new ClfsError('E_USAGE', `the load into ${options.target.description} has not finished (phase ${db.phase}): resume it with the same command without --update, then update`, { subject: '--update' });
    }
    const run = new LoadRun({ db, target: options.target, identity, log, reporter: {}, concurrency: options.concurrency ?? options.target.capabilities.maxConnections, maxErrors: 0, abortSignal: options.abortSignal, encodeWorkers: 0, filter: SourceFilter.compile(options.filters ?? storedFilters(identity)) });
    try {
      await checkBucket(run.target, identity);
      if (db.updateStage === undefined && db.isRebuilt) await checkOnlyOurs(run, db.allKnownBlobs());
      const diff = newDiffContext(run, false, options.checksum ?? false);
      // the check beside the comparison, as the update runs it
      await compareChecked(diff, sourceAbs, db.updateStage === undefined ? (db.isRebuilt ? undefined : db.countInodeRows()) : db.pendingUpdateCheck);
      const c = diff.counts;
      c.blobsToDelete = diff.deletes.size;
      if (c.added + c.changed + c.attributesOnly + c.removed > 0) {
        // the root moves to its tmp name and back; finalize rewrites the logs and the bucket object
        c.blobsToWrite += 4;
        c.blobsToDelete += 2;
      }
      return { ...c, stateFrom: temporary === undefined ? 'state-folder' : 'container', seconds: (Date.now() - started) / 1000 };
    } finally {
      await run.encoders.close();
      await run.scans.close();
    }
  } finally {
    log.close();
    db.close();
    if (temporary !== undefined) fs.rmSync(temporary, { recursive: true, force: true });
    fs.rmSync(logDir, { recursive: true, force: true });
  }
}
