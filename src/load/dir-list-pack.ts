/**
 * One source directory listed and lstatted with synchronous calls, in chunks packed for a
 * message (dir-list-protocol.ts): what a lister thread runs (dir-lister-worker.ts), and what the
 * caller's thread runs itself when there is no core to spare for one (dir-lister.ts, LocalListing).
 *
 * Source reads go through `sourceFs`, so a fault plan (CLFSLOAD_SOURCE_FAULTS, or the caller's
 * plan through workerData) fails them here as it would anywhere.
 */
import type * as fs from 'node:fs';
import { joinPath, sourceFs } from '../scan/index.js';
import { FIELDS, type ListChunk } from './dir-list-protocol.js';

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

export class Packer {
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

  /** The children packed so far as one message, and a fresh start. */
  take(id: number, done: boolean): ListChunk {
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
    this.names = [];
    this.nameEnds = [];
    this.errors = [];
    this.count = 0;
    this.bytes = 0;
    return msg;
  }
}

/** The buffers of a chunk, moved rather than copied to the thread that reads it. */
export function transferOf(m: ListChunk): ArrayBuffer[] {
  if (m.names === undefined) return [];
  return [m.names, m.nameEnds.buffer as ArrayBuffer, m.fields.buffer as ArrayBuffer, m.hints.buffer as ArrayBuffer, m.errorAt.buffer as ArrayBuffer];
}

/**
 * The chunks of one directory's listing, in readdir order, the last with `done`; a directory that
 * cannot be opened or listed to the end gives one chunk with `dirError` instead (what was listed
 * of it is of no use). Returning the generator early closes the directory.
 */
export function* listChunks(dirPath: Buffer, id: number): Generator<ListChunk> {
  let dir: fs.Dir;
  try {
    dir = sourceFs.opendirSync(dirPath as unknown as string, { encoding: 'buffer' as BufferEncoding, bufferSize: 256 });
  } catch (err) {
    yield { id, done: true, count: 0, dirError: errorOf(err) } as ListChunk;
    return;
  }
  const p = new Packer();
  try {
    for (;;) {
      let d: fs.Dirent | null;
      try {
        d = dir.readSync();
      } catch (err) {
        yield { id, done: true, count: 0, dirError: errorOf(err) } as ListChunk;
        return;
      }
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
      if (p.count === CHUNK) yield p.take(id, false);
    }
  } finally {
    dir.closeSync();
  }
  yield p.take(id, true);
}
