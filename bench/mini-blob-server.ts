/**
 * A minimal, fast, in-memory Azure Blob endpoint for the `http` benchmark: enough of the REST API
 * for `clfsload load` and `verify` through @azure/storage-blob (path-style URLs,
 * http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB). Signatures are not checked.
 *
 *  - Put Blob        PUT    /acct/cont/blob   (x-ms-blob-type: BlockBlob)        -> 201
 *  - Get Blob        GET    /acct/cont/blob   (Range / x-ms-range: bytes=a-b)    -> 200 / 206 / 416
 *  - Get Properties  HEAD   /acct/cont/blob                                      -> 200
 *  - Delete Blob     DELETE /acct/cont/blob                                      -> 202
 *  - List Blobs      GET    /acct/cont?restype=container&comp=list&prefix&marker&maxresults
 *  - Create / Get container properties (PUT/HEAD ?restype=container)
 * Missing blobs answer 404 with x-ms-error-code BlobNotFound, an unknown container ContainerNotFound.
 *
 * Every request is counted (`stats`), so the bench can report requests per file and CPU per request.
 *
 * `delayMs` holds every answer back that long after the request arrived whole (a timer per request,
 * so the requests in flight wait side by side, as against a distant service): the `http20` case.
 *
 * Run on its own (for profiling the loader against it from another process):
 *   node dist/bench/mini-blob-server.js [--port N] [--delay-ms N] [--container NAME]
 * prints the container URL and serves until killed.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

interface StoredBlob {
  data: Buffer;
  etag: string;
  lastModified: string;
}

export interface MiniBlobStats {
  requests: number;
  put: number;
  get: number;
  head: number;
  delete: number;
  list: number;
  other: number;
  bytesIn: number;
  /** when the first and the last request since the last reset arrived (Date.now() ms; 0: none yet) */
  firstAtMs: number;
  lastAtMs: number;
  /** puts that carried Content-MD5 (checked against the body, as the service does) */
  putsWithMd5: number;
}

export interface MiniBlobServer {
  readonly port: number;
  readonly account: string;
  readonly stats: MiniBlobStats;
  /** a container URL with a dummy SAS (sp=rwdlac, far expiry) */
  containerUrl(container: string): string;
  createContainer(container: string): void;
  dropContainer(container: string): void;
  blobCount(container: string): number;
  /** the stored bodies of a container's blobs */
  blobBodies(container: string): Buffer[];
  resetStats(): void;
  close(): Promise<void>;
}

const API_VERSION = '2025-01-05';

