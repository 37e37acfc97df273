/**
 * The progress of a load (and of verify) on stderr: on a terminal one line rewritten in place; on
 * anything else (CI logs, a pipe) a plain line every few seconds with the current figures, and the
 * last figures of each phase when it ends.
 */
import type { ProgressSnapshot } from '../index.js';
import type { OutStream } from './context.js';

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** seconds of this run's transfer before an ETA is given */
export const ETA_AFTER_SECONDS = 3;

/**
 * Seconds left: the larger of what the entries left take at this run's entry rate and what the
 * bytes left take at its byte rate. Either alone misleads on a mixed tree: by bytes, 60,000 small
 * files after the large ones look like no time at all; by entries, one large file looks instant.
 * NaN while a rate is still unknown, or taken over too short a time to mean anything (the first
 * second may be one large file: by entries, that reads as minutes for a load of seconds).
 */
export function etaSeconds(p: ProgressSnapshot): number {
  const entriesLeft = p.entriesScanned - p.entriesDone;
  const bytesLeft = p.bytesScanned - p.bytesDone;
  if (entriesLeft <= 0 && bytesLeft <= 0) return 0;
  if (p.rateSeconds < ETA_AFTER_SECONDS) return NaN;
  const estimates: number[] = [];
  for (const [left, done] of [
    [entriesLeft, p.entriesDoneThisRun],
    [bytesLeft, p.bytesDoneThisRun],
  ] as const) {
    if (left <= 0) continue;
    if (done <= 0) return NaN;
    estimates.push(left / (done / p.rateSeconds));
  }
  return Math.max(...estimates);
}

/** One line: entries and bytes done out of the transfer's total so far, this run's rates, ETA, errors. */
export function progressLine(p: ProgressSnapshot): string {
  const rate = p.rateSeconds > 0 ? p.entriesDoneThisRun / p.rateSeconds : 0;
  const byteRate = p.rateSeconds > 0 ? p.bytesDoneThisRun / p.rateSeconds : 0;
  return (
    `${p.phase}: ${p.entriesDone}/${p.entriesScanned} entries, ${mib(p.bytesDone)}/${mib(p.bytesScanned)} MiB, ` +
    `${rate.toFixed(0)} entries/s, ${mib(byteRate)} MiB/s, ETA ${duration(etaSeconds(p))}, errors ${p.errors}`
  );
}

/**
 * Shows the latest of a stream of lines. On a TTY each update rewrites the line in place; elsewhere
 * a timer prints the latest line every `plainEveryMs` (whether or not a new one came: a stuck run
 * shows it is stuck, with its figures), and `flush` prints the latest once more if it is not the
 * last printed, so a phase's final figures are always in the log.
 */
export class LinePrinter {
  private latest: string | undefined;
  private lastPrinted: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private live = false;

  constructor(
    private readonly out: OutStream,
    private readonly plainEveryMs = 5000,
    /** what holds the run back (a rate limit), appended to the line while it does */
    private readonly note?: () => string | undefined,
  ) {}

  /** the line with the note of what holds the run back, when something does */
  protected withNote(line: string): string {
    const note = this.note?.();
    return note === undefined ? line : `${line}, ${note}`;
  }

  show(line: string): void {
    this.latest = line;
    if (this.out.isTTY) {
      // a terminal that reports no width (0: `script`, some CI shells) gets a plain 120
      this.out.write(`\r\x1b[K${line.slice(0, Math.max(20, (this.out.columns || 120) - 1))}`);
      this.live = true;
      return;
    }
    if (this.timer === undefined) {
      this.printPlain();
      this.timer = setInterval(() => this.printPlain(), this.plainEveryMs);
      this.timer.unref();
    }
  }

  private printPlain(): void {
    if (this.latest === undefined) return;
    this.out.write(`${this.latest}\n`);
    this.lastPrinted = this.latest;
  }

  /** The latest line kept in the output (a phase ended, or the run stopped). */
  flush(): void {
    if (this.latest === undefined) return;
    if (this.out.isTTY) {
      if (this.live) this.out.write('\n');
      else if (this.lastPrinted !== this.latest) this.out.write(`${this.latest}\n`);
      this.live = false;
      this.lastPrinted = this.latest;
    } else if (this.lastPrinted !== this.latest) this.printPlain();
  }

  /** A line of the caller's own (the copy's), shown the same way. */
  updateText(line: string): void {
    this.show(line);
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

  /** No more lines: the timer stops, the live line goes. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }
}

/** A load's progress: snapshots shown through a LinePrinter. */
export class ProgressPrinter extends LinePrinter {
  private snapshot: ProgressSnapshot | undefined;

  update(p: ProgressSnapshot): void {
    this.snapshot = p;
    this.show(this.withNote(progressLine(p)));
  }

  /** the latest snapshot, for the interrupt message */
  get last(): ProgressSnapshot | undefined {
    return this.snapshot;
  }
}
