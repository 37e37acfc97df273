/**
 * Batched durability for the folder target (Target.flush). Puts write into the page cache and
 * resolve; a flush makes everything written before it durable, in one of two ways:
 *
 *  - syncfs: one `sync -f FOLDER` (the syncfs(2) system call, which Node does not expose) for the
 *    whole file system. On this project's 2-core VM (ext4) that took 90 ms for 20,000 small files
 *    written since the last sync, against 4-5 s for an fsync of each file: every fsync commits the
 *    journal and flushes the disk cache once, syncfs does both once for all of them.
 *  - fsync: each file written since the last flush (a few at a time, through libuv's pool), then
 *    the folder itself, once, for the names (creations and the renames of put's temp files).
 *
 * 'auto' uses syncfs only where it is known to make data durable and to report write-back errors:
 * Linux 5.8 or later (before 5.8 syncfs returned 0 after a failed write-back), a local disk file
 * system (ext2/3/4, xfs, btrfs, f2fs; not FUSE, whose syncfs may not reach the backing store, nor
 * NFS) or tmpfs (memory only: no write-back to fail, and an fsync there does nothing more than
 * syncfs, at the cost of an open, an fsync and a close per file), and a `sync` command that
 * accepts -f. Everything else gets fsync.
 *
 * Between flushes the fsync mode remembers the paths written; past `batch` of them it starts
 * syncing them in the background, so memory stays bounded when flushes are rare. A failed sync is
 * sticky: that flush and every later one reject, because after a failed fsync the kernel may have
 * dropped the dirty pages and a second fsync would report success for data that is gone.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { open, statfs } from 'node:fs/promises';
import { release } from 'node:os';
import { ClfsError } from '../errors/index.js';

/**
 * How FolderTarget.flush makes blobs durable. 'none' makes flush do nothing (for measuring what
 * durability costs: CLFSLOAD_FOLDER_FSYNC=0); a power loss may then lose blobs the caller
 * recorded as done.
 */
export type FolderDurability = 'auto' | 'syncfs' | 'fsync' | 'none';

/** The system calls flush makes, replaceable in tests (counting them, failing them). */
export interface FolderSyncOps {
  /** fsync(2) of one file or folder, by path; rejects with code ENOENT when it is gone */
  fsyncPath(path: string): Promise<void>;
  /** syncfs(2) of the file system holding folder; rejects with code ENOSYS where it cannot run */
  syncfs(folder: string): Promise<void>;
  /** whether syncfs is trustworthy for this folder (see the module comment) */
  syncfsSuitable(folder: string): Promise<boolean>;
}

/** f_type of the local file systems whose syncfs writes and commits everything (statfs(2)). */
const SYNCFS_FILE_SYSTEMS = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0xf2f52010, // f2fs
  0x01021994, // tmpfs: nothing to write back
]);

export const systemSyncOps: FolderSyncOps = {
  async fsyncPath(path: string): Promise<void> {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  syncfs(folder: string): Promise<void> {
    if (process.platform !== 'linux') return Promise.reject(Object.assign(new Error('syncfs is Linux only'), { code: 'ENOSYS' }));
    // a name with a newline cannot go through the helper's line protocol
    if (folder.includes('\n')) return syncfsOnce(folder);
    syncHelper ??= new SyncfsHelper();
    return syncHelper.run(folder);
  },
  async syncfsSuitable(folder: string): Promise<boolean> {
    if (process.platform !== 'linux') return false;
    const [major = 0, minor = 0] = release().split('.').map((n) => Number.parseInt(n, 10));
    if (major < 5 || (major === 5 && minor < 8)) return false;
    try {
      return SYNCFS_FILE_SYSTEMS.has((await statfs(folder)).type);
    } catch {
      return false;
    }
  },
};

/** `sync -f FOLDER` as a child of this process. */
function syncfsOnce(folder: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sync', ['-f', folder], { windowsHide: true }, (error, _stdout, stderr) => {
      if (error === null) return resolve();
      // a string code is a failure to start `sync` (ENOENT: not installed); a number is its exit status
      const code = typeof error.code === 'string' ? 'ENOSYS' : 'EIO';
      reject(Object.assign(new Error(String(stderr).trim() || error.message), { code }));
    });
  });
}

