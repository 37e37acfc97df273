/**
 * Every subcommand, in the order `clfsload --help` lists them: the one list of what the command
 * line knows. A new command is a new cmd-NAME.ts exporting a CliCommand, added here.
 */
import type { Command } from 'commander';
import type { CliCommand } from '../commands.js';
import type { CliContext } from '../context.js';
import { catCommand } from './cmd-cat.js';
import { compareCommand } from './cmd-compare.js';
import { copyCommand } from './cmd-copy.js';
import { demoCommand } from './cmd-demo.js';
import { exportCommand } from './cmd-export.js';
import { finalizeCommand } from './cmd-finalize.js';
import { loadCommand } from './cmd-load.js';
import { lsCommand } from './cmd-ls.js';
import { planCommand } from './cmd-plan.js';
import { stateCommand } from './cmd-state.js';
import { verifyCommand } from './cmd-verify.js';

export const COMMANDS: readonly CliCommand[] = [loadCommand, planCommand, finalizeCommand, demoCommand, stateCommand, verifyCommand, lsCommand, catCommand, exportCommand, copyCommand, compareCommand];

export { buildLegacyProgram, legacyAccepts, legacyPositionals, LEGACY_USAGE } from './cmd-legacy.js';

/** Adds `commands` to `program`; each must add the subcommand its `name` says (main.ts relies on the names). */
export function registerCommands(program: Command, ctx: CliContext, commands: readonly CliCommand[] = COMMANDS): Command {
  for (const c of commands) {
    c.register(program, ctx);
    if (!program.commands.some((s) => s.name() === c.name)) throw new Error(`command ${c.name} registered no subcommand of that name`);
  }
  return program;
}
