/** `clfsload load SOURCE TARGET`: load a tree, or resume the load of the same source and target. */
import { Option } from 'commander';
import { ClfsError, DEFAULT_MAX_ERRORS, dryRun, loadShard } from '../../index.js';
import type { LogLevel } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { argumentBytes } from '../raw-argv.js';
import { EXIT, type CliContext } from '../context.js';
import { applyEnvironment, shardIndexFromEnv } from '../environment.js';
import { addLoadOptions, filterFlags, filtersOf, limitFlags, loadFlag, loadFlagsOf, printEstimate, runLoad, runUpdateDryRun, type LoadCommandOptions, type LoadFlags } from '../load-run.js';
import { intOption, logLevelOf, MAX_CONCURRENCY } from '../options.js';
import { planTarget } from '../plan-target.js';
import { authOptions, type AuthArgument } from '../target-arg.js';

const OPTIONS: LoadCommandOptions = [
  loadFlag('stateDir', new Option('--state <dir>', 'local state folder (default: under ~/.local/state/clfsload, one per target)')),
  loadFlag('newTransfer', new Option('--new', 'start a new load (the container must be empty)').default(false)),
  loadFlag('compression', new Option('--compression <mode>', 'blob compression of a new load (default: lz4; a resume keeps its load\'s)').choices(['lz4', 'disabled'])),
  loadFlag('preserveHardlinks', new Option('--preserve-hardlinks', 'keep hard links as one inode with several names (default: off, each name its own inode; a resume keeps its load\'s)')),
  loadFlag('maxErrors', new Option('--max-errors <n>', 'stop after N failed entries (0 = unlimited)').argParser(intOption('--max-errors', 0)).default(DEFAULT_MAX_ERRORS)),
  loadFlag('retryErrors', new Option('--no-retry-errors', 'on resume, do not retry entries that failed before (default: retry them)')),
  loadFlag(
    'concurrency',
    new Option('--concurrency <n>', 'blob requests in flight (default: 256 for Azure, 16 for a folder)').argParser(intOption('--concurrency', 1, MAX_CONCURRENCY)),
  ),
  ...filterFlags(),
  ...limitFlags(),
  new Option('--endpoint <url>', 'blob service URL, for emulators and sovereign clouds (TARGET may then be CONTAINER?SAS)'),
  ...authOptions(),
  loadFlag('update', new Option('--update', 'bring the container loaded from SOURCE up to date with it: writes what changed, deletes what was removed (works without the state folder too)')),
  loadFlag('checksum', new Option('--checksum', 'with --update: also compare the data of files whose size and times match (reads them and their blobs)')),
  new Option('--dry-run', 'scan only: print entries, bytes, objects and requests a load would make (with --update: what the update would change); writes nothing'),
  loadFlag('json', new Option('--json', 'print one JSON summary object at the end').default(false)),
  loadFlag('logLevel', new Option('--log-level <level>', 'debug, info, warning or error').argParser(logLevelOf).default('info' as LogLevel)),
  new Option('--plan <file>', 'load one shard of this plan (`clfsload plan`): no SOURCE; TARGET only when the plan does not hold it'),
  new Option('--shard <k>', 'the shard of --plan to load (default: $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX)').argParser(intOption('--shard', 0)),
];

