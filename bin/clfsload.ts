#!/usr/bin/env node
import v8 from 'node:v8';

// Memory before speed in V8's heap sizing, set before anything is allocated. The loader makes
// many short-lived rows and buffers, and V8's defaults let the heap grow far past what is live:
// on a 200,000-file load peak RSS was 290 MB with the defaults and 164 MB with these flags, for
// about 5% more user CPU (docs/benchmarks.md, "Memory").
v8.setFlagsFromString('--max-semi-space-size=4');
v8.setFlagsFromString('--optimize-for-size');
// Scavenges in the thread that allocates, not shared out to V8's helper threads: with the main
// thread, two encode workers and a writer already busy on two cores, the helpers only contended
// (they used 0.7 s of CPU on the 20,000-file load). The small benchmark ran 7% faster (median of
// five A/B pairs, 2.12 s against 2.28 s). --single-threaded-gc did as well but cannot be switched
// on at run time (V8 aborts when it disables concurrent marking under a live heap).
v8.setFlagsFromString('--no-parallel-scavenge');

// Node 22.1 and later: the program's modules compiled once and kept on disk between runs (a
// one-file load on Node 22: 0.63 -> 0.57 s, CPU 1.04 -> 0.94 s, medians of 10 alternating runs).
// In the user's own cache folder, not Node's default under /tmp, which on a shared login node
// another user could have made first. NODE_COMPILE_CACHE (a folder) and NODE_DISABLE_COMPILE_CACHE
// are Node's own and win. Node 20 has no such call: nothing changes there.
{
  const { enableCompileCache } = (await import('node:module')) as { enableCompileCache?: (dir?: string) => unknown };
  if (enableCompileCache !== undefined && !process.env.NODE_COMPILE_CACHE) {
    const { homedir } = await import('node:os');
    const { join, isAbsolute } = await import('node:path');
    const xdg = process.env.XDG_CACHE_HOME;
    try {
      enableCompileCache(join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'clfsload', 'compile-cache'));
    } catch {
      // a cache that cannot be made is only a slower start
    }
  }
}

// A load's encode workers start now, on the other cores, while this thread loads the rest of the
// program (src/load/worker-prestart.ts says why).
{
  const { availableParallelism } = await import('node:os');
  const { prestartCountFor, prestartEncodeWorkers } = await import('../src/load/worker-prestart.js');
  prestartEncodeWorkers(prestartCountFor(process.argv.slice(2), process.env, availableParallelism()));
}
const { main } = await import('../src/cli/main.js');
const code = await main(process.argv);
process.exitCode = code;
// The run is over and its state closed: whatever still holds the event loop (a worker or socket
// that a stopped run abandoned) must not keep a CI step or a Slurm task waiting. Output to pipes
// and files is written synchronously on Linux, so nothing printed is lost.
setTimeout(() => process.exit(code), 2000).unref();
