/** `clfsload ls TARGET [PATH] [-l] [-R] [--json] [--stored-order]`: list a directory of a container. */
import { displayPath, ls, modeString } from '../../index.js';
import type { LsEntry } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { write } from '../context.js';
import { argumentBytes } from '../raw-argv.js';
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

/**
 * One entry of `ls --json` (one object per line). Every name is given twice: as ls prints it
 * (`path`, `name`, `symlinkTarget`: the escaped spelling, which cat/ls/export read back) and as
 * its bytes in hex (`pathHex`, ...), which round-trips any name. docs/guide.md lists the fields.
 */
export function jsonEntry(e: LsEntry): Record<string, unknown> {
  const o: Record<string, unknown> = {
    path: shown(e.path),
    pathHex: e.path.toString('hex'),
    name: shown(e.name),
    nameHex: e.name.toString('hex'),
    type: e.type,
    mode: e.mode & 0o7777,
    modeString: modeString(e.type, e.mode),
    uid: e.uid,
    gid: e.gid,
    size: Number(e.sizeBytes),
    mtime: new Date(e.mtime.sec * 1000).toISOString(),
    mtimeSec: e.mtime.sec,
    mtimeNsec: e.mtime.nsec,
    nlink: e.nlink,
  };
  if (e.type === 'chardev' || e.type === 'blockdev') {
    o.rdevMajor = e.rdevMajor;
    o.rdevMinor = e.rdevMinor;
  }
  if (e.symlinkTarget !== undefined) {
    o.symlinkTarget = shown(e.symlinkTarget);
    o.symlinkTargetHex = e.symlinkTarget.toString('hex');
  }
  return o;
}

export const lsCommand: CliCommand = {
  name: 'ls',
  register(program, ctx) {
    program
      .command('ls')
      .description('list a directory of a container, sorted by name bytes (ls -l style with -l)')
      .argument('<target>', TARGET_HELP)
      .argument('[path]', 'path inside the container, as bytes or as ls prints it (caf\\xe9.txt)', '/')
      .option('-l, --long', 'type, mode, uid, gid, size, mtime, name', false)
      .option('-R, --recursive', 'list subdirectories too', false)
      .option('--json', 'one JSON object per entry and line (fields: docs/guide.md)', false)
      .option('--stored-order', 'in the order each directory stores its entries (streams huge directories without holding their names)', false)
      .option('--endpoint <url>', ENDPOINT_HELP)
      .addOption(authOptions()[0]!)
      .addOption(authOptions()[1]!)
      .action(async (targetUrl: string, path: string, opts: { long: boolean; recursive: boolean; json: boolean; storedOrder: boolean; endpoint?: string } & AuthArgument) => {
        const target = ctx.target({ url: targetUrl, endpoint: opts.endpoint, auth: opts.auth, sasFile: opts.sasFile }).open();
        try {
          const entries = ls(target, argumentBytes(path), { long: opts.long, recursive: opts.recursive, order: opts.storedOrder ? 'stored' : 'name' });
          for await (const e of entries) {
            const line = opts.json ? JSON.stringify(jsonEntry(e)) : opts.long ? longLine(e) : shown(e.path);
            await write(ctx.stdout, line + '\n');
          }
          ctx.setExitCode(0);
        } finally {
          await target.close?.();
        }
      });
  },
};