/**
 * The shell loop the helper runs: one folder per line in, one line out per `sync -f` (its exit
 * status, then what it printed, on one line). 127: `sync` is not installed.
 */
const SYNC_LOOP = `while IFS= read -r d; do out=$(sync -f "$d" 2>&1); s=$?; printf '%s %s\\n' "$s" "$(printf %s "$out" | tr '\\n' ' ')"; done`;

/**
 * One long-lived shell that runs `sync -f` when asked, for the whole process. Starting `sync`
 * from the loader itself forks the loader, with its heap and threads, at every flush: on the
 * small benchmark each spawn cost the main thread tens of milliseconds, the serial part that no
 * extra core helps (issue 17). The shell is small, so its forks are cheap. It holds the event
 * loop only while a sync is pending, and ends with this process (its standard input closes, even
 * after a kill -9).
 */
class SyncfsHelper {
  #child: ChildProcessWithoutNullStreams | undefined;
  readonly #pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  #buffered = '';

  run(folder: string): Promise<void> {
    const child = this.#child ?? this.#start();
    return new Promise<void>((resolve, reject) => {
      if (this.#pending.length === 0) this.#hold(child, true);
      this.#pending.push({ resolve, reject });
      child.stdin.write(`${folder}\n`);
    });
  }

  #hold(child: ChildProcessWithoutNullStreams, ref: boolean): void {
    for (const h of [child, child.stdin, child.stdout] as Array<{ ref?: () => void; unref?: () => void }>) (ref ? h.ref : h.unref)?.call(h);
  }

  #start(): ChildProcessWithoutNullStreams {
    // its own process group: a Ctrl-C at the terminal interrupts the load, which then stops
    // cleanly, and must not kill the helper under a flush in progress
    const child = spawn('sh', ['-c', SYNC_LOOP], { stdio: ['pipe', 'pipe', 'ignore'], windowsHide: true, detached: true }) as unknown as ChildProcessWithoutNullStreams;
    this.#child = child;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      this.#buffered += chunk;
      for (let nl = this.#buffered.indexOf('\n'); nl >= 0; nl = this.#buffered.indexOf('\n')) {
        const line = this.#buffered.slice(0, nl);
        this.#buffered = this.#buffered.slice(nl + 1);
        const waiter = this.#pending.shift();
        if (this.#pending.length === 0) this.#hold(child, false);
        const space = line.indexOf(' ');
        const status = Number(space < 0 ? line : line.slice(0, space));
        const message = (space < 0 ? '' : line.slice(space + 1)).trim();
        if (status === 0) waiter?.resolve();
        else waiter?.reject(Object.assign(new Error(message || `sync -f exited with status ${status}`), { code: status === 127 ? 'ENOSYS' : 'EIO' }));
      }
    });
    const gone = (error: Error & { code?: string }) => {
      if (this.#child !== child) return;
      this.#child = undefined;
      this.#buffered = '';
      // a shell that cannot start: syncfs cannot run here; one that died: the pending syncs are unknown
      const code = error.code === 'ENOENT' ? 'ENOSYS' : 'EIO';
      for (const w of this.#pending.splice(0)) w.reject(Object.assign(new Error(`sync helper: ${error.message}`), { code }));
    };
    child.on('error', gone);
    child.on('exit', (code, signal) => gone(new Error(`exited (${signal ?? code})`)));
    child.stdin.on('error', () => undefined);
    this.#hold(child, false);
    return child;
  }
}

let syncHelper: SyncfsHelper | undefined;

/**
 * The value of CLFSLOAD_FOLDER_FSYNC, as given (the CLI reads the variable: the library reads no
 * environment): unset or auto, fsync, syncfs, or 0 (no durability: benchmarks only).
 */
export function durabilityFromEnv(value: string | undefined): FolderDurability {
  if (value === undefined || value === '' || value === 'auto' || value === '1') return 'auto';
  if (value === '0') return 'none';
  if (value === 'fsync' || value === 'syncfs') return value;
  throw new ClfsError('E_USAGE', `CLFSLOAD_FOLDER_FSYNC=${value} is not valid: unset it, or use auto, fsync, syncfs or 0 (no fsync at all, for benchmarks)`, {
    subject: 'CLFSLOAD_FOLDER_FSYNC',
  });
}

