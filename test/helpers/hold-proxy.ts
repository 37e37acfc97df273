/**
 * An HTTP proxy in front of Azurite that holds each Put Blob for a while and counts the requests
 * in flight at once, to see how many a load really keeps open; it can stop listening (every new
 * connection refused, as from a host that went away) and listen again on the same port.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface HoldProxy {
  /** the Azurite account endpoint through the proxy: http://127.0.0.1:PORT/devstoreaccount1 */
  readonly endpoint: string;
  readonly port: number;
  /** requests in flight now, the most seen at once, and Put Blob requests seen */
  readonly stats: { inFlight: number; maxInFlight: number; puts: number };
  /** rewrite an Azurite URL (same path and query) to go through the proxy */
  via(url: string): string;
  /** stop listening and cut every open connection: new requests are refused */
  stop(): Promise<void>;
  /** listen again on the same port */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** upstream: the Azurite endpoint, e.g. http://127.0.0.1:10000/devstoreaccount1 */
export async function startHoldProxy(upstream: string, options: { holdPutMs?: number } = {}): Promise<HoldProxy> {
  const target = new URL(upstream);
  const stats = { inFlight: 0, maxInFlight: 0, puts: 0 };
  const sockets = new Set<Socket>();

  /** body: already read (a held put); otherwise streamed */
  const forward = (req: IncomingMessage, res: ServerResponse, body?: Buffer): void => {
    const upstreamRequest = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (upstreamResponse) => {
        res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(res);
      },
    );
    upstreamRequest.on('error', () => res.destroy());
    if (body === undefined) req.pipe(upstreamRequest);
    else upstreamRequest.end(body);
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    let counted = true;
    const done = (): void => {
      if (!counted) return;
      counted = false;
      stats.inFlight -= 1;
    };
    res.on('close', done);
    if (req.method === 'PUT') {
      stats.puts += 1;
      // read the body now, forward it later: the client sees a slow service, not a slow upload
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        setTimeout(() => forward(req, res, Buffer.concat(chunks)), options.holdPutMs ?? 0);
      });
      return;
    }
    forward(req, res);
  };

  let server: Server | undefined;
  let port = 0;
  const listen = async (): Promise<void> => {
    const s = createServer(handler);
    s.keepAliveTimeout = 1000;
    s.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s === undefined) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };

  await listen();
  const endpoint = `http://127.0.0.1:${port}${target.pathname.replace(/\/+$/, '')}`;
  return {
    endpoint,
    port,
    stats,
    via: (url: string) => {
      const u = new URL(url);
      return `http://127.0.0.1:${port}${u.pathname}${u.search}`;
    },
    stop,
    start: listen,
    close: stop,
  };
}