export const loadCommand: CliCommand = {
  name: 'load',
  register(program, ctx) {
    const command = program
      .command('load')
      .description('load SOURCE into TARGET (file:///ABS/DIR or a container SAS URL); resumes an interrupted load of the same source and target')
      .argument('[source]', 'local directory to load')
      .argument('[target]', 'https://ACCOUNT.blob.core.windows.net/CONTAINER?SAS, or file:///ABS/DIR');
    type Opts = Record<string, unknown> & { dryRun?: boolean; endpoint?: string; plan?: string; shard?: number } & AuthArgument;
    addLoadOptions(command, OPTIONS).action(async (source: string | undefined, targetUrl: string | undefined, opts: Opts) => {
      const flags = loadFlagsOf(opts, OPTIONS);
      if (opts.plan !== undefined) {
        if (opts.dryRun === true) throw new ClfsError('E_USAGE', '--dry-run does not apply to a shard of a plan: leave it out of load --plan (clfsload plan already read the top of the tree)', { subject: '--dry-run' });
        ctx.setExitCode(await runShard(ctx, opts.plan, opts.shard, source, targetUrl, opts.endpoint, flags));
        return;
      }
      if (opts.shard !== undefined) throw new ClfsError('E_USAGE', '--shard needs --plan PLAN (the plan the shard belongs to)', { subject: '--shard' });
      if (source === undefined || targetUrl === undefined) {
        throw new ClfsError('E_USAGE', `load needs SOURCE and TARGET (clfsload load SOURCE TARGET), or --plan PLAN --shard K for one shard of a planned load`, { subject: 'load' });
      }
      if (opts.dryRun === true && flags.update === true) {
        ctx.setExitCode(await runUpdateDryRun(ctx, argumentBytes(source), ctx.target({ url: targetUrl, endpoint: opts.endpoint, auth: opts.auth, sasFile: opts.sasFile }), flags));
        return;
      }
      if (opts.dryRun === true) {
        // a dry run reads the source as a load does, through the same seams
        applyEnvironment(process.env);
        const e = dryRun({ source: argumentBytes(source), preserveHardlinks: flags.preserveHardlinks, filters: filtersOf(flags) });
        // entries the scan could not read would fail the load too
        const code = e.errors > 0 ? EXIT.INCOMPLETE : EXIT.OK;
        printEstimate(ctx, e, flags.json === true, code);
        ctx.setExitCode(code);
        return;
      }
      const target = ctx.target({ url: targetUrl, endpoint: opts.endpoint, auth: opts.auth, sasFile: opts.sasFile });
      ctx.setExitCode(await runLoad(ctx, argumentBytes(source), target, flags));
    });
  },
};

/** `load --plan PLAN --shard K [TARGET]`: one shard; the source, compression and hard-link setting come from the plan. */
async function runShard(ctx: CliContext, planFile: string, shardFlag: number | undefined, first: string | undefined, second: string | undefined, endpoint: string | undefined, flags: LoadFlags): Promise<number> {
  if (second !== undefined) throw new ClfsError('E_USAGE', `load --plan takes no SOURCE (the plan holds it): give at most TARGET, not ${first} ${second}`, { subject: '--plan' });
  for (const [set, name] of [[flags.compression, '--compression'], [flags.preserveHardlinks, '--preserve-hardlinks'], [flags.newTransfer ? true : undefined, '--new']] as const) {
    if (set !== undefined) throw new ClfsError('E_USAGE', `${name} is fixed by the plan: leave it out of load --plan`, { subject: name });
  }
  // the plan cut the tree without filters, and a planned container is loaded once (no update of a shard)
  if (filtersOf(flags) !== undefined) throw new ClfsError('E_USAGE', 'filters (--exclude, --include, ...) do not apply to a shard of a plan yet: load the tree without them, or load it in one run', { subject: '--exclude' });
  if (flags.update === true) throw new ClfsError('E_USAGE', '--update does not apply to a shard of a plan: update the finalized container with load SOURCE TARGET --update', { subject: '--update' });
  const fromEnv = shardIndexFromEnv(process.env);
  const shard = shardFlag ?? fromEnv?.shard;
  if (shard === undefined) throw new ClfsError('E_USAGE', `load --plan ${planFile} needs --shard K (or SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX set by the scheduler)`, { subject: '--shard' });
  const { target } = planTarget(ctx, planFile, first, endpoint);
  const stateDir = flags.stateDir;
  return runLoad(ctx, '', target, flags, (o) => {
    const { source: _s, newTransfer: _n, compression: _c, preserveHardlinks: _p, stateDir: _d, ...rest } = o;
    return loadShard({ ...rest, planFile, shard, stateDir });
  });
}
