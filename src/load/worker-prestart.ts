/**
 * Encode workers started before the program has loaded the rest of itself.
 *
 * A worker takes about 0.1 s to start (its own V8 isolate, then its share of the loader's
 * modules), and the load's first segment or range waited that long for one: on the bench machine
 * the large tree's workers were ready 0.1 s after the main thread, which itself spent about 0.15 s
 * loading its modules with the second core idle. Started here, from the command's entry
 * (bin/clfsload.ts) before anything else is imported, they boot on the other cores meanwhile and
 * wait: the first EncoderPool takes them (`takePrestarted`) and sends each its settings in its
 * first message. A worker not taken (another command, a load that stopped before its transfer)
 * is unref'd, so it never keeps the process alive, and is ended by `dropPrestarted`.
 *
 * This module imports only Node: it must be cheap to load.
 */
import { Worker } from 'node:worker_threads';
import { workerExecArgv } from '../targets/worker-argv.js';

/** The heap of an encode worker: a small young generation (short-lived buffers; peak RSS is a target). */
export const ENCODE_WORKER_LIMITS = { maxYoungGenerationSizeMb: 16, maxOldGenerationSizeMb: 48 } as const;

export const ENCODE_WORKER_URL = new URL('./encode-worker.js', import.meta.url);

/** What a prestarted worker gets in workerData: it waits for its settings (an `init` message). */
export const DEFERRED = { deferred: true, sourceFaults: null } as const;

const waiting: Worker[] = [];

/** Start `count` encode workers now, to be taken by the first EncoderPool. */
export function prestartEncodeWorkers(count: number): void {
  for (let i = 0; i < count; i++) {
    const w = new Worker(ENCODE_WORKER_URL, { workerData: DEFERRED, execArgv: workerExecArgv(), resourceLimits: ENCODE_WORKER_LIMITS });
    w.unref();
    // a worker that fails to start is simply not used: the pool starts its own
    w.once('error', () => {
      const at = waiting.indexOf(w);
      if (at >= 0) waiting.splice(at, 1);
    });
    waiting.push(w);
  }
}

/** A prestarted worker, or undefined when none is left. Its first message must be its settings. */
export function takePrestarted(): Worker | undefined {
  return waiting.shift();
}

/** End the prestarted workers nobody took. */
export function dropPrestarted(): Promise<void> {
  const left = waiting.splice(0);
  return Promise.all(left.map((w) => w.terminate())).then(() => undefined);
}

/**
 * How many workers a command line will want at once, read without the program's option parser
 * (which is not loaded yet): a load (`load`, `demo`) gets one per core, or CLFSLOAD_ENCODE_WORKERS
 * when it is set; a dry run, every other command, and anything this cannot read, none.
 */
export function prestartCountFor(args: readonly string[], env: NodeJS.ProcessEnv, cores: number): number {
  const command = args.find((a) => !a.startsWith('-'));
  if (command !== 'load' && command !== 'demo') return 0;
  if (args.some((a) => a === '--dry-run' || a === '-h' || a === '--help')) return 0;
  const fromEnv = env.CLFSLOAD_ENCODE_WORKERS;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const n = Number(fromEnv);
    return Number.isInteger(n) && n >= 0 && n <= 64 ? n : 0;
  }
  return cores;
}
