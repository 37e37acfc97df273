/**
 * The `update` case, as its own process (measured like the CLI: whole-process wall time, peak
 * RSS): one of three runs on an edited tree, through a counting wrapper on a folder target.
 *
 *   node dist/bench/update-child.js SOURCE BLOB_DIR STATE_DIR update|load|scan
 *
 * update: `load --update` of the container BLOB_DIR (loaded before the edits, state in STATE_DIR);
 * load: a full load of the edited tree into the empty BLOB_DIR; scan: the update's comparison alone
 * (`updateDryRun`: lstat of every entry against the state, nothing written), the update's floor.
 * Prints one JSON line: the summary (or estimate) and the request counts.
 */
import { CountingTarget, FolderTarget, load, updateDryRun } from '../src/index.js';

async function main(): Promise<void> {
  const [source, dest, stateDir, mode] = process.argv.slice(2);
  if (source === undefined || dest === undefined || stateDir === undefined || mode === undefined) throw new Error('usage: update-child SOURCE BLOB_DIR STATE_DIR update|load|scan');
  const counting = new CountingTarget(new FolderTarget(dest));
  const options = { source, target: counting, targetKey: `file:${dest}`, stateDir, newTransfer: mode === 'load', update: mode !== 'load' };
  const summary = mode === 'scan' ? await updateDryRun(options) : await load(options);
  process.stdout.write(`${JSON.stringify({ summary, counts: counting.counts })}\n`);
  await counting.close();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
