import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etaSeconds, progressLine } from '../../src/cli/progress.js';
import type { ProgressSnapshot } from '../../src/index.js';

const MiB = 1048576;

function snap(p: Partial<ProgressSnapshot>): ProgressSnapshot {
  return { phase: 'transfer', entriesScanned: 0, entriesDone: 0, bytesScanned: 0, bytesDone: 0, errors: 0, blobsWritten: 0, bytesUploaded: 0, elapsedSeconds: 10, entriesDoneThisRun: 0, bytesDoneThisRun: 0, rateSeconds: 10, ...p };
}

test('ETA: the large files done and 60,000 small files left is not "1s"; a large file left after the small ones is not instant either', () => {
  // 9 s in, every byte of the large files done, 1,000 of 61,000 entries
  const smallLeft = snap({ entriesScanned: 61_000, entriesDone: 1_000, bytesScanned: 900 * MiB, bytesDone: 895 * MiB, entriesDoneThisRun: 1_000, bytesDoneThisRun: 895 * MiB, rateSeconds: 9 });
  assert.ok(etaSeconds(smallLeft) > 500, `${etaSeconds(smallLeft)}`);
  // the small files done, one 800 MiB file left
  const bigLeft = snap({ entriesScanned: 60_001, entriesDone: 60_000, bytesScanned: 900 * MiB, bytesDone: 100 * MiB, entriesDoneThisRun: 60_000, bytesDoneThisRun: 100 * MiB, rateSeconds: 10 });
  assert.ok(etaSeconds(bigLeft) >= 80, `${etaSeconds(bigLeft)}`);
  assert.equal(etaSeconds(snap({ entriesScanned: 5, entriesDone: 5, bytesScanned: 10, bytesDone: 10 })), 0);
  assert.ok(Number.isNaN(etaSeconds(snap({ entriesScanned: 5, entriesDone: 2, bytesScanned: 10, bytesDone: 10, entriesDoneThisRun: 0, rateSeconds: 3 }))), 'no rate yet: unknown');
  // one large file in the first second says nothing of the 300 small files left
  assert.ok(Number.isNaN(etaSeconds(snap({ entriesScanned: 303, entriesDone: 1, bytesScanned: 20 * MiB, bytesDone: 20 * MiB, entriesDoneThisRun: 1, bytesDoneThisRun: 20 * MiB, rateSeconds: 1 }))));
});

test('the line counts done of the total and takes its rates from this run (a resume does not inflate them)', () => {
  const line = progressLine(snap({ entriesScanned: 63_200, entriesDone: 50_000, bytesScanned: 61.6 * MiB, bytesDone: 40 * MiB, entriesDoneThisRun: 1_000, bytesDoneThisRun: 2 * MiB, rateSeconds: 10 }));
  assert.match(line, /^transfer: 50000\/63200 entries, 40\.0\/61\.6 MiB, 100 entries\/s, 0\.2 MiB\/s, ETA 2m12s, errors 0$/);
});
