/**
 * `clfsload copy SOURCE DEST...`: copy a tree into mounted directories (the cache's NFS export),
 * in parallel, resumable, incremental; `--shard K/N` for many clients, `--finalize` after the
 * shards, `--report` to add up their summaries. Exit 0 only when every entry is copied (and,
 * with --verify, compares equal).
 */
import { Option } from 'commander';
import * as path from 'node:path';
import { ClfsError, compare, copy, DEFAULT_MAX_ERRORS, displayPath, finalizeCopy, reportCopy } from '../../index.js';
import { argumentBytes } from '../raw-argv.js';
import { shownPath } from '../byte-path.js';
import type { CompareReport, CopySummary } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { EXIT, write, type CliContext } from '../context.js';
import { applyEnvironment, copyShard } from '../environment.js';
import { bwlimitOption, intOption } from '../options.js';
import { ProgressPrinter } from '../progress.js';
import { defaultStateDir } from '../state-path.js';
import { ensureThreadPool } from '../thread-pool.js';
import { printDifferences } from './cmd-compare.js';
import { filterOptions, filtersOf } from '../load-run.js';
import { DEFAULT_FILTERS, describeHolds, RateLimiter, type FilterSpec, type RateSchedule } from '../../index.js';

interface CopyFlags {
  shard?: string;
  shards?: number;
  threads?: number;
  largeFileMib: number;
  checksum: boolean;
  xattrs: boolean;
  delete: boolean;
  dryRun: boolean;
  verify: boolean;
  stateDir?: string;
  new: boolean;
  maxErrors: number;
  json: boolean;
  finalize: boolean;
  report: boolean;
  exclude?: string[];
  include?: string[];
  excludeFrom?: string[];
  excludeIfPresent?: string[];
  keepSnapshotDirs?: boolean;
  bwlimit?: RateSchedule;
}

/** The pool a copy needs: its fixed --threads, or the adaptive ceiling, and a few for the state and timers. */
const POOL_FOR = (threads: number | undefined) => (threads ?? 64) + 4;

export const copyCommand: CliCommand = {
  name: 'copy',
  register(program, ctx) {
    const command = program
      .command('copy')
      .description('copy SOURCE into mounted DEST directories (e.g. a cache\'s NFS export) in parallel; resumable and incremental; exit 0 only when every entry is copied')
      .argument('<source>', 'directory to copy')
      .argument('<dest...>', 'destination directory; several: the same export through different mounts, work is spread over them')
      .addOption(new Option('--shard <K/N>', 'copy shard K (from 0) of N; default from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX'))
      .addOption(new Option('--shards <n>', 'the number of shards (with JOB_COMPLETION_INDEX, --finalize and --report)').argParser(intOption('--shards', 1, 100000)))
      .addOption(new Option('--threads <n>', 'file-system calls in flight (default: adaptive, up to 64)').argParser(intOption('--threads', 1, 1000)))
      .addOption(new Option('--large-file-mib <n>', 'files of at least this many MiB are copied as concurrent ranges').argParser(intOption('--large-file-mib', 1)).default(64))
      .addOption(new Option('--checksum', 'an existing destination file of the same size is compared by content, not by mtime').default(false))
      .addOption(new Option('--xattrs', 'copy extended attributes too (user.* when not root, every namespace as root; symlinks their own)').default(false))
      .addOption(new Option('--delete', 'remove destination entries that are not in the source').default(false))
      .addOption(new Option('--dry-run', 'print what would be copied or deleted; change nothing').default(false))
      .addOption(new Option('--verify', 'compare the copy with the source when it is done (as clfsload compare)').default(false))
      .addOption(new Option('--state-dir <dir>', 'folder of the resume state (default: under ~/.local/state/clfsload, one per source and destination)'))
      .addOption(new Option('--new', 'forget the resume state and start over (the destination is checked, not wiped)').default(false))
      .addOption(new Option('--max-errors <n>', 'stop after N failed entries').argParser(intOption('--max-errors', 0)).default(DEFAULT_MAX_ERRORS))
      .addOption(new Option('--json', 'print one JSON summary object at the end').default(false))
      .addOption(new Option('--finalize', 'after every shard finished: link hard links across shards, set the shared directories\' times (needs --shards)').default(false))
      .addOption(new Option('--report', 'add up the shards\' summaries (needs --shards)').default(false));
    for (const o of filterOptions()) command.addOption(o);
    command.addOption(new Option('--bwlimit <rate>', "bytes per second written to DEST by the whole process (50M, 1.5G; 1K = 1024), or a timetable such as '08:00,50M 19:00,off'").argParser(bwlimitOption));
    command.action(async (source: string, dests: string[], flags: CopyFlags) => {
        if (flags.finalize || flags.report) {
          if (flags.shards === undefined) throw new ClfsErrorUsage(`--${flags.finalize ? 'finalize' : 'report'} needs --shards N (the number of shards the copy ran with)`);
          if (dests.length !== 1) throw new ClfsErrorUsage(`--${flags.finalize ? 'finalize' : 'report'} takes one DEST`);
          ctx.setExitCode(flags.finalize ? await runFinalize(ctx, source, dests[0]!, flags) : await runReport(ctx, dests[0]!, flags));
          return;
        }
        // the source fault seam (CLFSLOAD_SOURCE_FAULTS) for the tests' child processes
        applyEnvironment(process.env);
        const shard = copyShard(process.env, flags.shard, flags.shards);
        const rerun = await ensureThreadPool(ctx, POOL_FOR(flags.threads));
        if (rerun !== undefined) {
          ctx.setExitCode(rerun);
          return;
        }
        ctx.setExitCode(await runCopy(ctx, source, dests, flags, shard));
      });
  },
};


