/**
 * stopWorkers (worker-stop.ts): a pool's message handler may unref a thread after terminate()
 * was called (a reply already in flight); the caller's await must still return. Each child
 * process below makes exactly that race and exits 13 (top-level await never settled) if the
 * event loop empties before the thread's exit arrives. With a bare terminate() one in five or more of the
 * children end that way, so twenty in a row passing says the keep-alive holds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const moduleUrl = pathToFileURL(join(here, '../../src/targets/worker-stop.js')).href;

function child(): string {
  return `
import { Worker } from 'node:worker_threads';
import { stopWorkers } from ${JSON.stringify(moduleUrl)};
const src = "const { parentPort } = require('node:worker_threads');" +
  "setInterval(() => { for (let i = 0; i < 100; i++) parentPort.postMessage(i); }, 0);";
const workers = [0, 1, 2].map(() => new Worker(src, { eval: true, execArgv: [] }));
for (const w of workers) w.on('message', () => w.unref());
await new Promise((r) => setTimeout(r, 30));
await stopWorkers(workers);
console.log('stopped');
`;
}

describe('stopWorkers', () => {
  it('returns although message handlers unref the threads while they are being terminated', () => {
    for (let i = 0; i < 20; i++) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', child()], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, `run ${i}: exit ${r.status} ${r.stderr}`);
      assert.equal(r.stdout.trim(), 'stopped');
    }
  });

  it('does nothing for an empty pool', async () => {
    const { stopWorkers } = await import(moduleUrl);
    await stopWorkers([]);
  });
});
