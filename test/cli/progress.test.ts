import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressPrinter } from '../../src/cli/progress.js';
import type { ProgressSnapshot } from '../../src/index.js';

const snapshot: ProgressSnapshot = { phase: 'transfer', entriesScanned: 10, entriesDone: 5, bytesScanned: 100, bytesDone: 50, errors: 0, blobsWritten: 5, bytesUploaded: 50, elapsedSeconds: 2, entriesDoneThisRun: 5, bytesDoneThisRun: 50, rateSeconds: 2 };

test('the progress line says when a rate limit holds the run back, and only then', () => {
  const lines: string[] = [];
  let note: string | undefined = 'held back by --bwlimit 50.0 MiB/s';
  const out = { isTTY: false, write: (s: string) => (lines.push(s), true) };
  const printer = new ProgressPrinter(out as never, 0, () => note);
  printer.update(snapshot);
  note = undefined;
  printer.update({ ...snapshot, entriesDone: 6 });
  // off a terminal the latest line is printed by a timer; flush prints it now
  printer.flush();
  printer.close();
  assert.match(lines[0]!, /^transfer: 5\/10 entries, .*, errors 0, held back by --bwlimit 50\.0 MiB\/s\n$/);
  assert.match(lines[1]!, /errors 0\n$/);
});
