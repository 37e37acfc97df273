/**
 * The folder target's reader thread: reads small blobs, stats names and hashes small source files
 * (verify --source) with synchronous calls,
 * off the caller's event loop (folder-reader.ts). Each blob is read into its own ArrayBuffer,
 * which is transferred back, not copied.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { ReadReply, ReadRequest } from './folder-reader.js';
import { hashToEndSync } from './hash-to-end.js';
import { batchThisThread } from './thread-policy.js';

// named, so per-thread CPU (top -H, /proc/PID/task/*/comm, bench/thread-cpu.ts) tells the threads apart
try {
  fs.writeFileSync('/proc/thread-self/comm', (workerData as { name?: string } | undefined)?.name ?? 'clfs-reader');
} catch {
  // not Linux
}
batchThisThread();

function errorOf(e: unknown): { code?: string; message: string } {
  const err = e as NodeJS.ErrnoException | undefined;
  return { ...(err?.code !== undefined ? { code: err.code } : {}), message: err?.message ?? String(e) };
}

/** The blob's bytes, or its size when it is larger than `max` (the caller reads it asynchronously). */
function readSmall(path: string | Buffer, max: number): ArrayBuffer | number {
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size > max) return size;
    const bytes = new Uint8Array(new ArrayBuffer(size));
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, bytes, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === size ? bytes.buffer : bytes.buffer.slice(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

/** SHA-256 of a file up to `max` bytes, read until a short read (a file that grew is hashed whole); a larger one's size. */
function sha256Small(path: string | Buffer, max: number): string | number {
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size > max) return size;
    const h = createHash('sha256');
    hashToEndSync(fd, size, h);
    return h.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A source entry for verify --source: its lstat fields and, for a regular file, its bytes (up to
 * `max`) or its SHA-256 (up to `hashMax`). A file that cannot be opened or read after its lstat
 * is answered as unreadable, with the stat.
 */
function probe(path: string | Buffer, max: number, hashMax: number): ReadReply {
  const st = fs.lstatSync(path, { bigint: true });
  const stat = [st.mode, st.uid, st.gid, st.mtimeNs, st.size, st.nlink, st.dev, st.ino];
  if (!st.isFile() || st.size > BigInt(hashMax)) return { stat };
  try {
    const small = readSmall(path, max);
    if (typeof small !== 'number') return { stat, bytes: small };
    const r = sha256Small(path, hashMax);
    return typeof r === 'string' ? { stat, sha256: r } : { stat };
  } catch {
    return { stat, unreadable: true };
  }
}

/**
 * The names (UTF-8) of a folder's regular files that start with `prefix` and not with `skip`, each
 * followed by a NUL (no file name holds one), as bytes outside this thread's small heap: a
 * folder of millions of blobs would not fit in it as strings.
 */
function folderNames(path: string | Buffer, prefix: string, skip: string): ArrayBuffer {
  const dir = fs.opendirSync(path, { bufferSize: 1024 });
  const chunks: Buffer[] = [];
  let chunk = Buffer.allocUnsafe(1 << 20);
  let at = 0;
  let total = 0;
  try {
    for (let e = dir.readSync(); e !== null; e = dir.readSync()) {
      if (!e.name.startsWith(prefix) || e.name.startsWith(skip) || !e.isFile()) continue;
      const need = Buffer.byteLength(e.name) + 1;
      if (at + need > chunk.length) {
        chunks.push(chunk.subarray(0, at));
        chunk = Buffer.allocUnsafe(Math.max(1 << 20, need));
        at = 0;
      }
      at += chunk.write(e.name, at);
      chunk[at++] = 0;
      total += need;
    }
  } finally {
    dir.closeSync();
  }
  chunks.push(chunk.subarray(0, at));
  const out = new Uint8Array(new ArrayBuffer(total));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out.buffer;
}

parentPort!.on('message', (msg: ReadRequest) => {
  const replies: ReadReply[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const p of msg.paths) {
    const path = msg.latin1 ? Buffer.from(p, 'latin1') : p;
    try {
      if (msg.op === 'sha256') {
        const r = sha256Small(path, msg.max);
        replies.push(typeof r === 'number' ? { size: r } : { sha256: r });
      } else if (msg.op === 'names') {
        const r = folderNames(path, msg.filter![0], msg.filter![1]);
        replies.push({ bytes: r });
        transfer.push(r);
      } else if (msg.op === 'probe') {
        const r = probe(path, msg.max, msg.hashMax ?? msg.max);
        replies.push(r);
        if (r.bytes !== undefined) transfer.push(r.bytes);
      } else if (msg.op === 'stat') {
        replies.push({ size: fs.statSync(path).size });
      } else {
        const r = readSmall(path, msg.max);
        if (typeof r === 'number') replies.push({ size: r });
        else {
          replies.push({ bytes: r });
          transfer.push(r);
        }
      }
    } catch (e) {
      replies.push({ error: errorOf(e) });
    }
  }
  parentPort!.postMessage({ id: msg.id, replies }, transfer);
});
