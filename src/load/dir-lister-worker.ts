/**
 * A directory lister thread (dir-lister.ts): lists one source directory and lstats every child
 * with synchronous calls, off the caller's thread, and sends the results back packed (names in
 * one buffer, the numeric fields of each lstat in a BigInt64Array), a chunk at a time.
 *
 * Source reads go through `sourceFs`, so a fault plan (CLFSLOAD_SOURCE_FAULTS, or the caller's
 * plan through workerData) fails them here as it would on the caller's thread.
 */
import { writeFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type * as fs from 'node:fs';
import { joinPath, sourceFs } from '../scan/index.js';
import { ACTIVE, CONSUMED, FIELDS, FLOOR, TICK, type ListChunk, type ListRequest } from './dir-list-protocol.js';

// named, so per-thread CPU (top -H, the bench's thread-cpu) tells the threads apart
try {
  writeFileSync('/proc/thread-self/comm', 'clfs-lister');
} catch {
  // not Linux
}

const control = new Int32Array((workerData as { control: SharedArrayBuffer }).control);

/** Thrown out of the listing loop when the caller abandoned the listing. */
class Abandoned extends Error {}

/**
 * Waits until the caller may take one more chunk of listing `req` (`sent` chunks sent so far):
 * a streamed listing runs at most `ahead` chunks ahead of what the caller has read, so a huge
 * directory is held a few chunks at a time, never whole. Throws Abandoned when the caller gave
 * the listing up.
 */
function maySend(req: ListRequest, sent: number): void {
  if (req.ahead < 0) return;
  for (;;) {
    const tick = Atomics.load(control, TICK);
    if (req.id < Atomics.load(control, FLOOR)) throw new Abandoned();
    if (sent < req.ahead) return;
    if (Atomics.load(control, ACTIVE) === req.id && sent < Atomics.load(control, CONSUMED) + req.ahead) return;
    // the timeout only bounds a wait whose wake-up was missed; every change bumps TICK and notifies
    Atomics.wait(control, TICK, tick, 1000);
  }
}

/** Children per message: each costs the caller one message and one round of unpacking. */
const CHUNK = 4096;

function errorOf(e: unknown): { code?: string; message: string } {
  const err = e as NodeJS.ErrnoException | undefined;
  return { ...(err?.code !== undefined ? { code: err.code } : {}), message: err?.message ?? String(e) };
}

/** 1: a directory, 0: not one, 2: the listing does not say (the caller lstats, as readDirectoryBatches does). */
function direntHint(d: fs.Dirent): number {
  if (d.isDirectory()) return 1;
  if (d.isFile() || d.isSymbolicLink() || d.isFIFO() || d.isSocket() || d.isCharacterDevice() || d.isBlockDevice()) return 0;
  return 2;
}

class Packer {
  names: Buffer[] = [];
  nameEnds: number[] = [];
  fields = new BigInt64Array(CHUNK * FIELDS);
  hints = new Uint8Array(CHUNK);
  /** per child: -1, or the index of its lstat error in `errors` */
  errorAt = new Int32Array(CHUNK);
  errors: Array<{ code?: string; message: string }> = [];
  count = 0;
  bytes = 0;

  add(name: Buffer, hint: number, st: fs.BigIntStats | undefined, error: unknown): void {
    const i = this.count++;
    this.names.push(name);
    this.bytes += name.length;
    this.nameEnds.push(this.bytes);
    this.hints[i] = hint;
    if (st === undefined) {
      this.errorAt[i] = this.errors.length;
      this.errors.push(errorOf(error));
      return;
    }
    this.errorAt[i] = -1;
    const f = this.fields;
    const o = i * FIELDS;
    f[o] = st.mode;
    f[o + 1] = st.uid;
    f[o + 2] = st.gid;
    f[o + 3] = st.size;
    f[o + 4] = st.mtimeNs;
    f[o + 5] = st.ctimeNs;
    f[o + 6] = st.atimeNs;
    f[o + 7] = st.ino;
    f[o + 8] = st.dev;
    f[o + 9] = st.rdev;
    f[o + 10] = st.nlink;
  }

  send(id: number, done: boolean): void {
    const names = new Uint8Array(new ArrayBuffer(this.bytes));
    let at = 0;
    for (const n of this.names) {
      names.set(n, at);
      at += n.length;
    }
    const fields = this.fields.slice(0, this.count * FIELDS);
    const msg: ListChunk = {
      id,
      done,
      count: this.count,
      names: names.buffer,
      nameEnds: Uint32Array.from(this.nameEnds),
      fields,
      hints: this.hints.slice(0, this.count),
      errorAt: this.errorAt.slice(0, this.count),
      errors: this.errors,
    };
    parentPort!.postMessage(msg, [msg.names, msg.nameEnds.buffer as ArrayBuffer, fields.buffer as ArrayBuffer, msg.hints.buffer as ArrayBuffer, msg.errorAt.buffer as ArrayBuffer]);
    this.names = [];
    this.nameEnds = [];
    this.errors = [];
    this.count = 0;
    this.bytes = 0;
  }
}

function list(req: ListRequest): void {
  const dirPath = Buffer.from(req.path, 'latin1');
  if (req.ahead >= 0 && req.id < Atomics.load(control, FLOOR)) {
    parentPort!.postMessage({ id: req.id, done: true, count: 0, abandoned: true } satisfies Partial<ListChunk>);
    return;
  }
  let dir: fs.Dir;
  try {
    dir = sourceFs.opendirSync(dirPath as unknown as string, { encoding: 'buffer' as BufferEncoding, bufferSize: 256 });
  } catch (err) {
    parentPort!.postMessage({ id: req.id, done: true, count: 0, dirError: errorOf(err) } satisfies Partial<ListChunk>);
    return;
  }
  const p = new Packer();
  let sent = 0;
  try {
    for (;;) {
      const d = dir.readSync();
      if (d === null) break;
      const name = d.name as unknown as Buffer;
      let st: fs.BigIntStats | undefined;
      let error: unknown;
      try {
        st = sourceFs.lstatSync(joinPath(dirPath, name), { bigint: true });
      } catch (err) {
        error = err;
      }
      p.add(name, direntHint(d), st, error);
      if (p.count === CHUNK) {
        maySend(req, sent++);
        p.send(req.id, false);
      }
    }
    maySend(req, sent);
  } catch (err) {
    if (err instanceof Abandoned) {
      parentPort!.postMessage({ id: req.id, done: true, count: 0, abandoned: true } satisfies Partial<ListChunk>);
      return;
    }
    // the listing failed part way: what was listed is of no use, the directory fails
    parentPort!.postMessage({ id: req.id, done: true, count: 0, dirError: errorOf(err) } satisfies Partial<ListChunk>);
    return;
  } finally {
    dir.closeSync();
  }
  p.send(req.id, true);
}

// the requests come a few at a time (DirLister sends those made together in one message)
parentPort!.on('message', (reqs: ListRequest[]) => {
  for (const req of reqs) list(req);
});
