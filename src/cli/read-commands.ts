/**
 * The read side of the command line: `verify`, `ls`, `cat`, `export`. Thin: parse options, call
 * the library, print. Errors are thrown as ClfsError; main.ts prints them and sets the exit code.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { cat, exportTree, ls, verify } from '../index.js';
import type { Target } from '../index.js';

export interface ReadCommandsIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  openTarget(url: string, opts: { endpoint?: string }): Target;
  setExitCode(code: number): void;
}

type LsEntry = Awaited<ReturnType<typeof ls> extends AsyncIterable<infer E> ? E : never>;

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new InvalidArgumentError(`${name} must be a whole number from 1 to 1024`);
    return n;
  };
}

/** Valid UTF-8 printed as is; any other byte (and control bytes) as \xNN. */
export function escapeBytes(bytes: Buffer): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const n = utf8Length(bytes, i);
    if (n === 0 || (n === 1 && (bytes[i]! < 0x20 || bytes[i] === 0x7f || bytes[i] === 0x5c))) {
      out += bytes[i] === 0x5c ? '\\\\' : `\\x${bytes[i]!.toString(16).padStart(2, '0')}`;
      i++;
    } else {
      out += bytes.subarray(i, i + n).toString('utf8');
      i += n;
    }
  }
  return out;
}

function utf8Length(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n === 0 || i + n > b.length) return 0;
  for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0;
  // reject overlongs and surrogates by a round trip
  const s = b.subarray(i, i + n);
  return Buffer.from(s.toString('utf8'), 'utf8').equals(s) ? n : 0;
}

const TYPE_CHAR: Readonly<Record<string, string>> = { dir: 'd', file: '-', symlink: 'l', fifo: 'p', socket: 's', chardev: 'c', blockdev: 'b' };

