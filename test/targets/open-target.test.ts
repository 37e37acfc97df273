import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isClfsError } from '../../src/errors/index.js';
import { AzureTarget, FolderTarget, openTarget, parseRetryAfter, parseTargetUrl, redact, targetKey } from '../../src/targets/index.js';

const SAS = 'sv=2025-11-05&se=2030-01-01T00%3A00%3A00Z&sr=c&sp=racwdl&sig=abc%3D';

describe('parseTargetUrl', () => {
  it('reads a folder URL', () => {
    assert.deepEqual(parseTargetUrl('file:///tmp/x/'), { kind: 'folder', path: '/tmp/x' });
    assert.ok(openTarget('file:///tmp/x') instanceof FolderTarget);
  });

  it('reads an Azure container SAS URL', () => {
    assert.deepEqual(parseTargetUrl(`https://acct.blob.core.windows.net/cont-1?${SAS}`), {
      kind: 'azure',
      endpoint: 'https://acct.blob.core.windows.net',
      accountName: 'acct',
      containerName: 'cont-1',
      sasToken: SAS,
    });
  });

  it('reads an Azurite URL, and a doubled ? SAS', () => {
    const spec = parseTargetUrl(`http://127.0.0.1:10000/devstoreaccount1/cont??${SAS}`);
    assert.deepEqual(spec, {
      kind: 'azure',
      endpoint: 'http://127.0.0.1:10000/devstoreaccount1',
      accountName: 'devstoreaccount1',
      containerName: 'cont',
      sasToken: SAS,
    });
    assert.ok(openTarget(spec) instanceof AzureTarget);
  });

  it('reads CONTAINER?SAS against an endpoint', () => {
    const spec = parseTargetUrl(`cont?${SAS}`, { endpoint: 'http://localhost:10000/devstoreaccount1/' });
    assert.equal(spec.kind === 'azure' && spec.endpoint, 'http://localhost:10000/devstoreaccount1');
  });

  it('reads a container URL without a SAS (the target signs in with Entra ID or a key)', () => {
    const spec = parseTargetUrl('https://acct.blob.core.windows.net/cont');
    assert.deepEqual(spec, { kind: 'azure', endpoint: 'https://acct.blob.core.windows.net', accountName: 'acct', containerName: 'cont', sasToken: '' });
  });

  for (const bad of [
    '',
    'not a url',
    'ftp://x/y',
    `https://acct.blob.core.windows.net/?${SAS}`,
    `https://acct.blob.core.windows.net/Bad_Name?${SAS}`,
    `https://acct.blob.core.windows.net/cont/blob?${SAS}`,
    'https://acct.blob.core.windows.net/cont?sv=1&sp=r',
    'file:///tmp/x?y=1',
  ]) {
    it(`rejects ${JSON.stringify(bad)} with E_USAGE, one line, no secret`, () => {
      assert.throws(
        () => parseTargetUrl(bad),
        (e: unknown) => {
          assert.ok(isClfsError(e));
          assert.equal(e.code, 'E_USAGE');
          assert.match(e.message, /expected file:\/\/\/ABS\/DIR/);
          assert.ok(!e.message.includes('\n'));
          assert.ok(!e.message.includes('abc%3D'));
          return true;
        },
      );
    });
  }
});

describe('targetKey and redact', () => {
  it('keys are the strings existing state folders hold (file:/ABS, azure:ENDPOINT/CONTAINER), without the SAS', () => {
    assert.equal(targetKey(parseTargetUrl('file:///tmp/x/')), 'file:/tmp/x');
    assert.equal(targetKey(parseTargetUrl('file:///')), 'file:/');
    assert.equal(targetKey(parseTargetUrl(`https://acct.blob.core.windows.net/cont-1?${SAS}`)), 'azure:https://acct.blob.core.windows.net/cont-1');
    assert.equal(
      targetKey(parseTargetUrl(`cont?${SAS}`, { endpoint: 'http://127.0.0.1:10000/devstoreaccount1/' })),
      'azure:http://127.0.0.1:10000/devstoreaccount1/cont',
    );
  });

  it('redacts a SAS signature whatever the scheme', () => {
    assert.equal(redact(`https://a.blob.core.windows.net/c?sv=1&sig=abc%3D&sp=r`), 'https://a.blob.core.windows.net/c?sv=1&sig=REDACTED&sp=r');
    assert.equal(redact(`htps://a/c?SIG=abc`), 'htps://a/c?SIG=REDACTED');
    assert.equal(redact('file:///tmp/x'), 'file:///tmp/x');
  });

  it('a usage error lists every registered URL form', () => {
    assert.throws(
      () => parseTargetUrl('ftp://x/y'),
      (e: unknown) =>
        isClfsError(e) &&
        e.message ===
          'bad target URL ftp://x/y: unsupported scheme ftp:; expected file:///ABS/DIR, https://ACCOUNT.blob.core.windows.net/CONTAINER[?SAS] or http://127.0.0.1:PORT/devstoreaccount1/CONTAINER?SAS',
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('1'), 1);
    assert.equal(parseRetryAfter(null), undefined);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 10);
    assert.equal(parseRetryAfter('soon'), undefined);
  });
});
