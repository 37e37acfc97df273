import PQueue from 'p-queue';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { encodeBlob, Ftype, generateFileHandle } from '../codec/index.js';
import type { Compression } from '../codec/index.js';
import { ClfsError, isClfsError, stopsRun } from '../errors/index.js';
import { EntryState } from '../state/index.js';
import type { SourceFilter, SourceKind } from '../scan/index.js';
import type { Target } from '../targets/target.js';
import { FolderTarget } from '../targets/folder-target.js';
import { RetryTarget } from '../targets/retry-target.js';
import type { Completion, EntryRow, StateDb, TransferIdentity } from '../state/index.js';
import type { SourceEntry } from '../scan/index.js';
import type { AzureWorkerPuts } from '../targets/azure-target.js';
import { EncoderPool } from './encoder-pool.js';
import type { WorkerStore } from './encoder-pool.js';
import { ScanAhead } from './scan-ahead.js';
import { ObjectIdFactory } from './object-ids.js';
import type { ProgressSnapshot, Reporter } from './reporter.js';
import type { RunLog } from './run-log.js';

/**
 * Completions per state transaction, and the longest they are held: [entries, ms]. A target that
 * must be flushed before the state records its blobs pays a sync per batch: one per second cost
 * the small benchmark about a tenth of what one per 100 ms did (docs/benchmarks.md, flush).
 */
const PLAIN_BATCH = [1024, 100] as const;
const DURABLE_BATCH = [8192, 1000] as const;

/** The reference's fixed number of directory managers (spec §1.1). */
const DIRMGR_COUNT = 48;

export interface RunStats {
  /** rows this run added to the state (scanned children, unreadable ones included), less those dropped with a failed directory */
  entriesScanned: number;
  /** entries this run stored */
  entriesDone: number;
  /** entries this run finished: stored or failed (what progress counts as done) */
  entriesFinished: number;
  bytesScanned: number;
  bytesDone: number;
  errors: number;
  blobsWritten: number;
  bytesUploaded: number;
  blobsDeleted: number;
  /** inodes with more than 1,023 names whose extra names got a new inode (the reference's limit) */
  linkSplits: number;
  /** entries the filters left out this run (a directory counts once: what it holds is not read) */
  entriesExcluded: number;
  /** entries this run stored, by kind (SourceKind) */
  kinds: Partial<Record<SourceKind, number>>;
}

/**
 * What a sharded load (issue 14: src/load/plan.ts, shard.ts, finalize-plan.ts) changes in an
 * ordinary load, as one object passed in LoadOptions.shard. The plan fixes the identity, the
 * handles of every directory above the cut and of its children, and a disjoint sequence range per
 * shard; a shard then loads only its subtrees, under their final names, into the shared container.
 */
export interface ShardSeam {
  /** the plan's identity (container id, fsid, bucket UUID, id secret): every shard shares it */
  identity: TransferIdentity;
  /** instead of the root row alone, the rows this run starts from (inside the state's first transaction) */
  seed(db: StateDb): void;
  /** sequence numbers this run may hand out are below this (the shard's range ends there) */
  seqEnd: number;
  /** false for a directory this run must not write (above the cut: the finalize writes it) */
  writesDirectory(row: EntryRow): boolean;
  /** the handle of a hard-linked inode first met here: the same in every shard that meets it */
  linkHandle?(e: SourceEntry, ftype: Ftype): Buffer;
  /**
   * replaces RECONCILE, CLEANUP and FINALIZE: a shard leaves its hard-linked inodes in progress
   * for the plan's finalize, and reports what it stored instead of finalizing the container
   */
  finish?(run: LoadRun): Promise<void>;
}

/** What a run is made of; every value already defaulted (load.ts applies the defaults once). */
export interface LoadRunOptions {
  db: StateDb;
  target: Target;
  identity: TransferIdentity;
  log: RunLog;
  reporter: Reporter;
  concurrency: number;
  maxErrors: number;
  abortSignal: AbortSignal | undefined;
  encodeWorkers: number;
  /** the transfer's filters, compiled (identity.filters) */
  filter: SourceFilter;
  /** one shard of a planned load, or its finalize */
  shard?: ShardSeam;
}

