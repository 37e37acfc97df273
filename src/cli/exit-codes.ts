/**
 * What each exit code means for each command: the one table behind every `--help` and the table
 * in docs/guide.md (test/cli/exit-codes.test.ts holds the two together and runs every row).
 * The meanings are EXIT's (context.ts): 0 done, 1 the run failed or is incomplete (the same
 * command resumes or retries once the cause is fixed), 2 the command line cannot work as typed,
 * 130/143 interrupted; 141 (any command) its stdout or stderr closed by the reader (main.ts).
 */
import type { Command } from 'commander';
import { EXIT } from './context.js';

export type ExitRow = readonly [code: number, meaning: string];

const INTERRUPTED: ExitRow = [EXIT.SIGINT, 'interrupted by SIGINT/SIGTERM (state saved; the printed command resumes)'];
const USAGE = 'bad option, argument or URL';

/** by command word; `reference` is the reference's positional form */
export const EXIT_CODES: Readonly<Record<string, readonly ExitRow[]>> = {
  load: [
    [EXIT.OK, 'every entry loaded (or the load was already complete); with --dry-run: every entry counted'],
    [EXIT.INCOMPLETE, 'entries failed, --max-errors reached, or a fatal error stopped the load (credentials, SAS expired, permission, container or folder missing, service unreachable, disk, state folder); with --dry-run: unreadable entries'],
    [EXIT.USAGE, `${USAGE}; source missing or not a directory; --new into a container that holds data or with a state folder in use; a state folder of another transfer`],
    INTERRUPTED,
  ],
  reference: [
    [EXIT.OK, 'as load'],
    [EXIT.INCOMPLETE, 'as load'],
    [EXIT.USAGE, `as load (a value out of range, e.g. --preserve_hardlinks 2)`],
    INTERRUPTED,
  ],
  verify: [
    [EXIT.OK, 'no problem found'],
    [EXIT.INCOMPLETE, 'problems found (listed), or the container could not be read (missing, unreachable, credentials)'],
    [EXIT.USAGE, `${USAGE}; --source missing or not a directory`],
  ],
  ls: [
    [EXIT.OK, 'listed'],
    [EXIT.INCOMPLETE, 'the container could not be read (missing, unreachable, credentials, damaged objects)'],
    [EXIT.USAGE, `${USAGE}; the path is not in the container`],
  ],
  cat: [
    [EXIT.OK, 'the whole file written to stdout'],
    [EXIT.INCOMPLETE, 'the container could not be read (missing, unreachable, credentials, damaged objects)'],
    [EXIT.USAGE, `${USAGE}; the path is not in the container or not a regular file`],
  ],
  export: [
    [EXIT.OK, 'every entry restored (sockets, which no tool can restore, are skipped with a line on stderr)'],
    [EXIT.INCOMPLETE, 'entries skipped (device files when not root), or the container could not be read'],
    [EXIT.USAGE, `${USAGE}; the path is not in the container; a file in the way without --force`],
  ],
  state: [
    [EXIT.OK, 'state check: consistent, or repaired with --repair'],
    [EXIT.INCOMPLETE, 'state check: findings not repaired, or damage that needs a new load'],
    [EXIT.USAGE, `${USAGE}; no state.db in the folder`],
  ],
  demo: [
    [EXIT.OK, 'the sample loaded and verified'],
    [EXIT.INCOMPLETE, 'the load or the verify failed'],
    [EXIT.USAGE, USAGE],
    INTERRUPTED,
  ],
};

/** 130 stands for both signals' codes */
export function codeText(code: number): string {
  return code === EXIT.SIGINT ? '130/143' : String(code);
}

export function exitCodesHelp(command: string): string {
  const rows = EXIT_CODES[command] ?? [];
  return `\nExit codes:\n${rows.map(([code, meaning]) => `  ${codeText(code).padEnd(7)}  ${meaning}`).join('\n')}\n`;
}

/** Adds each registered command's exit codes to its --help (commands without a row get none). */
export function addExitCodesHelp(program: Command): void {
  for (const c of program.commands) {
    if (EXIT_CODES[c.name()] === undefined) continue;
    // `state check` is where a user asks
    for (const shown of [c, ...c.commands]) shown.addHelpText('after', exitCodesHelp(c.name()));
  }
}
