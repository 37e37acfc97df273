import type { ProgressSnapshot } from '../index.js';
import type { OutStream } from './context.js';

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One line: entries and bytes done out of those scanned, rate, ETA (by bytes when there are any). */
export function progressLine(p: ProgressSnapshot): string {
  const rate = p.elapsedSeconds > 0 ? p.entriesDone / p.elapsedSeconds : 0;
  const byteRate = p.elapsedSeconds > 0 ? p.bytesDone / p.elapsedSeconds : 0;
  const left = p.bytesScanned > 0 && byteRate > 0 ? (p.bytesScanned - p.bytesDone) / byteRate : rate > 0 ? (p.entriesScanned - p.entriesDone) / rate : NaN;
  return (
    `${p.phase}: ${p.entriesDone}/${p.entriesScanned} entries, ${mib(p.bytesDone)}/${mib(p.bytesScanned)} MiB, ` +
    `${rate.toFixed(0)} entries/s, ${mib(byteRate)} MiB/s, ETA ${duration(left)}, errors ${p.errors}`
  );
}

/** On a TTY a live line rewritten in place; elsewhere (CI) a plain line every few seconds. */
export class ProgressPrinter {
  private lastPlain = 0;
  private live = false;

  constructor(
    private readonly out: OutStream,
    private readonly plainEveryMs = 5000,
  ) {}

  update(p: ProgressSnapshot): void {
    if (this.out.isTTY) {
      const line = progressLine(p).slice(0, Math.max(20, (this.out.columns ?? 120) - 1));
      this.out.write(`\r\x1b[K${line}`);
      this.live = true;
    } else if (Date.now() - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = Date.now();
      this.out.write(`${progressLine(p)}\n`);
    }
  }

  /** A line of the caller's own (the copy's), shown the same way. */
  updateText(line: string): void {
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[K${line.slice(0, Math.max(20, (this.out.columns ?? 120) - 1))}`);
      this.live = true;
    } else if (Date.now() - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = Date.now();
      this.out.write(`${line}\n`);
    }
  }

  /** Print a message above the live line. */
  message(text: string): void {
    this.clear();
    this.out.write(`${text}\n`);
  }

  clear(): void {
    if (this.live) {
      this.out.write('\r\x1b[K');
      this.live = false;
    }
  }
}
