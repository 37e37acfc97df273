/**
 * Worker thread for the CPU and read work of a load: ranges of one-object entries (rows read from
 * the state on the worker's own read-only connection, files read with synchronous calls, inodes
 * encoded and compressed) and single file segments (read, framed,
 * compressed). The main thread keeps only target writes and state updates (issue 7: per-file
 * promise overhead dominated on small files, and compression on the main thread on large ones).
 */
import { writeFileSync } from 'node:fs';
import PQueue from 'p-queue';
import { parentPort, workerData } from 'node:worker_threads';
import { errorToJson } from '../errors/index.js';
import type { Compression } from '../codec/index.js';
import type { StateFaultPlan, TransferIdentity } from '../state/index.js';
import { installSharedSourceFaults } from '../scan/index.js';
import type { SharedSourceFaults } from '../scan/index.js';
import type { StateReader } from '../state/state-reader.js';
import { deadlineSignal } from './deadline-signal.js';
import { installNativeLz4 } from '../codec/lz4-native.js';
import { nativeFileFunctions, nativeLz4Functions } from '../targets/native-addon.js';
import { encodeSegment } from './segment-encoder.js';
import type { SegmentJob } from './segment-encoder.js';
import { encodeRange, putRangeBlobs, setNativeSmallReads, SingleObjectEncoder, writeRangeBlobs } from './single-object.js';
import type { FolderWorkerWrites } from '../targets/folder-target.js';
import type { AzureWorkerPuts } from '../targets/azure-target.js';
import type { LeanPut } from '../targets/lean-put.js';

/** What the pool gives each worker: in its workerData, or in its first message when it was started ahead (worker-prestart.ts). */
interface Setup {
  identity: TransferIdentity;
  compression: Compression;
  stateDir?: string;
  stateFaults?: StateFaultPlan;
  sourceFaults: SharedSourceFaults | null;
  folderWrites?: FolderWorkerWrites;
  azurePuts?: AzureWorkerPuts & { maxSockets: number };
}

let compression: Compression;
let stateDir: string | undefined;
let stateFaults: StateFaultPlan | undefined;
let folderWrites: FolderWorkerWrites | undefined;
let azurePuts: (AzureWorkerPuts & { maxSockets: number }) | undefined;
let encoder: SingleObjectEncoder;
/** this thread's puts on the wire, one per socket (putRangeBlobs says why not the pool's queue) */
let putQueue: PQueue;

function setUp(s: Setup, fromMessage: boolean): void {
  ({ compression, stateDir, stateFaults, folderWrites, azurePuts } = s);
  encoder = new SingleObjectEncoder(s.identity, s.compression);
  putQueue = new PQueue({ concurrency: s.azurePuts?.maxSockets ?? 1 });
  // from workerData the scan module installed the fault plan as it loaded
  if (fromMessage && s.sourceFaults !== null) installSharedSourceFaults(s.sourceFaults);
}

if ((workerData as { deferred?: boolean }).deferred !== true) setUp(workerData as Setup, false);
// small blocks through the addon's C when it gives the TypeScript's bytes (codec/lz4-native.ts)
installNativeLz4(nativeLz4Functions(process.env));
// small files read in one call each (native-addon.ts)
const fileIo = nativeFileFunctions(process.env).fns;
setNativeSmallReads(fileIo?.readSmall);
// named, so per-thread CPU (top -H, /proc/PID/task/*/comm, the bench's scaling case) tells the threads apart
try {
  writeFileSync('/proc/thread-self/comm', 'clfs-encode');
} catch {
  // not Linux
}
// SQLite is loaded on the first range of small files: a load of large files never needs it, and
// the worker answers its first segment sooner without it (start-up runs on contended cores)
let reader: Promise<StateReader> | undefined;
// into Azure: this thread's own keep-alive sockets, opened on the first range it stores
let lean: Promise<LeanPut> | undefined;
/** aborted when the run stops (EncoderPool.stopStoring): puts in flight end at once */
const stopPuts = new AbortController();
/**
 * After a put here fails, this thread leaves the puts to the main thread for a while (1 s,
 * doubling to 60 s while failures go on; back to 1 s after a range that went through whole):
 * there the retry layer backs off and honours Retry-After, where this thread would go on
 * sending every range at full speed into a throttled account.
 */
