/**
 * deadlineSignal (src/load/deadline-signal.ts) must abort after its time even when a garbage
 * collection runs in between: the composite of AbortSignal.any and AbortSignal.timeout did not on
 * Node 20 (nodejs/node#57736), and an encode worker's puts to a service that had stopped
 * answering waited forever. A child with --expose-gc forces the collections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { deadlineSignal } from '../../src/load/deadline-signal.js';

const moduleUrl = new URL('../../src/load/deadline-signal.js', import.meta.url).href;

function inChild(body: string): string {
  const script = `
    const { deadlineSignal } = await import(${JSON.stringify(moduleUrl)});
    const settle = () => new Promise((r) => setTimeout(r, 20));
    ${body}`;
  return execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 }).trim();
}

test('the deadline fires after garbage collections', () => {
  const out = inChild(`
    const outer = new AbortController();
    let fired = false;
    // nothing but the listener refers to the signal, as in the worker's await
    deadlineSignal([outer.signal], 200).signal.addEventListener('abort', (e) => { fired = e.target.reason?.name ?? true; });
    for (let i = 0; i < 5; i++) { globalThis.gc(); await settle(); }
    await new Promise((r) => setTimeout(r, 500));
    console.log(String(fired));`);
  assert.equal(out, 'TimeoutError');
});

test('an outer signal aborts it at once, and clear() stops the timer', async () => {
  const outer = new AbortController();
  const d = deadlineSignal([outer.signal], 60_000);
  assert.equal(d.signal.aborted, false);
  outer.abort(new Error('stop'));
  assert.equal(d.signal.aborted, true);
  assert.equal((d.signal.reason as Error).message, 'stop');
  d.clear();

  const cleared = deadlineSignal([], 50);
  cleared.clear();
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(cleared.signal.aborted, false);

  const quick = deadlineSignal([], 10);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(quick.signal.aborted, true);
  assert.equal((quick.signal.reason as DOMException).name, 'TimeoutError');
});
