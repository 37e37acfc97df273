/**
 * The connections every request to one Azure endpoint goes through, the lean Put Blob and the
 * SDK's alike: a keep-alive agent, straight to the service or through a forward proxy.
 *
 * Proxies follow the rules @azure/core-rest-pipeline applies to HTTPS_PROXY, ALL_PROXY, HTTP_PROXY
 * and NO_PROXY (the first of the three that is set serves every request; NO_PROXY lists host names,
 * a leading dot for a domain and its subdomains), plus `*` in NO_PROXY for every host. The library
 * reads no environment variable: the CLI passes them in (src/cli/environment.ts). An https
 * endpoint is reached through a CONNECT tunnel, a plain http one (Azurite) by asking the proxy for
 * the absolute URL, as the SDK's proxy agents do. Credentials in the proxy URL become a
 * Proxy-Authorization header.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { ClfsError } from '../errors/index.js';

/** The proxy environment as given (values of HTTPS_PROXY, ALL_PROXY, HTTP_PROXY, NO_PROXY). */
export interface ProxyEnvironment {
  httpsProxy?: string;
  allProxy?: string;
  httpProxy?: string;
  noProxy?: string;
}

export interface ProxySettings {
  /** http://[user:password@]host:port */
  url: string;
  /** hosts reached directly: `name`, `.domain` (the domain and its subdomains), or `*` */
  noProxy?: readonly string[];
}

/** The proxy settings an environment asks for, or undefined for none; a bad URL is a usage error. */
export function proxySettingsOf(env: ProxyEnvironment): ProxySettings | undefined {
  const pick = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.trim());
  const raw = pick(env.httpsProxy) ?? pick(env.allProxy) ?? pick(env.httpProxy);
  if (raw === undefined) return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new ClfsError('E_USAGE', `proxy URL ${redactProxyUrl(raw)} (HTTPS_PROXY/HTTP_PROXY) is not a URL: give http://HOST:PORT or http://USER:PASSWORD@HOST:PORT`, { subject: 'HTTPS_PROXY' });
  }
  if (parsed.protocol !== 'http:') {
    throw new ClfsError('E_USAGE', `proxy URL ${redactProxyUrl(raw)} (HTTPS_PROXY/HTTP_PROXY) must start with http:// (the connection to the proxy itself is plain; the tunnel through it is TLS)`, { subject: 'HTTPS_PROXY' });
  }
  const noProxy = (env.noProxy ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  return { url: parsed.href, noProxy };
}

/** A proxy URL for messages: its password replaced. */
export function redactProxyUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^/@]*@/i, '$1REDACTED@');
}

/** Whether `hostname` bypasses the proxy, by the SDK's NO_PROXY rules (plus `*`). */
export function bypassesProxy(hostname: string, noProxy: readonly string[] = []): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return noProxy.some((pattern) => {
    if (pattern === '*') return true;
    const p = pattern.replace(/^\[|\]$/g, '');
    if (p.startsWith('.')) return host.endsWith(p) || host === p.slice(1);
    return host === p;
  });
}

export interface EndpointConnectionOptions {
  /** sockets per agent */
  maxSockets: number;
  proxy?: ProxySettings;
  /** extra certificate authorities to trust for an https endpoint (PEM), besides the system's */
  ca?: string | Buffer;
}

/** How requests to one endpoint travel: the agent, and for a plain-http proxy, where to send them. */
export interface EndpointConnection {
  readonly secure: boolean;
  readonly agent: http.Agent;
  /** set when requests go to a forward proxy with the absolute URL as path (http endpoint through a proxy) */
  readonly forward?: { host: string; port: number; authorization?: string };
  /** the proxy in use, if any (for the SDK's own proxy options when `forward` is set) */
  readonly proxy?: URL;
  /**
   * A new socket straight to the endpoint (TLS for https, with the same trusted authorities as the
   * agent), for the lean put's own keep-alive pool (http1-pool.ts); absent through a proxy
   */
  readonly connect?: () => Duplex;
  close(): void;
}

