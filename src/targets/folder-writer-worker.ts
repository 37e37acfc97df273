/** The folder target's writer thread: runs `writeFilesSync` off the caller's event loop. */
import { writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { writeFilesSync } from './folder-writes.js';
import type { FolderWrite } from './folder-writes.js';

// named for per-thread CPU figures (top -H, the bench's scaling case)
try {
  writeFileSync('/proc/thread-self/comm', 'clfs-writer');
} catch {
  // not Linux
}

parentPort!.on('message', (msg: { id: number; writes: FolderWrite[]; fsync: boolean }) => {
  const failure = writeFilesSync(msg.writes, msg.fsync);
  const error = failure?.error as NodeJS.ErrnoException | undefined;
  parentPort!.postMessage({ id: msg.id, failure: failure && { index: failure.index, code: error?.code, message: error?.message ?? String(failure.error) } });
});
