/**
 * What every command gets from main.ts: the output streams, the exit code it sets, the signal
 * state of the run, and the one way to read a target argument. Commands import this module (and
 * the shared ones beside it), never main.ts, so the command files import nothing that imports them.
 */
import { cliTarget, type CliTarget, type TargetArgument } from './target-arg.js';

export const VERSION = '0.1.0';

/** Exit codes: 0 all loaded; 1 finished with errors or stopped by a failure; 2 bad usage; 130/143 interrupted. */
export const EXIT = { OK: 0, INCOMPLETE: 1, USAGE: 2, SIGINT: 130, SIGTERM: 143 } as const;

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
  signals: SignalState;
  /** Every command reads its target argument(s) through this: parse, state key, open. */
  target(arg: TargetArgument): CliTarget;
}

export function createCliContext(io: CliIo, options: { setExitCode?: (code: number) => void; signals?: SignalState } = {}): CliContext {
  return {
    stdout: io.stdout,
    stderr: io.stderr,
    setExitCode: options.setExitCode ?? (() => undefined),
    signals: options.signals ?? { controller: new AbortController() },
    target: (arg) => cliTarget(arg, io),
  };
}

/** Writes and waits for the stream to drain when it asks to. */
export async function write(stream: NodeJS.WritableStream, data: string | Buffer): Promise<void> {
  if (!stream.write(data)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}
