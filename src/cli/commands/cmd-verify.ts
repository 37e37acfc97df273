/** `clfsload verify TARGET [--source DIR]`: check a container; exit 1 on any problem. */
import * as fs from 'node:fs';
import v8 from 'node:v8';
import { ClfsError, describeFilters, transferFilters, verify } from '../../index.js';
import type { FilterSpec } from '../../index.js';
import type { CliCommand } from '../commands.js';
import { EXIT, write } from '../context.js';
import { filterOptions, filtersOf, type LoadFlags } from '../load-run.js';
import { duration, LinePrinter } from '../progress.js';
import { folderArgument, shownPath } from '../byte-path.js';
import { argumentBytes } from '../raw-argv.js';
import { intOption, MAX_CONCURRENCY } from '../options.js';
import { defaultStateDir } from '../state-path.js';
import { ENDPOINT_HELP, TARGET_HELP } from '../target-arg.js';
import { authOptions, type AuthArgument } from '../target-arg.js';

/**
 * Requests in flight for a folder, unless --concurrency says: more than a load's 16. A folder's
 * blobs are read on four reader threads (folder-reader.ts), one message per batch; at 16 a batch
 * held four reads and the messages cost the walk's thread more than the reads (5,100 messages for
 * 20,000 inodes). At 64 a batch holds ~16 (1,300 messages); at 256 the walk ran further ahead and
 * was slower again (docs/benchmarks.md, the verify case).
 */
export const FOLDER_VERIFY_CONCURRENCY = 64;

/** The requests in flight a verify asks for: --concurrency, else a folder's own default, else the target's (undefined). */
export function verifyConcurrency(kind: string, given: number | undefined): number | undefined {
  return given ?? (kind === 'folder' ? FOLDER_VERIFY_CONCURRENCY : undefined);
}

/**
 * Speed before memory in V8 for a verify. bin/clfsload.ts sets `--optimize-for-size` for the
 * load's many short-lived rows; a verify allocates per blob read (its bytes, the decoded object,
 * a check's results) and under that flag the young generation stayed small: 170 scavenges and 13
 * mark-compacts for a 20,000-file container against 49 and 4 without, and the process's CPU was
 * 4.1 s against 2.8 s (the walk's thread 1.67 s against 1.22 s; V8's platform threads, which mark
 * concurrently, 1.1 s against 0.6 s). Peak RSS rose from 140 to 165 MiB, less than the load's.
 * The flag is process-wide and read as V8 goes, so it takes effect for the reader threads started
 * after it too.
 */
function speedOverMemory(): void {
  v8.setFlagsFromString('--no-optimize-for-size');
}

function isDirectory(p: string | Buffer): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

type VerifyFlags = Pick<LoadFlags, 'exclude' | 'include' | 'excludeFrom' | 'excludeIfPresent' | 'keepSnapshotDirs'> & AuthArgument & {
  source?: string;
  state?: string;
  readData: boolean;
  preserveHardlinks?: boolean;
  json: boolean;
  concurrency?: number;
  endpoint?: string;
};

/**
 * The filters to verify a source with: the options when any is given, else those of the load's
 * state (--state, or the target's default state folder) when there is one, else the defaults.
 */
function verifyFilters(opts: VerifyFlags, targetKey: string, warn: (line: string) => void): { filters?: FilterSpec; from?: string } {
  const given = filtersOf(opts);
  if (given !== undefined) return { filters: given };
  const dir = opts.state !== undefined ? folderArgument(opts.state, false) : defaultStateDir(targetKey);
  let stored: FilterSpec | undefined;
  try {
    stored = transferFilters(dir);
  } catch (err) {
    // the folder named by --state must be readable; the default one is only a guess
    if (opts.state !== undefined) throw err;
    warn(`verify: cannot read the filters of the load in ${dir} (${(err as Error).message}); comparing with the default filters (give the load's filter options to be sure)`);
  }
  if (stored === undefined && opts.state !== undefined) {
    const shown = shownPath(argumentBytes(opts.state));
    throw new ClfsError('E_USAGE', `--state ${shown}: no load state there; give the folder the load was run with, or the filter options themselves`, { subject: shown });
  }
  return stored === undefined ? {} : { filters: stored, from: dir };
}

