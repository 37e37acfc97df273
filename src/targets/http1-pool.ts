/**
 * HTTP/1.1 requests on a pool of keep-alive sockets, for the lean Put Blob (lean-put.ts): one
 * request per socket at a time (no pipelining), the head and a small body in one write, the
 * answer parsed from the socket's bytes. `node:http`'s client costs about 50 µs of CPU per request
 * here (ClientRequest and IncomingMessage objects, header validation, events, listeners) and its
 * short-lived objects outlive young-generation collections while the request is in flight; the
 * loader sends one request per small file, so that cost was most of its CPU per request
 * (docs/benchmarks.md, issue 17).
 *
 * What it does not do, on purpose: proxies (lean-put.ts keeps `node:http` for those), `Expect`,
 * upgrades, pipelining. It reads Content-Length and chunked bodies and bodies that end with the
 * connection, `Connection: close`, and skips 1xx answers. A socket idle longer than
 * IDLE_REUSE_MS is closed rather than reused (the service may close it at the same moment).
 */
import type { Duplex } from 'node:stream';

/** What a request rejects with on a lost connection, as `node:http` says it. */
function hangUp(cause?: Error): Error {
  if (cause !== undefined) return cause;
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

export interface Http1Response {
  statusCode: number;
  /** a header's value by name (any case); a repeated header gives its first value */
  header(name: string): string | undefined;
  body: Buffer;
}

const CONTENT_LENGTH = '\r\ncontent-length:';
const TRANSFER_ENCODING = '\r\ntransfer-encoding:';
const CONNECTION = '\r\nconnection:';

/**
 * The value of the header `needle` names ('\r\nNAME:', lower case) in an answer's head `text`
 * (`lower`: the same, lower-cased): found by search, since a Put Blob answer needs three of its headers.
 */
function headerIn(text: string, lower: string, needle: string): string | undefined {
  const at = lower.indexOf(needle);
  if (at < 0) return undefined;
  const eol = lower.indexOf('\r\n', at + needle.length);
  return text.slice(at + needle.length, eol < 0 ? text.length : eol).trim();
}

/** A socket idle longer than this is closed, not reused: services drop idle connections after about a minute or more. */
const IDLE_REUSE_MS = 20_000;
/** Bodies up to this size are copied behind the head into one write; larger ones are written after it. */
const COPY_BODY_MAX = 64 * 1024;

const CRLF2 = Buffer.from('\r\n\r\n');

/** Called once per request: the answer, or why there is none. */
export type Http1Callback = (error: Error | undefined, response?: Http1Response) => void;

/** A request given to the pool; cancel() ends it now with `error` (its connection is closed). */
export interface Http1Request {
  readonly done: boolean;
  cancel(error: Error): void;
}

class Pending implements Http1Request {
  conn: Connection | undefined;
  done = false;
  constructor(
    readonly pool: Http1Pool,
    readonly head: string,
    readonly body: Uint8Array,
    readonly callback: Http1Callback,
  ) {}

  resolve(r: Http1Response): void {
    this.callback(undefined, r);
  }

  reject(e: Error): void {
    this.callback(e);
  }

  cancel(error: Error): void {
    this.pool.cancel(this, error);
  }
}

class Connection {
  readonly socket: Duplex & { ref?(): unknown; unref?(): unknown; setNoDelay?(on: boolean): unknown; setKeepAlive?(on: boolean, ms: number): unknown };
  current: Pending | undefined;
  idleSince = 0;
  dead = false;
  #chunks: Buffer[] = [];
  #bytes = 0;
  /** bytes the answer in progress needs before it can be complete (its head and Content-Length read) */
  #need = 0;
  readonly #pool: Http1Pool;

  constructor(pool: Http1Pool, socket: Duplex) {
    this.#pool = pool;
    this.socket = socket as Connection['socket'];
    this.socket.setNoDelay?.(true);
    this.socket.setKeepAlive?.(true, 30_000);
    socket.on('data', (chunk: Buffer) => this.#guard(() => this.#onData(chunk)));
    socket.on('error', (e: Error) => this.#lost(e));
    socket.on('close', () => this.#lost(undefined));
    socket.on('end', () => this.#guard(() => this.#onEnd()));
  }

  send(p: Pending): void {
    this.current = p;
    p.conn = this;
    this.socket.ref?.();
    const { head, body } = p;
    if (body.byteLength <= COPY_BODY_MAX) {
      const headBytes = head.length; // latin1: one byte per character
      const out = Buffer.allocUnsafe(headBytes + body.byteLength);
      out.write(head, 0, 'latin1');
      out.set(body, headBytes);
      this.socket.write(out);
    } else {
      this.socket.write(Buffer.from(head, 'latin1'));
      this.socket.write(body);
    }
  }

  /** A malformed answer fails the request in flight, never the process. */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      const p = this.current;
      if (p !== undefined) this.#fail(p, error as Error);
      else this.destroy();
    }
  }

  #onData(chunk: Buffer): void {
    if (this.current === undefined) {
      // bytes nobody asked for: the connection is out of step
      this.destroy();
      return;
    }
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    // a long body (a Get Blob of a segment) is joined once it is all here, not at every chunk
    if (this.#bytes < this.#need) return;
    this.#parse(false);
  }

  #onEnd(): void {
    if (this.current !== undefined) this.#parse(true);
    this.destroy();
  }

  /** Try to complete the current answer from the bytes so far; `ended`: the server closed its side. */
  #parse(ended: boolean): void {
    for (;;) {
      const p = this.current;
      if (p === undefined) return;
      const data = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytes);
      this.#chunks = [data];
      const end = data.indexOf(CRLF2);
      if (end < 0) {
        if (ended) this.#fail(p, hangUp());
        return;
      }
      const text = data.toString('latin1', 0, end);
      const statusCode = /^HTTP\/1\.[01] \d{3}/.test(text) ? Number(text.slice(9, 12)) : NaN;
      if (Number.isNaN(statusCode)) {
        this.#fail(p, Object.assign(new Error(`malformed answer from the service: ${JSON.stringify(text.split('\r\n')[0]!.slice(0, 80))}`), { code: 'HPE_INVALID_CONSTANT' }));
        return;
      }
      const lower = text.toLowerCase();
      const bodyStart = end + 4;
      if (statusCode >= 100 && statusCode < 200) {
        // an interim answer (100 Continue): the real one follows
        this.#keep(data.subarray(bodyStart));
        continue;
      }
      let body: Buffer;
      let rest: Buffer;
      const length = headerIn(text, lower, CONTENT_LENGTH);
      // the answer to a HEAD has the headers of a GET and no body
      if (statusCode === 204 || statusCode === 304 || p.head.startsWith('HEAD ')) {
        body = Buffer.alloc(0);
        rest = data.subarray(bodyStart);
      } else if (/\bchunked\b/.test(headerIn(text, lower, TRANSFER_ENCODING) ?? '')) {
        const decoded = decodeChunked(data, bodyStart);
        if (decoded === undefined) {
          if (ended) this.#fail(p, hangUp());
          return;
        }
        body = decoded.body;
        rest = data.subarray(decoded.end);
      } else if (length !== undefined) {
        const n = Number(length);
        if (!Number.isSafeInteger(n) || n < 0) {
          this.#fail(p, Object.assign(new Error(`bad Content-Length ${JSON.stringify(length)} from the service`), { code: 'HPE_INVALID_CONTENT_LENGTH' }));
          return;
        }
        if (data.length - bodyStart < n) {
          if (ended) this.#fail(p, hangUp());
          else this.#need = bodyStart + n;
          return;
        }
        body = data.subarray(bodyStart, bodyStart + n);
        rest = data.subarray(bodyStart + n);
      } else {
        // the body runs to the end of the connection
        if (!ended) return;
        body = data.subarray(bodyStart);
        rest = Buffer.alloc(0);
      }
      const reuse = rest.length === 0 && !ended && !/\bclose\b/i.test(headerIn(text, lower, CONNECTION) ?? '');
      this.#chunks = [];
      this.#bytes = 0;
      this.#need = 0;
      this.current = undefined;
      p.done = true;
      if (reuse) this.#pool.release(this);
      else this.destroy();
      p.resolve({ statusCode, header: (name) => headerIn(text, lower, `\r\n${name.toLowerCase()}:`), body });
      return;
    }
  }

  #keep(rest: Buffer): void {
    this.#chunks = rest.length === 0 ? [] : [rest];
    this.#bytes = rest.length;
    this.#need = 0;
  }

  #fail(p: Pending, error: Error): void {
    this.current = undefined;
    if (!p.done) {
      p.done = true;
      p.reject(error);
    }
    this.destroy();
  }

  #lost(error: Error | undefined): void {
    const p = this.current;
    if (p !== undefined) this.#fail(p, hangUp(error));
    else this.destroy();
  }

  destroy(error?: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy(error);
    this.#pool.forget(this);
  }
}

