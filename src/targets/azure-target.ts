/**
 * An Azure blob container (or an Azurite one) reached with a container SAS. Each blob is one
 * Put Blob request (CLFS blobs are at most about 8.5 MiB, under the single-shot limit), reads are
 * one Get Blob with an optional range, and listing streams pages of up to 5000 names.
 *
 * The SDK's own retry policy is cut down to one try: RetryTarget does the backoff, and it has to
 * see every 429/503 to slow the whole queue down (see retry-target.ts).
 */
import type { BlockBlobClient, ContainerClient, RestError } from '@azure/storage-blob';
import { createRequire } from 'node:module';
import { azureSdk } from './azure-sdk.js';
import { ClfsError } from '../errors/index.js';
import { defaultAzureCredential, LOAD_ROLE, sharedKeyAuthorization, TokenCache, type AzureAuth } from './azure-auth.js';
import { endpointConnection, redactProxyUrl, type EndpointConnection, type ProxySettings } from './azure-http.js';
import { contentMd5, LeanPut, type LeanPutSigner } from './lean-put.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from './target.js';
import type { BlobInfo, GetOptions, ListOptions, PutOptions, Target, TargetCapabilities, TargetFeatures } from './target.js';

/**
 * Requests in flight by default: deep, to hide the round trip. One small file is one Put Blob, so
 * at 20 ms per request 64 in flight capped a load at 3,200 files/s and 256 ran 6,200 files/s in
 * the latency benchmark (docs/benchmarks.md); an account serves about 20,000 requests/s.
 */
export const DEFAULT_AZURE_CONNECTIONS = 256;

export interface AzureContainerSpec {
  kind: 'azure';
  /** account endpoint without the container: https://ACCOUNT.blob.core.windows.net or http://127.0.0.1:PORT/devstoreaccount1 */
  endpoint: string;
  accountName: string;
  containerName: string;
  /** the SAS query, without a leading '?'; '' when the target signs in another way (AzureTargetOptions.auth) */
  sasToken: string;
}

/** The package's version, for the User-Agent (built, this file is dist/src/targets/, three folders below package.json). */
const PACKAGE_VERSION = ((): string => {
  const require = createRequire(import.meta.url);
  for (const candidate of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = require(candidate) as { name?: string; version?: string };
      if (pkg.name === 'clfsload' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this depth
    }
  }
  return 'unknown';
})();

/** What every request says it comes from: support reads it in the service's logs. */
export const DEFAULT_USER_AGENT = `clfsload/${PACKAGE_VERSION} (Node ${process.version}; ${process.platform})`;

export interface AzureTargetOptions {
  /** names per List Blobs page; default 5000 (the service maximum) */
  listPageSize?: number;
  /** tries inside the SDK per request; default 1 (RetryTarget retries) */
  sdkMaxTries?: number;
  /** default 256 (DEFAULT_AZURE_CONNECTIONS) */
  maxConnections?: number;
  /** Put Blob through a lean keep-alive request instead of the SDK pipeline (lean-put.ts); default true */
  leanPut?: boolean;
  /**
   * How to sign in: default the SAS in the spec, or with no SAS, an Entra ID token from
   * DefaultAzureCredential (azure-auth.ts)
   */
  auth?: AzureAuth;
  /** a forward proxy for every request (the CLI passes HTTPS_PROXY/HTTP_PROXY/NO_PROXY); default none */
  proxy?: ProxySettings;
  /** certificate authorities to trust besides the system's (PEM), for a private endpoint or a test service */
  ca?: string | Buffer;
  /** default DEFAULT_USER_AGENT (clfsload/VERSION) */
  userAgent?: string;
  /**
   * How long an encode worker waits for its batch of puts before it gives what is left back to
   * the main thread (which retries through RetryTarget); default DEFAULT_REQUEST_TIMEOUT_MS
   */
  workerPutTimeoutMs?: number;
}

/**
 * What a loader thread needs to put this container's small blobs itself (AzureTarget.workerPuts):
 * plain data, sent to each encode worker once. The worker opens a LeanPut of its own (its own
 * keep-alive sockets) and puts what it encoded; whatever fails there is put again through the
 * target on the main thread, with its retries and error mapping.
 */