/** Files fsynced at once in fsync mode (libuv's pool has four threads; a few more keep it fed). */
const FSYNC_PARALLEL = 8;
/** Background chunks of fsyncs running at once before a put waits for one (memory and fairness). */
const MAX_BACKGROUND = 4;

/**
 * syncfs mode: once this many bytes were written since the last sync began, one starts in the
 * background, so the disk writes a load's bytes while it compresses the next ones. Without it a
 * load of four 256 MiB files (560 MB of blobs) wrote all of them back in the one flush after its
 * last segment, 0.2-0.3 s on the 2-core bench machine with nothing else left to do; the page
 * cache holds far more than that before the kernel starts writing on its own (dirty_background_ratio).
 * Durability is unchanged: a flush still waits for a sync that began after the writes it covers.
 */
const WRITEBACK_AHEAD_BYTES = 64 * 1024 * 1024;

export interface FolderSyncOptions {
  durability: FolderDurability;
  ops: FolderSyncOps;
  /** fsync mode: remembered paths that start a background sync; default 4096 */
  batch?: number;
  /** syncfs mode: bytes written since the last sync began that start one in the background (WRITEBACK_AHEAD_BYTES); 0: never */
  writebackAheadBytes?: number;
  /** the folder target's error mapping */
  toError: (error: unknown, subject: string) => Promise<ClfsError>;
  description: string;
}

export class FolderSync {
  readonly #folder: string;
  readonly #ops: FolderSyncOps;
  readonly #batch: number;
  readonly #toError: (error: unknown, subject: string) => Promise<ClfsError>;
  readonly #description: string;
  #mode: 'syncfs' | 'fsync' | 'none' | undefined;
  #deciding: Promise<void> | undefined;
  /** fsync mode (and auto before it decided): paths written and not yet handed to a sync */
  #unsynced: string[] = [];
  /** fsync mode: file syncs running (background chunks and flushes' own); they never reject */
  readonly #running = new Set<Promise<void>>();
  /** changes recorded (each write or delete call) and how many of them a finished flush covered */
  #changes = 0;
  #durableThrough = 0;
  #syncfsRun: Promise<void> | undefined;
  /** syncfs mode: bytes written since the last sync began, and the amount that starts one */
  #bytesAhead = 0;
  readonly #writebackAheadBytes: number;
  #failure: ClfsError | undefined;
  /** what flush has done, for tests and benchmarks */
  readonly stats = { syncfs: 0, files: 0, folders: 0 };

  constructor(folder: string, options: FolderSyncOptions) {
    this.#folder = folder;
    this.#ops = options.ops;
    this.#batch = Math.max(1, options.batch ?? 4096);
    this.#writebackAheadBytes = Math.max(0, options.writebackAheadBytes ?? WRITEBACK_AHEAD_BYTES);
    this.#toError = options.toError;
    this.#description = options.description;
    this.#mode = options.durability === 'auto' ? undefined : options.durability;
  }

  /** The mode in use: undefined while 'auto' has not decided (at the first flush, or after `batch` writes). */
  get mode(): 'syncfs' | 'fsync' | 'none' | undefined {
    return this.#mode;
  }

