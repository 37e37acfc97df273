/**
 * Worker thread for the CPU and read work of a load: batches of one-object entries (read with
 * synchronous calls, inode encoded and compressed) and single file segments (read, framed,
 * compressed). The main thread keeps only target writes and state updates (issue 7: per-file
 * promise overhead dominated on small files, and compression on the main thread on large ones).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Compression } from '../codec/index.js';
import type { TransferIdentity } from '../state/index.js';
import { encodeSegment } from './segment-encoder.js';
import type { SegmentJob } from './segment-encoder.js';
import { SingleObjectEncoder } from './single-object.js';
import type { SingleObjectJob } from './single-object.js';

const { identity, compression } = workerData as { identity: TransferIdentity; compression: Compression };
const encoder = new SingleObjectEncoder(identity, compression);

function buf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

type Message = { id: number; kind: 'single'; jobs: SingleObjectJob[] } | { id: number; kind: 'segment'; job: SegmentJob };

parentPort!.on('message', (msg: Message) => {
  if (msg.kind === 'segment') {
    const result = encodeSegment({ ...msg.job, owner: buf(msg.job.owner) }, compression);
    const transfer = result.kind === 'blob' && result.blob.byteOffset === 0 && result.blob.byteLength === result.blob.buffer.byteLength ? [result.blob.buffer as ArrayBuffer] : [];
    parentPort!.postMessage({ id: msg.id, result }, transfer);
    return;
  }
  const results = msg.jobs.map((j) => {
    j.row.fh = buf(j.row.fh);
    j.row.name = buf(j.row.name);
    return encoder.encode({ row: j.row, parentFh: buf(j.parentFh), parentPath: buf(j.parentPath) });
  });
  parentPort!.postMessage({ id: msg.id, result: results });
});
