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