class ClfsErrorUsage extends ClfsError {
  constructor(message: string) {
    super('E_USAGE', message, { subject: 'copy' });
  }
}

function mib(n: number): string {
  return (n / 1048576).toFixed(1);
}

async function runCopy(ctx: CliContext, source: string, dests: string[], flags: CopyFlags, shard: { index: number; count: number } | undefined): Promise<number> {
  // one limiter for every task and range of the run, so the limit holds for the process
  const limiter = flags.bwlimit !== undefined ? new RateLimiter({ bytes: flags.bwlimit }) : undefined;
  const printer = new ProgressPrinter(ctx.stderr, undefined, limiter === undefined ? undefined : () => describeHolds(limiter.holding()));
  // the bytes typed: a name that is not UTF-8 reaches Node as U+FFFD (raw-argv.ts)
  const srcArg = argumentBytes(source);
  const destArgs = dests.map(argumentBytes);
  const stateDir = flags.stateDir ?? defaultStateDir(`copy:${stateKey(srcArg)}->${stateKey(destArgs[0]!)}`);
  const filters: FilterSpec = filtersOf(flags) ?? DEFAULT_FILTERS;
  const s = await copy({
    source: srcArg,
    dests: destArgs,
    stateDir,
    ...(shard !== undefined ? { shard: { index: shard.index, count: shard.count } } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    largeFileBytes: flags.largeFileMib * 1048576,
    checksum: flags.checksum,
    xattrs: flags.xattrs,
    delete: flags.delete,
    filters,
    ...(limiter !== undefined ? { limiter } : {}),
    dryRun: flags.dryRun,
    newState: flags.new,
    maxErrors: flags.maxErrors === 0 ? Number.MAX_SAFE_INTEGER : flags.maxErrors,
    abortSignal: ctx.signals.controller.signal,
    onWarning: (m) => printer.message(`warning: ${m}`),
    onDryRun: (action, p) => printer.message(`would ${action}: ${p}`),
    onProgress: (p) => {
      const files = p.files;
      const eta = p.crawlDone && p.bytes > 0 && p.seconds > 0 ? ` ETA ${Math.max(0, Math.round((p.entriesSeen - p.entriesDone) / Math.max(1, p.entriesDone / p.seconds)))}s` : p.previousTotals !== undefined && p.entriesDone > 0 ? ` ETA ~${Math.max(0, Math.round(((p.previousTotals.entries - p.entriesDone) * p.seconds) / p.entriesDone))}s` : '';
      printer.updateText(
        `copy: ${p.entriesDone}/${p.entriesSeen}${p.crawlDone ? '' : '+'} entries, ${files} files, ${mib(p.bytes)} MiB, ${(files / Math.max(p.seconds, 1e-3)).toFixed(0)} files/s, ` +
          `${mib(p.bytes / Math.max(p.seconds, 1e-3))} MiB/s, ${p.skipped} unchanged, ${p.errors} errors, ${p.threads} threads${eta}`,
      );
    },
  });
  // the last figures stay in the output; the timer of the plain lines stops
  printer.flush();
  printer.close();
  let report: CompareReport | undefined;
  if (flags.verify && !flags.dryRun && (s.status === 'complete' || s.status === 'incomplete')) {
    report = await compare({ source: srcArg, dest: destArgs[0]!, shard: s.shard, frontierDepth: s.frontierDepth, filters, checksum: flags.checksum, xattrs: flags.xattrs, abortSignal: ctx.signals.controller.signal });
  }
  if (flags.json) await write(ctx.stdout, `${JSON.stringify(report === undefined ? s : { ...s, verify: report })}\n`);
  else {
    await printSummary(ctx, s, [srcArg, ...destArgs]);
    if (report !== undefined) await printDifferences(ctx, report, 'verify');
  }
  if (s.status === 'interrupted') return ctx.signals.exitCode ?? EXIT.SIGINT;
  const ok = s.status === 'complete' && s.errors === 0 && (report === undefined || report.ok);
  return ok ? EXIT.OK : EXIT.INCOMPLETE;
}

/**
 * A SOURCE or DEST for a line to paste: a path given as bytes that are not UTF-8 is shown as the
 * copy's summary shows it (ls's quoting, 'caf'$'\351'); a plain one in single quotes when the shell needs them.
 */
function pasteable(arg: string | Buffer, shown: string): string {
  if (typeof arg !== 'string' || /[\x00-\x1f\x7f]/.test(arg)) return shown;
  return /^[A-Za-z0-9_./:@%+=,^-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, `'\\''`)}'`;
}

