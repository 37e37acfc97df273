/**
 * A self-signed certificate for a test's HTTPS Azurite, made with openssl into a temp folder:
 * valid for 127.0.0.1, localhost and any name under .invalid the test maps in its proxy.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  dir: string;
  certPath: string;
  keyPath: string;
  /** the certificate as PEM: the CA a client must trust */
  pem: string;
}

export function makeTestCert(extraNames: readonly string[] = []): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'clfsload-tls-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  const san = ['IP:127.0.0.1', 'DNS:localhost', ...extraNames.map((n) => `DNS:${n}`)].join(',');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=clfsload-test', '-addext', `subjectAltName=${san}`],
    { stdio: 'ignore' },
  );
  return { dir, certPath, keyPath, pem: readFileSync(certPath, 'utf8') };
}

/**
 * An Entra ID access token as Azurite's `--oauth basic` checks it (audience, issuer, lifetime; no
 * signature): a JWT for Azure Storage, with `marker` inside so a test can search for it.
 */
export function fakeStorageToken(marker: string, lifetimeMs = 3600_000, nowMs = Date.now()): { token: string; expiresOnTimestamp: number } {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(nowMs / 1000);
  const exp = now + Math.floor(lifetimeMs / 1000);
  const payload = {
    aud: 'https://storage.azure.com',
    iss: 'https://sts.windows.net/ab1f708d-50f6-404c-a006-d71b2ac7a606/',
    nbf: now - 300,
    iat: now - 300,
    exp,
    oid: marker,
    sub: marker,
  };
  return { token: `${b64({ typ: 'JWT', alg: 'RS256' })}.${b64(payload)}.${Buffer.from(marker).toString('base64url')}`, expiresOnTimestamp: exp * 1000 };
}
