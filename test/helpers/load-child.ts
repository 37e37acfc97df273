/**
 * A load in a child process, for kill -9 tests:
 *   node load-child.js SOURCE BLOBDIR STATEDIR NEW(0|1) LATENCY_MS HARDLINKS(0|1)
 *   node load-child.js --options JSON      (LoadChildOptions below)
 * Prints the summary as JSON on stdout. With --options, exits as the CLI does: 0 when the status
 * is complete or already-complete, 1 otherwise or on a failure (one line on stderr), 2 on E_USAGE.
 * Source faults come from CLFSLOAD_SOURCE_FAULTS in the environment, as for the CLI.
 */
import { load, FolderTarget, LatencyTarget, isClfsError, installSourceFaultsFromEnv, stateFaultPlanFromEnv } from '../../src/index.js';
import type { LoadOptions } from '../../src/index.js';

export interface LoadChildOptions {
  source: string;
  blobDir: string;
  stateDir: string;
  newTransfer: boolean;
  latencyMs?: number;
  preserveHardlinks?: boolean;
  retryErrors?: boolean;
  maxErrors?: number;
  encodeWorkers?: number;
  concurrency?: number;
  /** load --update (docs/update.md) */
  update?: boolean;
}

function parse(argv: string[]): LoadChildOptions {
  if (argv[0] === '--options') return JSON.parse(argv[1]!) as LoadChildOptions;
  const [source, blobDir, stateDir, isNew, latency, hardlinks] = argv;
  return { source: source!, blobDir: blobDir!, stateDir: stateDir!, newTransfer: isNew === '1', latencyMs: Number(latency), preserveHardlinks: hardlinks === '1', concurrency: 8 };
}

const argv = process.argv.slice(2);
// as the CLI does (src/cli/environment.ts): the library reads no environment variable
installSourceFaultsFromEnv(process.env);
const stateFaults = stateFaultPlanFromEnv(process.env);
const o = parse(argv);
const folder = new FolderTarget(o.blobDir);
const ms = o.latencyMs ?? 0;
const target = ms > 0 ? new LatencyTarget(folder, { latencyMs: ms, capabilities: { maxConnections: 8, remote: true } }) : folder;
const options: LoadOptions = {
  source: o.source,
  target,
  targetKey: `file:${o.blobDir}`,
  stateDir: o.stateDir,
  newTransfer: o.newTransfer,
  preserveHardlinks: o.preserveHardlinks,
  concurrency: o.concurrency ?? 8,
  stateFaults,
};
if (o.retryErrors !== undefined) options.retryErrors = o.retryErrors;
if (o.maxErrors !== undefined) options.maxErrors = o.maxErrors;
if (o.encodeWorkers !== undefined) options.encodeWorkers = o.encodeWorkers;
if (o.update === true) options.update = true;
if (argv[0] !== '--options') {
  const summary = await load(options);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} else {
  try {
    const summary = await load(options);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    process.exitCode = summary.status === 'complete' || summary.status === 'already-complete' ? 0 : 1;
  } catch (err) {
    process.stderr.write(`load-child: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = isClfsError(err) && err.code === 'E_USAGE' ? 2 : 1;
  }
}