export interface AzureWorkerPuts {
  kind: 'azure';
  containerUrl: string;
  sas: string;
  userAgent: string;
  ca?: string | Buffer;
  /** how long one worker's batch of puts may take before its stragglers go back to the main thread */
  requestTimeoutMs: number;
}

/** The credential as the target uses it. */
type ResolvedAuth = { kind: 'sas' } | { kind: 'token'; cache: TokenCache } | { kind: 'key'; key: Buffer; accountKey: string };

/** Which SAS permission each operation needs, for E_TARGET_PERMISSION messages. */
type Operation = 'put' | 'get' | 'exists' | 'list' | 'delete';
const NEEDED_PERMISSION: Record<Operation, string> = { put: 'w', get: 'r', exists: 'r', list: 'l', delete: 'd' };
const LOAD_PERMISSIONS = 'rwld';

/** Put Blob is durable when answered, and one request per blob is all the service offers */
const AZURE_FEATURES: TargetFeatures = Object.freeze({ putMany: false, checkAccess: true, flush: false });

export class AzureTarget implements Target {
  readonly description: string;
  readonly capabilities: TargetCapabilities;
  readonly features = AZURE_FEATURES;
  readonly spec: AzureContainerSpec;
  readonly #makeContainer: () => ContainerClient;
  #containerClient: ContainerClient | undefined;
  readonly #listPageSize: number;
  readonly #sas: URLSearchParams;
  readonly #lean: LeanPut | undefined;
  readonly #auth: ResolvedAuth;
  readonly #connection: EndpointConnection;
  readonly #workerPuts: AzureWorkerPuts | undefined;

