/**
 * The scan's look-ahead: the lister threads (dir-lister.ts) and the directories they list ahead of
 * the scan (dir-scan.ts). Its own module so that the run (load-run.ts) can own one without
 * importing the scan, which imports the run's type.
 */
import { availableParallelism } from 'node:os';
import { DirLister, LocalListing } from './dir-lister.js';
import type { DirStream, Listing } from './dir-lister.js';
import type { EntryRow } from '../state/index.js';

/**
 * Threads that list source directories for the scan, and how many directories they list ahead of
 * it. With one core there are none: the threads would take turns with this one on that core, and
 * every hand-off between them cost the small benchmark wall time (taskset -c 0: 9.6 s against 5.8).
 * Under 4 cores one: a second thread's isolate (its start, its own compiles and collections) cost
 * more than its listing saved (the small tree into tmpfs on 2 cores, 7 alternating runs: wall
 * 2.98 -> 2.57 s, process CPU 5.05 -> 4.32 s with one). One thread lists far faster than this one
 * inserts rows from a local disk; the second is kept where cores are plenty, for a source over
 * the network, whose listings wait on round trips.
 */
export function listerThreads(cores: number): number {
  return cores <= 1 ? 0 : cores < 4 ? 1 : 2;
}
export const LIST_AHEAD = 12;

function startLister(threads: number): DirLister | undefined {
  return threads > 0 ? new DirLister(threads) : undefined;
}

/**
 * Until a lister thread has answered, a directory whose own size says it is small (under 64 KiB:
 * a few thousand names on ext4, XFS, btrfs or tmpfs) is listed on this thread. The threads take
 * about 0.1 s to start beside the encode workers' start-up, and the scan waited that long for the
 * root's listing at the start of every load (0.1 of the 0.4 s a one-file load took). A huge root
 * is still left to a thread, which lists it while this one inserts its rows.
 */
const LOCAL_FIRST_MAX_BYTES = 64 * 1024;

/**
 * The scan's source listings: each directory listed and lstatted on a lister thread
 * (dir-lister.ts) while this thread inserts the rows of the ones before it. The transfer names
 * the directories it will scan next (`ahead`, in the order it will scan them); `listing` gives the
 * stream of the one it scans now.
 */
export class ScanAhead {
  readonly #lister: DirLister | undefined = startLister(listerThreads(availableParallelism()));
  /** streams started ahead, by row id */
  readonly #ahead = new Map<number, DirStream>();

  /** Start the lister threads now, before there is anything to list (their start-up takes a while). */
  warm(): void {
    this.#lister?.warm();
  }

  /** Whether a lister thread has answered yet (until then small directories are listed on this thread). */
  get threadsAnswered(): boolean {
    return this.#lister?.heard ?? false;
  }

  /** Start listing these directories unless they are already. */
  ahead(dirs: readonly EntryRow[]): void {
    if (this.#lister === undefined) return;
    for (const d of dirs) {
      const known = this.#ahead.get(d.id);
      if (known !== undefined && !known.abandoned) continue;
      this.#ahead.set(d.id, this.#lister.stream(d.path!));
    }
  }

  /** The listing of `dir`, started ahead or now; read it before any other. */
  listing(dir: EntryRow): Listing {
    if (this.#lister === undefined) return new LocalListing(dir.path!);
    const known = this.#ahead.get(dir.id);
    this.#ahead.delete(dir.id);
    // listings started before this one and not read are given up by its first read: drop them
    // here too, so they are started again if the scan comes to them after all
    if (known !== undefined) for (const [id, s] of this.#ahead) if (s.id < known.id) this.#ahead.delete(id);
    if (!this.#lister.heard && dir.sizeBytes < LOCAL_FIRST_MAX_BYTES && (known === undefined || known.buffered === 0)) {
      if (known !== undefined) this.#lister.giveUp(known);
      return new LocalListing(dir.path!);
    }
    if (known !== undefined && !known.abandoned) return known;
    return this.#lister.stream(dir.path!);
  }

  async close(): Promise<void> {
    this.#ahead.clear();
    await this.#lister?.close();
  }
}
