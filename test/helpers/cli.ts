/** The built CLI in a child process: run to the end, or started to be signalled while it works. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: options.cwd, encoding: 'utf8', env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 120_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

export interface RunningCli {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** resolves when `cond` holds on the output so far; rejects if the process ends first or after `ms` */
  waitFor(cond: (r: { stdout: string; stderr: string }) => boolean, what: string, ms?: number): Promise<void>;
  done: Promise<CliResult>;
}

export function startCli(args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exited = false;
  const listeners = new Set<() => void>();
  const changed = () => listeners.forEach((l) => l());
  child.stdout!.setEncoding('utf8').on('data', (d: string) => ((stdout += d), changed()));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => ((stderr += d), changed()));
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => {
      exited = true;
      changed();
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    done,
    waitFor(cond, what, ms = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}; stderr:\n${stderr}`)), ms);
        const check = () => {
          if (cond({ stdout, stderr })) finish();
          else if (exited) finish(new Error(`the CLI ended before ${what}; stdout:\n${stdout}\nstderr:\n${stderr}`));
        };
        const finish = (err?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (err) reject(err);
          else resolve();
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** The progress lines of a load's stderr, parsed: phase, done/total entries, done/total MiB. */
export function progressLines(stderr: string): Array<{ line: string; phase: string; done: number; total: number; mibDone: number; mibTotal: number }> {
  const out = [];
  for (const line of stderr.split('\n')) {
    const m = /^(\w+): (\d+)\/(\d+) entries, ([\d.]+)\/([\d.]+) MiB, /.exec(line);
    if (m) out.push({ line, phase: m[1]!, done: Number(m[2]), total: Number(m[3]), mibDone: Number(m[4]), mibTotal: Number(m[5]) });
  }
  return out;
}

/** The words of a command line that resumeCommand printed (single-quoted words as a shell reads them). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /'((?:[^']|'\\'')*)'|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) words.push(m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!);
  return words;
}

/**
 * The built CLI run to the end without blocking the event loop (an in-process Azurite, proxy or
 * token endpoint keeps serving it), with exactly the environment given (nothing inherited: no key
 * or proxy of the test's own leaks in), `stdin` written to it, killed after `timeoutMs`.
 */
export function runCliIsolated(args: readonly string[], env: Record<string, string>, options: { stdin?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}
