import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Http1Pool, type Http1Response } from '../../src/targets/http1-pool.js';

interface Received {
  connection: number;
  head: string;
  body: Buffer;
}

/**
 * A raw TCP server that reads whole requests (head + Content-Length body) and answers each with
 * the bytes `answer` gives, written in pieces of `piece` bytes (1: a byte at a time).
 */
async function withRawServer(
  answer: (r: Received, socket: net.Socket) => string | Buffer | undefined,
  fn: (port: number, seen: Received[], connections: () => number) => Promise<void>,
  piece = 1 << 20,
): Promise<void> {
  const seen: Received[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const id = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const r = { connection: id, head, body: buf.subarray(end + 4, end + 4 + length) };
        buf = buf.subarray(end + 4 + length);
        seen.push(r);
        const out = answer(r, socket);
        if (out === undefined) continue;
        const bytes = typeof out === 'string' ? Buffer.from(out, 'latin1') : out;
        for (let i = 0; i < bytes.length; i += piece) socket.write(bytes.subarray(i, i + piece));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn((server.address() as AddressInfo).port, seen, () => connections);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
}

function send(pool: Http1Pool, path: string, body: Buffer | string = ''): Promise<Http1Response> {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return new Promise((resolve, reject) => {
    pool.request(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${b.length}\r\n\r\n`, b, (e, r) => (e ? reject(e) : resolve(r!)));
  });
}

const created = 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\nx-ms-request-id: abc\r\n\r\n';

describe('Http1Pool', () => {
  it('keeps one connection alive for requests in turn, and sends each body whole (small ones copied, large ones after the head)', async () => {
    await withRawServer(() => created, async (port, seen, connections) => {
      const pool = new Http1Pool(() => net.connect({ host: '127.0.0.1', port }), 4);
      const large = Buffer.alloc(300_000, 7);
      for (let i = 0; i < 10; i++) {
        const r = await send(pool, `/c/b${i}`, i === 5 ? large : `body ${i}`);
        assert.equal(r.statusCode, 201);
        assert.equal(r.header('X-MS-Request-Id'), 'abc');
        assert.equal(r.header('x-ms-error-code'), undefined);
      }
      assert.equal(connections(), 1);
      assert.equal(seen.length, 10);
      assert.equal(seen[3]!.body.toString(), 'body 3');
      assert.ok(seen[5]!.body.equals(large));
      assert.match(seen[0]!.head, /^PUT \/c\/b0 HTTP\/1\.1\r\n/);
      pool.close();
    });
  });

  it('opens at most maxSockets connections and queues the rest', async () => {
    let inFlight = 0;
    let most = 0;
    await withRawServer(
      (_r, socket) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        setTimeout(() => {
          inFlight -= 1;
          socket.write(created);
        }, 20);
        return undefined;
      },
      async (port, seen, connections) => {
        const pool = new Http1Pool(() => net.connect({ host: '127.0.0.1', port }), 2);
        const all = await Promise.all(Array.from({ length: 7 }, (_, i) => send(pool, `/c/q${i}`, 'x')));
        assert.deepEqual(all.map((r) => r.statusCode), [201, 201, 201, 201, 201, 201, 201]);
        assert.equal(seen.length, 7);
        assert.equal(connections(), 2);
        assert.equal(most, 2);
        pool.close();
      },
    );
  });

  it('reads answers a byte at a time, chunked bodies, 100 Continue before the answer, and a body that ends with the connection', async () => {
    const chunkedError =
      'HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\nx-ms-error-code: AuthorizationFailure\r\n\r\n' +
      '1a\r\n<Error><Code>Auth</Code><M\r\n' +
      '5;ext=1\r\nessag\r\n' +
      '0\r\nTrailer: t\r\n\r\n';
    await withRawServer(
      (r, socket) => {
        if (r.head.includes('/chunked')) return chunkedError;
        if (r.head.includes('/continue')) return `HTTP/1.1 100 Continue\r\n\r\n${created}`;
        if (r.head.includes('/until-close')) {
          socket.end('HTTP/1.1 500 Internal Server Error\r\nx-ms-error-code: InternalError\r\n\r\nall of this');
          return undefined;
        }
        return created;
      },
      async (port, _seen, connections) => {
        const pool = new Http1Pool(() => net.connect({ host: '127.0.0.1', port }), 1);
        const a = await send(pool, '/c/chunked');
        assert.equal(a.statusCode, 403);
        assert.equal(a.header('x-ms-error-code'), 'AuthorizationFailure');
        assert.equal(a.body.toString(), '<Error><Code>Auth</Code><Messag');
        const b = await send(pool, '/c/continue');
        assert.equal(b.statusCode, 201);
        const c = await send(pool, '/c/until-close');
        assert.equal(c.statusCode, 500);
        assert.equal(c.body.toString(), 'all of this');
        assert.equal(connections(), 1, 'one connection until the server closed it');
        // the next request goes on a new connection
        assert.equal((await send(pool, '/c/after')).statusCode, 201);
        assert.equal(connections(), 2);
        pool.close();
      },
      1,
    );
  });

  it('Connection: close, and a connection the server dropped while idle: the next request opens a new one and succeeds', async () => {
    await withRawServer(
      (r, socket) => {
        if (r.head.includes('/close')) return 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
        if (r.head.includes('/then-drop')) setTimeout(() => socket.destroy(), 10);
        return created;
      },
      async (port, _seen, connections) => {
        const pool = new Http1Pool(() => net.connect({ host: '127.0.0.1', port }), 4);
        assert.equal((await send(pool, '/c/close')).statusCode, 201);
        assert.equal((await send(pool, '/c/x')).statusCode, 201);
        assert.equal(connections(), 2);
        assert.equal((await send(pool, '/c/then-drop')).statusCode, 201);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal((await send(pool, '/c/y')).statusCode, 201);
        assert.equal(connections(), 3);
        pool.close();
      },
    );
  });

  it('a connection cut before the answer, a malformed answer and a refused connection reject the request; the pool goes on', async () => {
    await withRawServer(
      (r, socket) => {
        if (r.head.includes('/cut')) {
          socket.write('HTTP/1.1 201 Cre');
          setTimeout(() => socket.destroy(), 5);
          return undefined;
        }
        if (r.head.includes('/garbage')) return 'SMTP ready\r\n\r\n';
        if (r.head.includes('/short')) {
          socket.end('HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc');
          return undefined;
        }
        return created;
      },
      async (port) => {
        const pool = new Http1Pool(() => net.connect({ host: '127.0.0.1', port }), 2);
        await assert.rejects(send(pool, '/c/cut'), (e: NodeJS.ErrnoException) => /ECONNRESET|EPIPE/.test(`${e.code}`) || /hang up/.test(e.message));
        await assert.rejects(send(pool, '/c/garbage'), /malformed answer/);
        await assert.rejects(send(pool, '/c/short'), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
        assert.equal((await send(pool, '/c/fine')).statusCode, 201);
        pool.close();
        await assert.rejects(send(pool, '/c/closed'), /closed/);
      },
    );
    const free = net.createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    const pool = new Http1Pool(() => net.connect({ host: '127.0.0.1', port }), 2);
    await assert.rejects(send(pool, '/c/nobody'), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    pool.close();
  });

  it('cancel stops a request in flight (its connection closed) and one still queued; the others complete', async () => {
    await withRawServer(
      (r) => (r.head.includes('/stall') ? undefined : created),
      async (port, seen) => {
        const pool = new Http1Pool(() => net.connect({ host: '127.0.0.1', port }), 1);
        const results: Array<Error | number> = [];
        const record = (e: Error | undefined, r?: Http1Response) => results.push(e ?? r!.statusCode);
        const stalled = pool.request('PUT /c/stall HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', Buffer.alloc(0), record);
        const queued = pool.request('PUT /c/queued HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', Buffer.alloc(0), record);
        const later = send(pool, '/c/later');
        while (seen.length < 1) await new Promise((r) => setTimeout(r, 5));
        queued.cancel(new Error('stop queued'));
        stalled.cancel(new Error('stop stalled'));
        assert.equal((await later).statusCode, 201);
        assert.deepEqual(results.map((x) => (x instanceof Error ? x.message : x)), ['stop queued', 'stop stalled']);
        assert.deepEqual(seen.map((s) => s.head.split(' ')[1]), ['/c/stall', '/c/later'], 'the queued request was never sent');
        assert.equal(stalled.done && queued.done, true);
        pool.close();
      },
    );
  });
});
