/**
 * The command line: `clfsload load|verify|ls|cat|export|demo ...`, and the reference's
 * positional form `clfsload [--new] STATE SOURCE ACCOUNT CONTAINER SAS` as a drop-in.
 * Only this folder prints or chooses exit codes.
 */
import * as fs from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import {
  ClfsError,
  dryRun,
  isClfsError,
  load,
  openTarget,
  parseTargetUrl,
  RetryTarget,
  DEFAULT_MAX_ERRORS,
} from '../index.js';
import type { DryRunEstimate, LoadOptions, LoadSummary, LogLevel, Target, TargetSpec } from '../index.js';
import { runDemo } from './demo.js';
import { ProgressPrinter } from './progress.js';
import { registerReadCommands } from './read-commands.js';
import { registerStateCommand } from './state-command.js';
import { applyEnvironment } from './environment.js';
import { defaultStateDir } from './state-path.js';

export const VERSION = '0.1.0';

/** Exit codes: 0 all loaded; 1 finished with errors or stopped by a failure; 2 bad usage; 130/143 interrupted. */
export const EXIT = { OK: 0, INCOMPLETE: 1, USAGE: 2, SIGINT: 130, SIGTERM: 143 } as const;

/** Errors in what the user typed (options, the source path): exit 2, as docs/guide.md says. */
const USAGE_CODES = new Set(['E_USAGE', 'E_SOURCE_NOT_FOUND']);

/** Requests in flight a user may ask for: above this the sockets and queues cost more than they hide. */
export const MAX_CONCURRENCY = 1024;

const SUBCOMMANDS = new Set(['load', 'verify', 'ls', 'cat', 'export', 'demo', 'state', 'help']);

interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

function intOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const r = z.coerce.number().int().min(min).max(max).safeParse(value);
    if (!r.success) throw new InvalidArgumentError(`${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}`);
    return r.data;
  };
}

function logLevelOf(value: string): LogLevel {
  const v = value.trim().toLowerCase();
  const byName: Record<string, LogLevel> = { debug: 'debug', info: 'info', warning: 'warn', warn: 'warn', error: 'error', critical: 'error' };
  if (byName[v]) return byName[v]!;
  const n = Number(v);
  if (Number.isInteger(n)) return n <= 10 ? 'debug' : n <= 20 ? 'info' : n <= 30 ? 'warn' : 'error';
  throw new InvalidArgumentError('log level must be debug, info, warning or error (or a number)');
}

export function targetKeyOf(spec: TargetSpec): string {
  return spec.kind === 'folder' ? `file:${spec.path}` : `azure:${spec.endpoint}/${spec.containerName}`;
}

/**
 * A user target, wrapped in retries with backoff (transient failures, throttling). `concurrency`
 * (--concurrency) becomes the target's own connection limit, so the retry wrapper's throttle and
 * the Put Blob agent's sockets allow as many requests in flight as the loader sends.
 */
export function openUserTarget(spec: TargetSpec, io?: Io, concurrency?: number): Target {
  const limit = concurrency === undefined ? {} : { maxConnections: concurrency };
  return new RetryTarget(openTarget(spec, { azure: limit, folder: limit }), {
    // an unreachable host gets a few quick tries, then one line from main(): no retry chatter
    onRetry: io ? (info) => (info.attempt >= 3 && !info.error.unreachable ? io.stderr.write(`retrying ${info.operation} ${info.subject}: ${info.error.message} (attempt ${info.attempt + 1})\n`) : undefined) : undefined,
  });
}

/**
 * The source must be a directory: checked here too, because a dry run only scans (and would
 * count a missing or non-directory source as one unreadable entry). Same code and message as load().
 */
function requireSourceDirectory(source: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch {
    throw new ClfsError('E_SOURCE_NOT_FOUND', `source ${source}: no such directory; give the root of the tree to load`, { subject: source });
  }
  if (!st.isDirectory()) throw new ClfsError('E_SOURCE_NOT_FOUND', `source ${source}: not a directory; give the root of the tree to load`, { subject: source });
}

