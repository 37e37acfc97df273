/** `clfsload verify TARGET [--source DIR]`: check a container; exit 1 on any problem. */
import { verify } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { write } from '../context.js';
import { argumentBytes } from '../raw-argv.js';
import { intOption, MAX_CONCURRENCY } from '../options.js';
import { ENDPOINT_HELP, TARGET_HELP } from '../target-arg.js';

interface VerifyFlags {
  source?: string;
  readData: boolean;
  preserveHardlinks?: boolean;
  json: boolean;
  concurrency?: number;
  endpoint?: string;
}

export const verifyCommand: CliCommand = {
  name: 'verify',
  register(program, ctx) {
    program
      .command('verify')
      .description('check a container (and optionally compare it with its source tree); exit 1 on any problem')
      .argument('<target>', TARGET_HELP)
      .option('--source <dir>', 'compare every entry with this source tree (reads all data)')
      .option('--read-data', 'download every data segment and check it', false)
      .option('--preserve-hardlinks', 'the load preserved hard links: names that share an inode in the source must share one in the container (default: decided from the container)')
      .option('--no-preserve-hardlinks', 'the load copied hard links: each name may be its own inode')
      .option('--json', 'print the report as one JSON object', false)
      .option('--concurrency <n>', 'blob requests in flight', intOption('--concurrency', 1, MAX_CONCURRENCY))
      .option('--endpoint <url>', ENDPOINT_HELP)
      .action(async (targetUrl: string, opts: VerifyFlags) => {
        const target = ctx.target({ url: targetUrl, endpoint: opts.endpoint }).open();
        // progress on stderr: a live line on a terminal, a plain line every 5 s elsewhere (CI)
        const err = ctx.stderr;
        let lastLine = 0;
        const onProgress = (p: { counts: { dirs: number; files: number; blobs: number }; problems: number }) => {
          const line = `verify: ${p.counts.dirs} dirs, ${p.counts.files} files checked of ${p.counts.blobs} blobs, ${p.problems} problems`;
          if (err.isTTY) err.write(`\r\x1b[K${line}`);
          else if (Date.now() - lastLine >= 5000) {
            lastLine = Date.now();
            err.write(`${line}\n`);
          }
        };
        try {
          const report = await verify(target, {
            onProgress,
            readData: opts.readData,
            ...(opts.source !== undefined ? { source: argumentBytes(opts.source) } : {}),
            ...(opts.preserveHardlinks !== undefined ? { preserveHardlinks: opts.preserveHardlinks } : {}),
            ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
          });
          if (err.isTTY) err.write('\r\x1b[K');
          if (opts.json) {
            await write(ctx.stdout, JSON.stringify(report) + '\n');
          } else {
            for (const p of report.problems) await write(ctx.stdout, `${p.message}\n`);
            const c = report.counts;
            await write(
              ctx.stdout,
              `${report.ok ? 'OK' : 'FAILED'}: ${report.problems.length} problem(s); ${c.dirs} dirs, ${c.files} files, ${c.symlinks} symlinks, ${c.special} special, ` +
                `${c.hardlinkRepeats} hard link repeats, ${c.blobs} blobs, ${c.segments} segments, ${c.indirect} indirect blocks, ${c.bytes} bytes` +
                `${report.hardlinks !== undefined ? `; hard links checked as ${report.hardlinks}` : ''}\n`,
            );
          }
          ctx.setExitCode(report.ok ? 0 : 1);
        } finally {
          await target.close?.();
        }
      });
  },
};
