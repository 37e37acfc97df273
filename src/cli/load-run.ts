/**
 * A load from the command line, shared by `load` and the reference's positional form: the flags
 * each form declares (as a table from option to setting, so no declared option can be left out of
 * the load), the mapping of those settings to LoadOptions (written once, here), progress, the
 * summary and the exit code.
 */
import { Option, type Command } from 'commander';
import { dryRun, load } from '../index.js';
import type { DryRunEstimate, LoadOptions, LoadSummary, LogLevel } from '../index.js';
import { EXIT, type CliContext, type CliIo, type SignalState } from './context.js';
import { applyEnvironment } from './environment.js';
import { ProgressPrinter } from './progress.js';
import { defaultStateDir } from './state-path.js';
import type { CliTarget } from './target-arg.js';

/** A load's settings as either command line gives them; unset ones take the library's defaults. */
export interface LoadFlags {
  stateDir?: string;
  newTransfer?: boolean;
  compression?: 'lz4' | 'disabled';
  preserveHardlinks?: boolean;
  maxErrors?: number;
  retryErrors?: boolean;
  concurrency?: number;
  logLevel?: LogLevel;
  json?: boolean;
  /** the reference's --dry_run: count the tree first (for the ETA), then load */
  countFirst?: boolean;
}

/** One option of a load command line and the setting it gives. */
export interface LoadFlag {
  readonly key: keyof LoadFlags;
  readonly option: Option;
  readonly value: (parsed: unknown) => unknown;
}

/** `value` turns what commander parsed into the setting (when the form spells it differently, as `--preserve_hardlinks 1`). */
export function loadFlag<K extends keyof LoadFlags>(key: K, option: Option, value?: (parsed: never) => LoadFlags[K]): LoadFlag {
  return { key, option, value: (value as ((parsed: unknown) => unknown) | undefined) ?? ((v) => v) };
}

/** A load command's options in help order: the settings, and options of its own (plain Options). */
export type LoadCommandOptions = ReadonlyArray<LoadFlag | Option>;

function isLoadFlag(o: LoadFlag | Option): o is LoadFlag {
  return !(o instanceof Option);
}

export function addLoadOptions(command: Command, options: LoadCommandOptions): Command {
  for (const o of options) command.addOption(isLoadFlag(o) ? o.option : o);
  return command;
}

/** The settings from commander's parsed options, read under each option's own attribute name. */
export function loadFlagsOf(opts: Record<string, unknown>, options: LoadCommandOptions): LoadFlags {
  const out: Record<string, unknown> = {};
  for (const f of options) {
    if (!isLoadFlag(f)) continue;
    const parsed = opts[f.option.attributeName()];
    if (parsed !== undefined) out[f.key] = f.value(parsed);
  }
  return out as LoadFlags;
}

/** Exit 0 only when every entry is loaded: a status that says complete with errors counted is not. */
function exitCodeOf(s: LoadSummary, signals: SignalState): number {
  if (s.status === 'interrupted') return signals.exitCode ?? EXIT.SIGINT;
  const clean = s.errors === 0 && s.problems.length === 0;
  return (s.status === 'complete' || s.status === 'already-complete') && clean ? EXIT.OK : EXIT.INCOMPLETE;
}

function printSummary(io: CliIo, s: LoadSummary, json: boolean): void {
  if (json) {
    io.stdout.write(`${JSON.stringify(s)}\n`);
    return;
  }
  const kinds = Object.entries(s.kinds)
    .map(([k, n]) => `${n} ${k.toLowerCase()}`)
    .join(', ');
  io.stdout.write(
    `${s.status}: ${s.entries} entries (${kinds || 'none written this run'}), ${(s.fileBytes / 1048576).toFixed(1)} MiB of file data, ` +
      `${s.blobsWritten} blobs written (${(s.bytesUploaded / 1048576).toFixed(1)} MiB), ${s.errors} errors, ${s.seconds.toFixed(1)} s\n`,
  );
  for (const p of s.problems.slice(0, 20)) io.stdout.write(`  problem: ${p.path}: ${p.message}\n`);
  if (s.problemsTotal > 20) io.stdout.write(`  ... and ${s.problemsTotal - 20} more\n`);
  if (s.problemsFile !== undefined) io.stdout.write(`every failed path is listed in ${s.problemsFile}\n`);
  if (s.linkSplits > 0) io.stdout.write(`warning: ${s.linkSplits} inodes had more than 1,023 names; their extra names were stored as a new inode (as the reference does)\n`);
  if (s.status === 'interrupted' || s.status === 'error-budget-exceeded') io.stdout.write(`state kept in ${s.stateDir}: run the same command again to resume\n`);
}

export function printEstimate(io: CliIo, e: DryRunEstimate, json: boolean): void {
  if (json) {
    io.stdout.write(`${JSON.stringify({ dryRun: true, ...e })}\n`);
    return;
  }
  const kinds = Object.entries(e.kinds)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  io.stdout.write(
    `dry run: ${e.entries} entries (${kinds}), ${(e.fileBytes / 1048576).toFixed(1)} MiB of file data\n` +
      `a load would write ${e.objects} objects (${e.fileSegments} file segments, ${e.dirSegments} directory segments, ${e.indirectBlocks} indirect blocks) in about ${e.requests} requests; ${e.errors} unreadable entries\n`,
  );
}

/**
 * Load `source` into `target` with `flags`; resolves to the exit code. `run` replaces the load
 * itself (a shard or the finalize of a planned load), with the same progress and summary.
 */
export async function runLoad(ctx: CliContext, source: string, target: CliTarget, flags: LoadFlags, run: (options: LoadOptions) => Promise<LoadSummary> = load): Promise<number> {
  const stateDir = flags.stateDir ?? defaultStateDir(target.key);
  const opened = target.open({ concurrency: flags.concurrency, reportRetries: true });
  const printer = new ProgressPrinter(ctx.stderr);
  if (flags.countFirst === true) {
    const e = dryRun({ source, preserveHardlinks: flags.preserveHardlinks });
    ctx.stderr.write(`dry run result count=${e.entries} GB=${(e.fileBytes / 2 ** 30).toFixed(6)} elapsed=${e.seconds.toFixed(3)}\n`);
  }
  const options: LoadOptions = {
    ...applyEnvironment(process.env),
    source,
    target: opened,
    targetKey: target.key,
    stateDir,
    newTransfer: flags.newTransfer ?? false,
    compression: flags.compression,
    preserveHardlinks: flags.preserveHardlinks,
    maxErrors: flags.maxErrors,
    retryErrors: flags.retryErrors,
    concurrency: flags.concurrency,
    logLevel: flags.logLevel,
    abortSignal: ctx.signals.controller.signal,
    reporter: {
      phase: (name, event) => printer.message(`phase ${name} ${event === 'start' ? 'started' : 'done'}`),
      progress: (p) => printer.update(p),
      log: (level, message) => {
        if (level === 'warn' || level === 'error') printer.message(`${level === 'warn' ? 'warning' : 'error'}: ${message}`);
        else if (level === 'debug' && flags.logLevel === 'debug') printer.message(message);
      },
    },
  };
  try {
    const s = await run(options);
    printer.clear();
    printSummary(ctx, s, flags.json === true);
    return exitCodeOf(s, ctx.signals);
  } finally {
    printer.clear();
    await opened.close?.();
  }
}
