/**
 * copy and compare keep many file-system calls in flight, and Node runs those on libuv's thread
 * pool: four threads unless UV_THREADPOOL_SIZE was in the environment when the process started
 * (Node's module loader starts the pool before any of our code runs). Measured through the
 * bench's delayfs mount at 1 ms per call, 2,000 small files with 64 tasks in flight: 381 files/s
 * with the default 4 threads, 967 with 68, 1,134 with 128.
 * So when the pool is too small the command runs itself again with the variable set, passes
 * signals on, and returns the child's exit code. The child exits at once if its launcher dies
 * (kill -9 of the launcher must stop the copy, as it would without the re-run).
 */
import { spawn } from 'node:child_process';
import type { CliContext } from './context.js';
import { reexecParent, threadPoolEnv, threadPoolReady } from './environment.js';
import { rawArgvEnv } from './raw-argv.js';

/** undefined: this process has the pool it needs, go on; a number: the re-run's exit code. */
export async function ensureThreadPool(ctx: CliContext, size: number): Promise<number | undefined> {
  const parent = reexecParent(process.env);
  if (parent !== undefined) {
    const watch = setInterval(() => {
      if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL');
    }, 200);
    watch.unref();
  }
  if (threadPoolReady(process.env, size) || parent !== undefined) return undefined;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { env: { ...threadPoolEnv(process.env, size), ...rawArgvEnv() }, stdio: 'inherit' });
  const forward = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
  };
  // Ctrl-C reaches the child through the terminal's process group; SIGTERM (Slurm, Kubernetes, kill) is passed on
  ctx.signals.controller.signal.addEventListener('abort', forward);
  return new Promise<number>((resolve) => {
    child.on('error', (err) => {
      ctx.stderr.write(`clfsload: cannot run a copy with a larger thread pool (${err.message})\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      ctx.signals.controller.signal.removeEventListener('abort', forward);
      resolve(code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1));
    });
  });
}