/**
 * Everything one load run shares, created per run and passed down (no module state):
 * the state, the target, the per-transfer identity, id factories, queues and counters.
 */
export class LoadRun {
  readonly ids: ObjectIdFactory;
  readonly puts: PQueue;
  readonly encoders: EncoderPool;
  /** the scan's source listings, on lister threads (scan-ahead.ts); closed with the encoders */
  readonly scans = new ScanAhead();
  readonly stats: RunStats = {
    entriesScanned: 0,
    entriesDone: 0,
    entriesFinished: 0,
    bytesScanned: 0,
    bytesDone: 0,
    errors: 0,
    blobsWritten: 0,
    bytesUploaded: 0,
    blobsDeleted: 0,
    linkSplits: 0,
    entriesExcluded: 0,
    kinds: {},
  };
  readonly startedAt = Date.now();
  phaseName = 'init';
  private fatalError: ClfsError | undefined;
  /** aborted when the run stops for a fatal error, so requests and waits in flight end at once */
  private readonly stopController = new AbortController();
  /** the user's signal (SIGINT/SIGTERM) and the run's own stop, as one */
  readonly abortSignal: AbortSignal;
  private readonly dirCache = new Map<number, EntryRow>();
  private readonly random = new Random64();

  readonly db: StateDb;
  readonly target: Target;
  readonly identity: TransferIdentity;
  readonly compression: Compression;
  readonly log: RunLog;
  readonly reporter: Reporter;
  readonly concurrency: number;
  readonly maxErrors: number;
  readonly userSignal: AbortSignal | undefined;
  readonly filter: SourceFilter;
  /** the source root's absolute path (bytes): filters match paths relative to it */
  readonly rootPath: Buffer;
  readonly shard: ShardSeam | undefined;
  /** the target, when it is a folder whose small blobs the encode workers write themselves */
  readonly folder: FolderTarget | undefined;

  constructor(o: LoadRunOptions) {
    this.shard = o.shard;
    this.db = o.db;
    this.target = o.target;
    this.identity = o.identity;
    this.compression = o.identity.compression;
    this.log = o.log;
    this.reporter = o.reporter;
    this.concurrency = o.concurrency;
    this.maxErrors = o.maxErrors;
    this.userSignal = o.abortSignal;
    this.filter = o.filter;
    this.rootPath = Buffer.from(o.identity.sourceRootHex, 'hex');
    const userSignal = o.abortSignal;
    this.batch = o.target.features.flush ? DURABLE_BATCH : PLAIN_BATCH;
    this.abortSignal = userSignal === undefined ? this.stopController.signal : AbortSignal.any([userSignal, this.stopController.signal]);
    // every request in flight listens to it (hundreds at --concurrency 256): not a leak
    setMaxListeners(0, this.abortSignal);
    this.folder = plainFolder(o.target);
    const azurePuts = this.folder === undefined ? workerPutsOf(o.target) : undefined;
    const store: WorkerStore | undefined =
      this.folder !== undefined ? { kind: 'folder', writes: this.folder.workerWrites } : azurePuts !== undefined ? { kind: 'azure', puts: azurePuts, maxSockets: Math.min(o.concurrency, o.target.capabilities.maxConnections) } : undefined;
    this.encoders = new EncoderPool(o.identity, o.identity.compression, o.encodeWorkers, o.db, store);
    this.abortSignal.addEventListener('abort', () => this.encoders.stopStoring(), { once: true });
    this.ids = new ObjectIdFactory(o.identity.idSecretHex);
    this.puts = new PQueue({ concurrency: o.concurrency });
  }

  /** first fatal error: stops the run */
  get fatal(): ClfsError | undefined {
    return this.fatalError;
  }

  /**
   * Stop the run for a fatal error (the first one wins): nothing new is claimed, requests and
   * waits in flight are aborted, and what jobs report afterwards is not counted against entries.
   */
  fail(err: ClfsError): void {
    if (this.fatalError !== undefined) return;
    this.fatalError = err;
    this.stopController.abort(err);
  }

