import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LeanPut } from '../../src/targets/lean-put.js';

/** A server that answers 201 to /ok/* and never answers anything else. */
async function withServer(fn: (base: string, seen: { requests: number; closed: number }) => Promise<void>): Promise<void> {
  const seen = { requests: 0, closed: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.requests += 1;
    req.resume();
    req.on('end', () => {
      if (req.url?.startsWith('/acct/cont/ok')) {
        res.writeHead(201).end();
      }
    });
    res.on('close', () => (seen.closed += 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/acct/cont`, seen);
  } finally {
    server.closeAllConnections();
    server.unref();
    await new Promise((r) => server.close(r));
  }
}

const isAbort = (e: unknown) => (e as Error).name === 'AbortError';

/** The promise, or a rejection after `ms` (so a request that is never stopped fails the test instead of hanging it). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe('LeanPut', () => {
  it('resolves on 201 and leaves a shared signal usable', async () => {
    await withServer(async (base) => {
      const lean = new LeanPut(base, 'sv=x&sig=y', 4);
      const controller = new AbortController();
      await lean.put('ok-1', Buffer.from('a'), controller.signal);
      await lean.put('ok-2', Buffer.from('b'), controller.signal);
      // nothing in flight any more: aborting now touches no request
      controller.abort();
      lean.close();
    });
  });

  it('one abort stops every request in flight on that signal', { timeout: 5000 }, async () => {
    await withServer(async (base, seen) => {
      const lean = new LeanPut(base, 'sv=x&sig=y', 4);
      const controller = new AbortController();
      const other = new AbortController();
      const stalled = [lean.put('stall-1', Buffer.from('a'), controller.signal), lean.put('stall-2', Buffer.from('b'), controller.signal)];
      const unaffected = lean.put('ok-3', Buffer.from('c'), other.signal);
      while (seen.requests < 3) await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      for (const p of stalled) await assert.rejects(within(p, 2000), isAbort);
      await unaffected;
      for (let i = 0; seen.closed < 2 && i < 400; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(seen.closed >= 2, true, 'the server saw both stalled requests closed');
      lean.close();
    });
  });

  it('an aborted signal sends nothing', async () => {
    await withServer(async (base, seen) => {
      const lean = new LeanPut(base, 'sv=x&sig=y', 4);
      await assert.rejects(lean.put('ok-4', Buffer.from('a'), AbortSignal.abort()), isAbort);
      assert.equal(seen.requests, 0);
      lean.close();
    });
  });
});