export function modeText(type: string, mode: number): string {
  const part = (bits: number, special: boolean, ch: string): string =>
    ((bits & 4) !== 0 ? 'r' : '-') + ((bits & 2) !== 0 ? 'w' : '-') + (special ? ((bits & 1) !== 0 ? ch : ch.toUpperCase()) : (bits & 1) !== 0 ? 'x' : '-');
  return (
    (TYPE_CHAR[type] ?? '?') +
    part((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') +
    part((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') +
    part(mode & 7, (mode & 0o1000) !== 0, 't')
  );
}

function longLine(e: LsEntry): string {
  const size = e.type === 'chardev' || e.type === 'blockdev' ? `${e.rdevMajor},${e.rdevMinor}` : String(e.sizeBytes);
  const mtime = new Date(e.mtime.sec * 1000).toISOString().replace('.000Z', 'Z');
  let line = `${modeText(e.type, e.mode)} ${e.uid} ${e.gid} ${size} ${mtime} ${escapeBytes(e.path)}`;
  if (e.symlinkTarget !== undefined) line += ` -> ${escapeBytes(e.symlinkTarget)}`;
  return line;
}

/** Writes and waits for the stream to drain when it asks to. */
async function write(stream: NodeJS.WritableStream, data: string | Buffer): Promise<void> {
  if (!stream.write(data)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}

export function registerReadCommands(program: Command, io: ReadCommandsIo): void {
  const open = (url: string, opts: { endpoint?: string }): Target => io.openTarget(url, { ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}) });

  program
    .command('verify')
    .description('check a container (and optionally compare it with its source tree); exit 1 on any problem')
    .argument('<target>', 'file:///ABS/DIR or a container SAS URL')
    .option('--source <dir>', 'compare every entry with this source tree (reads all data)')
    .option('--read-data', 'download every data segment and check it', false)
    .option('--preserve-hardlinks', 'the load preserved hard links: names that share an inode in the source must share one in the container (default: decided from the container)')
    .option('--no-preserve-hardlinks', 'the load copied hard links: each name may be its own inode')
    .option('--json', 'print the report as one JSON object', false)
    .option('--concurrency <n>', 'blob requests in flight', positiveInt('--concurrency'))
    .option('--endpoint <url>', 'account endpoint for a bare CONTAINER?SAS target')
    .action(async (targetUrl: string, opts: { source?: string; readData: boolean; preserveHardlinks?: boolean; json: boolean; concurrency?: number; endpoint?: string }) => {
      const target = open(targetUrl, opts);
      // progress on stderr: a live line on a terminal, a plain line every 5 s elsewhere (CI)
      const err = io.stderr as NodeJS.WriteStream;
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
          ...(opts.source !== undefined ? { source: opts.source } : {}),
          ...(opts.preserveHardlinks !== undefined ? { preserveHardlinks: opts.preserveHardlinks } : {}),
          ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
        });
        if (err.isTTY) err.write('\r\x1b[K');
        if (opts.json) {
          await write(io.stdout, JSON.stringify(report) + '\n');
        } else {
          for (const p of report.problems) await write(io.stdout, `${p.message}\n`);
          const c = report.counts;
          await write(
            io.stdout,
            `${report.ok ? 'OK' : 'FAILED'}: ${report.problems.length} problem(s); ${c.dirs} dirs, ${c.files} files, ${c.symlinks} symlinks, ${c.special} special, ` +
              `${c.hardlinkRepeats} hard link repeats, ${c.blobs} blobs, ${c.segments} segments, ${c.indirect} indirect blocks, ${c.bytes} bytes` +
              `${report.hardlinks !== undefined ? `; hard links checked as ${report.hardlinks}` : ''}\n`,
          );
        }
        io.setExitCode(report.ok ? 0 : 1);
      } finally {
        await target.close?.();
      }
    });

  program
    .command('ls')
    .description('list a directory of a container (ls -l style with -l)')
    .argument('<target>', 'file:///ABS/DIR or a container SAS URL')
    .argument('[path]', 'path inside the container', '/')
    .option('-l, --long', 'type, mode, uid, gid, size, mtime, name', false)
    .option('-R, --recursive', 'list subdirectories too', false)
    .option('--endpoint <url>', 'account endpoint for a bare CONTAINER?SAS target')
    .action(async (targetUrl: string, path: string, opts: { long: boolean; recursive: boolean; endpoint?: string }) => {
      const target = open(targetUrl, opts);
      try {
        for await (const e of ls(target, path, { long: opts.long, recursive: opts.recursive })) {
          await write(io.stdout, (opts.long ? longLine(e) : escapeBytes(e.path)) + '\n');
        }
        io.setExitCode(0);
      } finally {
        await target.close?.();
      }
    });

  program
    .command('cat')
    .description("write a file's bytes from a container to stdout")
    .argument('<target>', 'file:///ABS/DIR or a container SAS URL')
    .argument('<path>', 'path of a regular file inside the container')
    .option('--endpoint <url>', 'account endpoint for a bare CONTAINER?SAS target')
    .action(async (targetUrl: string, path: string, opts: { endpoint?: string }) => {
      const target = open(targetUrl, opts);
      try {
        for await (const chunk of cat(target, path)) await write(io.stdout, chunk);
        io.setExitCode(0);
      } finally {
        await target.close?.();
      }
    });

  program
    .command('export')
    .description('restore a container (or a path in it) into a local directory')
    .argument('<target>', 'file:///ABS/DIR or a container SAS URL')
    .argument('<dest>', 'local directory to write into')
    .argument('[path]', 'path inside the container', '/')
    .option('--force', 'overwrite existing files', false)
    .option('--endpoint <url>', 'account endpoint for a bare CONTAINER?SAS target')
    .action(async (targetUrl: string, dest: string, path: string, opts: { force: boolean; endpoint?: string }) => {
      const target = open(targetUrl, opts);
      try {
        const s = await exportTree(target, dest, { path, force: opts.force });
        for (const k of s.skipped) await write(io.stderr, `skipped ${k.path}: ${k.reason}\n`);
        await write(
          io.stderr,
          `exported ${s.dirs} dirs, ${s.files} files (${s.bytes} bytes), ${s.symlinks} symlinks, ${s.fifos} fifos, ${s.devices} devices, ${s.hardlinks} hard links to ${dest}\n`,
        );
        io.setExitCode(0);
      } finally {
        await target.close?.();
      }
    });
}