function emptyStats(): MiniBlobStats {
  return { requests: 0, put: 0, get: 0, head: 0, delete: 0, list: 0, other: 0, bytesIn: 0, firstAtMs: 0, lastAtMs: 0, putsWithMd5: 0 };
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

class Container {
  readonly blobs = new Map<string, StoredBlob>();
  #sorted: string[] | undefined;

  set(name: string, blob: StoredBlob): void {
    if (!this.blobs.has(name)) this.#sorted = undefined;
    this.blobs.set(name, blob);
  }

  delete(name: string): boolean {
    const had = this.blobs.delete(name);
    if (had) this.#sorted = undefined;
    return had;
  }

  /** names in code-unit order (blob names here are ASCII, so that is Azure's byte order) */
  sorted(): string[] {
    if (this.#sorted === undefined) this.#sorted = [...this.blobs.keys()].sort();
    return this.#sorted;
  }
}

/** first index whose name is > marker (markers are the last name returned) */
function upperBound(names: string[], key: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lowerBound(names: string[], key: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface MiniBlobServerOptions {
  port?: number;
  account?: string;
  /** ms to hold each answer back after the request arrived (default 0: answer at once) */
  delayMs?: number;
}

export async function startMiniBlobServer(options: MiniBlobServerOptions = {}): Promise<MiniBlobServer> {
  const account = options.account ?? 'devstoreaccount1';
  const delayMs = options.delayMs ?? 0;
  const containers = new Map<string, Container>();
  let stats = emptyStats();
  let etagCounter = 0;

  const baseHeaders = (res: ServerResponse): void => {
    res.setHeader('x-ms-request-id', randomUUID());
    res.setHeader('x-ms-version', API_VERSION);
    res.setHeader('Date', new Date().toUTCString());
    res.setHeader('Server', 'mini-blob-server');
  };

  const fail = (req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void => {
    baseHeaders(res);
    res.setHeader('x-ms-error-code', code);
    if (req.method === 'HEAD') {
      res.writeHead(status);
      res.end();
      return;
    }
    const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${xmlEscape(message)}\nRequestId:${randomUUID()}\nTime:${new Date().toISOString()}</Message></Error>`;
    res.setHeader('Content-Type', 'application/xml');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.writeHead(status);
    res.end(body);
  };

  const blobHeaders = (res: ServerResponse, blob: StoredBlob): void => {
    res.setHeader('ETag', blob.etag);
    res.setHeader('Last-Modified', blob.lastModified);
    res.setHeader('x-ms-blob-type', 'BlockBlob');
    res.setHeader('x-ms-creation-time', blob.lastModified);
    res.setHeader('x-ms-lease-status', 'unlocked');
    res.setHeader('x-ms-lease-state', 'available');
    res.setHeader('x-ms-server-encrypted', 'true');
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Type', 'application/octet-stream');
  };

  const listBlobs = (res: ServerResponse, name: string, c: Container, q: URLSearchParams): void => {
    const prefix = q.get('prefix') ?? '';
    const marker = q.get('marker') ?? '';
    const max = Math.min(5000, Math.max(1, Number(q.get('maxresults') ?? 5000) || 5000));
    const names = c.sorted();
    let i = marker !== '' ? upperBound(names, marker) : 0;
    if (prefix !== '') i = Math.max(i, lowerBound(names, prefix));
    const parts: string[] = [];
    let last = '';
    let n = 0;
    for (; i < names.length && n < max; i++) {
      const blobName = names[i]!;
      if (!blobName.startsWith(prefix)) {
        i = names.length;
        break;
      }
      const b = c.blobs.get(blobName)!;
      parts.push(
        `<Blob><Name>${xmlEscape(blobName)}</Name><Properties><Creation-Time>${b.lastModified}</Creation-Time><Last-Modified>${b.lastModified}</Last-Modified><Etag>${b.etag}</Etag>` +
          `<Content-Length>${b.data.byteLength}</Content-Length><Content-Type>application/octet-stream</Content-Type><BlobType>BlockBlob</BlobType>` +
          `<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties></Blob>`,
      );
      last = blobName;
      n++;
    }
    const more = i < names.length && names[i]!.startsWith(prefix) && n > 0;
    const body =
      `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://127.0.0.1:${port}/${account}/" ContainerName="${xmlEscape(name)}">` +
      (prefix !== '' ? `<Prefix>${xmlEscape(prefix)}</Prefix>` : '') +
      (marker !== '' ? `<Marker>${xmlEscape(marker)}</Marker>` : '') +
      (q.has('maxresults') ? `<MaxResults>${max}</MaxResults>` : '') +
      `<Blobs>${parts.join('')}</Blobs><NextMarker>${more ? xmlEscape(last) : ''}</NextMarker></EnumerationResults>`;
    baseHeaders(res);
    res.setHeader('Content-Type', 'application/xml');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.writeHead(200);
    res.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    stats.requests++;
    stats.lastAtMs = Date.now();
    if (stats.firstAtMs === 0) stats.firstAtMs = stats.lastAtMs;
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    const segs = url.pathname.split('/');
    // ['', account, container, ...blob]
    const acct = decodeURIComponent(segs[1] ?? '');
    const containerName = decodeURIComponent(segs[2] ?? '');
    const blobName = segs.length > 3 ? decodeURIComponent(segs.slice(3).join('/')) : '';
    if (acct !== account || containerName === '') {
      stats.other++;
      return fail(req, res, 400, 'InvalidUri', `unsupported path ${url.pathname}`);
    }
    let c = containers.get(containerName);
    if (blobName === '') {
      if (q.get('restype') === 'container' && req.method === 'PUT' && !q.has('comp')) {
        stats.other++;
        if (c !== undefined) return fail(req, res, 409, 'ContainerAlreadyExists', 'The specified container already exists.');
        containers.set(containerName, new Container());
        baseHeaders(res);
        res.setHeader('ETag', `"0x${(++etagCounter).toString(16)}"`);
        res.setHeader('Last-Modified', new Date().toUTCString());
        res.writeHead(201);
        res.end();
        return;
      }
      if (c === undefined) {
        stats.other++;
        return fail(req, res, 404, 'ContainerNotFound', 'The specified container does not exist.');
      }
      if (req.method === 'GET' && q.get('comp') === 'list') {
        stats.list++;
        return listBlobs(res, containerName, c, q);
      }
      if ((req.method === 'GET' || req.method === 'HEAD') && q.get('restype') === 'container') {
        stats.other++;
        baseHeaders(res);
        res.setHeader('ETag', '"0x1"');
        res.setHeader('Last-Modified', new Date(0).toUTCString());
        res.writeHead(200);
        res.end();
        return;
      }
      stats.other++;
      return fail(req, res, 400, 'UnsupportedQueryParameter', `unsupported container request ${req.method} ${url.search}`);
    }
    if (c === undefined) {
      stats.other++;
      return fail(req, res, 404, 'ContainerNotFound', 'The specified container does not exist.');
    }
    switch (req.method) {
      case 'PUT': {
        stats.put++;
        stats.bytesIn += body.byteLength;
        if (q.has('comp')) return fail(req, res, 400, 'UnsupportedQueryParameter', `comp=${q.get('comp')} is not supported`);
        const type = req.headers['x-ms-blob-type'];
        if (type !== 'BlockBlob') return fail(req, res, 400, 'InvalidHeaderValue', `x-ms-blob-type ${String(type)} is not supported`);
        const md5 = req.headers['content-md5'];
        if (typeof md5 === 'string') {
          if (createHash('md5').update(body).digest('base64') !== md5) return fail(req, res, 400, 'Md5Mismatch', 'The MD5 value specified in the request did not match with the MD5 value calculated by the server.');
          stats.putsWithMd5++;
        }
        const now = new Date().toUTCString();
        const blob: StoredBlob = { data: body, etag: `"0x${(++etagCounter).toString(16).toUpperCase()}"`, lastModified: now };
        c.set(blobName, blob);
        baseHeaders(res);
        res.setHeader('ETag', blob.etag);
        res.setHeader('Last-Modified', now);
        res.setHeader('x-ms-request-server-encrypted', 'true');
        res.setHeader('Content-Length', 0);
        res.writeHead(201);
        res.end();
        return;
      }
      case 'GET':
      case 'HEAD': {
        if (req.method === 'GET') stats.get++;
        else stats.head++;
        const blob = c.blobs.get(blobName);
        if (blob === undefined) return fail(req, res, 404, 'BlobNotFound', 'The specified blob does not exist.');
        baseHeaders(res);
        blobHeaders(res, blob);
        const size = blob.data.byteLength;
        const range = (req.headers['x-ms-range'] ?? req.headers.range) as string | undefined;
        if (req.method === 'HEAD') {
          res.setHeader('Content-Length', size);
          res.writeHead(200);
          res.end();
          return;
        }
        if (range !== undefined) {
          const m = /^bytes=(\d+)-(\d*)$/.exec(range.trim());
          if (m === null) return fail(req, res, 400, 'InvalidRange', `bad range ${range}`);
          const start = Number(m[1]);
          const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
          if (start >= size) {
            res.setHeader('Content-Range', `bytes */${size}`);
            return fail(req, res, 416, 'InvalidRange', 'The range specified is invalid for the current size of the resource.');
          }
          res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
          res.setHeader('Content-Length', end - start + 1);
          res.writeHead(206);
          res.end(blob.data.subarray(start, end + 1));
          return;
        }
        res.setHeader('Content-Length', size);
        res.writeHead(200);
        res.end(blob.data);
        return;
      }
      case 'DELETE': {
        stats.delete++;
        if (!c.delete(blobName)) return fail(req, res, 404, 'BlobNotFound', 'The specified blob does not exist.');
        baseHeaders(res);
        res.setHeader('x-ms-delete-type-permanent', 'true');
        res.setHeader('Content-Length', 0);
        res.writeHead(202);
        res.end();
        return;
      }
      default:
        stats.other++;
        return fail(req, res, 405, 'UnsupportedHttpVerb', `${req.method} is not supported`);
    }
  };

  const server: Server = createServer({ keepAlive: true, keepAliveTimeout: 60_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = (): void => {
        try {
          handle(req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
        } catch (error) {
          fail(req, res, 500, 'InternalError', String(error));
        }
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  server.maxRequestsPerSocket = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    account,
    get stats() {
      return { ...stats };
    },
    containerUrl(container: string): string {
      const sas = 'sv=2025-01-05&ss=b&srt=co&sp=rwdlac&se=2099-01-01T00%3A00%3A00Z&spr=http&sig=bench-not-checked';
      return `http://127.0.0.1:${port}/${account}/${container}?${sas}`;
    },
    createContainer(container: string): void {
      containers.set(container, new Container());
    },
    dropContainer(container: string): void {
      containers.delete(container);
    },
    blobCount(container: string): number {
      return containers.get(container)?.blobs.size ?? 0;
    },
    blobBodies(container: string): Buffer[] {
      return [...(containers.get(container)?.blobs.values() ?? [])].map((b) => b.data);
    },
    resetStats(): void {
      stats = emptyStats();
    },
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Standalone: serve until killed (see the header). */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const value = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const server = await startMiniBlobServer({ port: Number(value('--port') ?? 0), delayMs: Number(value('--delay-ms') ?? 0) });
  const container = value('--container') ?? 'bench';
  server.createContainer(container);
  process.stdout.write(`${server.containerUrl(container)}\n`);
  process.on('SIGTERM', () => {
    process.stderr.write(`mini-blob-server: ${JSON.stringify(server.stats)}\n`);
    void server.close().then(() => process.exit(0));
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    process.stderr.write(`mini-blob-server: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