  constructor(spec: AzureContainerSpec, options: AzureTargetOptions = {}) {
    const sasToken = spec.sasToken.replace(/^\?+/, '');
    this.spec = { ...spec, endpoint: spec.endpoint.replace(/\/+$/, ''), sasToken };
    this.description = `container ${spec.accountName}/${spec.containerName} at ${this.spec.endpoint}`;
    this.capabilities = Object.freeze({ maxConnections: options.maxConnections ?? DEFAULT_AZURE_CONNECTIONS, remote: true });
    this.#listPageSize = options.listPageSize ?? 5000;
    this.#auth = this.#resolveAuth(options.auth);
    // a SAS signs the URL; with a token or key, a SAS left in the URL would only confuse the service
    const query = this.#auth.kind === 'sas' ? sasToken : '';
    this.#sas = new URLSearchParams(query);
    const containerUrl = `${this.spec.endpoint}/${encodeURIComponent(spec.containerName)}`;
    const userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.#connection = endpointConnection(this.spec.endpoint, { maxSockets: this.capabilities.maxConnections, proxy: options.proxy, ca: options.ca });
    // the SDK is loaded (~0.25 s of CPU) and its client made only when a request needs it: verify,
    // ls, cat and export of a container go on the lean sockets alone where they can
    this.#makeContainer = () => {
      const sdkUrl = query === '' ? containerUrl : `${containerUrl}?${query}`;
      const { newPipeline, AnonymousCredential, ContainerClient, StorageSharedKeyCredential } = azureSdk();
      const credential =
        this.#auth.kind === 'token'
          ? this.#auth.cache.asCredential()
          : this.#auth.kind === 'key'
            ? new StorageSharedKeyCredential(spec.accountName, this.#auth.accountKey)
            : new AnonymousCredential();
      const forward = this.#connection.forward;
      const proxy = this.#connection.proxy;
      const pipeline = newPipeline(credential as Parameters<typeof newPipeline>[0], {
        retryOptions: { maxTries: options.sdkMaxTries ?? 1, tryTimeoutInMs: 10 * 60_000 },
        keepAliveOptions: { enable: true },
        userAgentOptions: { userAgentPrefix: userAgent },
        // An agent of our own also keeps the SDK from reading proxy variables itself: the SDK and the
        // lean put go the same way. A plain-http endpoint through a proxy is the SDK's own proxy agent.
        ...(forward !== undefined && proxy !== undefined
          ? { proxyOptions: { host: `http://${forward.host}`, port: forward.port, username: decodeURIComponent(proxy.username), password: decodeURIComponent(proxy.password) } }
          : { agent: this.#connection.agent }),
      } as Parameters<typeof newPipeline>[1]);
      return new ContainerClient(sdkUrl, pipeline);
    };
    this.#lean =
      options.leanPut === false
        ? undefined
        : new LeanPut(containerUrl, query, this.capabilities.maxConnections, { connection: this.#connection, sign: this.#signer(), userAgent });
    // other threads put with a SAS straight to the endpoint only: a token or a key would have to
    // be refreshed or held there too, and a proxy's tunnels are this thread's agent's
    this.#workerPuts =
      this.#lean !== undefined && this.#auth.kind === 'sas' && this.#connection.connect !== undefined
        ? { kind: 'azure', containerUrl, sas: query, userAgent, ...(options.ca === undefined ? {} : { ca: options.ca }), requestTimeoutMs: options.workerPutTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS }
        : undefined;
  }

  /**
   * For a load's encode workers (src/load/encode-worker.ts): how to put small blobs from the
   * thread that encoded them, so their bytes never cross to this thread; undefined where only
   * this thread may send (a token, a key, a proxy, the SDK's put).
   */
  get workerPuts(): AzureWorkerPuts | undefined {
    return this.#workerPuts;
  }

  #resolveAuth(auth: AzureAuth | undefined): ResolvedAuth {
    const chosen: AzureAuth = auth ?? (this.spec.sasToken !== '' ? { kind: 'sas' } : { kind: 'token' });
    switch (chosen.kind) {
      case 'sas':
        if (this.spec.sasToken === '') {
          throw new ClfsError('E_USAGE', `no SAS for ${this.description}: add one to the URL, set CLFSLOAD_SAS or use --sas-file, or sign in (--auth entra)`, { subject: this.spec.containerName });
        }
        return chosen;
      case 'key': {
        const key = Buffer.from(chosen.accountKey, 'base64');
        if (key.length === 0) throw new ClfsError('E_USAGE', `the account key for ${this.description} is empty or not base64: copy it again (az storage account keys list)`, { subject: this.spec.accountName });
        return { kind: 'key', key, accountKey: chosen.accountKey };
      }
      case 'token':
        if (!this.spec.endpoint.startsWith('https:')) {
          throw new ClfsError('E_USAGE', `signing in with Entra ID needs an https endpoint, not ${this.spec.endpoint}: a token is never sent in the clear`, { subject: this.spec.endpoint });
        }
        return { kind: 'token', cache: new TokenCache(chosen.credential ?? defaultAzureCredential(), { description: this.description }) };
    }
  }

  /** The lean put's Authorization header for a token or Shared Key; none for a SAS. */
  #signer(): LeanPutSigner | undefined {
    const auth = this.#auth;
    if (auth.kind === 'token') {
      return () => {
        const token = auth.cache.peek();
        return token !== undefined ? `Bearer ${token}` : auth.cache.get().then((t) => `Bearer ${t}`);
      };
    }
    if (auth.kind === 'key') {
      return (method, path, headers, query) => sharedKeyAuthorization(this.spec.accountName, auth.key, method, path, query, headers);
    }
    return undefined;
  }

  /** From the parts a user may have separately; a SAS pasted with a leading '?' works. */
  static fromParts(
    endpoint: string,
    accountName: string,
    containerName: string,
    sasToken: string,
    options?: AzureTargetOptions,
  ): AzureTarget {
    return new AzureTarget({ kind: 'azure', endpoint, accountName, containerName, sasToken }, options);
  }

  async close(): Promise<void> {
    this.#lean?.close();
    this.#connection.close();
  }

  async put(name: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    try {
      if (this.#lean !== undefined) await this.#lean.put(name, body, options.abortSignal);
      else await this.#blob(name).upload(body, body.byteLength, { abortSignal: options.abortSignal, blobHTTPHeaders: { blobContentMD5: Buffer.from(contentMd5(body), 'base64') } });
    } catch (error) {
      throw this.#toClfsError(error, 'put', name);
    }
  }

  async get(name: string, options: GetOptions = {}): Promise<Buffer> {
    const offset = options.range?.offset ?? 0;
    const count = options.range?.count;
    if (count === 0) {
      // The service has no empty range; check the blob exists so a missing one still fails.
      if (!(await this.exists(name, options))) throw this.#notFound(name);
      return Buffer.alloc(0);
    }
    try {
      // a whole blob on the lean put's sockets when it can (a SAS, no proxy): the SDK's download costs ~2 ms of CPU
      const lean = options.range === undefined ? this.#lean?.get(name, options.abortSignal) : undefined;
      if (lean !== undefined) return await lean;
      const response = await this.#blob(name).download(offset, count, { abortSignal: options.abortSignal });
      const body = response.readableStreamBody;
      if (body === undefined) return Buffer.alloc(0);
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    } catch (error) {
      // A range that starts at or past the end (e.g. any range of an empty blob): no bytes,
      // as a file read past its end gives.
      if (this.#containerClient !== undefined && error instanceof azureSdk().RestError && error.statusCode === 416) return Buffer.alloc(0);
      throw this.#toClfsError(error, 'get', name);
    }
  }

  async exists(name: string, options: PutOptions = {}): Promise<boolean> {
    // Not BlobClient.exists(): it answers false for a missing container as well.
    try {
      const lean = this.#lean?.exists(name, options.abortSignal);
      if (lean !== undefined) return await lean;
      await this.#blob(name).getProperties({ abortSignal: options.abortSignal });
      return true;
    } catch (error) {
      const mapped = this.#toClfsError(error, 'exists', name);
      if (mapped.code === 'E_TARGET_NOT_FOUND') return false;
      throw mapped;
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo> {
    if (this.#lean?.direct === true) {
      // on the lean sockets where they go straight to the endpoint (list-blobs-xml.ts)
      const lean = this.#lean;
      let marker: string | undefined;
      do {
        let page;
        try {
          page = await lean.listPage(prefix, marker, this.#listPageSize, options.abortSignal)!;
        } catch (error) {
          throw this.#toClfsError(error, 'list', prefix);
        }
        yield* page.items;
        marker = page.next;
      } while (marker !== undefined);
      return;
    }
    const pages = this.#container
      .listBlobsFlat({ prefix: prefix === '' ? undefined : prefix, abortSignal: options.abortSignal })
      .byPage({ maxPageSize: this.#listPageSize });
    const iterator = pages[Symbol.asyncIterator]();
    for (;;) {
      let page;
      try {
        page = await iterator.next();
      } catch (error) {
        throw this.#toClfsError(error, 'list', prefix);
      }
      if (page.done === true) return;
      for (const item of page.value.segment.blobItems) {
        yield { name: item.name, sizeBytes: item.properties.contentLength ?? 0 };
      }
    }
  }

  async delete(name: string, options: PutOptions = {}): Promise<void> {
    try {
      const lean = this.#lean?.delete(name, options.abortSignal);
      if (lean !== undefined) await lean;
      else await this.#blob(name).deleteIfExists({ abortSignal: options.abortSignal });
    } catch (error) {
      throw this.#toClfsError(error, 'delete', name);
    }
  }

  /**
   * Lists one name, which proves the container exists, the SAS is valid and has 'l'. It writes
   * nothing, because a new load needs an empty container and a probe blob left by a SAS without
   * 'd' would break that. The SAS's own sp= and se= fields are checked first (a SAS lists the
   * permissions it grants), so a missing w or d is reported before the load starts; the
   * service itself proves write access at the first put.
   */
  async checkAccess(options: PutOptions = {}): Promise<void> {
    const expiry = this.#sasExpiry();
    if (expiry !== undefined && expiry.getTime() <= Date.now()) throw this.#expired(undefined, this.spec.containerName);
    const granted = this.#sas.get('sp');
    if (granted !== null) {
      const missing = [...LOAD_PERMISSIONS].filter((p) => !granted.includes(p));
      if (missing.length > 0) {
        throw new ClfsError(
          'E_TARGET_PERMISSION',
          `SAS token for ${this.description} grants '${granted}' but a load needs '${missing.join('')}' too: make a new SAS with r,w,l,d permissions`,
          { subject: this.spec.containerName },
        );
      }
    }
    try {
      if (this.#lean?.direct === true) await this.#lean.listPage('', undefined, 1, options.abortSignal);
      else await this.#container.listBlobsFlat({ abortSignal: options.abortSignal }).byPage({ maxPageSize: 1 }).next();
    } catch (error) {
      throw this.#toClfsError(error, 'list', this.spec.containerName);
    }
  }

  /** The SDK's client of the container, made on first use. */
  get #container(): ContainerClient {
    this.#containerClient ??= this.#makeContainer();
    return this.#containerClient;
  }

  #blob(name: string): BlockBlobClient {
    if (name === '' || name.length > 1024) {
      throw new ClfsError('E_USAGE', `invalid blob name ${JSON.stringify(name)} for ${this.description}`, {
        subject: name,
      });
    }
    return this.#container.getBlockBlobClient(name);
  }

  #sasExpiry(): Date | undefined {
    const se = this.#sas.get('se');
    if (se === null) return undefined;
    const date = new Date(se);
    return Number.isNaN(date.getTime()) ? undefined : date;
  }

  #notFound(name: string, cause?: unknown): ClfsError {
    return new ClfsError('E_TARGET_NOT_FOUND', `blob ${name} not found in ${this.description}`, {
      subject: name,
      cause,
      statusCode: 404,
    });
  }

  #expired(cause: unknown, subject: string): ClfsError {
    const se = this.#sas.get('se');
    return new ClfsError(
      'E_TARGET_SAS_EXPIRED',
      `SAS token for ${this.description} expired${se === null ? '' : ` at ${se}`}: make a new SAS with r,w,l,d permissions and re-run the same command to resume`,
      { subject, cause, statusCode: 403 },
    );
  }

  /**
   * The host could not be reached at all. Not a usage error (the URL parsed, and a DNS or network
   * outage gives the same answer) and not one entry's failure: every request would fail alike, so
   * after a few tries (RetryTarget) it stops the run, and the state is kept for a re-run.
   */
  #unreachable(netCode: string, why: string, cause: unknown): ClfsError {
    const host = new URL(this.spec.endpoint).host;
    const proxy = this.#connection.proxy;
    const via = proxy === undefined ? '' : ` through the proxy ${redactProxyUrl(`${proxy.protocol}//${proxy.host}`)}`;
    const check =
      proxy !== undefined
        ? 'check the proxy (HTTPS_PROXY, HTTP_PROXY; NO_PROXY for hosts reached directly), the URL and the network'
        : netCode === 'ENOTFOUND'
          ? 'check the account name in the URL and the network'
          : 'check the URL and the network';
    return new ClfsError(
      'E_TARGET_IO',
      `cannot reach ${host}${via} for container ${this.spec.accountName}/${this.spec.containerName} (${why}, ${netCode}): ${check}, then re-run the same command to resume`,
      { subject: host, cause, retryable: true, recoverable: false, unreachable: true },
    );
  }

  /**
   * The SDK's RestError (or a socket error) as a coded error that says whether a retry may help.
   * An answer from the service names its error code and x-ms-request-id, which support asks for.
   */
  #toClfsError(error: unknown, operation: Operation, subject: string): ClfsError {
    if (error instanceof ClfsError) return error;
    const mapped = this.#mapError(error, operation, subject);
    const rest = error as Partial<RestError>;
    const requestId = rest.response?.headers.get('x-ms-request-id') ?? undefined;
    if (requestId === undefined || mapped.message.includes(requestId)) return mapped;
    const code = rest.response?.headers.get('x-ms-error-code') ?? (rest as { code?: string }).code;
    return new ClfsError(mapped.code, `${mapped.message} [${code === undefined || mapped.message.includes(code) ? '' : `${code}, `}x-ms-request-id ${requestId}]`, {
      subject: mapped.subject,
      cause: error,
      recoverable: mapped.recoverable,
      retryable: mapped.retryable,
      retryAfterSeconds: mapped.retryAfterSeconds,
      statusCode: mapped.statusCode,
      unreachable: mapped.unreachable,
    });
  }

  /** Who signed the request, for messages. */
  #credentialName(): string {
    return this.#auth.kind === 'token' ? 'the signed-in identity' : this.#auth.kind === 'key' ? 'the account key' : 'the SAS token';
  }

  #mapError(error: unknown, operation: Operation, subject: string): ClfsError {
    const where = this.description;
    if ((error as Error | undefined)?.name === 'AbortError') {
      return new ClfsError('E_ABORTED', `${operation} ${subject} on ${where} aborted`, { subject, cause: error });
    }
    const rest = error as Partial<RestError> & { code?: string; message?: string };
    const status = rest.statusCode;
    // HEAD requests and streamed downloads carry the code only in x-ms-error-code.
    const serviceCode =
      rest.response?.headers.get('x-ms-error-code') ??
      (rest as { details?: { errorCode?: string } }).details?.errorCode ??
      rest.code;
    const message = rest.message ?? String(error);
    const statusInfo = { subject, cause: error, statusCode: status };

    if (status === 404) {
      if (serviceCode === 'ContainerNotFound') {
        return new ClfsError(
          'E_TARGET_CONTAINER_MISSING',
          `container ${this.spec.containerName} does not exist at ${this.spec.endpoint}: create it (az storage container create) or check the URL`,
          { ...statusInfo, subject: this.spec.containerName },
        );
      }
      return this.#notFound(subject, error);
    }
    const proxyRefused = status === 407 || (status === undefined && rest.code === 'EPROXY' && /HTTP 407/.test(message));
    if (proxyRefused) {
      // every request would be refused alike: stop the run instead of failing each entry
      return new ClfsError(
        'E_TARGET_AUTH',
        `the proxy refused to carry requests to ${where} (HTTP 407, proxy authentication required): give its user and password in the proxy URL (HTTPS_PROXY=http://USER:PASSWORD@HOST:PORT)`,
        { ...statusInfo, statusCode: 407 },
      );
    }
    const tunnelStatus = status === undefined && rest.code === 'EPROXY' ? Number(/HTTP (\d{3})/.exec(message)?.[1]) : NaN;
    if (tunnelStatus >= 400 && tunnelStatus < 500) {
      // the proxy's policy, not a passing fault: every request would be refused alike
      return new ClfsError(
        'E_TARGET_IO',
        `the proxy refused a tunnel to ${new URL(this.spec.endpoint).host} for ${where} (HTTP ${tunnelStatus}): check that the proxy allows CONNECT to that host and port, or list the host in NO_PROXY`,
        { ...statusInfo, recoverable: false },
      );
    }
    if (status === 400 && (serviceCode === 'Md5Mismatch' || (serviceCode === 'InvalidOperation' && /md5/i.test(message)))) {
      // Azure says Md5Mismatch, Azurite InvalidOperation "Provided contentMD5 doesn't match."
      return new ClfsError(
        'E_TARGET_TRANSIENT',
        `${operation} ${subject} on ${where}: the service refused the body, its MD5 differs from the one sent (${serviceCode}): it was damaged on the way; retrying`,
        { ...statusInfo, retryable: true },
      );
    }
    // (Azurite with --oauth answers a Shared Key it cannot verify with 400 InvalidAuthenticationInfo)
    const authAnswer = status === 401 || status === 403 || (status === 400 && serviceCode === 'InvalidAuthenticationInfo');
    if (authAnswer && this.#auth.kind !== 'sas') {
      const how = this.#credentialName();
      if (serviceCode === 'AuthorizationPermissionMismatch' || serviceCode === 'AuthorizationFailure' && this.#auth.kind === 'token') {
        const fix =
          this.#auth.kind === 'token'
            ? `assign it the ${LOAD_ROLE} role on the container or the storage account (az role assignment create --role "${LOAD_ROLE}" --assignee ID --scope .../containers/${this.spec.containerName}); a new role takes up to 10 minutes to apply`
            : 'check the storage firewall admits this machine';
        return new ClfsError('E_TARGET_PERMISSION', `${how} may not ${operation} in ${where} (${serviceCode}): ${fix}`, statusInfo);
      }
      const fix =
        this.#auth.kind === 'token'
          ? `check the identity belongs to the account's tenant (az login --tenant), and that the storage firewall admits this machine`
          : `check the key belongs to account ${this.spec.accountName} (az storage account keys list) and was not rotated`;
      return new ClfsError('E_TARGET_AUTH', `${where} rejected ${how} (${serviceCode ?? `HTTP ${status}`}): ${fix}`, statusInfo);
    }
    if (status === 403) {
      const expiry = this.#sasExpiry();
      const expired = expiry !== undefined && expiry.getTime() <= Date.now();
      if (expired || /signed expiry time|\bse\b.*expir/i.test(message)) return this.#expired(error, subject);
      const needed = NEEDED_PERMISSION[operation];
      const granted = this.#sas.get('sp');
      if (
        serviceCode === 'AuthorizationPermissionMismatch' ||
        (serviceCode === 'AuthorizationFailure' && granted !== null && !granted.includes(needed))
      ) {
        return new ClfsError(
          'E_TARGET_PERMISSION',
          `SAS token for ${where} does not allow ${operation} (needs '${needed}'${granted === null ? '' : `, grants '${granted}'`}): make a new SAS with r,w,l,d permissions`,
          statusInfo,
        );
      }
      // AuthenticationFailed (bad signature) and AuthorizationFailure (on Azure: firewall or
      // network rules; on Azurite: any signature problem).
      return new ClfsError(
        'E_TARGET_AUTH',
        `${where} rejected the SAS token (${serviceCode ?? 'HTTP 403'}): check the SAS was made for this account and container, and that the storage firewall admits this machine`,
        statusInfo,
      );
    }
    const throttled =
      status === 429 || (status === 503 && (serviceCode === undefined || /busy|OverLimit|throttl/i.test(serviceCode)));
    if (throttled) {
      const retryAfterSeconds = parseRetryAfter(rest.response?.headers.get('retry-after'));
      return new ClfsError(
        'E_TARGET_THROTTLED',
        `${where} is throttling requests (${serviceCode ?? `HTTP ${status}`})${retryAfterSeconds === undefined ? '' : `, retry after ${retryAfterSeconds}s`}: the load slows down and retries`,
        { ...statusInfo, retryable: true, retryAfterSeconds },
      );
    }
    if (status !== undefined && (status === 408 || status >= 500)) {
      return new ClfsError(
        'E_TARGET_TRANSIENT',
        `${operation} ${subject} on ${where} failed with HTTP ${status} (${serviceCode ?? 'no code'}): retrying may help`,
        { ...statusInfo, retryable: true },
      );
    }
    if (status === undefined) {
      const netCode = networkCodeOf(error);
      const unreachable = netCode === undefined ? undefined : UNREACHABLE[netCode];
      if (unreachable !== undefined) return this.#unreachable(netCode!, unreachable, error);
      if (
        netCode !== undefined ||
        rest.code === 'REQUEST_SEND_ERROR' ||
        /socket hang up|ECONNRESET|ETIMEDOUT|EPIPE|network/i.test(message)
      ) {
        return new ClfsError(
          'E_TARGET_TRANSIENT',
          `${operation} ${subject} on ${where} failed: ${firstLine(message)}: retrying may help`,
          { ...statusInfo, retryable: true },
        );
      }
    }
    return new ClfsError(
      'E_TARGET_IO',
      `${operation} ${subject} on ${where} failed${status === undefined ? '' : ` with HTTP ${status}`} (${serviceCode ?? 'no code'}): ${firstLine(message)}`,
      statusInfo,
    );
  }
}

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined | null, nowMs = Date.now()): number | undefined {
  if (value === undefined || value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - nowMs) / 1000));
}

/** Socket errors that mean the request never reached the service, with their plain meaning. */
const UNREACHABLE: Record<string, string> = {
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EAI_FAIL: 'host name lookup failed',
  ECONNREFUSED: 'connection refused',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  EHOSTDOWN: 'host is down',
};

/**
 * The socket error code of a failed request: on the error itself (Node, the lean put), on its
 * cause (the SDK wraps it), or on the attempts of an AggregateError (a name with both an IPv4 and
 * an IPv6 address, each refused).
 */
export function networkCodeOf(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const visit = (e: unknown): string | undefined => {
    if (typeof e !== 'object' || e === null || seen.has(e)) return undefined;
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E(AI_)?[A-Z]+$/.test(code)) return code;
    for (const inner of Array.isArray((e as { errors?: unknown }).errors) ? (e as { errors: unknown[] }).errors : []) {
      const c = visit(inner);
      if (c !== undefined) return c;
    }
    return visit((e as { cause?: unknown }).cause);
  };
  const found = visit(error);
  if (found !== undefined) return found;
  const message = error instanceof Error ? error.message : String(error);
  return /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH)\b/.exec(message)?.[1];
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}