let putsPausedUntil = 0;
let putsPauseMs = 1000;
/** aborted at a failure: every put of this thread still in flight or queued goes back too */
let failPuts = new AbortController();

function putsFailed(): void {
  failPuts.abort();
  failPuts = new AbortController();
}

function leanPut(puts: AzureWorkerPuts & { maxSockets: number }): Promise<LeanPut> {
  lean ??= Promise.all([import('../targets/lean-put.js'), import('../targets/azure-http.js')]).then(
    ([{ LeanPut }, { endpointConnection }]) =>
      new LeanPut(puts.containerUrl, puts.sas, puts.maxSockets, {
        connection: endpointConnection(new URL(puts.containerUrl).origin, { maxSockets: puts.maxSockets, ...(puts.ca === undefined ? {} : { ca: puts.ca }) }),
        userAgent: puts.userAgent,
      }),
  );
  return lean;
}

function buf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

type Message =
  | { id: number; kind: 'segment'; job: SegmentJob; writeName?: string }
  | { id: number; kind: 'range'; firstId: number; lastId: number; write: boolean }
  | { id: -1; kind: 'stop' }
  | { id: -2; kind: 'init'; setup: Setup };

parentPort!.on('message', (msg: Message) => {
  if (msg.kind === 'init') {
    setUp(msg.setup, true);
    return;
  }
  if (msg.kind === 'stop') {
    stopPuts.abort();
    return;
  }
  if (msg.kind === 'range') {
    reader ??= import('../state/state-reader.js').then((m) => new m.StateReader(stateDir!, { faults: stateFaults }));
    // ranges are encoded in arrival order: each waits on the same promise, then runs
    // synchronously; a state failure (persistent after the reader's retries) goes back to the
    // main thread, which stops the run
    void reader
      .then(async (r) => {
        const results = encodeRange(r, encoder, msg.firstId, msg.lastId);
        // into a folder: the blobs are written here, and only their names go back
        if (msg.write && folderWrites !== undefined) writeRangeBlobs(results, folderWrites);
        // into Azure: put from here, and what the service did not take goes back with its bytes
        else if (msg.write && azurePuts !== undefined && Date.now() >= putsPausedUntil) {
          const deadline = deadlineSignal([stopPuts.signal, failPuts.signal], azurePuts.requestTimeoutMs);
          let allStored: boolean;
          try {
            allStored = await putRangeBlobs(results, await leanPut(azurePuts), putQueue, deadline.signal, putsFailed);
          } finally {
            deadline.clear();
          }
          if (allStored) putsPauseMs = 1000;
          else {
            putsPausedUntil = Date.now() + putsPauseMs;
            putsPauseMs = Math.min(putsPauseMs * 2, 60_000);
          }
        }
        parentPort!.postMessage({ id: msg.id, result: results });
      })
      .catch((err: unknown) => parentPort!.postMessage({ id: msg.id, error: errorToJson(err) }));
    return;
  }
  // into a folder the segment is stored here (only its size goes back); otherwise its bytes go back
  const write = msg.writeName !== undefined && folderWrites !== undefined ? { folder: folderWrites, name: msg.writeName } : undefined;
  const result = encodeSegment({ ...msg.job, owner: buf(msg.job.owner) }, compression, write);
  const transfer = result.kind === 'blob' && result.blob.byteOffset === 0 && result.blob.byteLength === result.blob.buffer.byteLength ? [result.blob.buffer as ArrayBuffer] : [];
  parentPort!.postMessage({ id: msg.id, result }, transfer);
});
