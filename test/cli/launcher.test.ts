/**
 * The installed command's CommonJS launcher (bin/clfsload.cts) sizes libuv's thread pool before
 * anything asynchronous runs, so copy and compare start once instead of running themselves again
 * with UV_THREADPOOL_SIZE set; the ES-module entry keeps that re-run as its fallback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildSmallFilesTree } from '../helpers/tree-builder.js';

const BIN = fileURLToPath(new URL('../../bin/', import.meta.url));
const { poolSizeFor } = createRequire(import.meta.url)(path.join(BIN, 'clfsload.cjs')) as { poolSizeFor: (args: string[]) => number | undefined };

test('the launcher reads the pool a command line needs', () => {
  assert.equal(poolSizeFor(['copy', 'a', 'b']), 68);
  assert.equal(poolSizeFor(['copy', '--threads', '8', 'a', 'b']), 12);
  assert.equal(poolSizeFor(['copy', 'a', 'b', '--threads=200']), 204);
  assert.equal(poolSizeFor(['compare', 'a', 'b']), 36);
  assert.equal(poolSizeFor(['copy', '--threads', '5000', 'a', 'b']), 1024);
  assert.equal(poolSizeFor(['load', 'copy', 'file:///x']), undefined);
  assert.equal(poolSizeFor(['--version']), undefined);
});

/** Node processes a command started (each one loads `--require`d code that notes its pid). */
function processesOf(entry: string, args: string[]): { code: number | null; stderr: string; pids: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-launch-'));
  const note = path.join(dir, 'note.cjs');
  const pids = path.join(dir, 'pids');
  fs.writeFileSync(note, `require('node:fs').appendFileSync(${JSON.stringify(pids)}, process.pid + '\\n');\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--require ${note}` };
  delete env.UV_THREADPOOL_SIZE;
  const r = spawnSync(process.execPath, [path.join(BIN, entry), ...args], { encoding: 'utf8', env, timeout: 120_000 });
  const n = fs.readFileSync(pids, 'utf8').trim().split('\n').length;
  fs.rmSync(dir, { recursive: true, force: true });
  return { code: r.status, stderr: r.stderr, pids: n };
}

test('copy and compare through the launcher run in one process, through the ES-module entry in two; both copy the tree', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-launch-tree-'));
  try {
    const src = path.join(dir, 'src');
    buildSmallFilesTree(src, 60, 3);
    for (const [entry, want] of [['clfsload.cjs', 1], ['clfsload.js', 2]] as const) {
      const dest = path.join(dir, `dest-${entry}`);
      fs.mkdirSync(dest);
      const c = processesOf(entry, ['copy', src, dest, '--state-dir', path.join(dir, `state-${entry}`), '--new', '--threads', '8']);
      assert.equal(c.code, 0, c.stderr);
      assert.equal(c.pids, want, `${entry}: node processes of the copy`);
      const k = processesOf(entry, ['compare', src, dest]);
      assert.equal(k.code, 0, k.stderr);
      assert.equal(k.pids, want, `${entry}: node processes of the compare`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
