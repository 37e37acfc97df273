/**
 * The folder target's reader threads (blob reads for verify, ls, export; verify --source's source
 * probes) run under Linux's SCHED_BATCH policy, set from inside each thread with the package's addon.
 *
 * Why: the main thread hands work to helpers by message, and a message wakes the helper. Under
 * the default policy a woken thread may preempt the one that woke it when the cores are busy,
 * so on a 2-core machine the main thread (the serial part: the walk, the state, the requests)
 * lost its core inside postMessage for 0.1–6 ms, 859 times in a `verify --source` of 20,000
 * files (0.4 s of its 2.5 s). A SCHED_BATCH thread does not preempt on wakeup; its nice value is
 * unchanged. With it, that verify spent 0.17 s in postMessage instead of 0.45 s, and took 2.24 s
 * instead of 2.48 s (medians of 5 alternating runs, warm cache, beside another job); on the quiet
 * machine 1.64 s against 1.62 s, no difference: it pays only when the cores are contended. The load's threads (encode,
 * lister, writer) were tried the same way: 2.33 s against 2.25 s for the 20,000-file tree into
 * tmpfs, no gain, so they keep the default policy.
 *
 * Without the addon (not built) or off Linux, nothing changes. Like the rest of src/targets it reads
 * no environment: CLFSLOAD_NATIVE=0 turns off the copy's native file-system calls, not this.
 */
import { loadAddon } from './native-addon.js';

/** Set the calling thread's policy; true when it is now SCHED_BATCH. Never throws. */
export function batchThisThread(): boolean {
  if (process.platform !== 'linux') return false;
  const batchThread = loadAddon().addon?.batchThread as (() => boolean) | undefined;
  return batchThread?.() ?? false;
}
