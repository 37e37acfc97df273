/** `clfsload export TARGET DEST [PATH]`: restore a container, or a path in it, into a local directory. */
import { exportTree } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { EXIT, write } from '../context.js';
import { shownPath } from '../byte-path.js';
import { argumentBytes } from '../raw-argv.js';
import { ENDPOINT_HELP, TARGET_HELP } from '../target-arg.js';
import { authOptions, type AuthArgument } from '../target-arg.js';

export const exportCommand: CliCommand = {
  name: 'export',
  register(program, ctx) {
    program
      .command('export')
      .description('restore a container (or a path in it) into a local directory')
      .argument('<target>', TARGET_HELP)
      .argument('<dest>', 'local directory to write into')
      .argument('[path]', 'path inside the container, as bytes or as ls prints it', '/')
      .option('--force', 'overwrite existing files', false)
      .option('--endpoint <url>', ENDPOINT_HELP)
      .addOption(authOptions()[0]!)
      .addOption(authOptions()[1]!)
      .action(async (targetUrl: string, dest: string, path: string, opts: { force: boolean; endpoint?: string } & AuthArgument) => {
        const target = ctx.target({ url: targetUrl, endpoint: opts.endpoint, auth: opts.auth, sasFile: opts.sasFile }).open();
        try {
          const destBytes = argumentBytes(dest);
          const s = await exportTree(target, destBytes, { path: argumentBytes(path), force: opts.force });
          for (const k of s.skipped) await write(ctx.stderr, `skipped ${k.path}: ${k.reason}\n`);
          // a socket no tool can restore; a device file left out (not root) is a restore that is not whole
          const incomplete = s.skipped.some((k) => k.kind !== 'socket');
          await write(
            ctx.stderr,
            `exported ${s.dirs} dirs, ${s.files} files (${s.bytes} bytes), ${s.symlinks} symlinks, ${s.fifos} fifos, ${s.devices} devices, ${s.hardlinks} hard links to ${shownPath(destBytes)}\n`,
          );
          ctx.setExitCode(incomplete ? EXIT.INCOMPLETE : EXIT.OK);
        } finally {
          await target.close?.();
        }
      });
  },
};
