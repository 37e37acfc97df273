/**
 * Stopping our worker threads. Each pool unrefs a thread once it has nothing outstanding, so a
 * caller that never closes the pool can still exit. terminate() refs the thread until its exit
 * arrives, but a reply already on its way (a listing given up early leaves stats in flight) ran
 * the pool's message handler after that, which unref'd the thread again: under load the event
 * loop then emptied before the exit came, and the caller's `await close()` never returned (the
 * test runner cancelled the test; a command would have ended without its summary). A timer
 * holds the loop open until every thread has exited, whatever the handlers do meanwhile.
 */
import type { Worker } from 'node:worker_threads';

export async function stopWorkers(workers: readonly Worker[]): Promise<void> {
  if (workers.length === 0) return;
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    await Promise.all(workers.map((w) => w.terminate()));
  } finally {
    clearInterval(keepAlive);
  }
}

/**
 * A pool's thread that has had nothing to do for this long is ended; the next request starts a
 * new one (tens of milliseconds). Without it, a target the caller never closed kept its threads
 * for the life of the process: a test process that made a FolderTarget per check held 840 idle
 * reader threads (4.9 GB resident, a V8 heap reservation each) after 150 rounds, and had aborted
 * before that in a new worker's heap allocation.
 */
export const IDLE_THREAD_MS = 5000;

/** A pool's thread: its worker, what it has not answered yet, and the timer that ends it idle. */
export interface PoolThread {
  worker: Worker;
  waiting: Map<number, unknown>;
  idle?: NodeJS.Timeout;
}

/**
 * Arms `thread`'s idle timer (not keeping the process alive): after IDLE_THREAD_MS with nothing
 * outstanding it leaves `pool` first, so nothing is sent to it while it stops, then ends. Sending
 * to the thread clears the timer (clearTimeout(thread.idle)).
 */
export function retireWhenIdle<T extends PoolThread>(pool: T[], thread: T): void {
  clearTimeout(thread.idle);
  thread.idle = setTimeout(() => {
    if (thread.waiting.size > 0) return;
    const at = pool.indexOf(thread);
    if (at >= 0) pool.splice(at, 1);
    void thread.worker.terminate();
  }, IDLE_THREAD_MS);
  thread.idle.unref();
}