/** The default state folder's key: the path as typed for UTF-8 (the key earlier versions used), its bytes in hex otherwise. */
function stateKey(p: string | Buffer): string {
  return typeof p === 'string' ? path.resolve(p) : `bytes:${p.toString('hex')}`;
}

async function printSummary(ctx: CliContext, s: CopySummary, paths: Array<string | Buffer>): Promise<void> {
  const shard = s.shard.count > 1 ? ` (shard ${s.shard.index}/${s.shard.count})` : '';
  const verb = s.dryRun ? 'dry run, would copy' : 'copied';
  await write(
    ctx.stdout,
    `${s.status}${shard}: ${verb} ${s.files} files (${mib(s.bytes)} MiB), ${s.dirs} dirs, ${s.symlinks} symlinks, ${s.hardlinks} hard links, ${s.specials} special; ` +
      `${s.skipped} unchanged, ${s.excluded} left out by the filters, ${s.deleted} ${s.dryRun ? 'to delete' : 'deleted'}, ${s.errors} errors; ${s.seconds.toFixed(1)} s, ` +
      `${s.filesPerSecond.toFixed(0)} files/s, ${mib(s.bytesPerSecond)} MiB/s, ${s.ops.perFile.toFixed(1)} ops per file\n`,
  );
  for (const p of s.problems.slice(0, 20)) await write(ctx.stdout, `  problem: ${p.path}: ${p.message}\n`);
  if (s.problemsTotal > 20) await write(ctx.stdout, `  ... and ${s.problemsTotal - 20} more\n`);
  if (s.problemsFile !== undefined) await write(ctx.stdout, `every failed path is listed in ${s.problemsFile}\n`);
  if (s.stopReason !== undefined) await write(ctx.stdout, `stopped: ${s.stopReason}\n`);
  if (s.status !== 'complete' && !s.dryRun) {
    await write(ctx.stdout, `state kept in ${s.stateFile}: run the same command again to resume (clfsload copy ${[s.source, ...s.dests].map((shown, i) => pasteable(paths[i]!, shown)).join(' ')}, with the same options)\n`);
  }
  if (s.shard.count > 1 && s.status === 'complete') await write(ctx.stdout, `when every shard has finished: clfsload copy --finalize SOURCE DEST --shards ${s.shard.count}\n`);
}

async function runFinalize(ctx: CliContext, source: string, dest: string, flags: CopyFlags): Promise<number> {
  const f = await finalizeCopy({ source: argumentBytes(source), dest: argumentBytes(dest), shards: flags.shards! });
  if (flags.json) await write(ctx.stdout, `${JSON.stringify(f)}\n`);
  else if (f.missing.length > 0) await write(ctx.stdout, `not finalized: shard(s) ${f.missing.join(', ')} of ${f.shards} have not finished (no complete summary in ${shownPath(argumentBytes(dest))}/.clfsload-copy/shards); run them, then --finalize again\n`);
  else {
    for (const p of f.problems) await write(ctx.stdout, `  problem: ${p.path}: ${p.message}\n`);
    await write(ctx.stdout, `${f.ok ? 'finalized' : 'FAILED'}: ${f.shards} shards, ${f.relinked} names linked across shards, ${f.directories} directories' times set, ${f.seconds.toFixed(1)} s\n`);
  }
  return f.ok ? EXIT.OK : EXIT.INCOMPLETE;
}

async function runReport(ctx: CliContext, dest: string, flags: CopyFlags): Promise<number> {
  const r = reportCopy(argumentBytes(dest), flags.shards!);
  if (flags.json) await write(ctx.stdout, `${JSON.stringify(r)}\n`);
  else {
    for (const p of r.perShard) await write(ctx.stdout, `  shard ${p.shard}: ${p.status}, ${p.files} files, ${mib(p.bytes)} MiB, ${p.seconds.toFixed(1)} s, ${p.errors} errors\n`);
    const t = r.totals;
    await write(
      ctx.stdout,
      `${r.shards} shards${r.missing.length > 0 ? ` (${r.missing.length} not finished: ${r.missing.join(', ')})` : ''}: ${t.files} files, ${mib(t.bytes)} MiB, ${t.dirs} dirs, ${t.symlinks} symlinks, ${t.hardlinks} hard links, ${t.skipped} unchanged, ${t.errors} errors; ` +
        `${r.filesPerSecond.toFixed(0)} files/s, ${mib(r.bytesPerSecond)} MiB/s over ${r.maxSeconds.toFixed(1)} s; max/mean per shard ${r.balance.files.toFixed(2)} (files), ${r.balance.bytes.toFixed(2)} (bytes)\n`,
    );
  }
  void displayPath;
  return r.missing.length === 0 && r.incomplete.length === 0 && r.totals.errors === 0 ? EXIT.OK : EXIT.INCOMPLETE;
}
