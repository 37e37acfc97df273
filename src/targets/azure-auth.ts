/**
 * How an Azure target proves who it is, besides a SAS in the URL: a Microsoft Entra ID token
 * (`@azure/identity`'s DefaultAzureCredential chain by default, or any TokenCredential the caller
 * gives), or the account key (Shared Key signing). The lean Put Blob and the SDK share one token
 * cache, so signing in costs one token request per hour, not one per blob.
 */
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { ClfsError } from '../errors/index.js';

/** What @azure/core-auth's AccessToken carries (kept structural: no import of core-auth). */
export interface AccessTokenLike {
  token: string;
  /** ms since the epoch */
  expiresOnTimestamp: number;
  /** ms since the epoch: when the issuer suggests getting a new one */
  refreshAfterTimestamp?: number;
}

/** @azure/core-auth's TokenCredential, structurally: every @azure/identity credential is one. */
export interface TokenCredentialLike {
  getToken(scopes: string | string[], options?: { abortSignal?: AbortSignal }): Promise<AccessTokenLike | null>;
}

/**
 * The credential of an Azure target.
 *   sas:   the SAS in the spec (the default when the spec has one)
 *   token: Entra ID; `credential` defaults to DefaultAzureCredential (managed identity, workload
 *          identity, AZURE_CLIENT_ID/SECRET service principal, `az login`, ...)
 *   key:   the storage account key (Shared Key)
 */
export type AzureAuth = { kind: 'sas' } | { kind: 'token'; credential?: TokenCredentialLike } | { kind: 'key'; accountKey: string };

/** The scope a token for Azure Storage is asked for. */
export const STORAGE_SCOPE = 'https://storage.azure.com/.default';

/** The role a signed-in identity needs for a load; named in permission errors and docs/guide.md. */
export const LOAD_ROLE = 'Storage Blob Data Contributor';

/** @azure/identity, loaded on first use (it costs start-up time a SAS or folder load never needs). */
export function defaultAzureCredential(): TokenCredentialLike {
  const identity = createRequire(import.meta.url)('@azure/identity') as { DefaultAzureCredential: new () => TokenCredentialLike };
  return new identity.DefaultAzureCredential();
}

export interface TokenCacheOptions {
  /** get a new token this long before the old one expires (or at its refreshAfterTimestamp); default 5 minutes */
  refreshMarginMs?: number;
  /** for tests */
  now?: () => number;
  /** names the target in a sign-in failure */
  description?: string;
}

/**
 * One token for every request of a target, renewed before it expires. Within the refresh margin
 * requests keep the current token while one renewal runs in the background; only a token that is
 * about to expire (or none yet) makes requests wait, all on the same renewal.
 */
export class TokenCache {
  readonly #credential: TokenCredentialLike;
  readonly #marginMs: number;
  readonly #now: () => number;
  readonly #description: string;
  #current: AccessTokenLike | undefined;
  #pending: Promise<AccessTokenLike> | undefined;
  #lastAttemptMs = -Infinity;
  /** token requests made to the credential, for tests and the debug log */
  requests = 0;

  constructor(credential: TokenCredentialLike, options: TokenCacheOptions = {}) {
    this.#credential = credential;
    this.#marginMs = options.refreshMarginMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#description = options.description ?? 'the Azure container';
  }

