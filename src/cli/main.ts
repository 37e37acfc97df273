/**
 * The command line: `clfsload COMMAND ...` with the commands of commands/index.ts, and the
 * reference's positional form `clfsload [--new] STATE SOURCE ACCOUNT CONTAINER SAS` as a drop-in.
 * This file only reads argv, picks the program, installs the signal and crash handlers, and turns
 * what went wrong into one line and an exit code. Only src/cli prints or chooses exit codes.
 */
import { Command, CommanderError } from 'commander';
import { ClfsError, isClfsError } from '../index.js';
import { buildLegacyProgram, COMMANDS, LEGACY_USAGE, legacyAccepts, legacyPositionals, registerCommands } from './commands/index.js';
import { addExitCodesHelp } from './exit-codes.js';
import { shownText } from './byte-path.js';
import { suggest } from './suggest.js';
import { createCliContext, EXIT, VERSION, type CliContext, type CliIo, type SignalState } from './context.js';

export { EXIT, VERSION };

/**
 * Errors that mean the command line cannot work as typed (exit 2, docs/guide.md): bad options,
 * arguments and URLs, a named path that does not exist, --new into a container or state folder
 * that holds something, a state folder of another transfer. Nothing was done; the same command
 * will fail the same way. Every other error is a run that failed (exit 1): the same command
 * resumes or retries once the cause (credentials, network, disk, a missing container) is fixed.
 */
const USAGE_CODES: ReadonlySet<string> = new Set(['E_USAGE', 'E_SOURCE_NOT_FOUND', 'E_TARGET_NOT_EMPTY', 'E_STATE_MISMATCH', 'E_STATE_EXISTS']);

export function exitCodeOfError(err: unknown): number {
  return isClfsError(err) && USAGE_CODES.has(err.code) ? EXIT.USAGE : EXIT.INCOMPLETE;
}

/**
 * With --json, the one object a run that ends without its own summary prints on stdout (usage
 * errors, fatal errors, an interrupt before any summary), so a pipeline always reads one object.
 */
function printJsonError(io: CliIo, exitCode: number, code: string, message: string): void {
  const status = exitCode === EXIT.USAGE ? 'usage-error' : exitCode === EXIT.SIGINT || exitCode === EXIT.SIGTERM ? 'interrupted' : 'failed';
  io.stdout.write(`${JSON.stringify({ status, exitCode, error: { code, message } })}\n`);
}

/** Whether `--json` is among the options (not after `--`, where it would be a positional). */
function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

function invocationOf(argv: readonly string[]): string {
  const script = argv[1] ?? 'clfsload';
  // an installed command is run by its name (npx's from a project's node_modules/.bin); anything else as it was started
  if (/(^|\/)node_modules\/\.bin\/clfsload$/.test(script)) return 'npx clfsload';
  return /(^|\/)clfsload$/.test(script) ? 'clfsload' : `node ${script}`;
}

