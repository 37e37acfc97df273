/**
 * A target as the user gave it, read in one place for every command: a URL (`file:///ABS/DIR`,
 * a container URL with or without a SAS, or `CONTAINER?SAS` with `--endpoint`), or the
 * reference's separate account, container and SAS positionals. Parsing touches nothing; opening is
 * left to the command, which may first check what else it was given (a load checks its source
 * before any target work).
 *
 * How an Azure target signs in (`--auth`): `sas` (in the URL, CLFSLOAD_SAS or --sas-file),
 * `key` (AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING), `entra` (@azure/identity's
 * DefaultAzureCredential), or `auto` (the default): the first of those three the user gave.
 */
import * as fs from 'node:fs';
import { Option, type Command } from 'commander';
import { ClfsError, displayPath, openTarget, parseConnectionString, parseTargetUrl, RateLimitTarget, RetryTarget, targetKey } from '../index.js';
import { folderPath, notUtf8 } from './byte-path.js';
import { azureEnvironment, folderDurability, type AzureEnvironment } from './environment.js';
import { argumentBytes } from './raw-argv.js';
import type { AzureAuth, AzureTargetOptions, ConnectionStringParts, RateLimiter, Target, TargetSpec } from '../index.js';

export const AUTH_MODES = ['auto', 'sas', 'key', 'entra'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** How to sign in, as the options give it (every command that takes a target has them). */
export interface AuthArgument {
  auth?: AuthMode;
  /** a file holding the SAS, or '-' for standard input */
  sasFile?: string;
}

export type TargetArgument = (
  | { url: string; endpoint?: string }
  /** the reference's positionals; the endpoint defaults to https://ACCOUNT.blob.core.windows.net */
  | { account: string; container: string; sas: string; endpoint?: string }
) &
  AuthArgument;

export interface CliTarget {
  spec: TargetSpec;
  /** names the target in the default state folder and in the state's identity checks */
  key: string;
  /**
   * The target, wrapped in retries with backoff (transient failures, throttling). `concurrency`
   * (--concurrency) becomes the target's own connection limit, so the retry wrapper's throttle and
   * the Put Blob agent's sockets allow as many requests in flight as the loader sends.
   * `reportRetries`: a line on stderr from the third retry of a request on (a load's long run
   * wants to show it is stuck; the read commands and the demo stay quiet).
   */
  open(options?: { concurrency?: number; reportRetries?: boolean; limiter?: RateLimiter }): Target;
}

export function cliTarget(arg: TargetArgument, io?: { stderr: NodeJS.WritableStream }, env: NodeJS.ProcessEnv = process.env): CliTarget {
  const azureEnv = azureEnvironment(env);
  const resolved = resolve(arg, azureEnv);
  const { auth } = resolved;
  let { spec } = resolved;
  let key = targetKey(spec);
  // a folder whose path is not UTF-8: opened by its bytes (byte-path.ts); its key spells them as ls does
  const bytes = spec.kind === 'folder' && 'url' in arg ? folderUrlBytes(arg.url) : undefined;
  if (spec.kind === 'folder' && bytes !== undefined && notUtf8(bytes)) {
    spec = { ...spec, path: folderPath(bytes, false) };
    key = `file:${displayPath(bytes)}`;
  }
  return {
    spec,
    key,
    open: ({ concurrency, reportRetries = false, limiter } = {}) => {
      const limit = concurrency === undefined ? {} : { maxConnections: concurrency };
      const azure: AzureTargetOptions = { ...limit, ...(auth === undefined ? {} : { auth }), ...(azureEnv.proxy === undefined ? {} : { proxy: azureEnv.proxy }) };
      // how a folder target makes blobs durable: a bench knob (CLFSLOAD_FOLDER_FSYNC, src/cli/environment.ts)
      const folder = { ...limit, durability: folderDurability(env) };
      const opened = openTarget(spec, { azure, folder });
      // under the retries, so each attempt passes the limits (--bwlimit, --max-requests)
      return new RetryTarget(limiter?.limited ? new RateLimitTarget(opened, limiter) : opened, {
        // an unreachable host gets a few quick tries, then one line from main(): no retry chatter
        onRetry: io && reportRetries ? (info) => (info.attempt >= 3 && !info.error.unreachable ? io.stderr.write(`retrying ${info.operation} ${info.subject}: ${info.error.message} (attempt ${info.attempt + 1})\n`) : undefined) : undefined,
      });
    },
  };
}

/**
 * The bytes of a file: URL's path as typed (raw-argv.ts), %XX decoded to bytes, without a
 * trailing slash; undefined when it has no absolute path (the folder factory reports that).
 */
function folderUrlBytes(url: string): Buffer | undefined {
  const typed = argumentBytes(url);
  const raw = typeof typed === 'string' ? Buffer.from(typed, 'utf8') : typed;
  const text = raw.toString('latin1');
  const m = /^\s*file:(?:\/\/(?=\/))?(\/[^?#]*)/i.exec(text);
  if (m === null) return undefined;
  const out: number[] = [];
  const p = Buffer.from(m[1]!, 'latin1');
  for (let i = 0; i < p.length; i++) {
    const hex = p[i] === 0x25 && i + 2 < p.length ? p.subarray(i + 1, i + 3).toString('latin1') : '';
    if (/^[0-9a-f]{2}$/i.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 2;
    } else out.push(p[i]!);
  }
  let end = out.length;
  while (end > 1 && out[end - 1] === 0x2f) end--;
  return Buffer.from(out.slice(0, end));
}

/** The spec with its SAS from wherever the user put it, and the credential to sign in with. */
function resolve(arg: TargetArgument, azureEnv: AzureEnvironment): { spec: TargetSpec; auth?: AzureAuth } {
  const mode: AuthMode = arg.auth ?? 'auto';
  // parsed only when it is used: a broken variable must not stop a load that has a SAS
  let parsed: ConnectionStringParts | undefined;
  const connection = (): ConnectionStringParts | undefined => {
    if (azureEnv.connectionString !== undefined) parsed ??= parseConnectionString(azureEnv.connectionString);
    return parsed;
  };
  // a bare CONTAINER (no scheme, no --endpoint) is read against the connection string's endpoint
  const endpoint = arg.endpoint ?? ('url' in arg && !/^[a-z][a-z0-9+.-]*:/i.test(arg.url.trim()) ? connection()?.blobEndpoint : undefined);
  let spec = specOf({ ...arg, ...(endpoint === undefined ? {} : { endpoint }) });
  if (spec.kind !== 'azure') {
    if (arg.auth !== undefined && arg.auth !== 'auto') throw new ClfsError('E_USAGE', `--auth ${arg.auth} is for Azure targets; ${spec.path} is a folder`, { subject: '--auth' });
    if (arg.sasFile !== undefined) throw new ClfsError('E_USAGE', `--sas-file is for Azure targets; ${spec.path} is a folder`, { subject: '--sas-file' });
    return { spec };
  }
  const fromFile = arg.sasFile === undefined ? undefined : readSasFile(arg.sasFile);
  if (fromFile !== undefined && spec.sasToken !== '') {
    throw new ClfsError('E_USAGE', 'a SAS is given twice, in the target URL and with --sas-file: keep one (--sas-file keeps it out of ps and the shell history)', { subject: '--sas-file' });
  }
  // the URL's own SAS first, then --sas-file, then the environment
  const sas = spec.sasToken !== '' ? spec.sasToken : (fromFile ?? sasOf(azureEnv.sas, 'CLFSLOAD_SAS') ?? connection()?.sasToken);
  const key = mode === 'sas' || (mode === 'auto' && sas !== undefined) || mode === 'entra' ? undefined : (azureEnv.accountKey ?? connection()?.accountKey);
  const keySource = azureEnv.accountKey !== undefined ? 'AZURE_STORAGE_KEY' : 'AZURE_STORAGE_CONNECTION_STRING';
  const chosen: Exclude<AuthMode, 'auto'> = mode !== 'auto' ? mode : sas !== undefined ? 'sas' : key !== undefined ? 'key' : 'entra';
  switch (chosen) {
    case 'sas':
      if (sas === undefined) {
        throw new ClfsError('E_USAGE', `--auth sas but no SAS for container ${spec.containerName}: add ?SAS to the URL, set CLFSLOAD_SAS, or give --sas-file FILE (or - for standard input)`, { subject: '--auth' });
      }
      spec = { ...spec, sasToken: sas };
      return { spec, auth: { kind: 'sas' } };
    case 'key': {
      if (key === undefined) {
        throw new ClfsError('E_USAGE', `--auth key but no account key: set AZURE_STORAGE_KEY, or AZURE_STORAGE_CONNECTION_STRING with AccountKey=`, { subject: '--auth' });
      }
      const named = connection()?.accountName;
      if (keySource === 'AZURE_STORAGE_CONNECTION_STRING' && named !== undefined && named !== spec.accountName) {
        throw new ClfsError('E_USAGE', `AZURE_STORAGE_CONNECTION_STRING is for account ${named} but the target is in account ${spec.accountName}: use that account's connection string`, { subject: 'AZURE_STORAGE_CONNECTION_STRING' });
      }
      return { spec: { ...spec, sasToken: '' }, auth: { kind: 'key', accountKey: key } };
    }
    case 'entra':
      return { spec: { ...spec, sasToken: '' }, auth: { kind: 'token' } };
  }
}

/** A SAS as a user may paste it: with or without '?', or a whole SAS URL. */
function sasOf(text: string | undefined, source: string): string | undefined {
  if (text === undefined) return undefined;
  let sas = text.trim();
  if (/^https?:\/\//i.test(sas)) sas = sas.slice(sas.indexOf('?') < 0 ? sas.length : sas.indexOf('?'));
  sas = sas.replace(/^\?+/, '');
  if (sas === '') throw new ClfsError('E_USAGE', `${source} holds no SAS: put the SAS token (sv=...&sig=...) in it`, { subject: source });
  if (!new URLSearchParams(sas).has('sig')) throw new ClfsError('E_USAGE', `the SAS in ${source} has no sig= field: copy the whole SAS token`, { subject: source });
  return sas;
}

function readSasFile(file: string): string | undefined {
  const source = file === '-' ? 'standard input (--sas-file -)' : `--sas-file ${file}`;
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ClfsError('E_USAGE', `cannot read the SAS from ${source} (${code}): give a readable file, or - to read standard input`, { subject: '--sas-file' });
  }
  // the first non-empty line: a file saved by an editor ends with a newline
  return sasOf(text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '', source);
}

/** --auth and --sas-file, for every command that takes a target (fresh Options for each command). */
export function authOptions(): Option[] {
  return [
    new Option('--auth <mode>', 'how to sign in to Azure: sas, key (AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING), entra (Microsoft Entra ID: az login, managed identity, ...), or auto: the first given').choices(AUTH_MODES),
    new Option('--sas-file <file>', 'read the SAS from FILE, or from standard input with -, instead of the URL (kept out of ps and shell history; CLFSLOAD_SAS works too)'),
  ];
}

export function addAuthOptions(command: Command): Command {
  for (const o of authOptions()) command.addOption(o);
  return command;
}

function specOf(arg: TargetArgument): TargetSpec {
  if ('url' in arg) return parseTargetUrl(arg.url, arg.endpoint === undefined ? {} : { endpoint: arg.endpoint });
  const endpoint = (arg.endpoint ?? `https://${arg.account}.blob.core.windows.net`).replace(/\/+$/, '');
  return { kind: 'azure', endpoint, accountName: arg.account, containerName: arg.container, sasToken: arg.sas.trim() === '-' ? '' : arg.sas.replace(/^\?+/, '') };
}

/** Help texts of the target argument and --endpoint, the same in every read command. */
export const TARGET_HELP = 'file:///ABS/DIR or a container URL (with ?SAS, or signed in with --auth)';
export const ENDPOINT_HELP = 'account endpoint for a bare CONTAINER?SAS target';