  get interrupted(): boolean {
    return this.userSignal?.aborted === true;
  }

  get stopping(): boolean {
    return this.fatalError !== undefined || this.abortSignal.aborted || this.budgetExceeded;
  }

  get budgetExceeded(): boolean {
    return this.maxErrors > 0 && this.stats.errors >= this.maxErrors;
  }

  /** Compress (by the transfer's setting) and store one object. */
  async putObject(name: string, body: Uint8Array): Promise<void> {
    const blob = encodeBlob(body, this.compression);
    await this.putRaw(name, blob);
  }

  async putRaw(name: string, blob: Uint8Array): Promise<void> {
    await this.sendPut(name, blob);
    this.stats.blobsWritten += 1;
    this.stats.bytesUploaded += blob.length;
  }

  /** Queue a put behind the shared concurrency limit, waiting while the queue is full (bounded memory). */
  async queuePut(name: string, body: Uint8Array): Promise<void> {
    await this.puts.onSizeLessThan(this.concurrency * 2);
    return this.puts.add(() => this.putObject(name, body)) as Promise<void>;
  }

  /** Queue the put of an already compressed blob behind the shared concurrency limit. */
  async queuePutBlob(name: string, blob: Buffer): Promise<void> {
    await this.puts.onSizeLessThan(this.concurrency * 2);
    return this.puts.add(() => this.putRaw(name, blob)) as Promise<void>;
  }

  /**
   * A blob an encode worker stored in the folder target itself (EncoderPool.segment's write):
   * counted like a put, and handed to the target so that the next flush makes it durable.
   */
  async workerWrote(name: string, bytes: number): Promise<void> {
    await this.folder!.workerWritten([name], bytes);
    this.stats.blobsWritten += 1;
    this.stats.bytesUploaded += bytes;
  }

  /** A request queued before the run stopped is not sent (a fatal error must not be followed by hundreds of doomed puts). */
  throwIfStopped(): void {
    if (this.abortSignal.aborted) throw new ClfsError('E_ABORTED', 'the run is stopping');
  }

  /**
   * One Put Blob, unless the run is stopping. A failure that stops the run (an expired SAS, a
   * full disk) stops it here, at once: the writer that queued the put may first wait for the rest
   * of its batch, and every put still queued meanwhile would be sent for nothing.
   */
  async sendPut(name: string, blob: Uint8Array): Promise<void> {
    this.throwIfStopped();
    try {
      await this.target.put(name, blob, { abortSignal: this.abortSignal });
    } catch (err) {
      if (stopsRun(err)) this.fail(err as ClfsError);
      throw err;
    }
  }

  async deleteBlob(name: string): Promise<void> {
    this.throwIfStopped();
    try {
      await this.target.delete(name, { abortSignal: this.abortSignal });
    } catch (err) {
      if (stopsRun(err)) this.fail(err as ClfsError);
      throw err;
    }
    this.stats.blobsDeleted += 1;
  }

  /** A directory row, cached: children of one directory are processed together. */
  dirRow(id: number): EntryRow {
    let row = this.dirCache.get(id);
    if (row === undefined) {
      row = this.db.entry(id);
      if (row === undefined) throw new ClfsError('E_STATE_CORRUPT', `state folder ${this.db.dir}: directory row ${id} is missing; remove the folder and start again with --new`);
      if (this.dirCache.size >= 4096) this.dirCache.clear();
      this.dirCache.set(id, row);
    }
    return row;
  }