/** Exit 0 only when every entry is loaded: a status that says complete with errors counted is not. */
function exitCodeOf(s: LoadSummary, signals: SignalState): number {
  if (s.status === 'interrupted') return signals.exitCode ?? EXIT.SIGINT;
  const clean = s.errors === 0 && s.problems.length === 0;
  return (s.status === 'complete' || s.status === 'already-complete') && clean ? EXIT.OK : EXIT.INCOMPLETE;
}

interface LoadCliOptions {
  spec: TargetSpec;
  source: string;
  stateDir?: string;
  newTransfer: boolean;
  compression?: 'lz4' | 'disabled';
  preserveHardlinks?: boolean;
  maxErrors: number;
  retryErrors: boolean;
  concurrency?: number;
  json: boolean;
  logLevel: LogLevel;
  countFirst: boolean;
}

function printSummary(io: Io, s: LoadSummary, json: boolean): void {
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

function printEstimate(io: Io, e: DryRunEstimate, json: boolean): void {
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

async function runLoad(io: Io, o: LoadCliOptions, signals: SignalState): Promise<number> {
  const targetKey = targetKeyOf(o.spec);
  const stateDir = o.stateDir ?? defaultStateDir(targetKey);
  requireSourceDirectory(o.source);
  const target = openUserTarget(o.spec, io, o.concurrency);
  const printer = new ProgressPrinter(io.stderr);
  if (o.countFirst) {
    const e = dryRun({ source: o.source, preserveHardlinks: o.preserveHardlinks });
    io.stderr.write(`dry run result count=${e.entries} GB=${(e.fileBytes / 2 ** 30).toFixed(6)} elapsed=${e.seconds.toFixed(3)}\n`);
  }
  const options: LoadOptions = {
    ...applyEnvironment(process.env),
    source: o.source,
    target,
    targetKey,
    stateDir,
    newTransfer: o.newTransfer,
    compression: o.compression,
    preserveHardlinks: o.preserveHardlinks,
    maxErrors: o.maxErrors,
    retryErrors: o.retryErrors,
    concurrency: o.concurrency,
    logLevel: o.logLevel,
    abortSignal: signals.controller.signal,
    reporter: {
      phase: (name, event) => printer.message(`phase ${name} ${event === 'start' ? 'started' : 'done'}`),
      progress: (p) => printer.update(p),
      log: (level, message) => {
        if (level === 'warn' || level === 'error') printer.message(`${level === 'warn' ? 'warning' : 'error'}: ${message}`);
        else if (level === 'debug' && o.logLevel === 'debug') printer.message(message);
      },
    },
  };
  try {
    const s = await load(options);
    printer.clear();
    printSummary(io, s, o.json);
    return exitCodeOf(s, signals);
  } finally {
    printer.clear();
    await target.close?.();
  }
}

interface SignalState {
  controller: AbortController;
  exitCode?: number;
}

function installSignals(io: Io): SignalState {
  const state: SignalState = { controller: new AbortController() };
  const onSignal = (sig: NodeJS.Signals) => {
    const code = sig === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
    if (state.controller.signal.aborted) process.exit(code);
    state.exitCode = code;
    io.stderr.write(`\n${sig}: finishing the writes in flight and saving state (press again to stop at once)\n`);
    state.controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return state;
}

function buildProgram(io: Io, signals: SignalState, setExit: (code: number) => void): Command {
  const program = new Command('clfsload')
    .description('Load a local tree into an Azure blob container in the Avere CLFS layout (HPC Cache / vFXT storage target), and read such containers back')
    .version(VERSION)
    .option('--debug', 'show stack traces of errors')
    .showSuggestionAfterError()
    .exitOverride();

  program
    .command('load')
    .description('load SOURCE into TARGET (file:///ABS/DIR or a container SAS URL); resumes an interrupted load of the same source and target')
    .argument('<source>', 'local directory to load')
    .argument('<target>', 'https://ACCOUNT.blob.core.windows.net/CONTAINER?SAS, or file:///ABS/DIR')
    .option('--state <dir>', 'local state folder (default: under ~/.local/state/clfsload, one per target)')
    .option('--new', 'start a new load (the container must be empty)', false)
    .addOption(new Option('--compression <mode>', 'blob compression').choices(['lz4', 'disabled']))
    .option('--preserve-hardlinks', 'keep hard links as one inode with several names')
    .option('--max-errors <n>', 'stop after N failed entries (0 = unlimited)', intOption('--max-errors', 0), DEFAULT_MAX_ERRORS)
    .option('--no-retry-errors', 'on resume, do not retry entries that failed before')
    .option('--concurrency <n>', 'blob requests in flight (default: 256 for Azure, 16 for a folder)', intOption('--concurrency', 1, MAX_CONCURRENCY))
    .option('--endpoint <url>', 'blob service URL, for emulators and sovereign clouds (TARGET may then be CONTAINER?SAS)')
    .option('--dry-run', 'scan only: print entries, bytes, objects and requests a load would make; writes nothing')
    .option('--json', 'print one JSON summary object at the end', false)
    .option('--log-level <level>', 'debug, info, warning or error', logLevelOf, 'info' as LogLevel)
    .action(async (source: string, targetUrl: string, opts) => {
      if (opts.dryRun) {
        requireSourceDirectory(source);
        printEstimate(io, dryRun({ source, preserveHardlinks: opts.preserveHardlinks }), opts.json);
        return;
      }
      const spec = parseTargetUrl(targetUrl, { endpoint: opts.endpoint });
      setExit(
        await runLoad(
          io,
          {
            spec,
            source,
            stateDir: opts.state,
            newTransfer: opts.new,
            compression: opts.compression,
            preserveHardlinks: opts.preserveHardlinks,
            maxErrors: opts.maxErrors,
            retryErrors: opts.retryErrors,
            concurrency: opts.concurrency,
            json: opts.json,
            logLevel: opts.logLevel,
            countFirst: false,
          },
          signals,
        ),
      );
    });

  program
    .command('demo')
    .description('load the bundled sample tree into an embedded Azurite, verify it, print the summary (what `npm start` runs)')
    .option('--json', 'print the summaries as JSON', false)
    .action(async (opts) => {
      setExit(await runDemo(io, { json: opts.json, abortSignal: signals.controller.signal }));
    });

  registerStateCommand(program, { stdout: io.stdout, setExitCode: setExit });
  registerReadCommands(program, {
    stdout: io.stdout,
    stderr: io.stderr,
    openTarget: (url: string, o: { endpoint?: string }) => openUserTarget(parseTargetUrl(url, { endpoint: o.endpoint })),
    setExitCode: setExit,
  });
  return program;
}

/** The reference's command line (spec §10.1) as a drop-in. */
function buildLegacyProgram(io: Io, signals: SignalState, setExit: (code: number) => void): Command {
  const flag01 = (name: string) => intOption(name, 0, 1);
  return new Command('clfsload')
    .description('CLFSLoad-compatible form: clfsload [--new] LOCAL_STATE_PATH SOURCE_ROOT ACCOUNT CONTAINER SAS_TOKEN')
    .version(`clfsload ${VERSION} (CLFSLoad 1.0.24 compatible command line)`)
    .argument('<local_state_path>')
    .argument('<source_root>')
    .argument('<target_storage_account>')
    .argument('<target_container>')
    .argument('<sas_token>')
    .option('--new', 'start a new load', false)
    .addOption(new Option('--compression <mode>').choices(['LZ4', 'DISABLED', 'lz4', 'disabled']))
    .option('--preserve_hardlinks <n>', '0 or 1', flag01('--preserve_hardlinks'))
    .option('--max_errors <n>', '0 = unlimited', intOption('--max_errors', 0), DEFAULT_MAX_ERRORS)
    .option('--retry_errors <n>', '0 or 1', flag01('--retry_errors'), 1)
    .option('--worker_thread_count <n>', 'concurrency (clamped to 1..200)', (v) => Math.min(200, Math.max(1, intOption('--worker_thread_count', -1e9)(v))))
    .option('--log_level <level>', 'log level', logLevelOf, 'info' as LogLevel)
    .option('--dry_run', 'count the tree first (for the ETA), then load', false)
    .option('--dry_run_gb <gb>', 'ignored (accepted for compatibility)')
    .option('--dry_run_count <n>', 'ignored (accepted for compatibility)')
    .addOption(new Option('--azcopy', 'ignored (accepted for compatibility)').hideHelp())
    .option('--endpoint <url>', 'blob service URL (default https://ACCOUNT.blob.core.windows.net; Azurite: http://127.0.0.1:PORT/devstoreaccount1)')
    .option('--json', 'print one JSON summary object at the end', false)
    .exitOverride()
    .action(async (state: string, source: string, account: string, container: string, sas: string, opts) => {
      const endpoint = (opts.endpoint ?? `https://${account}.blob.core.windows.net`).replace(/\/+$/, '');
      const spec: TargetSpec = { kind: 'azure', endpoint, accountName: account, containerName: container, sasToken: sas.replace(/^\?+/, '') };
      setExit(
        await runLoad(
          io,
          {
            spec,
            source,
            stateDir: state,
            newTransfer: opts.new,
            compression: opts.compression?.toLowerCase(),
            preserveHardlinks: opts.preserveHardlinks === undefined ? undefined : opts.preserveHardlinks === 1,
            maxErrors: opts.maxErrors,
            retryErrors: opts.retryErrors === 1,
            concurrency: opts.workerThreadCount,
            json: opts.json,
            logLevel: opts.logLevel,
            countFirst: opts.dryRun,
          },
          signals,
        ),
      );
    });
}

/** Run the CLI; resolves to the exit code (never calls process.exit itself, except on a second signal). */
export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const args = argv.slice(2);
  const debug = args.includes('--debug');
  installCrashHandler(io, debug);
  const signals = installSignals(io);
  let exitCode: number = EXIT.OK;
  const setExit = (code: number) => {
    exitCode = Math.max(exitCode, code);
  };
  const firstPositional = args.find((a) => !a.startsWith('-'));
  const legacy = firstPositional !== undefined && !SUBCOMMANDS.has(firstPositional) && !args.includes('--help') && !args.includes('-h');
  const program = legacy ? buildLegacyProgram(io, signals, setExit) : buildProgram(io, signals, setExit);
  program.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  try {
    await program.parseAsync(args.filter((a) => a !== '--debug'), { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (isClfsError(err) && err.code === 'E_ABORTED' && signals.exitCode !== undefined) {
      io.stderr.write(`clfsload: ${firstLine(err.message)}\n`);
      return signals.exitCode;
    }
    return reportError(io, err, debug);
  }
}

/**
 * One line on stderr, never a stack trace unless --debug: a coded error's message names the
 * subject and the fix; anything else is a defect of ours, said as such. Messages are cut to their
 * first line, since a message built from another error may carry that error's stack.
 */
function reportError(io: Io, err: unknown, debug: boolean): number {
  const coded = isClfsError(err);
  const message = err instanceof Error || coded ? (err as Error).message : String(err);
  const internal = !coded || err.code === 'E_INTERNAL';
  const prefix = coded ? '' : 'internal error: ';
  const hint = internal && !debug ? ' (re-run with --debug for details)' : '';
  io.stderr.write(`clfsload: ${prefix}${debug ? message : firstLine(message)}${hint}\n`);
  if (debug) io.stderr.write(`${stacksOf(err)}\n`);
  if (!coded) return EXIT.INCOMPLETE;
  return USAGE_CODES.has(err.code) ? EXIT.USAGE : EXIT.INCOMPLETE;
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? text.trim();
}

/** For --debug: the error's stack and those of its causes. */
function stacksOf(err: unknown): string {
  const out: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    out.push(`${depth === 0 ? '' : 'caused by: '}${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
  return out.join('\n');
}

/**
 * A throw or rejection no caller handled (a defect, or a library callback gone wrong): the same
 * one line as any other internal error, exit 1. The state is written in transactions, so a re-run
 * resumes as after a crash.
 */
function installCrashHandler(io: Io, debug: boolean): void {
  const onCrash = (err: unknown): void => {
    reportError(io, err, debug);
    process.exit(EXIT.INCOMPLETE);
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
}

export { ClfsError };
