import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LogLevel, Reporter } from './reporter.js';

export const RUN_LOG_FILE = 'output.txt';
export const PROBLEMS_FILE = 'problems.txt';

function stamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())},${p(d.getMilliseconds(), 3)}`;
}

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * The run's log: appended to `output.txt` in the state folder (uploaded at finalize, as the
 * reference does) and forwarded to the reporter.
 */
export class RunLog {
  private readonly fd: number;
  private readonly minRank: number;
  private broken = false;

  constructor(
    stateDir: string,
    private readonly reporter: Reporter,
    level: LogLevel,
  ) {
    this.fd = fs.openSync(path.join(stateDir, RUN_LOG_FILE), 'a');
    this.minRank = LEVEL_RANK[level];
  }

  write(level: LogLevel, message: string): void {
    if (LEVEL_RANK[level] < this.minRank) return;
    const tag = level === 'warn' ? 'WARNING' : level.toUpperCase();
    if (!this.broken) {
      try {
        fs.writeSync(this.fd, `${stamp(new Date())} ${tag} ${message}\n`);
      } catch {
        // the state folder is full or gone: the state database reports it as E_STATE_IO;
        // the log must not turn that into a second, less clear failure
        this.broken = true;
      }
    }
    this.reporter.log?.(level, message);
  }

  info(message: string): void {
    this.write('info', message);
  }

  warn(message: string): void {
    this.write('warn', message);
  }

  error(message: string): void {
    this.write('error', message);
  }

  debug(message: string): void {
    this.write('debug', message);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
