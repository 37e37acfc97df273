/**
 * Run a command as a child process and measure it as a whole process: wall time, peak RSS, user and
 * system CPU. Uses `/usr/bin/time -f ...` when present (GNU time: exact rusage of the child);
 * otherwise spawns the command directly and polls /proc/PID/status (VmHWM) until it exits, which
 * gives peak RSS within the polling interval and no CPU figures for the child.
 *
 * Asynchronous on purpose: the `http` case serves blobs from the bench process while the loader runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measured {
  wallSeconds: number;
  /** peak resident set, bytes */
  peakRssBytes: number;
  /** user + system CPU seconds of the child (undefined when /usr/bin/time is not available) */
  cpuSeconds?: number;
  exitCode: number;
  stdout: string;
  stderr: string;
  /** with `threads`: each thread's user+system CPU seconds, sampled from /proc until the process exits */
  threads?: ThreadCpu[];
}

export interface ThreadCpu {
  tid: number;
  /** /proc/PID/task/TID/comm: the loader names its threads (clfs-encode, clfs-writer); the main thread is tid = pid */
  name: string;
  main: boolean;
  cpuSeconds: number;
}

export interface MeasureOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * sample every thread's CPU (/proc/PID/task/* /stat, utime + stime) every THREAD_POLL_MS until
   * the process exits. A thread's last interval before it ends is not seen (at most
   * THREAD_POLL_MS of its CPU); the process total (GNU time's rusage) is exact.
   */
  threads?: boolean;
  /** run the command under `taskset -c CPUS` (e.g. '0' or '0,1') */
  cpus?: string;
}

const THREAD_POLL_MS = 10;
/** clock ticks per second of /proc's utime and stime (USER_HZ: 100 on Linux everywhere) */
const USER_HZ = 100;

const GNU_TIME = '/usr/bin/time';
let gnuTimeOk: boolean | undefined;

function haveGnuTime(): boolean {
  if (gnuTimeOk === undefined) gnuTimeOk = existsSync(GNU_TIME);
  return gnuTimeOk;
}

export function measureMethod(): string {
  return haveGnuTime() ? '/usr/bin/time (GNU rusage of the child)' : 'spawn + /proc/PID/status VmHWM polling';
}

/** The process GNU time runs: its only child, once started. */
function childOf(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/** Every thread of `pid` into `seen`: its latest utime + stime and name. */
function sampleThreads(pid: number, seen: Map<number, ThreadCpu>): void {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const t of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      // comm is in parentheses and may hold spaces: the fields after it are counted from its end
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      // after comm: state(0) ... utime is field 14 of the line, 11 here; stime 12
      const ticks = Number(f[11]) + Number(f[12]);
      const tid = Number(t);
      seen.set(tid, { tid, name, main: tid === pid, cpuSeconds: ticks / USER_HZ });
    } catch {
      // ended between readdir and read
    }
  }
}

export async function measureChild(cmdIn: string, argsIn: string[], options: MeasureOptions = {}): Promise<Measured> {
  const [cmd, args] = options.cpus === undefined ? [cmdIn, argsIn] : ['taskset', ['-c', options.cpus, cmdIn, ...argsIn]];
  const seen = new Map<number, ThreadCpu>();
  let target: number | undefined;
  // under GNU time the loader is time's child (taskset execs into it, keeping its pid)
  const poll = options.threads
    ? (pid: number) => {
        target ??= haveGnuTime() ? childOf(pid) : pid;
        if (target !== undefined) sampleThreads(target, seen);
      }
    : undefined;
  const threadsOut = () => (options.threads ? [...seen.values()].sort((a, b) => b.cpuSeconds - a.cpuSeconds) : undefined);
  if (haveGnuTime()) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-time-'));
    const out = join(dir, 'time.txt');
    try {
      const start = process.hrtime.bigint();
      const r = await run(GNU_TIME, ['-o', out, '-f', '%e %M %U %S', cmd, ...args], options, poll, THREAD_POLL_MS);
      const wall = Number(process.hrtime.bigint() - start) / 1e9;
      const lines = readFileSync(out, 'utf8').trim().split('\n');
      const [, m, u, s] = lines[lines.length - 1]!.trim().split(/\s+/).map(Number);
      return {
        // our own clock: GNU time's %e has 10 ms resolution (time's own start-up is about 1 ms)
        wallSeconds: wall,
        peakRssBytes: (m ?? 0) * 1024,
        cpuSeconds: (u ?? 0) + (s ?? 0),
        exitCode: r.code,
        stdout: r.stdout,
        stderr: r.stderr,
        threads: threadsOut(),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const start = process.hrtime.bigint();
  let peak = 0;
  const r = await run(cmd, args, options, (pid) => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      // exited
    }
    poll?.(pid);
  }, options.threads ? THREAD_POLL_MS : 20);
  return { wallSeconds: Number(process.hrtime.bigint() - start) / 1e9, peakRssBytes: peak, exitCode: r.code, stdout: r.stdout, stderr: r.stderr, threads: threadsOut() };
}

function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv },
  poll?: (pid: number) => void,
  pollMs = 20,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    let timer: NodeJS.Timeout | undefined;
    if (poll !== undefined && child.pid !== undefined) {
      const pid = child.pid;
      timer = setInterval(() => poll(pid), pollMs);
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearInterval(timer);
      resolve({ code: code ?? (signal !== null ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}
