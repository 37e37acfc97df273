import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { load, verify, FolderTarget } from '../../src/index.js';
import { buildOddTree, seeded } from '../helpers/tree-builder.js';

const CHILD = fileURLToPath(new URL('../helpers/load-child.js', import.meta.url));

/** Run a load in a child process and SIGKILL it after `killAfterMs` (it may finish first). */
function loadAndKill(args: string[], killAfterMs: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let killed = false;
    const timer = setTimeout(() => {
      killed = child.kill('SIGKILL');
    }, killAfterMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ killed: killed && code === null, code });
    });
  });
}

function blobCount(dir: string): number {
  return fs.readdirSync(dir).filter((n) => !n.startsWith('.')).length;
}

for (const hardlinks of [false, true]) {
  test(`kill -9 at many points, then resume: the container equals an uninterrupted run's (hardlinks ${hardlinks ? 'preserved' : 'copied'})`, async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-kill-'));
    const src = path.join(work, 'src');
    buildOddTree(src, { manyEntries: 400, bigFileBytes: 3 * 8 * 1024 * 1024 + 100 });
    // the uninterrupted run, for comparison
    const refBlobs = path.join(work, 'ref-blobs');
    fs.mkdirSync(refBlobs);
    const started = Date.now();
    const ref = await loadAndKill([src, refBlobs, path.join(work, 'ref-state'), '1', '2', hardlinks ? '1' : '0'], 600_000);
    const fullMs = Date.now() - started;
    assert.equal(ref.code, 0);
    const refCount = blobCount(refBlobs);
    const rand = seeded(hardlinks ? 11 : 7);
    let kills = 0;
    for (let round = 0; round < 5; round++) {
      const blobs = path.join(work, `blobs-${round}`);
      const state = path.join(work, `state-${round}`);
      fs.mkdirSync(blobs);
      // first attempt killed somewhere between process start and the end of a normal run,
      // then up to two more kills during the resumes
      let isNew = '1';
      // the first attempt of a round must really be killed: when a run finished before its kill
      // point (this run faster than the reference one), it is done again with an earlier one
      let span = fullMs;
      for (let attempt = 0; attempt < 8; attempt++) {
        const at = 150 + Math.floor(rand() * span);
        const r = await loadAndKill([src, blobs, state, isNew, '2', hardlinks ? '1' : '0'], at);
        if (r.killed) kills += 1;
        if (!fs.existsSync(path.join(state, 'state.db'))) continue; // killed before the state existed: start again
        if (!r.killed && isNew === '1') {
          // finished uninterrupted: start the round again in a fresh folder, with an earlier kill
          fs.rmSync(state, { recursive: true, force: true });
          fs.rmSync(blobs, { recursive: true, force: true });
          fs.mkdirSync(blobs);
          span = Math.max(50, Math.floor(span / 2));
          continue;
        }
        isNew = '0';
        if (!r.killed || attempt >= 2) break;
      }
      const target = new FolderTarget(blobs);
      const summary = await load({ source: src, target, targetKey: `file:${blobs}`, stateDir: state, newTransfer: isNew === '1', preserveHardlinks: hardlinks });
      assert.ok(summary.status === 'complete' || summary.status === 'already-complete', `round ${round}: ${summary.status}`);
      const report = await verify(target, { source: src });
      assert.deepEqual(report.problems, [], `round ${round}`);
      assert.equal(blobCount(blobs), refCount, `round ${round}: same number of blobs as the uninterrupted run (no garbage, nothing missing)`);
    }
    assert.ok(kills >= 3, `the loads were really killed (${kills} kills)`);
    fs.rmSync(work, { recursive: true, force: true });
  });
}
