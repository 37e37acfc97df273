/** `clfsload cat TARGET PATH`: a file's bytes to stdout. */
import { cat } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { write } from '../context.js';
import { argumentBytes } from '../raw-argv.js';
import { ENDPOINT_HELP, TARGET_HELP } from '../target-arg.js';
import { authOptions, type AuthArgument } from '../target-arg.js';

export const catCommand: CliCommand = {
  name: 'cat',
  register(program, ctx) {
    program
      .command('cat')
      .description("write a file's bytes from a container to stdout")
      .argument('<target>', TARGET_HELP)
      .argument('<path>', 'path of a regular file inside the container, as bytes or as ls prints it (caf\\xe9.txt)')
      .option('--endpoint <url>', ENDPOINT_HELP)
      .addOption(authOptions()[0]!)
      .addOption(authOptions()[1]!)
      .action(async (targetUrl: string, path: string, opts: { endpoint?: string } & AuthArgument) => {
        const target = ctx.target({ url: targetUrl, endpoint: opts.endpoint, auth: opts.auth, sasFile: opts.sasFile }).open();
        try {
          for await (const chunk of cat(target, argumentBytes(path))) await write(ctx.stdout, chunk);
          ctx.setExitCode(0);
        } finally {
          await target.close?.();
        }
      });
  },
};