export const verifyCommand: CliCommand = {
  name: 'verify',
  register(program, ctx) {
    const command = program
      .command('verify')
      .description('check a container (and optionally compare it with its source tree); exit 1 on any problem')
      .argument('<target>', TARGET_HELP)
      .option('--source <dir>', 'compare every entry with this source tree (reads all data)')
      .option('--read-data', 'download every data segment and check it', false)
      .option('--preserve-hardlinks', 'the load preserved hard links: names that share an inode in the source must share one in the container (default: decided from the container)')
      .option('--no-preserve-hardlinks', 'the load copied hard links: each name may be its own inode')
      .option('--json', 'print the report as one JSON object', false)
      .option('--concurrency <n>', `blob requests in flight (default: 256 for Azure, ${FOLDER_VERIFY_CONCURRENCY} for a folder)`, intOption('--concurrency', 1, MAX_CONCURRENCY))
      .option('--endpoint <url>', ENDPOINT_HELP)
      .option('--state <dir>', "with --source: the load's state folder, whose filters are used when no filter option is given (default: the target's)")
      .addOption(authOptions()[0]!)
      .addOption(authOptions()[1]!);
    for (const o of filterOptions()) command.addOption(o);
    command.action(async (targetUrl: string, opts: VerifyFlags) => {
        // a source that is not there is a typing error, not one problem per directory of the container
        if (opts.source !== undefined && !isDirectory(argumentBytes(opts.source))) {
          throw new ClfsError('E_SOURCE_NOT_FOUND', `--source ${opts.source}: no such directory; give the tree that was loaded`, { subject: opts.source });
        }
        speedOverMemory();
        const cliTarget = ctx.target({ url: targetUrl, endpoint: opts.endpoint, auth: opts.auth, sasFile: opts.sasFile });
        const { filters, from } = opts.source !== undefined ? verifyFilters(opts, cliTarget.key, (line) => ctx.stderr.write(`${line}\n`)) : {};
        if (from !== undefined) ctx.stderr.write(`verify: filters of the load in ${shownPath(from)}: ${describeFilters(filters!)}\n`);
        // --concurrency is also the target's own ceiling (the retry layer's slots): without it a folder
        // stayed at 16 requests in flight whatever the walk asked for
        const concurrency = verifyConcurrency(cliTarget.spec.kind, opts.concurrency);
        const target = cliTarget.open(concurrency !== undefined ? { concurrency } : {});
        // progress on stderr: a live line on a terminal, elsewhere (CI) the latest line every 5 s and the last one at the end
        const printer = new LinePrinter(ctx.stderr);
        const started = Date.now();
        const onProgress = (p: { counts: { dirs: number; files: number; blobs: number }; problems: number }) => {
          const s = (Date.now() - started) / 1000;
          const checked = p.counts.dirs + p.counts.files;
          printer.show(`verify: ${p.counts.dirs} dirs, ${p.counts.files} files checked (${s > 0 ? (checked / s).toFixed(0) : 0} entries/s) of ${p.counts.blobs} blobs listed, ${p.problems} problems, ${duration(s)}`);
        };
        try {
          const report = await verify(target, {
            onProgress,
            readData: opts.readData,
            ...(opts.source !== undefined ? { source: argumentBytes(opts.source) } : {}),
            ...(opts.preserveHardlinks !== undefined ? { preserveHardlinks: opts.preserveHardlinks } : {}),
            ...(concurrency !== undefined ? { concurrency } : {}),
            ...(filters !== undefined ? { filters } : {}),
          });
          printer.flush();
          printer.close();
          const exitCode = report.ok ? EXIT.OK : EXIT.INCOMPLETE;
          if (opts.json) {
            await write(ctx.stdout, JSON.stringify({ status: report.ok ? 'ok' : 'problems', exitCode, ...report }) + '\n');
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
          ctx.setExitCode(exitCode);
        } finally {
          printer.close();
          await target.close?.();
        }
      });
  },
};
