/**
 * The reference's command line (spec §10.1) as a drop-in:
 * `clfsload [--new] LOCAL_STATE_PATH SOURCE_ROOT ACCOUNT CONTAINER SAS_TOKEN [flags]`.
 * Not a subcommand: main.ts picks this form only when the first word is no registered command
 * and the line is exactly this form's five positionals with its own options (`legacyAccepts`).
 */
import { Command, Option } from 'commander';
import { DEFAULT_MAX_ERRORS } from '../../index.js';
import type { LogLevel } from '../../index.js';
import { VERSION, type CliContext } from '../context.js';
import { folderArgument } from '../byte-path.js';
import { argumentBytes } from '../raw-argv.js';
import { addLoadOptions, filterFlags, limitFlags, loadFlag, loadFlagsOf, runLoad, type LoadCommandOptions } from '../load-run.js';
import { intOption, logLevelOf } from '../options.js';

const flag01 = (name: string) => intOption(name, 0, 1);

const OPTIONS: LoadCommandOptions = [
  loadFlag('newTransfer', new Option('--new', 'start a new load').default(false)),
  loadFlag('compression', new Option('--compression <mode>', 'default: LZ4').choices(['LZ4', 'DISABLED', 'lz4', 'disabled']), (mode: string) => mode.toLowerCase() as 'lz4' | 'disabled'),
  loadFlag('preserveHardlinks', new Option('--preserve_hardlinks <n>', '0 or 1 (default: 0)').argParser(flag01('--preserve_hardlinks')), (n: number) => n === 1),
  loadFlag('maxErrors', new Option('--max_errors <n>', '0 = unlimited').argParser(intOption('--max_errors', 0)).default(DEFAULT_MAX_ERRORS)),
  loadFlag('retryErrors', new Option('--retry_errors <n>', '0 or 1').argParser(flag01('--retry_errors')).default(1), (n: number) => n === 1),
  loadFlag(
    'concurrency',
    new Option('--worker_thread_count <n>', 'concurrency (clamped to 1..200; default: 256 for Azure, 16 for a folder, then clamped)').argParser((v) => Math.min(200, Math.max(1, intOption('--worker_thread_count', -1e9)(v)))),
  ),
  loadFlag('logLevel', new Option('--log_level <level>', 'log level').argParser(logLevelOf).default('info' as LogLevel)),
  loadFlag('countFirst', new Option('--dry_run', 'count the tree first and print the count (as the reference does), then load').default(false)),
  new Option('--dry_run_gb <gb>', 'ignored (accepted for compatibility)'),
  new Option('--dry_run_count <n>', 'ignored (accepted for compatibility)'),
  new Option('--azcopy', 'ignored (accepted for compatibility)').hideHelp(),
  new Option('--endpoint <url>', 'blob service URL (default https://ACCOUNT.blob.core.windows.net; Azurite: http://127.0.0.1:PORT/devstoreaccount1)'),
  loadFlag('json', new Option('--json', 'print one JSON summary object at the end').default(false)),
  // clfsload's own, not the reference's: filters and rate limits in this form too
  ...filterFlags(),
  ...limitFlags(),
  // ours, not the reference's: the reference cannot update a container
  loadFlag('update', new Option('--update', 'bring the container loaded from SOURCE_ROOT up to date with it (clfsload only; see docs/update.md)')),
  loadFlag('checksum', new Option('--checksum', 'with --update: also compare file data (clfsload only)')),
];

export const LEGACY_USAGE = 'clfsload [--new] LOCAL_STATE_PATH SOURCE_ROOT ACCOUNT CONTAINER SAS_TOKEN';
const POSITIONALS = 5;

export function buildLegacyProgram(ctx: CliContext): Command {
  const program = new Command('clfsload')
    .description(`CLFSLoad-compatible form: ${LEGACY_USAGE}`)
    .version(`clfsload ${VERSION} (CLFSLoad 1.0.24 compatible command line)`)
    .argument('<local_state_path>')
    .argument('<source_root>')
    .argument('<target_storage_account>')
    .argument('<target_container>')
    .argument('<sas_token>');
  return addLoadOptions(program, OPTIONS)
    .exitOverride()
    .action(async (state: string, source: string, account: string, container: string, sas: string, opts: Record<string, unknown> & { endpoint?: string }) => {
      const target = ctx.target({ account, container, sas, endpoint: opts.endpoint });
      ctx.setExitCode(await runLoad(ctx, argumentBytes(source), target, { ...loadFlagsOf(opts, OPTIONS), stateDir: folderArgument(state, true) }));
    });
}

/**
 * What `args` would give `program` (the legacy one): its positionals, reading `--opt VALUE` by the
 * options it declares. An option it does not declare may or may not take the next word:
 * `fewest` counts the positionals as if each such option took one.
 */
export function legacyPositionals(program: Command, args: readonly string[]): { positionals: string[]; fewest: number } {
  const positionals: string[] = [];
  let mayTakeValue = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (a.length > 1 && a.startsWith('-')) {
      const eq = a.indexOf('=');
      const flag = eq < 0 ? a : a.slice(0, eq);
      const option = program.options.find((o) => o.long === flag || o.short === flag);
      if (option === undefined) {
        if (eq < 0 && i + 1 < args.length && !args[i + 1]!.startsWith('-')) mayTakeValue++;
      } else if ((option.required || option.optional) && eq < 0) i++;
      continue;
    }
    positionals.push(a);
  }
  return { positionals, fewest: positionals.length - mayTakeValue };
}

/**
 * The line is the reference's: five positionals. With an option this form does not know, the
 * line is still given to it when some reading makes five (`--preserve-hardlinks 1` for
 * `--preserve_hardlinks 1`), so that the error names the option rather than a command.
 */
export function legacyAccepts(program: Command, args: readonly string[]): boolean {
  const { positionals, fewest } = legacyPositionals(program, args);
  return fewest <= POSITIONALS && POSITIONALS <= positionals.length;
}
