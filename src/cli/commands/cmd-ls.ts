/** `clfsload ls TARGET [PATH] [-l] [-R]`: list a directory of a container. */
import { displayPath, ls, modeString } from '../../index.js';
import type { LsEntry } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { write } from '../context.js';
import { ENDPOINT_HELP, TARGET_HELP } from '../target-arg.js';
import { authOptions, type AuthArgument } from '../target-arg.js';

/** ls prints names a user may type again: `\` is escaped too, so the line reads back to the same bytes. */
function shown(name: Buffer): string {
  return displayPath(name, { escapeBackslash: true });
}

function longLine(e: LsEntry): string {
  const size = e.type === 'chardev' || e.type === 'blockdev' ? `${e.rdevMajor},${e.rdevMinor}` : String(e.sizeBytes);
  const mtime = new Date(e.mtime.sec * 1000).toISOString().replace('.000Z', 'Z');
  let line = `${modeString(e.type, e.mode)} ${e.uid} ${e.gid} ${size} ${mtime} ${shown(e.path)}`;
  if (e.symlinkTarget !== undefined) line += ` -> ${shown(e.symlinkTarget)}`;
  return line;
}

export const lsCommand: CliCommand = {
  name: 'ls',
  register(program, ctx) {
    program
      .command('ls')
      .description('list a directory of a container (ls -l style with -l)')
      .argument('<target>', TARGET_HELP)
      .argument('[path]', 'path inside the container', '/')
      .option('-l, --long', 'type, mode, uid, gid, size, mtime, name', false)
      .option('-R, --recursive', 'list subdirectories too', false)
      .option('--endpoint <url>', ENDPOINT_HELP)
      .addOption(authOptions()[0]!)
      .addOption(authOptions()[1]!)
      .action(async (targetUrl: string, path: string, opts: { long: boolean; recursive: boolean; endpoint?: string } & AuthArgument) => {
        const target = ctx.target({ url: targetUrl, endpoint: opts.endpoint, auth: opts.auth, sasFile: opts.sasFile }).open();
        try {
          for await (const e of ls(target, path, { long: opts.long, recursive: opts.recursive })) {
            await write(ctx.stdout, (opts.long ? longLine(e) : shown(e.path)) + '\n');
          }
          ctx.setExitCode(0);
        } finally {
          await target.close?.();
        }
      });
  },
};
