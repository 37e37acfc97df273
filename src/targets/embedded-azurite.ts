/**
 * An Azurite blob service in a child process, for the `npm start` demo and for tests.
 * Azurite stores its data under a temp folder (or the given one) and listens on a free
 * loopback port. It is started with --skipApiVersionCheck because @azure/storage-blob speaks a
 * newer service version than Azurite 3.35 declares, and --loose so unknown headers are ignored.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { azureSdk } from './azure-sdk.js';
import { ClfsError } from '../errors/index.js';

/** The development account every Azurite accepts (documented by Microsoft, not a secret). */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/**
 * SAS tokens for Azurite are signed as service version 2025-11-05, the newest Azurite 3.35 knows:
 * with the SDK's default (2026-02-06) Azurite builds a different string to sign and answers 403.
 */
const AZURITE_SAS_VERSION = '2025-11-05';

export interface StartAzuriteOptions {
  /** data folder; default a fresh temp folder that stop() removes */
  location?: string;
  /** default a free port chosen by the OS */
  port?: number;
  /** how long to wait for the port to answer; default 30 s */
  startTimeoutMs?: number;
  abortSignal?: AbortSignal;
  /** serve HTTPS with this certificate and key (PEM files); the endpoint is then https://127.0.0.1:PORT/... */
  https?: { certPath: string; keyPath: string; /** the certificate's PEM, trusted by this starter's own requests */ ca: string };
  /** accept Entra ID bearer tokens, checked for audience, issuer and lifetime but not signature (Azurite's --oauth basic; needs https) */
  oauth?: 'basic';
  /** keep blobs and metadata in memory (Azurite's --inMemoryPersistence; `location` is then unused): its on-disk metadata slows down as a container grows */
  inMemory?: boolean;
}

export interface MakeContainerOptions {
  /** SAS permissions; default 'racwdl' */
  permissions?: string;
  /** SAS lifetime; default one day. A negative value makes an already expired SAS */
  lifetimeMs?: number;
}

export interface AzuriteContainer {
  /** container URL with a SAS query: http://127.0.0.1:PORT/devstoreaccount1/NAME?sv=... */
  url: string;
  containerName: string;
  /** the SAS query alone, without a leading '?' */
  sasToken: string;
}

export interface RunningAzurite {
  /** http://127.0.0.1:PORT/devstoreaccount1 */
  readonly endpoint: string;
  readonly accountName: string;
  readonly accountKey: string;
  readonly port: number;
  readonly location: string;
  /** create a container (default a fresh random name) and return its SAS URL */
  makeContainer(name?: string, options?: MakeContainerOptions): Promise<AzuriteContainer>;
  /** a SAS URL for a container without creating it (for missing-container and permission tests) */
  containerSasUrl(name: string, options?: MakeContainerOptions): Promise<AzuriteContainer>;
  /** kill the process; remove the data folder when it was a temp folder */
  stop(): Promise<void>;
  /** stop and start again on the same port with the same data */
  restart(): Promise<void>;
}

