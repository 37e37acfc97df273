/** `clfsload load SOURCE TARGET`: load a tree, or resume the load of the same source and target. */
import { Option } from 'commander';
import { DEFAULT_MAX_ERRORS, dryRun } from '../../index.js';
import type { LogLevel } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { addLoadOptions, loadFlag, loadFlagsOf, printEstimate, runLoad, runUpdateDryRun, type LoadCommandOptions } from '../load-run.js';
import { intOption, logLevelOf, MAX_CONCURRENCY } from '../options.js';

const OPTIONS: LoadCommandOptions = [
  loadFlag('stateDir', new Option('--state <dir>', 'local state folder (default: under ~/.local/state/clfsload, one per target)')),
  loadFlag('newTransfer', new Option('--new', 'start a new load (the container must be empty)').default(false)),
  loadFlag('compression', new Option('--compression <mode>', 'blob compression').choices(['lz4', 'disabled'])),
  loadFlag('preserveHardlinks', new Option('--preserve-hardlinks', 'keep hard links as one inode with several names')),
  loadFlag('maxErrors', new Option('--max-errors <n>', 'stop after N failed entries (0 = unlimited)').argParser(intOption('--max-errors', 0)).default(DEFAULT_MAX_ERRORS)),
  loadFlag('retryErrors', new Option('--no-retry-errors', 'on resume, do not retry entries that failed before')),
  loadFlag(
    'concurrency',
    new Option('--concurrency <n>', 'blob requests in flight (default: 256 for Azure, 16 for a folder)').argParser(intOption('--concurrency', 1, MAX_CONCURRENCY)),
  ),
  loadFlag('update', new Option('--update', 'bring the container loaded from SOURCE up to date with it: writes what changed, deletes what was removed (works without the state folder too)')),
  loadFlag('checksum', new Option('--checksum', 'with --update: also compare the data of files whose size and times match (reads them and their blobs)')),
  new Option('--endpoint <url>', 'blob service URL, for emulators and sovereign clouds (TARGET may then be CONTAINER?SAS)'),
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
    addLoadOptions(command, OPTIONS).action(async (source: string, targetUrl: string, opts: Record<string, unknown> & { dryRun?: boolean; endpoint?: string }) => {
      const flags = loadFlagsOf(opts, OPTIONS);
      if (opts.dryRun === true && flags.update === true) {
        ctx.setExitCode(await runUpdateDryRun(ctx, source, ctx.target({ url: targetUrl, endpoint: opts.endpoint }), flags));
        return;
      }
      if (opts.dryRun === true) {
        printEstimate(ctx, dryRun({ source, preserveHardlinks: flags.preserveHardlinks }), flags.json === true);
        return;
      }
      const target = ctx.target({ url: targetUrl, endpoint: opts.endpoint });
      ctx.setExitCode(await runLoad(ctx, source, target, flags));
    });
  },
};
