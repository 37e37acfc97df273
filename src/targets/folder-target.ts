/**
 * A local folder as a target: one file per blob, named exactly as the blob. Used by tests, by
 * `file:///` targets and for inspecting a load without Azure.
 *
 * put writes a temp file in the same folder and renames it over the final name, so a killed
 * process never leaves a partial blob under a blob name. Temp files start with TEMP_PREFIX; list
 * skips them, and a killed run may leave some behind (they are harmless and never listed).
 *
 * Durability is batched: put and putMany resolve once the bytes are in the page cache, and flush
 * makes everything written before it durable (folder-sync.ts: one syncfs of the file system, or an
 * fsync of each file and then of the folder).
 */
import { randomBytes } from 'node:crypto';
import { open, opendir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClfsError } from '../errors/index.js';
import { FolderSync, systemSyncOps } from './folder-sync.js';
import type { FolderDurability, FolderSyncOps } from './folder-sync.js';
import { FolderReader } from './folder-reader.js';
import { FolderWriter } from './folder-writer.js';
import { FOLDER_TEMP_PREFIX, writeFilesSync } from './folder-writes.js';
import type {
  BlobInfo,
  FlushOptions,
  GetOptions,
  ListOptions,
  PutManyItem,
  PutOptions,
  Target,
  TargetCapabilities,
  TargetFeatures,
} from './target.js';

const TEMP_PREFIX = FOLDER_TEMP_PREFIX;
/** Larger blobs (file segments) are written from this thread: copying them to the writer costs more than it saves. */
const SMALL_PUT_BYTES = 256 * 1024;
/** Blobs whose sizes list reads between two turns of the event loop. */
const LIST_STAT_CHUNK = 256;
/**
 * A folder of at most this many entries is listed in the calling thread (one readdir through
 * libuv's pool), not on a reader thread: a load's first request is the listing of its empty
 * target, and booting a reader thread for it cost INIT 65 ms on the 2-core bench machine.
 */
const LIST_HERE_MAX_ENTRIES = 64;

export type { FolderDurability, FolderSyncOps } from './folder-sync.js';

export interface FolderTargetOptions {
  /**
   * fsync each file as it is written, before its put resolves (flush still syncs the folder's
   * names); default false: flush makes the files durable in batches, far more cheaply
   */
  fsync?: boolean;
  /**
   * how flush makes blobs durable (folder-sync.ts); default 'auto'. 'none' is for measuring the
   * cost only: flush then does nothing. The CLI reads it from CLFSLOAD_FOLDER_FSYNC (durabilityFromEnv).
   */
  durability?: FolderDurability;
  /** the system calls flush makes; tests replace them to count or fail them */
  syncOps?: FolderSyncOps;
  /** fsync mode: files remembered between flushes before they are synced in the background; default 4096 */
  syncBatch?: number;
  /** syncfs mode: bytes written since the last sync began that start one in the background (folder-sync.ts); default 64 MiB, 0: never */
  writebackAheadBytes?: number;
  /** default 16 */
  maxConnections?: number;
  /**
   * putMany writes on a writer thread, so a batch of small blobs does not block the caller's
   * event loop (which runs the load); default true. False writes in the calling thread.
   */
  writerThread?: boolean;
}

/**
 * What a loader thread needs to write this folder's small blobs itself (FolderTarget.workerWrites):
 * plain data, sent to an encode worker once. The worker writes each blob in place with
 * writeFilesSync, as putMany does, then hands the names to FolderTarget.workerWritten.
 */
export interface FolderWorkerWrites {
  dir: string;
  fsync: boolean;
}

const FOLDER_FEATURES: TargetFeatures = Object.freeze({ putMany: true, checkAccess: true, flush: true });

export class FolderTarget implements Target {
  readonly description: string;
  readonly capabilities: TargetCapabilities;
  readonly features = FOLDER_FEATURES;
  readonly path: string;
  readonly #fsync: boolean;
  readonly #writer: FolderWriter | undefined;
  readonly #sync: FolderSync;
  readonly #reader = new FolderReader();
  /** whether anything was asked of the reader threads yet (get reads alone in this thread until then) */
  #readerUsed = false;
  /** gets under way in this thread that did not go to the reader threads */
  #getsInFlight = 0;

