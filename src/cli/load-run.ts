/**
 * A load from the command line, shared by `load` and the reference's positional form: the flags
 * each form declares (as a table from option to setting, so no declared option can be left out of
 * the load), the mapping of those settings to LoadOptions (written once, here), progress, the
 * summary and the exit code.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { ClfsError, describeHolds, dryRun, isClfsError, load, patternsOfFile, RateLimiter, redact, updateDryRun } from '../index.js';
import type { DryRunEstimate, FilterSpec, LoadOptions, LoadSummary, LogLevel, RateSchedule, UpdateEstimate } from '../index.js';
import { checkOutsideSource, folderArgument, shellWord, shownPath, shownText } from './byte-path.js';
import { EXIT, type CliContext, type CliIo, type SignalState } from './context.js';
import { argumentBytes } from './raw-argv.js';
import { applyEnvironment } from './environment.js';
import { bwlimitOption, collect, requestRateOption } from './options.js';
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
  /** the reference's --dry_run: count the tree first and print the count, then load */
  countFirst?: boolean;
  /** filters (src/scan/filter.ts); --exclude-from files are read by filtersOf */
  exclude?: string[];
  include?: string[];
  excludeFrom?: string[];
  excludeIfPresent?: string[];
  keepSnapshotDirs?: boolean;
  /** --bwlimit, --max-requests: one limiter for the whole process */
  bwlimit?: RateSchedule;
  maxRequests?: number;
  /** bring the loaded container up to date with the source (docs/update.md) */
  update?: boolean;
  /** with update: compare file data, not only attributes */
  checksum?: boolean;
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

/** The filter options, the same for load, the reference's form and verify (fresh Options for each command). */
export function filterOptions(): Option[] {
  return [
    new Option('--exclude <pattern>', 'leave out what matches (repeatable; rclone-like glob on the path relative to the source: docs/guide.md, "Filters")').argParser(collect),
    new Option('--include <pattern>', 'load only files that match (repeatable); directories are still read').argParser(collect),
    new Option('--exclude-from <file>', 'exclude patterns from FILE, one a line (# starts a comment; repeatable)').argParser(collect),
    new Option('--exclude-if-present <name>', 'leave out every directory that holds an entry of this name (repeatable)').argParser(collect),
    new Option('--keep-snapshot-dirs', 'load .snapshot and .zfs directories (NAS snapshots, left out by default)'),
  ];
}

const FILTER_KEYS = ['exclude', 'include', 'excludeFrom', 'excludeIfPresent', 'keepSnapshotDirs'] as const satisfies ReadonlyArray<keyof LoadFlags>;

/** The filter options as load settings (each option's attribute is its LoadFlags key). */
export function filterFlags(): LoadFlag[] {
  return filterOptions().map((option, i) => loadFlag(FILTER_KEYS[i]!, option));
}

export function limitFlags(): LoadFlag[] {
  return [
    loadFlag('bwlimit', new Option('--bwlimit <rate>', "bytes per second for the whole process (50M, 1.5G; 1K = 1024), or a timetable such as '08:00,50M 19:00,off'").argParser(bwlimitOption)),
    loadFlag('maxRequests', new Option('--max-requests <rate>', 'blob requests per second for the whole process').argParser(requestRateOption)),
  ];
}

/**
 * The filters the options give, or undefined when none was given (a resume then uses the stored
 * ones). `--exclude-from` files are read here: their lines join the --exclude patterns.
 */
export function filtersOf(flags: Pick<LoadFlags, (typeof FILTER_KEYS)[number]>): FilterSpec | undefined {
  if (FILTER_KEYS.every((k) => flags[k] === undefined)) return undefined;
  const fromFiles = (flags.excludeFrom ?? []).flatMap((file) => {
    let content: Buffer;
    try {
      content = fs.readFileSync(file);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ClfsError('E_USAGE', `--exclude-from ${file}: cannot read it (${why}); give a readable file of patterns, one a line`, { subject: file });
    }
    return patternsOfFile(content);
  });
  return {
    exclude: [...(flags.exclude ?? []), ...fromFiles],
    include: flags.include ?? [],
    excludeIfPresent: flags.excludeIfPresent ?? [],
    keepSnapshotDirs: flags.keepSnapshotDirs === true,
  };
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
  // a state folder named by bytes that are not UTF-8 (byte-path.ts)
  if (typeof out.stateDir === 'string') out.stateDir = folderArgument(out.stateDir, true);
  return out as LoadFlags;
}