function proxyAuthorization(proxy: URL): string | undefined {
  if (proxy.username === '' && proxy.password === '') return undefined;
  return `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
}

/**
 * An https agent whose connections are CONNECT tunnels through a proxy: Node's agent asks for a
 * socket with createConnection's callback form, so pooling and keep-alive stay the agent's own.
 */
class TunnelAgent extends https.Agent {
  readonly #proxy: URL;
  readonly #authorization: string | undefined;

  constructor(proxy: URL, options: https.AgentOptions) {
    super(options);
    this.#proxy = proxy;
    this.#authorization = proxyAuthorization(proxy);
  }

  override createConnection(requestOptions: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | undefined {
    const options = requestOptions as tls.ConnectionOptions & { host?: string; port?: number };
    const target = `${options.host ?? 'localhost'}:${options.port ?? 443}`;
    const headers: http.OutgoingHttpHeaders = { host: target };
    if (this.#authorization !== undefined) headers['proxy-authorization'] = this.#authorization;
    const connect = http.request({ host: this.#proxy.hostname.replace(/^\[|\]$/g, ''), port: Number(this.#proxy.port || 80), method: 'CONNECT', path: target, headers, agent: false });
    let done = false;
    const finish = (err: Error | null, socket?: Duplex) => {
      if (done) return;
      done = true;
      callback?.(err, socket as Duplex);
    };
    connect.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        const hint = res.statusCode === 407 ? ': give the proxy user and password in the proxy URL (http://USER:PASSWORD@HOST:PORT)' : '';
        finish(Object.assign(new Error(`proxy ${redactProxyUrl(this.#proxy.href)} refused the tunnel to ${target} with HTTP ${res.statusCode}${hint}`), { code: 'EPROXY', proxyStatus: res.statusCode }));
        return;
      }
      const servername = options.servername ?? (options.host !== undefined && !/^[\d.]+$|:/.test(options.host) ? options.host : undefined);
      finish(null, tls.connect({ ...options, socket, ...(servername === undefined ? {} : { servername }) }));
    });
    connect.once('error', (e) => finish(e));
    connect.end();
    return undefined;
  }
}

/** The connection for an endpoint URL, honouring the proxy settings. */
export function endpointConnection(endpoint: string, options: EndpointConnectionOptions): EndpointConnection {
  const url = new URL(endpoint);
  const secure = url.protocol === 'https:';
  const base = { keepAlive: true, maxSockets: options.maxSockets };
  const proxy = options.proxy !== undefined && !bypassesProxy(url.hostname, options.proxy.noProxy) ? new URL(options.proxy.url) : undefined;
  if (proxy === undefined) {
    const ca = options.ca === undefined ? undefined : withSystemCas(options.ca);
    const agent = secure ? new https.Agent({ ...base, ...(ca === undefined ? {} : { ca }) }) : new http.Agent(base);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || (secure ? 443 : 80));
    // SNI takes a host name, never an address
    const servername = net.isIP(host) === 0 ? host : undefined;
    // the last TLS session is offered to the next connection: a resumed handshake costs less CPU
    let session: Buffer | undefined;
    const connect = secure
      ? () => {
          const socket = tls.connect({ host, port, ...(servername === undefined ? {} : { servername }), ...(ca === undefined ? {} : { ca }), ...(session === undefined ? {} : { session }), ALPNProtocols: ['http/1.1'] });
          socket.on('session', (s: Buffer) => (session = s));
          return socket;
        }
      : () => net.connect({ host, port });
    return { secure, agent, connect, close: () => agent.destroy() };
  }
  if (secure) {
    const agent = new TunnelAgent(proxy, { ...base, ...(options.ca === undefined ? {} : { ca: withSystemCas(options.ca) }) });
    return { secure, agent, proxy, close: () => agent.destroy() };
  }
  const agent = new http.Agent(base);
  const authorization = proxyAuthorization(proxy);
  return {
    secure,
    agent,
    proxy,
    forward: { host: proxy.hostname.replace(/^\[|\]$/g, ''), port: Number(proxy.port || 80), ...(authorization === undefined ? {} : { authorization }) },
    close: () => agent.destroy(),
  };
}

/** `ca` replaces Node's trusted roots; a private CA is meant as well as them, not instead. */
function withSystemCas(ca: string | Buffer): Array<string | Buffer> {
  return [...tls.rootCertificates, ca];
}
