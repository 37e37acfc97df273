/**
 * From what a user types to a Target: `file:///ABS/DIR` for a folder, or a container SAS URL
 * (`https://ACCOUNT.blob.core.windows.net/CONTAINER?SAS`, or for Azurite
 * `http://127.0.0.1:PORT/devstoreaccount1/CONTAINER?SAS`).
 */
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ClfsError } from '../errors/index.js';
import { AzureTarget, type AzureContainerSpec, type AzureTargetOptions } from './azure-target.js';
import { FolderTarget, type FolderTargetOptions } from './folder-target.js';
import type { Target } from './target.js';

export interface FolderSpec {
  kind: 'folder';
  /** absolute path */
  path: string;
}

export type TargetSpec = FolderSpec | AzureContainerSpec;

export interface ParseTargetUrlOptions {
  /**
   * account endpoint (https://ACCOUNT.blob.core.windows.net or http://127.0.0.1:PORT/devstoreaccount1)
   * against which a bare `CONTAINER?SAS` is read
   */
  endpoint?: string;
}

export interface OpenTargetOptions {
  folder?: FolderTargetOptions;
  azure?: AzureTargetOptions;
}

const EXPECTED =
  'expected file:///ABS/DIR, https://ACCOUNT.blob.core.windows.net/CONTAINER?SAS or http://127.0.0.1:PORT/devstoreaccount1/CONTAINER?SAS';

/** Hosts whose first path segment is the account (emulators, IP addresses), as the SDK decides. */
function isPathStyleHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === 'host.docker.internal' ||
    /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) ||
    hostname.startsWith('[')
  );
}

/** Parse without touching the network. Throws E_USAGE naming the URL and the expected forms. */
export function parseTargetUrl(url: string, options: ParseTargetUrlOptions = {}): TargetSpec {
  const shown = redact(url);
  const bad = (why: string): ClfsError =>
    new ClfsError('E_USAGE', `bad target URL ${shown}: ${why}; ${EXPECTED}`, { subject: shown });

  const text = url.trim();
  if (text === '') throw bad('empty');
  // WHATWG URL parsing reads file:relative/dir as file:///relative/dir: a folder at the root,
  // not the relative one the user meant. A folder URL must spell its absolute path.
  const fileRest = /^file:(.*)$/is.exec(text)?.[1];
  if (fileRest !== undefined && !fileRest.startsWith('/')) {
    throw new ClfsError(
      'E_USAGE',
      `bad target URL ${shown}: a folder URL needs an absolute path, file:///ABS/DIR; for this folder: ${pathToFileURL(resolve(fileRest.replace(/[?#].*$/s, ''))).href}`,
      { subject: shown },
    );
  }
  let parsed: URL;
  try {
    parsed =
      options.endpoint !== undefined && !/^[a-z][a-z0-9+.-]*:/i.test(text)
        ? new URL(`${options.endpoint.replace(/\/+$/, '')}/${text.replace(/^\/+/, '')}`)
        : new URL(text);
  } catch {
    throw bad('not a URL');
  }

  if (parsed.protocol === 'file:') {
    if (parsed.search !== '' || parsed.hash !== '') throw bad('a folder URL takes no query');
    let path: string;
    try {
      path = fileURLToPath(parsed);
    } catch {
      // file://dir/x: "dir" was read as a host name
      throw bad(`not an absolute local path (a folder URL has three slashes: file:///ABS/DIR)`);
    }
    return { kind: 'folder', path: path.length > 1 ? path.replace(/\/+$/, '') : path };
  }

  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw bad(`unsupported scheme ${parsed.protocol}`);
  const segments = parsed.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  let accountName: string;
  let containerName: string | undefined;
  let endpointPath = '';
  if (isPathStyleHost(parsed.hostname)) {
    if (segments.length === 0) throw bad('no account name in the path');
    accountName = segments[0]!;
    containerName = segments[1];
    endpointPath = `/${accountName}`;
    if (segments.length > 2) throw bad('a container URL has no blob path after the container');
  } else {
    accountName = parsed.hostname.split('.')[0] ?? '';
    containerName = segments[0];
    if (segments.length > 1) throw bad('a container URL has no blob path after the container');
  }
  if (containerName === undefined) throw bad('no container name');
  if (!/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/.test(containerName)) {
    throw bad(`container name ${containerName} must be 3-63 lowercase letters, digits and single hyphens`);
  }
  const sasToken = parsed.search.replace(/^\?+/, '');
  if (sasToken === '') throw bad('no SAS token (the part after ?)');
  if (!new URLSearchParams(sasToken).has('sig')) throw bad('the SAS token has no sig= field');
  return {
    kind: 'azure',
    endpoint: `${parsed.protocol}//${parsed.host}${endpointPath}`,
    accountName,
    containerName,
    sasToken,
  };
}

/** A Target for a spec or URL (parsed with parseTargetUrl). */
export function openTarget(specOrUrl: TargetSpec | string, options: OpenTargetOptions = {}): Target {
  const spec = typeof specOrUrl === 'string' ? parseTargetUrl(specOrUrl) : specOrUrl;
  switch (spec.kind) {
    case 'folder':
      return new FolderTarget(spec.path, options.folder);
    case 'azure':
      return new AzureTarget(spec, options.azure);
  }
}

/** The URL without its SAS signature, for messages: SAS tokens are secrets. */
export function redact(url: string): string {
  return url.replace(/([?&]sig=)[^&]*/gi, '$1REDACTED');
}