/** Exit 0 only when every entry is loaded: a status that says complete with errors counted is not. */
function exitCodeOf(s: LoadSummary, signals: SignalState): number {
  if (s.status === 'interrupted') return signals.exitCode ?? EXIT.SIGINT;
  const clean = s.errors === 0 && s.problems.length === 0;
  return (s.status === 'complete' || s.status === 'already-complete') && clean ? EXIT.OK : EXIT.INCOMPLETE;
}

const MIB = 1048576;

/** "3 dir, 40 file, 2 symlink" in the kinds' own words (docs/guide.md). */
const KIND_ORDER = ['dir', 'file', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev'];

export function kindsText(kinds: Readonly<Partial<Record<string, number>>>): string {
  const rank = (k: string) => (KIND_ORDER.indexOf(k) + KIND_ORDER.length + 1) % (KIND_ORDER.length + 1);
  return Object.entries(kinds)
    .filter(([, n]) => (n ?? 0) > 0)
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
}

/**
 * The command that resumes this load: the same words without --new (which would refuse the
 * state and the container the first run left). A SAS signature is shown as REDACTED, since this
 * line lands in logs; `secret` says whether one was.
 */
export function resumeCommand(ctx: Pick<CliContext, 'args' | 'invocation'>, stateDir: string): { line: string; secret: boolean } {
  // stopped before the state folder was made: nothing to resume, the command as typed starts again
  const started = fs.existsSync(path.join(stateDir, 'state.db'));
  const words = started ? ctx.args.filter((a) => a !== '--new') : [...ctx.args];
  const shown = words.map((w) => redact(`?${redact(w)}`).slice(1));
  // each word as its bytes were typed (Node's argv mangles what is not UTF-8), quoted for sh
  const line = [ctx.invocation, ...shown.map((w, i) => (w === words[i] ? shellWord(argumentBytes(w)) : shellWord(w)))].join(' ');
  return { line, secret: shown.some((w, i) => w !== words[i]) };
}

function printSummary(ctx: CliContext, s: LoadSummary, json: boolean, exitCode: number): void {
  const out = ctx.stdout;
  const resume = s.status === 'interrupted' || s.status === 'error-budget-exceeded' ? resumeCommand(ctx, s.stateDir) : undefined;
  if (json) {
    out.write(`${JSON.stringify({ ...s, stateDir: shownPath(s.stateDir), ...(s.problemsFile !== undefined ? { problemsFile: shownPath(s.problemsFile) } : {}), exitCode, ...(resume !== undefined ? { resumeCommand: resume.line } : {}) })}\n`);
    return;
  }
  const mib = (n: number) => (n / MIB).toFixed(1);
  if (s.status === 'interrupted' || s.status === 'error-budget-exceeded') {
    // done and total of the whole transfer (earlier runs included): the kinds stored so far, not a total
    out.write(
      `${s.status === 'interrupted' ? 'interrupted' : `stopped: ${s.errors} errors reached --max-errors`} in phase ${s.phase}: ` +
        `${s.entriesDone} of ${s.entries} entries done so far (${s.entriesWritten} this run), ${mib(s.fileBytesDone)} of ${mib(s.fileBytes)} MiB of file data, ` +
        `${s.blobsWritten} blob writes (${mib(s.bytesUploaded)} MiB), ${s.errors} errors, ${s.seconds.toFixed(1)} s\n`,
    );
  } else {
    const kinds = kindsText(s.kinds);
    out.write(
      `${s.status}: ${s.entries} entries (${kinds || 'none'}), ${mib(s.fileBytes)} MiB of file data; this run: ${s.entriesWritten} entries, ` +
        `${s.blobsWritten} blob writes (${mib(s.bytesUploaded)} MiB), ${s.errors} errors, ${s.seconds.toFixed(1)} s\n`,
    );
  }
  if (s.update !== undefined) {
    const u = s.update;
    out.write(`update: ${u.added} entries added, ${u.changed} changed, ${u.attributesOnly} with new attributes only, ${u.removed} removed; ${s.blobsDeleted} blobs deleted\n`);
  }
  for (const p of s.problems.slice(0, 20)) out.write(`  problem: ${p.path}: ${p.message}\n`);
  if (s.problemsTotal > 20) out.write(`  ... and ${s.problemsTotal - 20} more\n`);
  // under a state folder opened by its bytes: named by them, not by /proc/self/fd/N
  if (s.problemsFile !== undefined) out.write(`every failed path is listed in ${shownPath(s.problemsFile)}\n`);
  if (s.excluded > 0) out.write(`${s.excluded} entries left out by the filters\n`);
  if (s.linkSplits > 0) out.write(`warning: ${s.linkSplits} inodes had more than 1,023 names; their extra names were stored as a new inode (as the reference does)\n`);
  if (resume !== undefined) {
    out.write(`state kept in ${shownPath(s.stateDir)}; to resume, run:\n  ${resume.line}\n`);
    if (resume.secret) out.write(`(with your SAS signature where it says REDACTED; a new SAS for the same container resumes too)\n`);
  }
}

function printInterruptedEarly(ctx: CliContext, message: string, stateDir: string, json: boolean, exitCode: number): void {
  const resume = resumeCommand(ctx, stateDir);
  const line = shownText(message.split('\n')[0]!.trim());
  if (json) {
    ctx.stdout.write(`${JSON.stringify({ status: 'interrupted', exitCode, error: { code: 'E_ABORTED', message: line }, resumeCommand: resume.line })}\n`);
    return;
  }
  ctx.stderr.write(`clfsload: interrupted (${line}); to resume, run:\n  ${resume.line}\n`);
  if (resume.secret) ctx.stderr.write(`(with your SAS signature where it says REDACTED)\n`);
}

export function printEstimate(io: CliIo, e: DryRunEstimate, json: boolean, exitCode: number = EXIT.OK): void {
  if (json) {
    io.stdout.write(`${JSON.stringify({ status: 'dry-run', exitCode, dryRun: true, ...e })}\n`);
    return;
  }
  const kinds = kindsText(e.kinds);
  io.stdout.write(
    `dry run: ${e.entries} entries (${kinds}), ${(e.fileBytes / 1048576).toFixed(1)} MiB of file data\n` +
      `a load would write ${e.objects} objects (${e.fileSegments} file segments, ${e.dirSegments} directory segments, ${e.indirectBlocks} indirect blocks) in about ${e.requests} requests; ${e.errors} unreadable entries; ${e.excluded} entries left out by the filters\n`,
  );
}

export function printUpdateEstimate(io: CliIo, e: UpdateEstimate, json: boolean): void {
  if (json) {
    io.stdout.write(`${JSON.stringify({ status: 'dry-run', exitCode: EXIT.OK, dryRun: true, update: true, ...e })}\n`);
    return;
  }
  io.stdout.write(
    `dry run of the update (compared with the ${e.stateFrom === 'container' ? 'container itself: no state folder' : 'state folder'}): ${e.added} entries added, ${e.changed} changed, ` +
      `${e.attributesOnly} with new attributes only, ${e.removed} removed\n` +
      `the update would upload ${(e.bytesToUpload / 1048576).toFixed(1)} MiB of file data, write ${e.blobsToWrite} blobs and delete ${e.blobsToDelete}; nothing was written\n`,
  );
}

/** The flags that only mean something with --update. */
function checkUpdateFlags(flags: LoadFlags): void {
  if (flags.checksum === true && flags.update !== true) throw new ClfsError('E_USAGE', '--checksum compares data during an update: add --update, or drop --checksum', { subject: '--checksum' });
  if (flags.update === true && flags.newTransfer === true) throw new ClfsError('E_USAGE', '--update brings a loaded container up to date and --new starts a new load: give one of them', { subject: '--update' });
}

/** `load --update --dry-run`: what the update would change; resolves to the exit code. */
export async function runUpdateDryRun(ctx: CliContext, source: string | Buffer, target: CliTarget, flags: LoadFlags): Promise<number> {
  checkUpdateFlags(flags);
  const opened = target.open({ concurrency: flags.concurrency, reportRetries: true });
  try {
    const e = await updateDryRun({
      ...applyEnvironment(process.env),
      source,
      target: opened,
      targetKey: target.key,
      stateDir: flags.stateDir ?? defaultStateDir(target.key),
      newTransfer: false,
      update: true,
      checksum: flags.checksum,
      compression: flags.compression,
      preserveHardlinks: flags.preserveHardlinks,
      filters: filtersOf(flags),
      concurrency: flags.concurrency,
      abortSignal: ctx.signals.controller.signal,
    });
    printUpdateEstimate(ctx, e, flags.json === true);
    return EXIT.OK;
  } finally {
    await opened.close?.();
  }
}

/**
 * Load `source` into `target` with `flags`; resolves to the exit code. `run` replaces the load
 * itself (a shard or the finalize of a planned load), with the same progress and summary.
 */
export async function runLoad(ctx: CliContext, source: string | Buffer, target: CliTarget, flags: LoadFlags, run: (options: LoadOptions) => Promise<LoadSummary> = load): Promise<number> {

  checkUpdateFlags(flags);
  const stateDir = flags.stateDir ?? defaultStateDir(target.key);
  checkOutsideSource(source, [{ what: 'state', path: stateDir }, ...(target.spec.kind === 'folder' ? [{ what: 'target' as const, path: target.spec.path }] : [])]);
  const filters = filtersOf(flags);
  const limiter = flags.bwlimit !== undefined || flags.maxRequests !== undefined ? new RateLimiter({ bytes: flags.bwlimit, requests: flags.maxRequests }) : undefined;
  const opened = target.open({ concurrency: flags.concurrency, reportRetries: true, limiter });
  const printer = new ProgressPrinter(ctx.stderr, undefined, limiter === undefined ? undefined : () => describeHolds(limiter.holding()));
  if (flags.countFirst === true) {
    const e = dryRun({ source, preserveHardlinks: flags.preserveHardlinks, filters });
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
    filters,
    update: flags.update,
    checksum: flags.checksum,
    abortSignal: ctx.signals.controller.signal,
    reporter: {
      phase: (name, event) => {
        // a phase's last figures stay in the output, above the line that says it is done
        if (event === 'end') printer.flush();
        printer.message(`phase ${name} ${event === 'start' ? 'started' : 'done'}`);
      },
      progress: (p) => printer.update(p),
      log: (level, message) => {
        if (level === 'warn' || level === 'error') printer.message(`${level === 'warn' ? 'warning' : 'error'}: ${message}`);
        else if (level === 'debug' && flags.logLevel === 'debug') printer.message(message);
      },
    },
  };
  try {
    let s: LoadSummary;
    try {
      s = await run(options);
    } catch (err) {
      // a signal before the load had a summary to give (checking the target, repairing the state)
      const code = ctx.signals.exitCode;
      if (!(isClfsError(err) && err.code === 'E_ABORTED' && code !== undefined)) throw err;
      printer.close();
      printInterruptedEarly(ctx, err.message, stateDir, flags.json === true, code);
      return code;
    }
    printer.flush();
    printer.close();
    const code = exitCodeOf(s, ctx.signals);
    printSummary(ctx, s, flags.json === true, code);
    return code;
  } finally {
    printer.close();
    await opened.close?.();
  }
}
