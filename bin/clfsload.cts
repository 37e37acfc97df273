#!/usr/bin/env node
/**
 * The installed `clfsload` command (package.json "bin"). CommonJS on purpose: copy and compare
 * keep many file-system calls in flight on libuv's thread pool, whose size is read from
 * UV_THREADPOOL_SIZE once, when the pool starts; an ES-module entry is too late to set it (Node's
 * module loader starts the pool before the entry's first line), so without this the command runs
 * itself a second time with the variable set (src/cli/thread-pool.ts), which cost a second start
 * of the whole program: about 0.4 s of every copy on the bench machine. Here the variable is set
 * before anything asynchronous has run, and the program proper (dist/bin/clfsload.js) finds the
 * pool it needs. When the guess below is wrong (an argument it cannot read), the re-run is still
 * the fallback; a pool larger than needed only costs idle threads.
 */

/** The pool a command line needs (copy: --threads + 4, default 64 + 4; compare: default 32 + 4), or undefined for other commands. */
function poolSizeFor(args: readonly string[]): number | undefined {
  const command = args.find((a) => !a.startsWith('-'));
  if (command !== 'copy' && command !== 'compare') return undefined;
  let threads: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const v = a === '--threads' ? args[i + 1] : a.startsWith('--threads=') ? a.slice('--threads='.length) : undefined;
    if (v !== undefined && /^[0-9]+$/.test(v)) threads = Number(v);
  }
  return Math.min((threads ?? (command === 'copy' ? 64 : 32)) + 4, 1024);
}

// run as the command (not when a test requires it for poolSizeFor)
if (require.main === module) {
  const size = poolSizeFor(process.argv.slice(2));
  if (size !== undefined && process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = String(size);
  // under "module": "NodeNext" tsc keeps this import() as it is in CommonJS output
  void import(require('node:url').pathToFileURL(require('node:path').join(__dirname, 'clfsload.js')).href);
}

module.exports = { poolSizeFor };
