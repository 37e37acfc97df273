/**
 * What every command gets from main.ts: the output streams, the exit code it sets, the signal
 * state of the run, and the one way to read a target argument. Commands import this module (and
 * the shared ones beside it), never main.ts, so the command files import nothing that imports them.
 */
import { shellQuote } from './byte-path.js';
import { cliTarget, type CliTarget, type TargetArgument } from './target-arg.js';

export { shellQuote };

export const VERSION = '0.1.0';

/**
 * Exit codes, one meaning each (the table in docs/guide.md): 0 everything asked was done (loaded,
 * verified clean); 1 the run failed or is incomplete (entries failed, a fatal error stopped it, the
 * service could not be reached, verify found problems): the same command resumes or retries once
 * the cause is fixed; 2 the command line cannot work as typed (bad option, argument or URL, a
 * named path that does not exist, --new into a container that holds data, a state folder of
 * another transfer): nothing was done; 130/143 interrupted by SIGINT/SIGTERM: resumable.
 */
/** PIPE: 128 + SIGPIPE, what a shell shows for a program killed by a closed pipe */
export const EXIT = { OK: 0, INCOMPLETE: 1, USAGE: 2, SIGINT: 130, PIPE: 141, SIGTERM: 143 } as const;

/** A stream the progress line may rewrite in place when it is a terminal. */
export type OutStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
}

/** Ctrl-C / SIGTERM: the abort a load watches, and the exit code of the signal that came. */
export interface SignalState {
  controller: AbortController;
  exitCode?: number;
}

export interface CliContext extends CliIo {
  /** The run's exit code is the highest any command set. */
  setExitCode(code: number): void;
  /** the words after the program name, as typed (a load prints the command that resumes it) */
  args: readonly string[];
  /** how this program was started: `clfsload`, or `node /path/to/clfsload.js` */
  invocation: string;
  signals: SignalState;
  /** Every command reads its target argument(s) through this: parse, state key, open. */
  target(arg: TargetArgument): CliTarget;
}

export function createCliContext(io: CliIo, options: { setExitCode?: (code: number) => void; signals?: SignalState; args?: readonly string[]; invocation?: string } = {}): CliContext {
  return {
    stdout: io.stdout,
    stderr: io.stderr,
    setExitCode: options.setExitCode ?? (() => undefined),
    args: options.args ?? [],
    invocation: options.invocation ?? 'clfsload',
    signals: options.signals ?? { controller: new AbortController() },
    target: (arg) => cliTarget(arg, io),
  };
}

/** Writes and waits for the stream to drain when it asks to. */
export async function write(stream: NodeJS.WritableStream, data: string | Buffer): Promise<void> {
  if (!stream.write(data)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}


/** The command line that runs `args` again, as this process was started. */
export function commandLine(invocation: string, args: readonly string[]): string {
  return [invocation, ...args.map(shellQuote)].join(' ');
}
