/**
 * A directory lister thread (dir-lister.ts): lists one source directory and lstats every child
 * with synchronous calls (dir-list-pack.ts), off the caller's thread, and sends the results back
 * packed (names in one buffer, the numeric fields of each lstat in a BigInt64Array), a chunk at a time.
 *
 * Source reads go through `sourceFs`, so a fault plan (CLFSLOAD_SOURCE_FAULTS, or the caller's
 * plan through workerData) fails them here as it would on the caller's thread.
 */
import { writeFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { ACTIVE, CONSUMED, FLOOR, TICK, type ListChunk, type ListRequest } from './dir-list-protocol.js';
import { listChunks, transferOf } from './dir-list-pack.js';

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

function list(req: ListRequest): void {
  if (req.ahead >= 0 && req.id < Atomics.load(control, FLOOR)) {
    parentPort!.postMessage({ id: req.id, done: true, count: 0, abandoned: true } satisfies Partial<ListChunk>);
    return;
  }
  const chunks = listChunks(Buffer.from(req.path, 'latin1'), req.id);
  let sent = 0;
  try {
    for (const m of chunks) {
      // a failure goes at once; the children wait until the caller may take them
      if (m.dirError === undefined) maySend(req, sent++);
      parentPort!.postMessage(m, transferOf(m));
    }
  } catch (err) {
    if (!(err instanceof Abandoned)) throw err;
    chunks.return(undefined);
    parentPort!.postMessage({ id: req.id, done: true, count: 0, abandoned: true } satisfies Partial<ListChunk>);
  }
}

// the requests come a few at a time (DirLister sends those made together in one message)
parentPort!.on('message', (reqs: ListRequest[]) => {
  for (const req of reqs) list(req);
});
