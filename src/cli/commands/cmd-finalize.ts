/**
 * `clfsload finalize --plan PLAN [TARGET]`: after every shard of a planned load succeeded, write
 * the directories above the cut, merge hard links across shards, upload the logs and move the root
 * to its final name. Refused, naming them, while a shard has not finished.
 */
import { Option } from 'commander';
import { ClfsError, finalizePlan } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { addLoadOptions, loadFlag, loadFlagsOf, runLoad, type LoadCommandOptions } from '../load-run.js';
import { intOption, logLevelOf, MAX_CONCURRENCY } from '../options.js';
import { planTarget } from '../plan-target.js';
import { ENDPOINT_HELP } from '../target-arg.js';
import type { LogLevel } from '../../index.js';

const OPTIONS: LoadCommandOptions = [
  new Option('--plan <file>', 'the plan (`clfsload plan`) whose shards all finished'),
  loadFlag('stateDir', new Option('--state <dir>', "the finalize's state folder (default: PLAN.d/finalize)")),
  loadFlag('concurrency', new Option('--concurrency <n>', 'blob requests in flight').argParser(intOption('--concurrency', 1, MAX_CONCURRENCY))),
  new Option('--endpoint <url>', ENDPOINT_HELP),
  loadFlag('json', new Option('--json', 'print one JSON summary object at the end').default(false)),
  loadFlag('logLevel', new Option('--log-level <level>', 'debug, info, warning or error').argParser(logLevelOf).default('info' as LogLevel)),
];

export const finalizeCommand: CliCommand = {
  name: 'finalize',
  register(program, ctx) {
    const command = program
      .command('finalize')
      .description('finish a planned load once every shard succeeded: directories above the cut, hard links across shards, logs, the root under its final name')
      .argument('[target]', 'the container, when the plan does not hold it (a SAS URL is never stored in a plan)');
    addLoadOptions(command, OPTIONS).action(async (targetUrl: string | undefined, opts: Record<string, unknown> & { plan?: string; endpoint?: string }) => {
      const planFile = opts.plan;
      if (planFile === undefined) throw new ClfsError('E_USAGE', 'finalize needs --plan PLAN (the plan whose shards all finished)', { subject: '--plan' });
      const flags = loadFlagsOf(opts, OPTIONS);
      const { target } = planTarget(ctx, planFile, targetUrl, opts.endpoint);
      const stateDir = flags.stateDir;
      ctx.setExitCode(
        await runLoad(ctx, '', target, flags, (o) => {
          const { source: _s, newTransfer: _n, compression: _c, preserveHardlinks: _p, stateDir: _d, ...rest } = o;
          return finalizePlan({ ...rest, planFile, stateDir });
        }),
      );
    });
  },
};