  /**
   * A new 24-byte filehandle for a child of `parent` (spec §1.1): dmid_src is byte 5 of the
   * parent's handle, directories take the next round-robin dirmgr id, sequence numbers count
   * from 1001. Counters are persisted by the caller in the same transaction as the child row.
   */
  allocateHandle(parentFh: Buffer, ftype: Ftype, counters: { seqNext: number; dmidCounter: number }): Buffer {
    const dmidSrc = parentFh.length === 24 ? parentFh[5]! : 0;
    let dmidTgt = dmidSrc;
    if (ftype === Ftype.DIR) {
      counters.dmidCounter = (counters.dmidCounter + 1) % DIRMGR_COUNT;
      dmidTgt = counters.dmidCounter;
    }
    if (this.shard !== undefined && counters.seqNext >= this.shard.seqEnd) {
      // another shard's handles start there: stop rather than hand out a handle twice
      throw new ClfsError('E_STATE_CORRUPT', `state folder ${this.db.dir}: the shard's sequence range (up to ${this.shard.seqEnd}) is used up; make a new plan with more shards`, { subject: this.db.dir });
    }
    const seq = BigInt(counters.seqNext);
    counters.seqNext += 1;
    return generateFileHandle({ containerId: this.identity.containerId, dmidSrc, dmidTgt, ftype, seq }, this.random.next);
  }

  private completions: Completion[] = [];
  private lastFlush = Date.now();
  /** [entries, ms] of a batch of completions: larger when each one costs the target a sync */
  private readonly batch: readonly [number, number];
  private flushing: Promise<void> = Promise.resolve();
  private flushesInFlight = 0;

  /**
   * Record finished entries. They are written to the state in one transaction per ~1,000 entries
   * or 100 ms (a commit per small batch was the loader's largest cost on small files); an entry
   * whose completion is lost in a crash is simply written again, under the same names. Before the
   * state says DONE, the target is asked to make the blobs durable (the folder target syncs them):
   * for such a target the batches are larger (DURABLE_BATCH), since each costs a sync. When the
   * transfer has nothing else to do it records what is held at once, so directories never wait
   * for a batch to fill.
   */
  complete(batch: readonly Completion[]): void {
    for (const c of batch) this.completions.push(c);
    if (this.completions.length >= this.batch[0] || this.completionsDue) void this.flushCompletions().catch(() => undefined);
  }

  /** whether the completions held back have waited their batch's time */
  get completionsDue(): boolean {
    return Date.now() - this.lastFlush >= this.batch[1];
  }

  /** completions not yet in the state (held back, or being made durable) */
  get hasPendingCompletions(): boolean {
    return this.completions.length > 0 || this.flushesInFlight > 0;
  }

  /** Record every completion held back; flushes run one after another, in order. */
  flushCompletions(): Promise<void> {
    this.flushesInFlight += 1;
    const next = this.flushing.then(() => this.flushOnce()).finally(() => (this.flushesInFlight -= 1));
    this.flushing = next.catch(() => undefined);
    return next;
  }