  /**
   * Files just written (their put is about to resolve), `bytes` in all (0: not known). Returns a
   * promise when background syncs are backed up: the put should wait for it.
   */
  written(paths: readonly string[], bytes = 0): Promise<void> | undefined {
    if (this.#mode === 'none' || paths.length === 0) return undefined;
    this.#changes += 1;
    this.#bytesAhead += bytes;
    if (this.#writebackAheadBytes > 0 && this.#bytesAhead >= this.#writebackAheadBytes && this.#mode !== 'fsync') this.#writebackAhead();
    if (this.#mode === 'syncfs') return undefined;
    for (const p of paths) this.#unsynced.push(p);
    if (this.#mode === undefined) {
      // decided at the first flush (a target that is only read, or a test that never flushes,
      // runs no `sync`), or here once the paths remembered meanwhile reach a batch
      if (this.#unsynced.length >= this.#batch) this.#deciding ??= this.#decide();
      return undefined;
    }
    return this.#maybeStartBackground();
  }

  /**
   * Start a sync in the background, unless one runs (it is waited for by the next flush, which
   * then has less left to write). Undecided 'auto' decides now: its probe is a sync too. A failure
   * is kept, as any sync's, and the next flush reports it.
   */
  #writebackAhead(): void {
    if (this.#failure !== undefined || this.#syncfsRun !== undefined) return;
    if (this.#mode === undefined) {
      if (this.#deciding === undefined) {
        this.#bytesAhead = 0;
        this.#deciding = this.#decide();
      }
      return;
    }
    void this.#syncfsThrough(this.#changes);
  }

  /** A blob was deleted: the folder's entry changed. */
  deleted(): void {
    if (this.#mode !== 'none') this.#changes += 1;
  }

  async flush(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw aborted(this.#description);
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#mode === 'none') return;
    const target = this.#changes;
    if (target <= this.#durableThrough) return;
    if (this.#mode === undefined) await abortable((this.#deciding ??= this.#decide()), signal, this.#description);
    await abortable(this.#mode === 'syncfs' ? this.#syncfsThrough(target) : this.#fsyncThrough(target), signal, this.#description);
    if (this.#failure !== undefined) throw this.#failure;
  }

  async #decide(): Promise<void> {
    let mode: 'syncfs' | 'fsync' = 'fsync';
    try {
      if (await this.#ops.syncfsSuitable(this.#folder)) {
        // the probe is a real sync: it fails where `sync` is missing or has no -f (busybox before 1.30)
        await this.#ops.syncfs(this.#folder);
        this.stats.syncfs += 1;
        mode = 'syncfs';
      }
    } catch {
      mode = 'fsync';
    }
    this.#mode = mode;
    if (mode === 'syncfs') this.#unsynced = [];
    else void this.#maybeStartBackground();
  }

  #maybeStartBackground(): Promise<void> | undefined {
    if (this.#unsynced.length < this.#batch) return undefined;
    this.#startFileSync();
    if (this.#running.size <= MAX_BACKGROUND) return undefined;
    return Promise.race(this.#running);
  }

  #startFileSync(): void {
    const paths = this.#unsynced;
    this.#unsynced = [];
    const run: Promise<void> = this.#syncFiles(paths)
      .catch(async (error: unknown) => {
        this.#failure ??= await this.#toError(error, this.#folder);
      })
      .finally(() => this.#running.delete(run));
    this.#running.add(run);
  }

  async #syncFiles(paths: readonly string[]): Promise<void> {
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (!failed && next < paths.length) {
        const path = paths[next++]!;
        try {
          await this.#ops.fsyncPath(path);
          this.stats.files += 1;
        } catch (error) {
          // deleted since it was written: nothing to keep
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
          failed = true;
          throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FSYNC_PARALLEL, paths.length) }, worker));
  }

  async #fsyncThrough(target: number): Promise<void> {
    if (this.#unsynced.length > 0) this.#startFileSync();
    await Promise.all([...this.#running]);
    if (this.#failure !== undefined) return;
    // the names: new files and the renames of put's temp files are entries of the folder
    if (process.platform !== 'win32') {
      try {
        await this.#ops.fsyncPath(this.#folder);
        this.stats.folders += 1;
      } catch (error) {
        this.#failure ??= await this.#toError(error, this.#folder);
        return;
      }
    }
    this.#durableThrough = Math.max(this.#durableThrough, target);
  }

  async #syncfsThrough(target: number): Promise<void> {
    while (this.#durableThrough < target && this.#failure === undefined) {
      if (this.#syncfsRun !== undefined) {
        // it may have started before our writes: wait for it, then look again
        await this.#syncfsRun;
        continue;
      }
      const covers = this.#changes;
      this.#bytesAhead = 0;
      const run: Promise<void> = this.#ops
        .syncfs(this.#folder)
        .then(
          () => {
            this.stats.syncfs += 1;
            this.#durableThrough = Math.max(this.#durableThrough, covers);
          },
          async (error: unknown) => {
            this.#failure ??= await this.#toError(error, this.#folder);
          },
        )
        .finally(() => {
          if (this.#syncfsRun === run) this.#syncfsRun = undefined;
        });
      this.#syncfsRun = run;
    }
  }
}

function aborted(description: string): ClfsError {
  return new ClfsError('E_ABORTED', `flush of ${description} aborted`, { subject: description });
}

/** The work goes on after an abort (an fsync cannot be cancelled); the caller stops waiting. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, description: string): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted(description));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