function installSignals(io: CliIo): SignalState {
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

function buildProgram(ctx: CliContext): Command {
  const program = new Command('clfsload')
    .description('Load a local tree into an Azure blob container in the Avere CLFS layout (HPC Cache / vFXT storage target), and read such containers back')
    .version(VERSION)
    .option('--debug', 'show stack traces of errors')
    .showSuggestionAfterError()
    .exitOverride();
  registerCommands(program, ctx, COMMANDS);
  addExitCodesHelp(program);
  program.addHelpText('after', TOP_HELP);
  return program;
}

const TOP_HELP = `
The reference CLFSLoad's command line is accepted as it is (a load; exit codes as load's):
  ${LEGACY_USAGE}
    [--compression LZ4|DISABLED (default LZ4)] [--preserve_hardlinks 0|1 (default 0)]
    [--max_errors N (default 50, 0 = unlimited)] [--retry_errors 0|1 (default 1)]
    [--worker_thread_count N] [--log_level LEVEL] [--dry_run] [--endpoint URL] [--json]

Exit codes (clfsload COMMAND --help gives each command's; docs/guide.md has the table):
  0  done: everything loaded / verified clean / listed, written, exported
  1  the run failed or is incomplete: the same command resumes or retries once the cause is fixed
  2  the command line cannot work as typed: nothing was done
  130/143  interrupted by SIGINT/SIGTERM: the printed command resumes
  141  stdout or stderr closed by its reader (clfsload ls | head): stopped quietly, as on SIGPIPE
With --json every exit prints one JSON object on stdout with "status" and "exitCode" (and "error": {"code", "message"} on a failure).
`;

/** The words that name a subcommand, read from the program itself (commander adds `help`). */
function commandWords(program: Command): Set<string> {
  return new Set(['help', ...program.commands.flatMap((c) => [c.name(), ...c.aliases()])]);
}

/**
 * The program for `args`: a registered command, or the reference's form when the line is exactly
 * that; otherwise the one-line usage error for an unknown command (a typo such as `lod` must not
 * be read as a state path).
 */
function chooseProgram(ctx: CliContext, args: readonly string[]): Command | { unknownCommand: string } {
  const program = buildProgram(ctx);
  const legacy = buildLegacyProgram(ctx);
  // the first positional as the reference's form reads the line (`--max_errors 5` is one option)
  const word = legacyPositionals(legacy, args).positionals[0];
  const words = commandWords(program);
  if (word === undefined || words.has(word) || args.includes('--help') || args.includes('-h')) return program;
  if (legacyAccepts(legacy, args)) return legacy;
  const names = program.commands.map((c) => c.name());
  const like = suggest(word, names);
  return {
    unknownCommand:
      like !== undefined
        ? `unknown command '${word}' (did you mean ${like}?)`
        : `unknown command '${word}': the commands are ${names.join(', ')} (clfsload --help), or the reference's five positionals: ${LEGACY_USAGE}`,
  };
}

/** Run the CLI; resolves to the exit code (never calls process.exit itself, except on a second signal). */
export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const args = argv.slice(2);
  const debug = args.includes('--debug');
  const json = wantsJson(args);
  installCrashHandler(io, debug, json);
  const signals = installSignals(io);
  let exitCode: number = EXIT.OK;
  const ctx = createCliContext(io, {
    setExitCode: (code) => {
      exitCode = Math.max(exitCode, code);
    },
    signals,
    args,
    invocation: invocationOf(argv),
  });
  const userArgs = args.filter((a) => a !== '--debug');
  const program = chooseProgram(ctx, userArgs);
  if (!(program instanceof Command)) {
    io.stderr.write(`clfsload: ${program.unknownCommand}\n`);
    if (json) printJsonError(io, EXIT.USAGE, 'E_USAGE', program.unknownCommand);
    return EXIT.USAGE;
  }
  let usageLine = '';
  program.configureOutput({
    writeOut: (s) => io.stdout.write(s),
    writeErr: (s) => {
      usageLine ||= s;
      io.stderr.write(s);
    },
  });
  // subcommands copied the output settings when they were made, before these
  const configure = (c: Command): void => {
    for (const sub of c.commands) {
      sub.configureOutput(program.configureOutput());
      configure(sub);
    }
  };
  configure(program);
  try {
    await program.parseAsync(userArgs, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.OK;
      if (json) printJsonError(io, EXIT.USAGE, 'E_USAGE', firstLine(usageLine || err.message).replace(/^error: /, ''));
      return EXIT.USAGE;
    }
    if (isClfsError(err) && err.code === 'E_ABORTED' && signals.exitCode !== undefined) {
      io.stderr.write(`clfsload: ${firstLine(err.message)}\n`);
      if (json) printJsonError(io, signals.exitCode, err.code, firstLine(err.message));
      return signals.exitCode;
    }
    const code = reportError(io, err, debug);
    if (json) printJsonError(io, code, isClfsError(err) ? err.code : 'E_INTERNAL', errorLine(err));
    return code;
  }
}

/**
 * One line on stderr, never a stack trace unless --debug: a coded error's message names the
 * subject and the fix; anything else is a defect of ours, said as such. Messages are cut to their
 * first line, since a message built from another error may carry that error's stack.
 */
function reportError(io: CliIo, err: unknown, debug: boolean): number {
  const coded = isClfsError(err);
  const message = err instanceof Error || coded ? (err as Error).message : String(err);
  const internal = !coded || err.code === 'E_INTERNAL';
  const prefix = coded ? '' : 'internal error: ';
  const hint = internal && !debug ? ' (re-run with --debug for details)' : '';
  io.stderr.write(`clfsload: ${prefix}${debug ? message : firstLine(message)}${hint}\n`);
  if (debug) io.stderr.write(`${stacksOf(err)}\n`);
  return exitCodeOfError(err);
}

/** The error's one line, as reportError prints it (without the program name). */
function errorLine(err: unknown): string {
  const coded = isClfsError(err);
  const message = err instanceof Error || coded ? (err as Error).message : String(err);
  return `${coded ? '' : 'internal error: '}${firstLine(message)}`;
}

function firstLine(text: string): string {
  // a folder opened by its bytes is named as ls prints it, not by its descriptor (byte-path.ts)
  return shownText(text.split('\n').find((l) => l.trim() !== '')?.trim() ?? text.trim());
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
function installCrashHandler(io: CliIo, debug: boolean, json: boolean): void {
  // the reader of our output went away (`clfsload ls | head`): stop at once and quietly, as a
  // program killed by SIGPIPE does (Node ignores the signal and reports EPIPE on the stream
  // instead); a load's state is transactional, so its re-run resumes as after kill -9
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(EXIT.PIPE);
      onCrash(err);
    });
  }
  function onCrash(err: unknown): void {
    reportError(io, err, debug);
    if (json) printJsonError(io, EXIT.INCOMPLETE, 'E_INTERNAL', errorLine(err));
    process.exit(EXIT.INCOMPLETE);
  }
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
}

export { ClfsError };
