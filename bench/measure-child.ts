/**
 * Run a command as a child process and measure it as a whole process: wall time, peak RSS, user and
 * system CPU. Uses `/usr/bin/time -f ...` when present (GNU time: exact rusage of the child);
 * otherwise spawns the command directly and polls /proc/PID/status (VmHWM) until it exits, which
 * gives peak RSS within the polling interval and no CPU figures for the child.
 *
 * Asynchronous on purpose: the `http` case serves blobs from the bench process while the loader runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
}

const GNU_TIME = '/usr/bin/time';
let gnuTimeOk: boolean | undefined;

function haveGnuTime(): boolean {
  if (gnuTimeOk === undefined) gnuTimeOk = existsSync(GNU_TIME);
  return gnuTimeOk;
}

export function measureMethod(): string {
  return haveGnuTime() ? '/usr/bin/time (GNU rusage of the child)' : 'spawn + /proc/PID/status VmHWM polling';
}

export async function measureChild(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Measured> {
  if (haveGnuTime()) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-time-'));
    const out = join(dir, 'time.txt');
    try {
      const start = process.hrtime.bigint();
      const r = await run(GNU_TIME, ['-o', out, '-f', '%e %M %U %S', cmd, ...args], options);
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
  });
  return { wallSeconds: Number(process.hrtime.bigint() - start) / 1e9, peakRssBytes: peak, exitCode: r.code, stdout: r.stdout, stderr: r.stderr };
}

function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv },
  poll?: (pid: number) => void,
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
      timer = setInterval(() => poll(pid), 20);
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearInterval(timer);
      resolve({ code: code ?? (signal !== null ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}
