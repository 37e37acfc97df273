/**
 * Put Blob over a keep-alive `node:http(s)` agent, without the SDK's pipeline. Measured here
 * (issue 7, docs/dependencies.md): @azure/storage-blob spends about 400-600 µs of client CPU per
 * 4 KiB Put Blob, a bare keep-alive request 120-150 µs; with one blob per small file that is the
 * loader's speed limit against a real account. Same SAS, same error mapping (the caller turns the
 * failure into a ClfsError); the SDK is kept for everything else.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { EndpointConnection } from './azure-http.js';

/** A service version every Azure region and Azurite (with --skipApiVersionCheck) accept. */
export const LEAN_PUT_API_VERSION = '2023-11-03';

/** What the SDK's RestError exposes and the target's error mapping reads. */
export interface LeanPutError extends Error {
  statusCode?: number;
  code?: string;
  response?: { headers: { get(name: string): string | undefined } };
}

/** What Node's own requests reject with on abort (AzureTarget maps the name to E_ABORTED). */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason as unknown }), { name: 'AbortError', code: 'ABORT_ERR' });
}

/**
 * Signs one request: the Authorization header value (a bearer token or Shared Key), or undefined
 * for none (a SAS in the query). A string when it is at hand, so the common case stays synchronous.
 */
export type LeanPutSigner = (path: string, headers: Record<string, string | number>) => string | undefined | Promise<string | undefined>;

export interface LeanPutOptions {
  /** the agent (and forward proxy) to use; default a direct keep-alive agent of maxSockets */
  connection?: EndpointConnection;
  sign?: LeanPutSigner;
  /** default 'clfsload' */
  userAgent?: string;
}

/** The body's MD5 for Content-MD5: the service recomputes it and refuses a body damaged on the way. */
export function contentMd5(body: Uint8Array): string {
  return createHash('md5').update(body).digest('base64');
}

export class LeanPut {
  readonly #agent: http.Agent;
  readonly #ownAgent: boolean;
  readonly #request: typeof http.request;
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  readonly #pathBase: string;
  readonly #sas: string;
  readonly #forward: EndpointConnection['forward'];
  readonly #origin: string;
  readonly #sign: LeanPutSigner | undefined;
  readonly #userAgent: string;

  constructor(containerUrl: string, sasToken: string, maxSockets: number, options: LeanPutOptions = {}) {
    const secure = containerUrl.startsWith('https:');
    this.#ownAgent = options.connection === undefined;
    this.#agent = options.connection?.agent ?? (secure ? new https.Agent({ keepAlive: true, maxSockets }) : new http.Agent({ keepAlive: true, maxSockets }));
    this.#request = secure ? https.request : http.request;
    // parsed once: a URL string per request cost more than the request's own header writing
    const url = new URL(containerUrl.replace(/\/+$/, ''));
    this.#forward = options.connection?.forward;
    this.#origin = url.origin;
    this.#hostHeader = url.host;
    this.#host = this.#forward?.host ?? url.hostname.replace(/^\[|\]$/g, '');
    this.#port = this.#forward?.port ?? Number(url.port || (secure ? 443 : 80));
    this.#pathBase = url.pathname;
    this.#sas = sasToken.replace(/^\?+/, '');
    this.#sign = options.sign;
    this.#userAgent = options.userAgent ?? 'clfsload';
  }

  /**
   * Requests in flight per abort signal, with one listener per signal. Handing the signal to each
   * request added and removed a listener per request on a signal shared by hundreds of them
   * (RetryTarget's per-second deadline), which showed in the loader's CPU per request.
   */
  readonly #bySignal = new WeakMap<AbortSignal, Set<http.ClientRequest>>();

  #watch(signal: AbortSignal, req: http.ClientRequest): () => void {
    const requests = this.#bySignal.get(signal) ?? this.#track(signal);
    requests.add(req);
    return () => requests.delete(req);
  }

  #track(signal: AbortSignal): Set<http.ClientRequest> {
    const requests = new Set<http.ClientRequest>();
    this.#bySignal.set(signal, requests);
    signal.addEventListener('abort', () => {
      const error = abortError(signal);
      for (const r of requests) r.destroy(error);
      requests.clear();
    }, { once: true });
    return requests;
  }

  /**
   * One Put Blob with the body's Content-MD5. `md5` when the caller has it already (a retry of the
   * same bytes); a body changed after the MD5 was taken is refused by the service, never stored.
   */
  put(name: string, body: Uint8Array, signal?: AbortSignal, md5: string = contentMd5(body)): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const path = `${this.#pathBase}/${encodeURIComponent(name)}`;
    const headers: Record<string, string | number> = {
      'x-ms-blob-type': 'BlockBlob',
      'x-ms-version': LEAN_PUT_API_VERSION,
      'content-type': 'application/octet-stream',
      'content-length': body.byteLength,
      'content-md5': md5,
      'user-agent': this.#userAgent,
    };
    if (this.#sign === undefined) return this.#send(path, headers, body, signal);
    headers['x-ms-date'] = new Date().toUTCString();
    const authorization = this.#sign(path, headers);
    if (typeof authorization === 'string' || authorization === undefined) return this.#send(path, headers, body, signal, authorization);
    return authorization.then((a) => this.#send(path, headers, body, signal, a));
  }

  #send(path: string, headers: Record<string, string | number>, body: Uint8Array, signal: AbortSignal | undefined, authorization?: string): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const sent: http.OutgoingHttpHeaders = { ...headers, host: this.#hostHeader };
    if (authorization !== undefined) sent.authorization = authorization;
    if (this.#forward?.authorization !== undefined) sent['proxy-authorization'] = this.#forward.authorization;
    const query = this.#sas === '' ? '' : `?${this.#sas}`;
    return new Promise((resolve, reject) => {
      const req = this.#request(
        {
          host: this.#host,
          port: this.#port,
          // through a plain-http forward proxy the request line carries the absolute URL
          path: this.#forward === undefined ? `${path}${query}` : `${this.#origin}${path}${query}`,
          method: 'PUT',
          agent: this.#agent,
          headers: sent,
        },
        (res) => {
          if (res.statusCode === 201) {
            res.resume();
            res.on('end', resolve);
            res.on('error', reject);
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const header = (h: string) => {
              const v = res.headers[h];
              return Array.isArray(v) ? v[0] : v;
            };
            const code = header('x-ms-error-code') ?? /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
            const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1]?.split('\n')[0] ?? `HTTP ${res.statusCode}`;
            const err: LeanPutError = Object.assign(new Error(message), { statusCode: res.statusCode, code, response: { headers: { get: header } } });
            reject(err);
          });
        },
      );
      const unwatch = signal === undefined ? undefined : this.#watch(signal, req);
      if (unwatch !== undefined) req.on('close', unwatch);
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    if (this.#ownAgent) this.#agent.destroy();
  }
}