  constructor(path: string, options: FolderTargetOptions = {}) {
    this.path = resolve(path);
    this.description = `folder ${this.path}`;
    this.capabilities = Object.freeze({ maxConnections: options.maxConnections ?? 16, remote: false });
    this.#fsync = options.fsync ?? false;
    this.#writer = options.writerThread === false ? undefined : new FolderWriter();
    this.#sync = new FolderSync(this.path, {
      durability: options.durability ?? 'auto',
      ops: options.syncOps ?? systemSyncOps,
      batch: options.syncBatch,
      writebackAheadBytes: options.writebackAheadBytes,
      description: this.description,
      toError: (error, subject) => this.#toClfsError(error, subject, 'sync'),
    });
  }

  /** What flush has done so far (syncfs calls, files and folders fsynced), and the mode in use. */
  get syncStats(): { mode: string | undefined; syncfs: number; files: number; folders: number } {
    return { mode: this.#sync.mode, ...this.#sync.stats };
  }

  /** Target.flush: every blob whose put resolved before this call is durable when it resolves. */
  flush(options: FlushOptions = {}): Promise<void> {
    return this.#sync.flush(options.abortSignal);
  }

  /** From `file:///ABS/DIR`. */
  static fromUrl(url: string, options?: FolderTargetOptions): FolderTarget {
    return new FolderTarget(fileURLToPath(url), options);
  }

  async put(name: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    const finalPath = this.#blobPath(name);
    const tempPath = this.#tempPath(name);
    if (this.#writer !== undefined && data.byteLength <= SMALL_PUT_BYTES) {
      // puts made in the same turn of the event loop go to the writer thread as one batch (each
      // still to a temp name, then renamed): one promise chain per blob on libuv's four threads
      // was what limited many concurrent small puts
      if (options.abortSignal?.aborted) throw abortedError(this.description, name);
      const failure = await this.#writer.writeOne({ tempPath, finalPath, data }, this.#fsync);
      if (failure !== undefined) throw await this.#toClfsError(failure.error, name, 'write');
      await this.#sync.written([finalPath], data.byteLength);
      return;
    }
    try {
      if (this.#fsync) {
        const handle = await open(tempPath, 'w');
        try {
          await handle.writeFile(data, { signal: options.abortSignal });
          await handle.sync();
        } finally {
          await handle.close();
        }
      } else {
        await writeFile(tempPath, data, { signal: options.abortSignal });
      }
      await rename(tempPath, finalPath);
    } catch (error) {
      await unlink(tempPath).catch(() => undefined);
      throw await this.#toClfsError(error, name, 'write');
    }
    await this.#sync.written([finalPath], data.byteLength);
  }

  async putMany(items: readonly PutManyItem[], options: PutOptions = {}): Promise<void> {
    if (options.abortSignal?.aborted) throw abortedError(this.description, items[0]?.name ?? '');
    // In place, not temp + rename: the rename was a third of the writer's time on small blobs.
    // putMany promises no atomicity on a crash (target.ts); put() keeps it.
    const writes = items.map((item) => ({ finalPath: this.#blobPath(item.name), data: item.data }));
    const failure = this.#writer === undefined ? writeFilesSync(writes, this.#fsync) : await this.#writer.write(writes, this.#fsync);
    // the items before a failure were written: the caller puts them again, but until then they
    // are blobs like any other
    const written = failure === undefined ? writes : writes.slice(0, failure.index);
    const backlog = this.#sync.written(
      written.map((w) => w.finalPath),
      written.reduce((n, w) => n + w.data.byteLength, 0),
    );
    if (failure !== undefined) throw await this.#toClfsError(failure.error, items[failure.index]!.name, 'write');
    await backlog;
  }

  /**
   * For a load's encode workers (src/load/encode-worker.ts): where and how to write small blobs in
   * place from the thread that encoded them, with putMany's semantics (no temp name: a crash
   * during the write may leave the blob partly written, and the loader puts that entry again).
   * The bytes then cross no thread: neither to the caller nor to this target's writer thread.
   */
  get workerWrites(): FolderWorkerWrites {
    return { dir: this.path, fsync: this.#fsync };
  }

  /**
   * Blobs another thread wrote into this folder (workerWrites), `bytes` in all when known, as
   * putMany's written files: the next flush makes them durable. Returns a promise when background
   * syncs are backed up (wait for it before recording them, as putMany does).
   */
  workerWritten(names: readonly string[], bytes = 0): Promise<void> | undefined {
    const dir = this.path.endsWith('/') ? this.path : `${this.path}/`;
    return this.#sync.written(
      names.map((n) => dir + n),
      bytes,
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.#writer?.close(), this.#reader.close()]);
  }

  async get(name: string, options: GetOptions = {}): Promise<Buffer> {
    const path = this.#blobPath(name);
    try {
      if (options.range === undefined) {
        if (options.abortSignal?.aborted) throw abortedError(this.description, name);
        // a get alone before the reader threads were needed (a load's finalize reads its tmp root
        // back): here, through libuv's pool, rather than boot a thread for it
        if (!this.#readerUsed && this.#getsInFlight === 0) {
          this.#getsInFlight += 1;
          try {
            return await readFile(path, { signal: options.abortSignal });
          } finally {
            this.#getsInFlight -= 1;
          }
        }
        this.#readerUsed = true;
        // small blobs on the reader threads; a larger one (its size came back) read here
        const small = await this.#reader.read(path, SMALL_GET_BYTES);
        return typeof small !== 'number' ? small : await readFile(path, { signal: options.abortSignal });
      }
      const { offset, count } = options.range;
      checkRange(offset, count, name);
      const handle = await open(path, 'r');
      try {
        const size = (await handle.stat()).size;
        const length = Math.max(0, Math.min(count ?? Number.MAX_SAFE_INTEGER, size - offset));
        const buffer = Buffer.alloc(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return done === length ? buffer : buffer.subarray(0, done);
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw await this.#toClfsError(error, name, 'read');
    }
  }

  async exists(name: string, _options?: PutOptions): Promise<boolean> {
    try {
      return (await stat(this.#blobPath(name))).isFile();
    } catch (error) {
      const mapped = await this.#toClfsError(error, name, 'read');
      if (mapped.code === 'E_TARGET_NOT_FOUND') return false;
      throw mapped;
    }
  }

  /**
   * Streamed, but not constant-memory: a folder has no sorted listing, so the names that match
   * the prefix are collected (on a reader thread, FolderReader.names) and sorted before the first
   * is yielded. A million blobs cost about 100 MB of names; sizes are read a chunk of stats at a time.
   */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo> {
    if (options.abortSignal?.aborted) throw abortedError(this.description, prefix);
    let names: string[];
    try {
      // a small folder here; else the whole folder on a reader thread: the caller's event loop stays free meanwhile
      const small = await this.#smallFolderNames(prefix);
      if (small === undefined) this.#readerUsed = true;
      names = small ?? (await this.#reader.names(this.path, prefix, TEMP_PREFIX));
    } catch (error) {
      throw await this.#toClfsError(error, prefix, 'list');
    }
    // Blob names are ASCII, so code-unit order is the byte order Azure lists in.
    // sorted also for names only: RetryTarget resumes a listing after the last name it passed on
    names.sort();
    if (options.namesOnly === true) {
      for (let i = 0; i < names.length; i += LIST_STAT_CHUNK) {
        if (options.abortSignal?.aborted) throw abortedError(this.description, prefix);
        for (const name of names.slice(i, i + LIST_STAT_CHUNK)) yield { name, sizeBytes: -1 };
      }
      return;
    }
    // sizes statted on the reader threads, a bounded window ahead of the name being yielded
    const sizes: Array<Promise<number>> = [];
    let asked = 0;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (options.abortSignal?.aborted) throw abortedError(this.description, prefix);
      while (asked < names.length && asked < i + LIST_STAT_AHEAD) {
        this.#readerUsed = true;
        const size = this.#reader.size(join(this.path, names[asked++]!));
        size.catch(() => undefined);
        sizes.push(size);
      }
      let sizeBytes: number;
      try {
        sizeBytes = await sizes.shift()!;
      } catch (error) {
        const mapped = await this.#toClfsError(error, name, 'list');
        if (mapped.code === 'E_TARGET_NOT_FOUND') continue; // deleted while listing
        throw mapped;
      }
      yield { name, sizeBytes };
    }
  }

  /**
   * The folder's blob names that start with `prefix` (as the reader thread's `names` gives them:
   * regular files, no temp files), when it holds at most LIST_HERE_MAX_ENTRIES entries; else undefined.
   */
  async #smallFolderNames(prefix: string): Promise<string[] | undefined> {
    const dir = await opendir(this.path, { bufferSize: LIST_HERE_MAX_ENTRIES + 1 });
    try {
      const names: string[] = [];
      for (let seen = 0; seen <= LIST_HERE_MAX_ENTRIES; seen++) {
        const e = await dir.read();
        if (e === null) return names;
        if (e.name.startsWith(prefix) && !e.name.startsWith(TEMP_PREFIX) && e.isFile()) names.push(e.name);
      }
      return undefined;
    } finally {
      await dir.close().catch(() => undefined);
    }
  }

  async delete(name: string, _options?: PutOptions): Promise<void> {
    try {
      await unlink(this.#blobPath(name));
      this.#sync.deleted();
    } catch (error) {
      const mapped = await this.#toClfsError(error, name, 'delete');
      if (mapped.code !== 'E_TARGET_NOT_FOUND') throw mapped;
    }
  }

  async checkAccess(_options?: PutOptions): Promise<void> {
    try {
      const info = await stat(this.path);
      if (!info.isDirectory()) {
        throw new ClfsError('E_TARGET_CONTAINER_MISSING', `${this.description} is not a folder: give a folder path`, {
          subject: this.path,
        });
      }
    } catch (error) {
      throw await this.#toClfsError(error, this.path, 'list');
    }
  }

  #blobPath(name: string): string {
    checkBlobName(name, this.description);
    return join(this.path, name);
  }

  #tempPath(name: string): string {
    return join(this.path, `${TEMP_PREFIX}${name}.${randomBytes(6).toString('hex')}`);
  }

  async #toClfsError(error: unknown, name: string, action: 'read' | 'write' | 'list' | 'delete' | 'sync'): Promise<ClfsError> {
    if (error instanceof ClfsError) return error;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const subject = name;
    if ((error as Error | undefined)?.name === 'AbortError') return abortedError(this.description, name, error);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      if (!(await isFolder(this.path))) {
        return new ClfsError(
          'E_TARGET_CONTAINER_MISSING',
          `folder ${this.path} does not exist: create it (mkdir -p) or give an existing folder`,
          { subject: this.path, cause: error },
        );
      }
      return new ClfsError('E_TARGET_NOT_FOUND', `blob ${name} not found in ${this.description}`, {
        subject,
        cause: error,
      });
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return new ClfsError(
        'E_TARGET_PERMISSION',
        `cannot ${action} ${name} in ${this.description} (${code}): give this user ${action === 'read' || action === 'list' || action === 'sync' ? 'read' : 'write'} access to the folder`,
        { subject, cause: error },
      );
    }
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      return new ClfsError(
        'E_TARGET_IO',
        `${this.description} is full (${code}: no space or no free inodes): free some and re-run the same command to resume`,
        { subject: this.path, cause: error },
      );
    }
    if (action === 'sync' && code === 'ENOSYS') {
      return new ClfsError('E_TARGET_IO', `cannot sync ${this.description}: syncfs needs Linux and a \`sync\` command with -f; unset CLFSLOAD_FOLDER_FSYNC (auto falls back to fsync)`, {
        subject: this.path,
        cause: error,
      });
    }
    if (action === 'sync') {
      // not retryable: after a failed fsync the written pages may be gone (folder-sync.ts)
      const detail = error instanceof Error ? error.message : String(error);
      return new ClfsError(
        'E_TARGET_IO',
        `cannot make the blobs written to ${this.description} durable (${code ?? 'error'}: ${detail}): check the disk, then re-run the same command to resume`,
        { subject: this.path, cause: error },
      );
    }
    if (code === 'EMFILE' || code === 'ENFILE' || code === 'EAGAIN' || code === 'EBUSY' || code === 'EINTR') {
      return new ClfsError('E_TARGET_TRANSIENT', `cannot ${action} ${name} in ${this.description} for now (${code})`, {
        subject,
        cause: error,
        retryable: true,
      });
    }
    const detail = error instanceof Error ? error.message : String(error);
    return new ClfsError('E_TARGET_IO', `cannot ${action} ${name} in ${this.description}: ${detail}`, {
      subject,
      cause: error,
    });
  }
}

/** Blob names become file names, so anything that could leave the folder is refused. */
function checkBlobName(name: string, description: string): void {
  if (
    name === '' ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\\') ||
    name.includes('\0') ||
    name.startsWith(TEMP_PREFIX)
  ) {
    throw new ClfsError(
      'E_USAGE',
      `invalid blob name ${JSON.stringify(name)} for ${description}: blob names must be non-empty and contain no '/', '\\' or NUL, and must not be '.' or '..'`,
      { subject: name },
    );
  }
}

function checkRange(offset: number, count: number | undefined, name: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || (count !== undefined && (!Number.isSafeInteger(count) || count < 0))) {
    throw new ClfsError('E_USAGE', `invalid byte range offset=${offset} count=${count} for blob ${name}`, {
      subject: name,
    });
  }
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

function abortedError(description: string, subject: string, cause?: unknown): ClfsError {
  return new ClfsError('E_ABORTED', `request to ${description} aborted (${subject})`, { subject, cause });
}

/**
 * Whole blobs up to this size are read on the reader threads (folder-reader.ts): inode and
 * directory blobs are a few KiB. Larger ones (file segments) are read through libuv's pool.
 */
const SMALL_GET_BYTES = 256 * 1024;

/** list: sizes asked for ahead of the name being yielded. */
const LIST_STAT_AHEAD = 256;