/** Start Azurite's blob service and wait until its port answers. */
export async function startAzurite(options: StartAzuriteOptions = {}): Promise<RunningAzurite> {
  const ownLocation = options.location === undefined;
  const location = options.location ?? (await mkdtemp(join(tmpdir(), 'clfsload-azurite-')));
  const port = options.port ?? (await freePort());
  const binary = azuriteBlobBinary();
  const endpoint = `${options.https === undefined ? 'http' : 'https'}://127.0.0.1:${port}/${AZURITE_ACCOUNT_NAME}`;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const extraArgs = [
    ...(options.https === undefined ? [] : ['--cert', options.https.certPath, '--key', options.https.keyPath]),
    ...(options.oauth === undefined ? [] : ['--oauth', options.oauth]),
    ...(options.inMemory === true ? ['--inMemoryPersistence'] : []),
  ];
  let child: ChildProcess | undefined = await launch(binary, port, location, startTimeoutMs, options.abortSignal, extraArgs);

  const {
    AccountSASPermissions,
    AccountSASResourceTypes,
    AccountSASServices,
    BlobServiceClient,
    ContainerSASPermissions,
    SASProtocol,
    StorageSharedKeyCredential,
    generateAccountSASQueryParameters,
    generateBlobSASQueryParameters,
  } = azureSdk();
  const containerSasUrl = async (name: string, sasOptions: MakeContainerOptions = {}): Promise<AzuriteContainer> => {
    const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT_NAME, AZURITE_ACCOUNT_KEY);
    const lifetimeMs = sasOptions.lifetimeMs ?? 24 * 3600_000;
    const now = Date.now();
    const startsOn = new Date(Math.min(now, now + lifetimeMs) - 5 * 60_000);
    const sasToken = generateBlobSASQueryParameters(
        {
          containerName: name,
          permissions: ContainerSASPermissions.parse(sasOptions.permissions ?? 'racwdl'),
          startsOn,
          expiresOn: new Date(now + lifetimeMs),
          protocol: SASProtocol.HttpsAndHttp,
          version: AZURITE_SAS_VERSION,
        },
      credential,
    ).toString();
    return { url: `${endpoint}/${name}?${sasToken}`, containerName: name, sasToken };
  };

  return {
    endpoint,
    accountName: AZURITE_ACCOUNT_NAME,
    accountKey: AZURITE_ACCOUNT_KEY,
    port,
    location,
    containerSasUrl,
    async makeContainer(name, sasOptions) {
      const containerName = name ?? `clfs-${randomBytes(6).toString('hex')}`;
      // Shared-key requests from @azure/storage-blob 12.31 fail against Azurite 3.35 on an
      // IP-style URL (the two canonicalise the resource path differently), so containers are
      // made with an account SAS, whose signature does not cover the URL path.
      const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT_NAME, AZURITE_ACCOUNT_KEY);
      const accountSas = generateAccountSASQueryParameters(
        {
          services: AccountSASServices.parse('b').toString(),
          resourceTypes: AccountSASResourceTypes.parse('sc').toString(),
          permissions: AccountSASPermissions.parse('rwdlc'),
          expiresOn: new Date(Date.now() + 3600_000),
          version: AZURITE_SAS_VERSION,
        },
        credential,
      ).toString();
      const agent = options.https === undefined ? {} : { agent: new HttpsAgent({ ca: options.https.ca }) };
      const service = new BlobServiceClient(`${endpoint}?${accountSas}`, undefined, { retryOptions: { maxTries: 3 }, ...agent } as { retryOptions: { maxTries: number } });
      await service.getContainerClient(containerName).createIfNotExists();
      return containerSasUrl(containerName, sasOptions);
    },
    async stop() {
      const running = child;
      child = undefined;
      if (running !== undefined) await kill(running);
      if (ownLocation) await rm(location, { recursive: true, force: true });
    },
    async restart() {
      const running = child;
      child = undefined;
      if (running !== undefined) await kill(running);
      child = await launch(binary, port, location, startTimeoutMs, options.abortSignal, extraArgs);
    },
  };
}

/** The azurite-blob entry script, found through the installed azurite package. */
export function azuriteBlobBinary(): string {
  const require = createRequire(import.meta.url);
  const packageJsonPath = require.resolve('azurite/package.json');
  const packageJson = require(packageJsonPath) as { bin?: Record<string, string> };
  const relative = packageJson.bin?.['azurite-blob'] ?? 'dist/src/blob/main.js';
  return join(dirname(packageJsonPath), relative);
}

async function launch(
  binary: string,
  port: number,
  location: string,
  startTimeoutMs: number,
  abortSignal: AbortSignal | undefined,
  extraArgs: readonly string[] = [],
): Promise<ChildProcess> {
  const args = [
    binary,
    '--skipApiVersionCheck',
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    String(port),
    // in memory, Azurite refuses a data folder
    ...(extraArgs.includes('--inMemoryPersistence') ? [] : ['--location', location]),
    '--silent',
    '--loose',
    ...extraArgs,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 4000) stderr += chunk;
  });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once('exit', (code, signal) => {
    exited = { code, signal };
  });
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (exited !== undefined) {
      throw new ClfsError(
        'E_TARGET_IO',
        `Azurite exited during start (code ${exited.code ?? exited.signal}) on port ${port}: ${firstLine(stderr)}`,
        { subject: binary },
      );
    }
    if (abortSignal?.aborted) {
      await kill(child);
      throw new ClfsError('E_ABORTED', 'Azurite start aborted', { subject: binary });
    }
    if (await portAnswers(port)) return child;
    if (Date.now() > deadline) {
      await kill(child);
      throw new ClfsError('E_TARGET_IO', `Azurite did not answer on port ${port} within ${startTimeoutMs} ms`, {
        subject: binary,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function firstLine(text: string): string {
  return text.split('\n').find((line) => line.trim() !== '')?.trim() ?? 'no output';
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