  /** The token when one is cached and fresh; no promise, for the lean put's fast path. */
  peek(): string | undefined {
    const t = this.#current;
    if (t === undefined) return undefined;
    const now = this.#now();
    if (now < this.#refreshAt(t)) return t.token;
    if (now < t.expiresOnTimestamp - 30_000) {
      // still valid: renew in the background, at most every 10 s (a credential that hands out
      // short tokens, or one that fails, must not be asked at every request)
      if (this.#pending === undefined && now - this.#lastAttemptMs > 10_000) this.#renew().catch(() => undefined);
      return t.token;
    }
    return undefined;
  }

  async get(abortSignal?: AbortSignal): Promise<string> {
    return this.peek() ?? (await this.#renew(abortSignal)).token;
  }

  /** The same cache as a TokenCredential, for the SDK's pipeline. */
  asCredential(): TokenCredentialLike {
    return {
      getToken: async (_scopes, options) => {
        await this.get(options?.abortSignal);
        return this.#current ?? null;
      },
    };
  }

  #refreshAt(t: AccessTokenLike): number {
    return Math.min(t.refreshAfterTimestamp ?? Infinity, t.expiresOnTimestamp - this.#marginMs);
  }

  #renew(abortSignal?: AbortSignal): Promise<AccessTokenLike> {
    this.#pending ??= (async () => {
      this.requests += 1;
      this.#lastAttemptMs = this.#now();
      try {
        const token = await this.#credential.getToken(STORAGE_SCOPE, abortSignal === undefined ? {} : { abortSignal });
        if (token === null || typeof token.token !== 'string' || token.token === '') throw new Error('the credential gave no token');
        this.#current = token;
        return token;
      } catch (error) {
        throw signInFailed(this.#description, error);
      } finally {
        this.#pending = undefined;
      }
    })();
    return this.#pending;
  }
}

function signInFailed(description: string, error: unknown): ClfsError {
  if (error instanceof ClfsError) return error;
  const why = signInWhy(error);
  return new ClfsError(
    'E_TARGET_AUTH',
    `could not sign in to Azure for ${description} (${why}): run az login, or use a managed or workload identity, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET; or give a SAS (CLFSLOAD_SAS, --sas-file) or the account key (AZURE_STORAGE_KEY)`,
    { subject: description, cause: error },
  );
}

/**
 * Why DefaultAzureCredential failed, in a few words: its chain reports every credential it tried;
 * when none was even available the user has not signed in at all.
 */
function signInWhy(error: unknown): string {
  const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n').find((l) => l.trim() !== '')?.trim() ?? 'no reason given';
  const errors = (error as { errors?: unknown }).errors;
  if ((error as Error | undefined)?.name === 'AggregateAuthenticationError' && Array.isArray(errors)) {
    const real = errors.find((e) => (e as Error | undefined)?.name !== 'CredentialUnavailableError');
    if (real === undefined) return 'no sign-in found: no managed or workload identity, no AZURE_CLIENT_ID service principal, no az login session';
    return firstLine(real);
  }
  if ((error as Error | undefined)?.name === 'CredentialUnavailableError') return `no sign-in found: ${firstLine(error)}`;
  return firstLine(error);
}

/**
 * The Authorization header of a Shared Key request (learn.microsoft.com, "Authorize with Shared
 * Key"), as @azure/storage-blob signs it: `path` is the URL path as sent (percent-encoded), and
 * `headers` are the request's headers with lowercase names.
 */
export function sharedKeyAuthorization(
  accountName: string,
  accountKey: Buffer,
  method: string,
  path: string,
  query: URLSearchParams | undefined,
  headers: Readonly<Record<string, string | number | undefined>>,
): string {
  const h = (name: string) => {
    const v = headers[name];
    return v === undefined ? '' : String(v);
  };
  const length = h('content-length');
  const canonicalHeaders = Object.keys(headers)
    .filter((n) => n.startsWith('x-ms-') && headers[n] !== undefined)
    .sort()
    .map((n) => `${n}:${String(headers[n]).trim()}\n`)
    .join('');
  let resource = `/${accountName}${path}`;
  if (query !== undefined) {
    const names = [...new Set([...query.keys()].map((k) => k.toLowerCase()))].sort();
    for (const n of names) resource += `\n${n}:${query.getAll(n).join(',')}`;
  }
  const toSign = [
    method.toUpperCase(),
    h('content-encoding'),
    h('content-language'),
    length === '0' ? '' : length,
    h('content-md5'),
    h('content-type'),
    h('date'),
    h('if-modified-since'),
    h('if-match'),
    h('if-none-match'),
    h('if-unmodified-since'),
    h('range'),
  ].join('\n') + `\n${canonicalHeaders}${resource}`;
  return `SharedKey ${accountName}:${createHmac('sha256', accountKey).update(toSign, 'utf8').digest('base64')}`;
}

/** What a storage connection string says (AZURE_STORAGE_CONNECTION_STRING). */
export interface ConnectionStringParts {
  accountName?: string;
  accountKey?: string;
  /** the account's blob endpoint, without a trailing slash */
  blobEndpoint?: string;
  /** a SAS (SharedAccessSignature=), without a leading '?' */
  sasToken?: string;
}

/** Azurite's well-known development account (UseDevelopmentStorage=true); not a secret. */
const DEVELOPMENT_STORAGE = {
  accountName: 'devstoreaccount1',
  accountKey: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
  blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1',
};

/**
 * Parse a storage connection string. The error names the variable and the missing field, never
 * the string itself (it holds the key).
 */
export function parseConnectionString(text: string, name = 'AZURE_STORAGE_CONNECTION_STRING'): ConnectionStringParts {
  const fields = new Map<string, string>();
  for (const part of text.split(';')) {
    const at = part.indexOf('=');
    if (part.trim() === '') continue;
    if (at <= 0) throw new ClfsError('E_USAGE', `${name} is not a connection string (expected KEY=VALUE pairs separated by ';'): copy it again from the portal or az storage account show-connection-string`, { subject: name });
    fields.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  if (fields.get('usedevelopmentstorage')?.toLowerCase() === 'true') return { ...DEVELOPMENT_STORAGE };
  const accountName = fields.get('accountname');
  const accountKey = fields.get('accountkey');
  const sasToken = fields.get('sharedaccesssignature')?.replace(/^\?+/, '');
  let blobEndpoint = fields.get('blobendpoint')?.replace(/\/+$/, '');
  if (blobEndpoint === undefined && accountName !== undefined) {
    const protocol = fields.get('defaultendpointsprotocol') ?? 'https';
    const suffix = fields.get('endpointsuffix') ?? 'core.windows.net';
    blobEndpoint = `${protocol}://${accountName}.blob.${suffix}`;
  }
  if (accountKey === undefined && sasToken === undefined) {
    throw new ClfsError('E_USAGE', `${name} has neither AccountKey nor SharedAccessSignature: use the account's connection string with its key`, { subject: name });
  }
  return { accountName, accountKey, blobEndpoint, sasToken };
}
