/**
 * Encode workers started before the load (src/load/worker-prestart.ts): which command lines start
 * them, and a load that takes them gives each its settings, the source fault plan with the
 * process-wide counters included, so what they do is what workers started by the pool do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { load, verify, FolderTarget } from '../../src/index.js';
import { setSourceFaults } from '../../src/scan/index.js';
import { prestartCountFor, prestartEncodeWorkers, takePrestarted } from '../../src/load/worker-prestart.js';

test('prestartCountFor: a load or demo gets one worker per core or CLFSLOAD_ENCODE_WORKERS; other commands, dry runs and help none', () => {
  assert.equal(prestartCountFor(['load', 'SRC', 'file:///x', '--new'], {}, 4), 4);
  assert.equal(prestartCountFor(['--debug', 'load', 'SRC', 'T'], {}, 2), 2);
  assert.equal(prestartCountFor(['demo'], {}, 3), 3);
  assert.equal(prestartCountFor(['load', 'SRC', 'T'], { CLFSLOAD_ENCODE_WORKERS: '1' }, 8), 1);
  assert.equal(prestartCountFor(['load', 'SRC', 'T'], { CLFSLOAD_ENCODE_WORKERS: '0' }, 8), 0);
  assert.equal(prestartCountFor(['load', 'SRC', 'T'], { CLFSLOAD_ENCODE_WORKERS: 'many' }, 8), 0, 'left to the option check, which refuses it');
  assert.equal(prestartCountFor(['load', 'SRC', 'T', '--dry-run'], {}, 4), 0);
  assert.equal(prestartCountFor(['load', '--help'], {}, 4), 0);
  for (const other of [['verify', 'T'], ['copy', 'A', 'B'], ['ls', 'T'], []]) assert.equal(prestartCountFor(other, {}, 4), 0, other.join(' '));
});

test('a load takes the prestarted workers, and the fault plan reaches them with its shared counters: "fail twice" fails two files in all', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-prestart-'));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const src = path.join(work, 'src');
  for (let d = 0; d < 4; d++) {
    fs.mkdirSync(path.join(src, `d${d}`), { recursive: true });
    for (let f = 0; f < 50; f++) fs.writeFileSync(path.join(src, `d${d}`, `f${f}`), `file ${d}/${f}\n`.repeat(f + 1));
  }
  // and a file of segments, read on the workers too
  fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(20 * 1024 * 1024, 'x'));
  const blobs = path.join(work, 'blobs');
  fs.mkdirSync(blobs);
  const target = new FolderTarget(blobs);
  const stateDir = path.join(work, 'state');
  const opts = { source: src, target, targetKey: `file:${blobs}`, stateDir, newTransfer: true, encodeWorkers: 2 };
  setSourceFaults({ rules: [{ op: 'open', pathRegex: '/f[0-9]+$', code: 'EACCES', times: 2 }] });
  // started before the plan was set, as the command's entry starts them before it reads the environment
  prestartEncodeWorkers(2);
  let s;
  try {
    s = await load(opts);
  } finally {
    setSourceFaults(undefined);
  }
  assert.equal(takePrestarted(), undefined, 'the load took both workers');
  assert.equal(s.status, 'complete-with-errors', JSON.stringify(s.problems));
  assert.equal(s.problemsTotal, 2, JSON.stringify(s.problems));
  for (const p of s.problems) assert.match(p.path, /\/d[0-9]\/f[0-9]+$/);
  const again = await load({ ...opts, newTransfer: false });
  assert.equal(again.status, 'complete', JSON.stringify(again.problems));
  const report = await verify(target, { source: src });
  assert.deepEqual(report.problems, []);
  await target.close?.();
});
