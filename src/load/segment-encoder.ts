/**
 * One 8 MiB data segment of a file (spec §6.5): read at its offset from an open descriptor,
 * framed as DATA + DATABACK, compressed. Pure of run state, so it runs on an encode worker (file
 * descriptors are shared by all threads of the process) or in the main thread.
 */
import * as fs from 'node:fs';
import { encodeBlob, encodeFileSegmentBody } from '../codec/index.js';
import type { Compression } from '../codec/index.js';

export interface SegmentJob {
  fd: number;
  /** byte offset in the file; also the DATABACK offset */
  position: number;
  length: number;
  owner: Buffer;
  ctimeSec: number;
}

export type SegmentResult = { kind: 'blob'; blob: Buffer; got: number } | { kind: 'error'; message: string; code: string };

export function encodeSegment(job: SegmentJob, compression: Compression): SegmentResult {
  try {
    const data = Buffer.allocUnsafe(job.length);
    let got = 0;
    while (got < job.length) {
      const n = fs.readSync(job.fd, data, got, job.length - got, job.position + got);
      if (n === 0) break;
      got += n;
    }
    if (got === 0) return { kind: 'blob', blob: Buffer.alloc(0), got };
    const body = encodeFileSegmentBody(data.subarray(0, got), { ctimeSec: job.ctimeSec, offset: BigInt(job.position), owner: job.owner });
    return { kind: 'blob', blob: encodeBlob(body, compression), got };
  } catch (err) {
    const e = err as { message?: string; code?: string };
    return { kind: 'error', message: e?.message ?? String(err), code: e?.code ?? 'EIO' };
  }
}
