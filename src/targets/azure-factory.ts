/**
 * A container URL: `https://ACCOUNT.blob.core.windows.net/CONTAINER?SAS`, or for Azurite and
 * other emulators `http://127.0.0.1:PORT/devstoreaccount1/CONTAINER?SAS` (azure-target.ts). Without
 * the `?SAS` the target signs in with Entra ID or an account key (AzureTargetOptions.auth).
 */
import type { TargetFactory } from './factory.js';
import { AzureTarget, type AzureContainerSpec, type AzureTargetOptions } from './azure-target.js';

/** Hosts whose first path segment is the account (emulators, IP addresses), as the SDK decides. */
function isPathStyleHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === 'host.docker.internal' ||
    /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) ||
    hostname.startsWith('[')
  );
}

export const azureFactory: TargetFactory<AzureContainerSpec, AzureTargetOptions> = {
  kind: 'azure',
  schemes: ['https', 'http'],
  forms: ['https://ACCOUNT.blob.core.windows.net/CONTAINER[?SAS]', 'http://127.0.0.1:PORT/devstoreaccount1/CONTAINER?SAS'],

  parse(text, { bad, url }) {
    const parsed = url(text);
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
    // no SAS: the target signs in another way (AzureTargetOptions.auth; by default Entra ID)
    const sasToken = parsed.search.replace(/^\?+/, '');
    if (sasToken !== '' && !new URLSearchParams(sasToken).has('sig')) throw bad('the SAS token has no sig= field');
    return {
      kind: 'azure',
      endpoint: `${parsed.protocol}//${parsed.host}${endpointPath}`,
      accountName,
      containerName,
      sasToken,
    };
  },

  /** the SAS signature is the secret; the rest of the token (permissions, expiry) helps a reader */
  redact: (url) => url.replace(/([?&]sig=)[^&]*/gi, '$1REDACTED'),

  // the SAS is left out: a new SAS for the same container resumes the same load
  key: (spec) => `azure:${spec.endpoint}/${spec.containerName}`,

  open: (spec, options) => new AzureTarget(spec, options),
};
