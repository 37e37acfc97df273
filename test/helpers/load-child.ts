/**
 * A load in a child process, for kill -9 tests:
 *   node load-child.js SOURCE BLOBDIR STATEDIR NEW(0|1) LATENCY_MS HARDLINKS(0|1)
 * Prints the summary as JSON on stdout.
 */
import { load, FolderTarget, LatencyTarget } from '../../src/index.js';

const [source, blobDir, stateDir, isNew, latency, hardlinks] = process.argv.slice(2);
const folder = new FolderTarget(blobDir!);
const ms = Number(latency);
const target = ms > 0 ? new LatencyTarget(folder, { latencyMs: ms, capabilities: { maxConnections: 8, remote: true } }) : folder;
const summary = await load({
  source: source!,
  target,
  targetKey: `file:${blobDir}`,
  stateDir: stateDir!,
  newTransfer: isNew === '1',
  preserveHardlinks: hardlinks === '1',
  concurrency: 8,
});
process.stdout.write(`${JSON.stringify(summary)}\n`);
