/** `clfsload compare SOURCE DEST`: every entry of a copy against its source; exit 1 and the paths on any difference. */
import { Option } from 'commander';
import { compare } from '../../index.js';
import type { CompareReport } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { argumentBytes } from '../raw-argv.js';
import { EXIT, write, type CliContext } from '../context.js';
import { applyEnvironment, copyShard } from '../environment.js';
import { intOption } from '../options.js';
import { ensureThreadPool } from '../thread-pool.js';
import { filterOptions, filtersOf } from '../load-run.js';

interface CompareFlags {
  checksum: boolean;
  xattrs: boolean;
  json: boolean;
  threads?: number;
  shard?: string;
  shards?: number;
  exclude?: string[];
  include?: string[];
  excludeFrom?: string[];
  excludeIfPresent?: string[];
  keepSnapshotDirs?: boolean;
}

export const compareCommand: CliCommand = {
  name: 'compare',
  register(program, ctx) {
    const command = program
      .command('compare')
      .description('compare a copy with its source: type, size, mode, owner, mtime, link target, hard links; exit 1 and the paths on any difference')
      .argument('<source>', 'the source directory')
      .argument('<dest>', 'the copy')
      .addOption(new Option('--checksum', 'read both sides and compare the bytes').default(false))
      .addOption(new Option('--xattrs', 'compare extended attributes too (user.* when not root, every namespace as root)').default(false))
      .addOption(new Option('--threads <n>', 'file-system calls in flight').argParser(intOption('--threads', 1, 1000)))
      .addOption(new Option('--shard <K/N>', 'compare only shard K of N (as copy --shard split it)'))
      .addOption(new Option('--shards <n>', 'the number of shards (with JOB_COMPLETION_INDEX)').argParser(intOption('--shards', 1, 100000)))
      .addOption(new Option('--json', 'print the report as one JSON object').default(false));
    for (const o of filterOptions()) command.addOption(o);
    command.action(async (source: string, dest: string, flags: CompareFlags) => {
        applyEnvironment(process.env);
        const shard = copyShard(process.env, flags.shard, flags.shards);
        const rerun = await ensureThreadPool(ctx, (flags.threads ?? 32) + 4);
        if (rerun !== undefined) {
          ctx.setExitCode(rerun);
          return;
        }
        // read once: --exclude-from files are opened here
        const filters = filtersOf(flags);
        const report = await compare({
          source: argumentBytes(source),
          dest: argumentBytes(dest),
          checksum: flags.checksum,
          xattrs: flags.xattrs,
          ...(filters !== undefined ? { filters } : {}),
          abortSignal: ctx.signals.controller.signal,
          ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
          ...(shard !== undefined ? { shard: { index: shard.index, count: shard.count } } : {}),
        });
        if (flags.json) await write(ctx.stdout, `${JSON.stringify(report)}\n`);
        else await printDifferences(ctx, report, 'compare');
        ctx.setExitCode(report.interrupted ? (ctx.signals.exitCode ?? EXIT.SIGINT) : report.ok ? EXIT.OK : EXIT.INCOMPLETE);
      });
  },
};

export async function printDifferences(ctx: CliContext, r: CompareReport, word: string): Promise<void> {
  for (const d of r.differences) await write(ctx.stdout, `${d.path}: ${d.what}\n`);
  const more = r.differencesTotal > r.differences.length ? ` (${r.differencesTotal - r.differences.length} more not listed)` : '';
  await write(
    ctx.stdout,
    `${word}: ${r.ok ? 'OK' : 'DIFFERENT'}: ${r.entries} entries, ${r.differencesTotal} differences${more}${r.xattrs ? ', xattrs compared' : ''}${r.checksum ? `, ${(r.bytesCompared / 1048576).toFixed(1)} MiB read on each side` : ''}` +
      `${r.owners ? '' : '; owners not compared (not root)'}${r.interrupted ? '; interrupted' : ''}, ${r.seconds.toFixed(1)} s\n`,
  );
}
