/**
 * An HTTP proxy in front of Azurite that misbehaves on demand, to prove the Azure target and the
 * retry wrapper survive a real service's bad days: 503 ServerBusy with Retry-After, connections
 * dropped mid-request, slow answers, 500s. Faults are chosen per request by a seeded PRNG
 * (`fraction`) or by count (`nth`), and the mode can be switched while tests run.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mulberry32 } from '../../src/targets/fault-target.js';

/** `hang`: the request is read and never answered (the connection stays open until close()) */
export type FaultMode = 'pass' | 'busy' | 'drop' | 'delay' | 'error500' | 'hang' | 'mixed';

export interface FaultSettings {
  mode: FaultMode;
  /** fraction of requests that get the fault, 0..1 */
  fraction?: number;
  /** or: every nth request gets the fault, counted from setFaults: the 1st, the (1+n)th, ... */
  nth?: number;
  /** for 'delay' (and 'mixed'); default 200 */
  delayMs?: number;
  /** Retry-After for 'busy'; default 1 */
  retryAfterSeconds?: number;
  /** default 1 */
  seed?: number;
}

export interface FaultProxy {
  /** the Azurite account endpoint through the proxy: http://127.0.0.1:PORT/devstoreaccount1 */
  readonly endpoint: string;
  readonly port: number;
  /** requests seen and faults injected, by kind */
  /** `requestsAtFirst403`: how many requests had arrived when the upstream first answered 403 (since setFaults) */
  readonly stats: { requests: number; requestsAtFirst403?: number; faults: Record<Exclude<FaultMode, 'pass' | 'mixed'>, number> };
  setFaults(settings: FaultSettings): void;
  /** rewrite an Azurite URL (same path and query) to go through the proxy */
  via(url: string): string;
  close(): Promise<void>;
}

/** upstream: the Azurite endpoint, e.g. http://127.0.0.1:10000/devstoreaccount1 */
export async function startFaultProxy(upstream: string, initial: FaultSettings = { mode: 'pass' }): Promise<FaultProxy> {
  const target = new URL(upstream);
  let settings = initial;
  let random = mulberry32(initial.seed ?? 1);
  // requests since the settings were made: `nth` must not depend on how many came before
  let sinceSet = 0;
  const stats: FaultProxy['stats'] = { requests: 0, faults: { busy: 0, drop: 0, delay: 0, error500: 0, hang: 0 } };

  const pick = (): Exclude<FaultMode, 'mixed'> => {
    stats.requests += 1;
    sinceSet += 1;
    const draw = random();
    const kindDraw = random();
    if (settings.mode === 'pass') return 'pass';
    const hit =
      settings.nth !== undefined ? (sinceSet - 1) % settings.nth === 0 : draw < (settings.fraction ?? 1);
    if (!hit) return 'pass';
    if (settings.mode !== 'mixed') return settings.mode;
    return (['busy', 'drop', 'delay', 'error500'] as const)[Math.floor(kindDraw * 4)]!;
  };

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const upstreamRequest = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (upstreamResponse) => {
        if (upstreamResponse.statusCode === 403) stats.requestsAtFirst403 ??= stats.requests;
        res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(res);
      },
    );
    upstreamRequest.on('error', () => res.destroy());
    req.pipe(upstreamRequest);
  };

  const fail = (res: ServerResponse, status: number, code: string, message: string, extra: Record<string, string> = {}): void => {
    const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
    res.writeHead(status, {
      'content-type': 'application/xml',
      'x-ms-error-code': code,
      'content-length': Buffer.byteLength(body),
      ...extra,
    });
    res.end(body);
  };

  const hung = new Set<import('node:net').Socket>();
  const server: Server = createServer((req, res) => {
    const fault = pick();
    if (fault !== 'pass') stats.faults[fault] += 1;
    switch (fault) {
      case 'pass':
        forward(req, res);
        return;
      case 'delay':
        setTimeout(() => forward(req, res), settings.delayMs ?? 200);
        return;
      case 'drop':
        // read part of the body, then cut the connection: the client sees a reset or hang-up
        req.once('data', () => req.socket.destroy());
        req.once('end', () => req.socket.destroy());
        req.resume();
        return;
      case 'busy':
        // drain the body first, so the client reads the 503 instead of a broken pipe
        req.resume();
        req.once('end', () =>
          fail(res, 503, 'ServerBusy', 'The server is busy.', { 'retry-after': String(settings.retryAfterSeconds ?? 1) }),
        );
        return;
      case 'error500':
        req.resume();
        req.once('end', () => fail(res, 500, 'InternalError', 'The server encountered an internal error.'));
        return;
      case 'hang':
        req.resume();
        hung.add(req.socket);
        return;
    }
  });
  // Keep-alive sockets would hold close() open.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}${target.pathname.replace(/\/+$/, '')}`;

  return {
    endpoint,
    port,
    stats,
    setFaults(next) {
      settings = next;
      random = mulberry32(next.seed ?? 1);
      sinceSet = 0;
      stats.requestsAtFirst403 = undefined;
    },
    via(url) {
      const parsed = new URL(url);
      parsed.host = `127.0.0.1:${port}`;
      return parsed.href;
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