/** A chunked body from `start`, or undefined while incomplete. */
function decodeChunked(data: Buffer, start: number): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const eol = data.indexOf('\r\n', at, 'latin1');
    if (eol < 0) return undefined;
    const size = parseInt(data.toString('latin1', at, eol).split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size < 0) throw Object.assign(new Error('bad chunk size from the service'), { code: 'HPE_INVALID_CHUNK_SIZE' });
    at = eol + 2;
    if (size === 0) {
      // trailers, then an empty line
      for (;;) {
        const e = data.indexOf('\r\n', at, 'latin1');
        if (e < 0) return undefined;
        if (e === at) return { body: Buffer.concat(parts), end: e + 2 };
        at = e + 2;
      }
    }
    if (data.length < at + size + 2) return undefined;
    parts.push(data.subarray(at, at + size));
    at += size + 2;
  }
}

export class Http1Pool {
  readonly #connect: () => Duplex;
  readonly #maxSockets: number;
  readonly #idle: Connection[] = [];
  readonly #queue: Pending[] = [];
  #open = 0;
  #closed = false;

  /** `connect`: a new connected (or connecting) socket to the endpoint: net or tls */
  constructor(connect: () => Duplex, maxSockets: number) {
    this.#connect = connect;
    this.#maxSockets = Math.max(1, maxSockets);
  }

