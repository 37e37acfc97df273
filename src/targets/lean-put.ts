/**
 * Put Blob without the SDK's pipeline. Measured here (issue 7, docs/dependencies.md):
 * @azure/storage-blob spends about 400-600 µs of client CPU per 4 KiB Put Blob, a bare keep-alive
 * `node:http` request 120-150 µs in the loader; with one blob per small file that is the loader's
 * speed limit against a real account. Straight to the endpoint the request goes on the lean put's
 * own keep-alive sockets (http1-pool.ts: the head and body in one write, the answer parsed from the
 * bytes; issue 17); through a proxy on the connection's `node:http(s)` agent. Same SAS, same error
 * mapping (the caller turns the failure into a ClfsError); the SDK is kept for everything else.
 * Loadable in a worker thread: it holds nothing but its sockets.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { endpointConnection, type EndpointConnection } from './azure-http.js';
import { parseListBlobsPage, type ListBlobsPage } from './list-blobs-xml.js';
import { Http1Pool, type Http1Request, type Http1Response } from './http1-pool.js';

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
export type LeanPutSigner = (method: 'PUT' | 'GET' | 'HEAD' | 'DELETE', path: string, headers: Record<string, string | number>, query?: URLSearchParams) => string | undefined | Promise<string | undefined>;

export interface LeanPutOptions {
  /** the agent (and forward proxy) to use; default a direct connection of maxSockets */
  connection?: EndpointConnection;
  sign?: LeanPutSigner;
  /** default 'clfsload' */
  userAgent?: string;
  /**
   * 'socket' (default where the connection allows it: no proxy): the lean put's own keep-alive
   * sockets; 'http': `node:http(s)` requests on the connection's agent (always through a proxy)
   */
  transport?: 'socket' | 'http';
}

/** crypto.hash (Node 20.12+): the one-shot digest, without a Hash object per body */
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'base64') => string }).hash;

/** The body's MD5 for Content-MD5: the service recomputes it and refuses a body damaged on the way. */
export function contentMd5(body: Uint8Array): string {
  return oneShot !== undefined ? oneShot('md5', body, 'base64') : crypto.createHash('md5').update(body).digest('base64');
}

const EMPTY = new Uint8Array(0);

/** What may go into a request head as is: printable ASCII and spaces, no line breaks. */
const HEAD_SAFE = /^[\x20-\x7e]*$/;

/** The refusal the service answered, as LeanPutError: its status, code and the first line of its message. */
function refusal(statusCode: number | undefined, header: (h: string) => string | undefined, text: string): LeanPutError {
  const code = header('x-ms-error-code') ?? /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1]?.split('\n')[0] ?? `HTTP ${statusCode}`;
  return Object.assign(new Error(message), { statusCode, code, response: { headers: { get: header } } });
}

export class LeanPut {
  readonly #connection: EndpointConnection;
  readonly #ownConnection: boolean;
  readonly #agent: http.Agent;
  /** the lean put's own sockets, straight to the endpoint; undefined: node:http on the agent */
  readonly #pool: Http1Pool | undefined;
  /** `PUT ${pathBase}/` and, after the name, the query, the protocol and the fixed headers */
  readonly #headStart: string;
  readonly #headFixed: string;
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
    this.#ownConnection = options.connection === undefined;
    this.#connection = options.connection ?? endpointConnection(new URL(containerUrl).origin, { maxSockets });
    this.#agent = this.#connection.agent;
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
    const query = this.#sas === '' ? '' : `?${this.#sas}`;
    this.#headStart = `PUT ${this.#pathBase}/`;
    this.#headFixed = `${query} HTTP/1.1\r\nHost: ${this.#hostHeader}\r\nx-ms-blob-type: BlockBlob\r\nx-ms-version: ${LEAN_PUT_API_VERSION}\r\nContent-Type: application/octet-stream\r\nUser-Agent: ${this.#userAgent}\r\nConnection: keep-alive\r\n`;
    // a SAS or User-Agent that cannot go into a head as is goes through node:http, which refuses it in its own words
    const plain = HEAD_SAFE.test(this.#headStart) && HEAD_SAFE.test(query) && HEAD_SAFE.test(this.#userAgent);
    const connect = this.#connection.connect;
    this.#pool = options.transport !== 'http' && connect !== undefined && plain ? new Http1Pool(connect, maxSockets) : undefined;
  }

  /**
   * Requests in flight per abort signal, with one listener per signal. Handing the signal to each
   * request added and removed a listener per request on a signal shared by hundreds of them
   * (RetryTarget's per-second deadline), which showed in the loader's CPU per request.
   */
  readonly #bySignal = new WeakMap<AbortSignal, Set<Stoppable>>();

