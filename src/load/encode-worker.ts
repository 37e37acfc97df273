/**
 * Worker thread for one-object entries: reads the source files with synchronous calls and
 * encodes + compresses their inodes, in batches, so the main thread keeps only target writes and
 * state updates (issue 7: per-file promise overhead dominated; synchronous batched I/O off the
 * main thread is what scales on small files).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Compression } from '../codec/index.js';
import type { TransferIdentity } from '../state/index.js';
import { SingleObjectEncoder } from './single-object.js';
import type { SingleObjectJob } from './single-object.js';

const { identity, compression } = workerData as { identity: TransferIdentity; compression: Compression };
const encoder = new SingleObjectEncoder(identity, compression);

function buf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

parentPort!.on('message', (msg: { id: number; jobs: SingleObjectJob[] }) => {
  const results = msg.jobs.map((j) => {
    j.row.fh = buf(j.row.fh);
    j.row.name = buf(j.row.name);
    return encoder.encode({ row: j.row, parentFh: buf(j.parentFh), parentPath: buf(j.parentPath) });
  });
  parentPort!.postMessage({ id: msg.id, results });
});
