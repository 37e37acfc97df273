/**
 * A forward proxy as an HTTP_PROXY/HTTPS_PROXY points at: CONNECT tunnels (how https requests go
 * through a proxy) and absolute-URL requests (plain http). It counts what it carried, can demand
 * credentials (407 without the right Proxy-Authorization), maps host names to other addresses (so a
 * name that does not resolve can be reached only through it), and can flip one byte of a request
 * body after the client computed its MD5 (plain http only: a tunnel is opaque).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

export interface ForwardProxyOptions {
  /** require these credentials */
  auth?: { user: string; password: string };
  /** CONNECT to these host names is refused with 403 (a proxy's policy) */
  denyTunnelsTo?: readonly string[];
  /** host name -> "HOST:PORT" to connect to instead (CONNECT and forwarded requests) */
  hosts?: Record<string, string>;
  /**
   * whether to flip the first byte of a PUT body, asked with the PUT's 1-based number and the
   * body's first chunk; default never
   */
  tamper?: (putNumber: number, firstChunk: Buffer) => boolean;
}

export interface ForwardProxyStats {
  /** CONNECT tunnels opened */
  tunnels: number;
  /** bytes the clients sent into tunnels */
  tunnelBytesUp: number;
  /** absolute-URL requests forwarded */
  forwarded: number;
  /** PUTs among the forwarded */
  puts: number;
  tampered: number;
  /** requests or tunnels refused for missing or wrong credentials */
  refused: number;
  /** the Proxy-Authorization values seen (to prove they arrived) */
  authorizations: Set<string>;
  /** the User-Agent values of forwarded requests */
  userAgents: Set<string>;
}

export interface ForwardProxy {
  readonly url: string;
  readonly port: number;
  readonly stats: ForwardProxyStats;
  /** url with credentials in it, when the proxy requires them */
  urlWithAuth(user: string, password: string): string;
  close(): Promise<void>;
}

export async function startForwardProxy(options: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const stats: ForwardProxyStats = { tunnels: 0, tunnelBytesUp: 0, forwarded: 0, puts: 0, tampered: 0, refused: 0, authorizations: new Set(), userAgents: new Set() };
  const expected = options.auth === undefined ? undefined : `Basic ${Buffer.from(`${options.auth.user}:${options.auth.password}`).toString('base64')}`;
  const allowed = (req: IncomingMessage): boolean => {
    const given = req.headers['proxy-authorization'];
    if (given !== undefined) stats.authorizations.add(given);
    if (expected === undefined || given === expected) return true;
    stats.refused += 1;
    return false;
  };
  const mapped = (host: string, port: number): { host: string; port: number } => {
    const to = options.hosts?.[host];
    if (to === undefined) return { host, port };
    const at = to.lastIndexOf(':');
    return { host: to.slice(0, at), port: Number(to.slice(at + 1)) };
  };
  const sockets = new Set<Socket>();

  const server: Server = createServer((req, res) => {
    if (!allowed(req)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"', 'content-length': 0 }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400, { 'content-length': 0 }).end();
      return;
    }
    stats.forwarded += 1;
    if (req.headers['user-agent'] !== undefined) stats.userAgents.add(req.headers['user-agent']);
    const putNumber = req.method === 'PUT' ? ++stats.puts : 0;
    const to = mapped(target.hostname, Number(target.port || 80));
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = httpRequest({ host: to.host, port: to.port, method: req.method, path: `${target.pathname}${target.search}`, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    if (putNumber === 0 || options.tamper === undefined) {
      req.pipe(upstream);
      return;
    }
    let first = true;
    req.on('data', (chunk: Buffer) => {
      if (first && chunk.length > 0) {
        first = false;
        if (options.tamper!(putNumber, chunk)) {
          const copy = Buffer.from(chunk);
          copy[0] = copy[0]! ^ 0x01;
          stats.tampered += 1;
          upstream.write(copy);
          return;
        }
      }
      upstream.write(chunk);
    });
    req.on('end', () => upstream.end());
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (!allowed(req)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [host = '', port = '443'] = (req.url ?? '').split(/:(?=\d+$)/);
    if (options.denyTunnelsTo?.includes(host)) {
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const to = mapped(host.replace(/^\[|\]$/g, ''), Number(port));
    const upstream = connect(to.port, to.host, () => {
      stats.tunnels += 1;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      client.on('data', (c: Buffer) => (stats.tunnelBytesUp += c.length));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    urlWithAuth: (user, password) => `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    async close() {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