  #watch(signal: AbortSignal, req: Stoppable): () => void {
    const requests = this.#requestsOf(signal);
    requests.add(req);
    return () => requests.delete(req);
  }

  #requestsOf(signal: AbortSignal): Set<Stoppable> {
    let requests = this.#bySignal.get(signal);
    if (requests !== undefined) return requests;
    const all = new Set<Stoppable>();
    this.#bySignal.set(signal, all);
    signal.addEventListener('abort', () => {
      const error = abortError(signal);
      for (const r of all) {
        if ('cancel' in r) r.cancel(error);
        else r.destroy(error);
      }
      all.clear();
    }, { once: true });
    requests = all;
    return requests;
  }

  /**
   * One Put Blob with the body's Content-MD5. `md5` when the caller has it already (a retry of the
   * same bytes); a body changed after the MD5 was taken is refused by the service, never stored.
   */
  put(name: string, body: Uint8Array, signal?: AbortSignal, md5: string = contentMd5(body)): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#sign === undefined && this.#pool !== undefined) return this.#sendOwn(name, body, md5, signal, undefined, undefined);
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
    const authorization = this.#sign('PUT', path, headers);
    const date = headers['x-ms-date'] as string;
    const send = (a: string | undefined): Promise<void> =>
      this.#pool !== undefined && (a === undefined || HEAD_SAFE.test(a)) ? this.#sendOwn(name, body, md5, signal, date, a) : this.#send(path, headers, body, signal, a);
    if (typeof authorization === 'string' || authorization === undefined) return send(authorization);
    return authorization.then(send);
  }

  /**
   * Get Blob of a whole blob on the lean put's own sockets, with a SAS, a token or Shared Key:
   * verify reads one small blob per entry, and the SDK's download cost about 2 ms of client CPU
   * each (issue 18): with its gets signed and its listing read by the SDK, a structure-only verify
   * of a 2,000-file Azurite container spent 4.1 s of its main thread's CPU, 1.6 s without (medians
   * of 4 alternating runs).
   * Undefined when this path does not apply (a proxy, a SAS that cannot go into a head): the
   * caller uses the SDK. Rejects as put does; 404 is `statusCode` 404.
   */
  get(name: string, signal?: AbortSignal): Promise<Buffer> | undefined {
    return this.#blobRequest('GET', name, signal, (res, resolve, reject) => {
      if (res.statusCode === 200) resolve(res.body);
      // a range past the end cannot happen for a whole blob, but an empty blob is no error
      else if (res.statusCode === 416) resolve(Buffer.alloc(0));
      else reject(ownRefusal(res));
    });
  }

  /**
   * Whether a blob exists (Get Blob Properties, a HEAD) on the lean sockets; rejects with the
   * refusal otherwise, a missing blob and a missing container alike (x-ms-error-code tells them
   * apart). Undefined where this path does not apply, as get.
   */
  exists(name: string, signal?: AbortSignal): Promise<true> | undefined {
    return this.#blobRequest('HEAD', name, signal, (res, resolve, reject) => (res.statusCode === 200 ? resolve(true) : reject(ownRefusal(res))));
  }

  /** Delete Blob on the lean sockets; a blob that is not there is no error. Undefined as get. */
  delete(name: string, signal?: AbortSignal): Promise<void> | undefined {
    return this.#blobRequest('DELETE', name, signal, (res, resolve, reject) => {
      if (res.statusCode === 202 || res.statusCode === 200 || (res.statusCode === 404 && (res.header('x-ms-error-code') ?? 'BlobNotFound') === 'BlobNotFound')) resolve(undefined);
      else reject(ownRefusal(res));
    });
  }

  /** Whether requests go on the lean put's own sockets, straight to the endpoint (get and listPage answer only then). */
  get direct(): boolean {
    return this.#pool !== undefined;
  }

  /**
   * One page of List Blobs (flat, up to `maxResults` names after `marker`) on the lean put's own
   * sockets, read by list-blobs-xml.ts: through the SDK a page cost ~350 µs of CPU per blob
   * listed. Undefined where this path does not apply (a proxy, a SAS that cannot go into a head):
   * the caller uses the SDK. Rejects as get does.
   */
  listPage(prefix: string, marker: string | undefined, maxResults: number, signal?: AbortSignal): Promise<ListBlobsPage> | undefined {
    const params = new URLSearchParams({ restype: 'container', comp: 'list', maxresults: String(maxResults) });
    if (prefix !== '') params.set('prefix', prefix);
    if (marker !== undefined) params.set('marker', marker);
    const own = params.toString();
    const query = this.#sas === '' ? own : `${own}&${this.#sas}`;
    // Shared Key signs the query's parameters too (the SAS is not there: a signer means no SAS)
    return this.#bodiless<Buffer>('GET', `${this.#pathBase}?${query}`, this.#pathBase, params, signal, (res, ok, fail) =>
      res.statusCode === 200 ? ok(res.body) : fail(ownRefusal(res)),
    )?.then((body) => parseListBlobsPage(body.toString('utf8')));
  }

  /** One request without a body for one blob; `answer` settles it from the response. */
  #blobRequest<T>(
    method: 'GET' | 'HEAD' | 'DELETE',
    name: string,
    signal: AbortSignal | undefined,
    answer: (res: Http1Response, resolve: (v: T) => void, reject: (e: Error) => void) => void,
  ): Promise<T> | undefined {
    const path = `${this.#pathBase}/${encodeURIComponent(name)}`;
    return this.#bodiless(method, this.#sas === '' ? path : `${path}?${this.#sas}`, path, undefined, signal, answer);
  }

  /**
   * A request without a body on the lean put's own sockets (undefined when there are none), to
   * `target` (path and query), signed over `signPath` and `signQuery` when there is a signer.
   */
  #bodiless<T>(
    method: 'GET' | 'HEAD' | 'DELETE',
    target: string,
    signPath: string,
    signQuery: URLSearchParams | undefined,
    signal: AbortSignal | undefined,
    answer: (res: Http1Response, resolve: (v: T) => void, reject: (e: Error) => void) => void,
  ): Promise<T> | undefined {
    if (this.#pool === undefined) return undefined;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const line = `${method} ${target} HTTP/1.1\r\nHost: ${this.#hostHeader}\r\nx-ms-version: ${LEAN_PUT_API_VERSION}\r\nUser-Agent: ${this.#userAgent}\r\nConnection: keep-alive\r\n`;
    if (this.#sign === undefined) return this.#call(`${line}\r\n`, signal, answer);
    const date = new Date().toUTCString();
    const authorization = this.#sign(method, signPath, { 'x-ms-version': LEAN_PUT_API_VERSION, 'x-ms-date': date }, signQuery);
    const send = (a: string | undefined): Promise<T> => {
      // a credential's value is never written into a head it could break
      if (a !== undefined && !HEAD_SAFE.test(a)) return Promise.reject(new Error('the Authorization value holds characters a request head cannot carry'));
      return this.#call(`${line}x-ms-date: ${date}\r\n${a === undefined ? '' : `Authorization: ${a}\r\n`}\r\n`, signal, answer);
    };
    return typeof authorization === 'string' || authorization === undefined ? send(authorization) : authorization.then(send);
  }

  #call<T>(head: string, signal: AbortSignal | undefined, answer: (res: Http1Response, resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      let requests: Set<Stoppable> | undefined;
      const req = this.#pool!.request(head, EMPTY, (error, res) => {
        requests?.delete(req);
        if (error !== undefined) reject(error);
        else answer(res!, resolve, reject);
      });
      if (signal !== undefined && !req.done) {
        requests = this.#requestsOf(signal);
        requests.add(req);
      }
    });
  }

  /** On the lean put's own sockets: the head written out here, the answer from http1-pool.ts. */
  #sendOwn(name: string, body: Uint8Array, md5: string, signal: AbortSignal | undefined, date: string | undefined, authorization: string | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    let head = `${this.#headStart}${encodeURIComponent(name)}${this.#headFixed}Content-Length: ${body.byteLength}\r\nContent-MD5: ${md5}\r\n`;
    if (date !== undefined) head += `x-ms-date: ${date}\r\n`;
    if (authorization !== undefined) head += `Authorization: ${authorization}\r\n`;
    head += '\r\n';
    return new Promise((resolve, reject) => {
      let requests: Set<Stoppable> | undefined;
      const req = this.#pool!.request(head, body, (error, res) => {
        requests?.delete(req);
        if (error !== undefined) reject(error);
        else if (res!.statusCode === 201) resolve();
        else reject(ownRefusal(res!));
      });
      if (signal !== undefined && !req.done) {
        requests = this.#requestsOf(signal);
        requests.add(req);
      }
    });
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
            const header = (h: string) => {
              const v = res.headers[h];
              return Array.isArray(v) ? v[0] : v;
            };
            reject(refusal(res.statusCode, header, Buffer.concat(chunks).toString('utf8')));
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
    this.#pool?.close();
    if (this.#ownConnection) this.#connection.close();
  }
}

/** A request in flight that an abort stops. */
type Stoppable = http.ClientRequest | Http1Request;

function ownRefusal(res: Http1Response): LeanPutError {
  return refusal(res.statusCode, (h) => res.header(h), res.body.toString('utf8'));
}