  private async flushOnce(): Promise<void> {
    this.lastFlush = Date.now();
    if (this.completions.length === 0 || this.fatal !== undefined) return;
    const batch = this.completions;
    this.completions = [];
    try {
      if (this.target.features.flush && batch.some((c) => c.state !== EntryState.ERROR)) await this.target.flush!({ abortSignal: this.abortSignal });
      this.db.complete(batch);
    } catch (err) {
      if (this.interrupted && isClfsError(err) && err.code === 'E_ABORTED') {
        // the user stopped the run while these blobs were not yet durable (an encode worker may
        // finish writing a range after the signal): they are not recorded, and a resume writes
        // those entries again, under the same names
        return;
      }
      this.fail(isClfsError(err) ? err : new ClfsError('E_STATE_IO', `state folder ${this.db.dir}: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
      throw err;
    }
  }

  /** Make what was put durable before the caller records it in the state (reconcile, finalize). */
  async durable(): Promise<void> {
    if (this.target.features.flush) await this.target.flush!({ abortSignal: this.abortSignal });
  }

  countError(message: string): void {
    this.stats.errors += 1;
    this.log.error(message);
  }

  /**
   * The whole transfer's counts as the state had them when progress last read it, and this run's
   * counters at that moment: a snapshot is that plus what the run did since. Read at the start of
   * the transfer (so a resume counts what earlier runs finished) and at each phase's end (so the
   * last line of a phase is the state's own figures, not counters that may have drifted: a file
   * read twice because it changed, another name finished with its inode).
   */
  private progressBase = { entries: 0, bytes: 0, doneEntries: 0, doneBytes: 0, scanned: 0, scannedBytes: 0, finished: 0, bytesDone: 0 };
  /** this run's counters when its transfer began: rates and the ETA are taken from what this run did */
  private rateBase: { at: number; finished: number; bytesDone: number } | undefined;

  /** Take the transfer's totals from the state again (one pass over its rows). */
  syncProgress(): void {
    const t = this.db.progressTotals();
    const s = this.stats;
    this.progressBase = { entries: t.entries, bytes: t.fileBytes, doneEntries: t.doneEntries, doneBytes: t.doneFileBytes, scanned: s.entriesScanned, scannedBytes: s.bytesScanned, finished: s.entriesFinished, bytesDone: s.bytesDone };
  }

  /** The transfer starts (or starts again after RECONCILE): progress is read from the state, and rates count from the first start. */
  beginTransferProgress(): void {
    this.syncProgress();
    this.rateBase ??= { at: Date.now(), finished: this.stats.entriesFinished, bytesDone: this.stats.bytesDone };
  }

  snapshot(): ProgressSnapshot {
    const s = this.stats;
    const b = this.progressBase;
    const entriesTotal = b.entries + (s.entriesScanned - b.scanned);
    const bytesTotal = b.bytes + (s.bytesScanned - b.scannedBytes);
    // the counters between two reads of the state may run ahead (a file read again after it
    // changed, a failed directory's children): never more done than there is
    const entriesDone = Math.min(entriesTotal, b.doneEntries + (s.entriesFinished - b.finished));
    const bytesDone = Math.min(bytesTotal, b.doneBytes + (s.bytesDone - b.bytesDone));
    const r = this.rateBase;
    return {
      phase: this.phaseName,
      entriesScanned: entriesTotal,
      entriesDone,
      bytesScanned: bytesTotal,
      bytesDone,
      errors: s.errors,
      blobsWritten: s.blobsWritten,
      bytesUploaded: s.bytesUploaded,
      elapsedSeconds: (Date.now() - this.startedAt) / 1000,
      entriesDoneThisRun: r === undefined ? 0 : s.entriesFinished - r.finished,
      bytesDoneThisRun: r === undefined ? 0 : s.bytesDone - r.bytesDone,
      rateSeconds: r === undefined ? 0 : (Date.now() - r.at) / 1000,
    };
  }
}

/**
 * The folder under a target, when its small blobs may be written by the encode workers directly:
 * a FolderTarget, bare or under retries only (what fails there is put again through the whole
 * target, retries included). Under any other wrapper (a rate limit, which must count every byte;
 * injected faults; counting) every put goes through the target.
 */
function plainFolder(target: Target): FolderTarget | undefined {
  const t = underRetries(target);
  return t instanceof FolderTarget ? t : undefined;
}

/**
 * How the encode workers may put small blobs themselves (AzureTarget.workerPuts), when the target
 * is an Azure container bare or under retries only, as for plainFolder.
 */
function workerPutsOf(target: Target): AzureWorkerPuts | undefined {
  const t = underRetries(target) as Target & { workerPuts?: AzureWorkerPuts };
  return t.workerPuts?.kind === 'azure' ? t.workerPuts : undefined;
}

function underRetries(target: Target): Target {
  let t = target;
  while (t instanceof RetryTarget) t = t.retried;
  return t;
}

/**
 * Uniform in [1, 2^64 - 1], as the reference's random tail (spec §1.1). Drawn from a pool refilled
 * 4 KiB at a time: one crypto call per handle was 6% of a small-file load's CPU.
 */
export class Random64 {
  private pool = Buffer.alloc(0);
  private offset = 0;

  next = (): bigint => {
    for (;;) {
      if (this.offset + 8 > this.pool.length) {
        this.pool = randomBytes(4096);
        this.offset = 0;
      }
      const v = this.pool.readBigUInt64LE(this.offset);
      this.offset += 8;
      if (v !== 0n) return v;
    }
  };
}
