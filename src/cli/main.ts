/**
 * The command line: `clfsload COMMAND ...` with the commands of commands/index.ts, and the
 * reference's positional form `clfsload [--new] STATE SOURCE ACCOUNT CONTAINER SAS` as a drop-in.
 * This file only reads argv, picks the program, installs the signal and crash handlers, and turns
 * what went wrong into one line and an exit code. Only src/cli prints or chooses exit codes.
 */
import { Command, CommanderError } from 'commander';
import { ClfsError, isClfsError } from '../index.js';
import { buildLegacyProgram, COMMANDS, LEGACY_USAGE, legacyAccepts, legacyPositionals, registerCommands } from './commands/index.js';
import { suggest } from './suggest.js';
import { createCliContext, EXIT, VERSION, type CliContext, type CliIo, type SignalState } from './context.js';

export { EXIT, VERSION };

/** Errors in what the user typed (options, the source path): exit 2, as docs/guide.md says. */
const USAGE_CODES = new Set(['E_USAGE', 'E_SOURCE_NOT_FOUND']);

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
  return registerCommands(program, ctx, COMMANDS);
}

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
  installCrashHandler(io, debug);
  const signals = installSignals(io);
  let exitCode: number = EXIT.OK;
  const ctx = createCliContext(io, {
    setExitCode: (code) => {
      exitCode = Math.max(exitCode, code);
    },
    signals,
  });
  const userArgs = args.filter((a) => a !== '--debug');
  const program = chooseProgram(ctx, userArgs);
  if (!(program instanceof Command)) {
    io.stderr.write(`clfsload: ${program.unknownCommand}\n`);
    return EXIT.USAGE;
  }
  program.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  try {
    await program.parseAsync(userArgs, { from: 'user' });
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
function reportError(io: CliIo, err: unknown, debug: boolean): number {
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
function installCrashHandler(io: CliIo, debug: boolean): void {
  const onCrash = (err: unknown): void => {
    reportError(io, err, debug);
    process.exit(EXIT.INCOMPLETE);
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
}

export { ClfsError };
