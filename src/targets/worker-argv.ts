/**
 * The Node options a worker thread of ours starts with: the caller's, less those that belong to
 * the main script alone and those a worker thread refuses.
 *
 * - `node --input-type=module -e CODE` passes `--input-type` and the code on to every worker,
 *   whose own module then fails to load: left out.
 * - V8 and process-wide flags (`--max-old-space-size`, `--trace-gc`, `--perf-basic-prof`,
 *   `--stack-size`, ...) make the Worker constructor throw ERR_WORKER_INVALID_EXEC_ARGV, which
 *   turned `node --max-old-space-size=8192 clfsload.js load ...` into an internal error. They
 *   apply to the whole process anyway (V8 flags) or to the main thread (heap limits: a worker's
 *   come from its resourceLimits), so they are left out. Which ones a worker takes is asked of
 *   Node itself, once per flag, rather than kept in a list that would age with Node's releases.
 * - What workers accept (`--cpu-prof`, `--enable-source-maps`, `--conditions`, ...) is kept, so a
 *   profile of the load still covers its threads.
 */
import { Worker } from 'node:worker_threads';

const accepted = new Map<string, boolean>();

/** Whether a worker thread starts with these options (one flag and its separate value, if any). */
function workerTakes(flag: readonly string[]): boolean {
  const key = flag.join('\0');
  let ok = accepted.get(key);
  if (ok === undefined) {
    try {
      // the options are checked in the constructor; the thread is stopped before it runs anything
      const w = new Worker('', { eval: true, execArgv: [...flag] });
      w.unref();
      void w.terminate();
      ok = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw e;
      ok = false;
    }
    accepted.set(key, ok);
  }
  return ok;
}

/** Options of the script itself: not passed on. */
const SCRIPT_FLAGS = new Set(['--input-type', '-e', '--eval', '-p', '--print']);

export function workerExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    // a flag given as `--flag value` takes the next word with it
    const hasValue = !a.includes('=') && i + 1 < args.length && !args[i + 1]!.startsWith('-');
    const flag = hasValue ? [a, args[i + 1]!] : [a];
    if (hasValue) i += 1;
    if (SCRIPT_FLAGS.has(a) || SCRIPT_FLAGS.has(a.split('=')[0]!)) continue;
    if (workerTakes(flag)) out.push(...flag);
  }
  return out;
}
