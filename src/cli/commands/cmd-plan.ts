/**
 * `clfsload plan SOURCE TARGET --shards N --plan PLAN`: cut a load into N shards for a scheduler
 * (Slurm job array, Kubernetes Indexed Job). Writes PLAN and the container's bucket object.
 */
import { Option } from 'commander';
import { ClfsError, makePlan, MAX_SHARDS } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { argumentBytes } from '../raw-argv.js';
import { checkOutsideSource } from '../byte-path.js';
import { EXIT, write } from '../context.js';
import { intOption } from '../options.js';
import { ENDPOINT_HELP } from '../target-arg.js';

interface PlanFlags {
  shards?: number;
  plan?: string;
  depth?: number;
  estimateEntries?: number;
  compression?: 'lz4' | 'disabled';
  preserveHardlinks?: boolean;
  endpoint?: string;
  json: boolean;
}

const MiB = 1048576;

export const planCommand: CliCommand = {
  name: 'plan',
  register(program, ctx) {
    program
      .command('plan')
      .description('cut the load of SOURCE into TARGET (an empty container) into N shards that separate machines load at once; then `load --plan PLAN --shard K` for each K and `finalize --plan PLAN`')
      .argument('<source>', 'local directory to load')
      .argument('<target>', 'https://ACCOUNT.blob.core.windows.net/CONTAINER?SAS, or file:///ABS/DIR')
      .addOption(new Option('--shards <n>', 'number of shards').argParser(intOption('--shards', 1, MAX_SHARDS)))
      .addOption(new Option('--plan <file>', 'the plan file to write (on storage every task sees); shard states and reports go in PLAN.d/ beside it'))
      .addOption(new Option('--depth <n>', 'levels read at most to find 8 subtrees per shard (default 4)').argParser(intOption('--depth', 1, 64)))
      .addOption(new Option('--estimate-entries <n>', 'entries read per subtree to estimate its size (default 20000)').argParser(intOption('--estimate-entries', 1)))
      .addOption(new Option('--compression <mode>', 'blob compression').choices(['lz4', 'disabled']))
      .option('--preserve-hardlinks', 'keep hard links as one inode with several names (across shards too)')
      .option('--endpoint <url>', ENDPOINT_HELP)
      .option('--json', 'print the plan summary as one JSON object', false)
      .action(async (source: string, targetUrl: string, opts: PlanFlags) => {
        if (opts.shards === undefined) throw new ClfsError('E_USAGE', 'plan needs --shards N (how many tasks will load the tree)', { subject: '--shards' });
        if (opts.plan === undefined) throw new ClfsError('E_USAGE', 'plan needs --plan FILE (where to write the plan, on storage every task sees)', { subject: '--plan' });
        const target = ctx.target({ url: targetUrl, endpoint: opts.endpoint });
        if (target.spec.kind === 'folder') checkOutsideSource(argumentBytes(source), [{ what: 'target', path: target.spec.path }]);
        const opened = target.open();
        try {
          const s = await makePlan({
            source: argumentBytes(source),
            target: opened,
            targetKey: target.key,
            // a URL with a secret (a SAS) is never stored: shards are given TARGET again
            targetUrl: target.spec.kind === 'folder' ? targetUrl : undefined,
            planFile: opts.plan,
            shards: opts.shards,
            depth: opts.depth,
            estimateEntries: opts.estimateEntries,
            compression: opts.compression,
            preserveHardlinks: opts.preserveHardlinks,
            abortSignal: ctx.signals.controller.signal,
          });
          if (opts.json) {
            await write(ctx.stdout, `${JSON.stringify(s)}\n`);
          } else {
            const lines = [
              `plan written to ${s.planFile}: ${s.shards} shards, ${s.units} units below a cut at depth ${s.depth} (${s.dirsAboveCut} directories above it, written by finalize)`,
              ...s.perShard.map((p) => `  shard ${p.shard}: ${p.units} units, ~${p.entries} entries, ~${(p.bytes / MiB).toFixed(1)} MiB`),
              `balance: max/mean ${s.balance.toFixed(2)}`,
              `next: clfsload load --plan ${s.planFile} --shard K  (K = 0..${s.shards - 1}), then clfsload finalize --plan ${s.planFile}`,
            ];
            await write(ctx.stdout, `${lines.join('\n')}\n`);
          }
          ctx.setExitCode(EXIT.OK);
        } finally {
          await opened.close?.();
        }
      });
  },
};
