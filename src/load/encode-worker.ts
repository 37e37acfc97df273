/**
 * Worker thread for the CPU and read work of a load: ranges of one-object entries (rows read from
 * the state on the worker's own read-only connection, files read with synchronous calls, inodes
 * encoded and compressed) and single file segments (read, framed,
 * compressed). The main thread keeps only target writes and state updates (issue 7: per-file
 * promise overhead dominated on small files, and compression on the main thread on large ones).
 */
import { writeFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { errorToJson } from '../errors/index.js';
import type { Compression } from '../codec/index.js';
import type { StateFaultPlan, TransferIdentity } from '../state/index.js';
import type { StateReader } from '../state/state-reader.js';
import { encodeSegment } from './segment-encoder.js';
import type { SegmentJob } from './segment-encoder.js';
import { encodeRange, SingleObjectEncoder, writeRangeBlobs } from './single-object.js';
import type { FolderWorkerWrites } from '../targets/folder-target.js';

const { identity, compression, stateDir, stateFaults, folderWrites } = workerData as { identity: TransferIdentity; compression: Compression; stateDir?: string; stateFaults?: StateFaultPlan; folderWrites?: FolderWorkerWrites };
// named, so per-thread CPU (top -H, /proc/PID/task/*/comm, the bench's scaling case) tells the threads apart
try {
  writeFileSync('/proc/thread-self/comm', 'clfs-encode');
} catch {
  // not Linux
}
// SQLite is loaded on the first range of small files: a load of large files never needs it, and
// the worker answers its first segment sooner without it (start-up runs on contended cores)
let reader: Promise<StateReader> | undefined;
const encoder = new SingleObjectEncoder(identity, compression);

function buf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

type Message =
  | { id: number; kind: 'segment'; job: SegmentJob; writeName?: string }
  | { id: number; kind: 'range'; firstId: number; lastId: number; write: boolean };

parentPort!.on('message', (msg: Message) => {
  if (msg.kind === 'range') {
    reader ??= import('../state/state-reader.js').then((m) => new m.StateReader(stateDir!, { faults: stateFaults }));
    // ranges answer in arrival order: each waits on the same promise, then runs synchronously;
    // a state failure (persistent after the reader's retries) goes back to the main thread, which stops the run
    void reader
      .then((r) => {
        const results = encodeRange(r, encoder, msg.firstId, msg.lastId);
        // into a folder: the blobs are written here, and only their names go back
        if (msg.write && folderWrites !== undefined) writeRangeBlobs(results, folderWrites);
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
