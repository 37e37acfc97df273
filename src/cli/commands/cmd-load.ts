/** `clfsload load SOURCE TARGET`: load a tree, or resume the load of the same source and target. */
import { Option } from 'commander';
import { DEFAULT_MAX_ERRORS, dryRun } from '../../index.js';
import type { LogLevel } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { EXIT } from '../context.js';
import { applyEnvironment } from '../environment.js';
import { addLoadOptions, filterFlags, filtersOf, limitFlags, loadFlag, loadFlagsOf, printEstimate, runLoad, runUpdateDryRun, type LoadCommandOptions } from '../load-run.js';
import { intOption, logLevelOf, MAX_CONCURRENCY } from '../options.js';
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
];

export const loadCommand: CliCommand = {
  name: 'load',
  register(program, ctx) {
    const command = program
      .command('load')
      .description('load SOURCE into TARGET (file:///ABS/DIR or a container SAS URL); resumes an interrupted load of the same source and target')
      .argument('<source>', 'local directory to load')
      .argument('<target>', 'https://ACCOUNT.blob.core.windows.net/CONTAINER?SAS, or file:///ABS/DIR');
    addLoadOptions(command, OPTIONS).action(async (source: string, targetUrl: string, opts: Record<string, unknown> & { dryRun?: boolean; endpoint?: string } & AuthArgument) => {
      const flags = loadFlagsOf(opts, OPTIONS);
      if (opts.dryRun === true && flags.update === true) {
        ctx.setExitCode(await runUpdateDryRun(ctx, source, ctx.target({ url: targetUrl, endpoint: opts.endpoint, auth: opts.auth, sasFile: opts.sasFile }), flags));
        return;
      }
      if (opts.dryRun === true) {
        // a dry run reads the source as a load does, through the same seams
        applyEnvironment(process.env);
        const e = dryRun({ source, preserveHardlinks: flags.preserveHardlinks, filters: filtersOf(flags) });
        // entries the scan could not read would fail the load too
        const code = e.errors > 0 ? EXIT.INCOMPLETE : EXIT.OK;
        printEstimate(ctx, e, flags.json === true, code);
        ctx.setExitCode(code);
        return;
      }
      const target = ctx.target({ url: targetUrl, endpoint: opts.endpoint, auth: opts.auth, sasFile: opts.sasFile });
      ctx.setExitCode(await runLoad(ctx, source, target, flags));
    });
  },
};