  /**
   * One request: `head` is the request line and the headers (latin1, ending with the empty line),
   * `body` exactly Content-Length bytes. The callback may run before this returns (a closed pool).
   */
  request(head: string, body: Uint8Array, callback: Http1Callback): Http1Request {
    const p = new Pending(this, head, body, callback);
    this.#dispatch(p);
    return p;
  }

  #dispatch(p: Pending): void {
    if (this.#closed) {
      p.done = true;
      p.reject(Object.assign(new Error('the connection pool is closed'), { code: 'ERR_POOL_CLOSED' }));
      return;
    }
    const now = Date.now();
    for (let c = this.#idle.pop(); c !== undefined; c = this.#idle.pop()) {
      if (c.dead) continue;
      if (now - c.idleSince > IDLE_REUSE_MS) {
        c.destroy();
        continue;
      }
      c.send(p);
      return;
    }
    if (this.#open < this.#maxSockets) {
      this.#open += 1;
      let socket: Duplex;
      try {
        socket = this.#connect();
      } catch (error) {
        this.#open -= 1;
        p.done = true;
        p.reject(error as Error);
        return;
      }
      new Connection(this, socket).send(p);
      return;
    }
    this.#queue.push(p);
  }

  cancel(p: Pending, error: Error): void {
    if (p.done) return;
    p.done = true;
    if (p.conn !== undefined) {
      p.conn.current = undefined;
      p.conn.destroy(error);
    } else {
      const i = this.#queue.indexOf(p);
      if (i >= 0) this.#queue.splice(i, 1);
    }
    p.reject(error);
  }

  /** The connection answered and may carry the next request. */
  release(c: Connection): void {
    const next = this.#queue.shift();
    if (next !== undefined) {
      c.send(next);
      return;
    }
    c.idleSince = Date.now();
    c.socket.unref?.(); // an idle connection must not keep the process alive
    this.#idle.push(c);
  }

  /** The connection is gone: its slot is free for a queued request. */
  forget(c: Connection): void {
    this.#open -= 1;
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
    const next = this.#queue.shift();
    if (next !== undefined) this.#dispatch(next);
  }

  close(): void {
    this.#closed = true;
    for (const c of [...this.#idle]) c.destroy();
    for (const p of this.#queue.splice(0)) {
      p.done = true;
      p.reject(Object.assign(new Error('the connection pool is closed'), { code: 'ERR_POOL_CLOSED' }));
    }
  }
}
