/**
 * A subcommand of `clfsload`: one file under commands/ each, listed once in commands/index.ts.
 * main.ts knows commands only through that list, so the words it treats as commands (and not as
 * the reference's positional form) are exactly the ones registered.
 */
import type { Command } from 'commander';
import type { CliContext } from './context.js';

export interface CliCommand {
  /** the word on the command line; `register` must add a subcommand of this name */
  readonly name: string;
  register(program: Command, ctx: CliContext): void;
}
