/**
 * The lean listing: the List Blobs page reader on the service's shapes, and AzureTarget's list on
 * the lean sockets against the SDK's listing of the same Azurite container (SAS and Shared Key,
 * pages of a few names, names that XML and URLs escape).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseListBlobsPage, xmlText } from '../../src/targets/list-blobs-xml.js';
import { AZURITE_ACCOUNT_KEY } from '../../src/targets/embedded-azurite.js';
import { AzureTarget, parseTargetUrl, type AzureContainerSpec } from '../../src/targets/index.js';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';

const page = (blobs: string, tail = '<NextMarker />') =>
  `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://x/" ContainerName="c"><Prefix>p</Prefix><MaxResults>3</MaxResults><Blobs>${blobs}</Blobs>${tail}</EnumerationResults>`;
const blob = (name: string, size: number, attrs = '') =>
  `<Blob><Name${attrs}>${name}</Name><Properties><Creation-Time>Sun, 06 Dec 2026 21:00:00 GMT</Creation-Time><Etag>0x1</Etag><Content-Length>${size}</Content-Length><Content-Type>application/octet-stream</Content-Type></Properties><OrMetadata /></Blob>`;

describe('parseListBlobsPage', () => {
  it('reads names, sizes and the next marker; entities, character references and percent-encoded names are decoded', () => {
    const p = parseListBlobsPage(page(blob('a &amp; b&lt;c&gt;&quot;&apos;', 5) + blob('caf&#xE9;&#233;', 0) + blob('x%25y%0A', 7, ' Encoded="true"') + blob('NameX', 12), '<NextMarker>2!8!MDAwMDA-&amp;</NextMarker>'));
    assert.deepEqual(p.items, [
      { name: 'a & b<c>"\'', sizeBytes: 5 },
      { name: 'caféé', sizeBytes: 0 },
      { name: 'x%y\n', sizeBytes: 7 },
      { name: 'NameX', sizeBytes: 12 },
    ]);
    assert.equal(p.next, '2!8!MDAwMDA-&');
  });

  it('the last page: an empty or absent NextMarker; an empty container: <Blobs />', () => {
    assert.equal(parseListBlobsPage(page(blob('a', 1))).next, undefined);
    assert.equal(parseListBlobsPage(page(blob('a', 1), '<NextMarker></NextMarker>')).next, undefined);
    assert.equal(parseListBlobsPage(page(blob('a', 1), '')).next, undefined);
    const empty = parseListBlobsPage('<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://x/" ContainerName="c"><Blobs /><NextMarker /></EnumerationResults>');
    assert.deepEqual(empty, { items: [], next: undefined });
  });

  it('an answer that is not a listing, or a cut one, is an error that says so', () => {
    for (const bad of ['<Error><Code>X</Code></Error>', page('<Blob><Name>a</Name>'), page('<Blob><Properties /></Blob>'), page(blob('a', -1))]) {
      assert.throws(() => parseListBlobsPage(bad), /blob listing could not be read/);
    }
  });

  it('xmlText leaves text without references alone', () => {
    assert.equal(xmlText('plain'), 'plain');
    assert.equal(xmlText('&#x1F600;'), '\u{1F600}');
  });
});

describe('AzureTarget list on the lean sockets', () => {
  let azurite: RunningAzurite | undefined;
  after(async () => {
    await azurite?.stop();
  });

  it('gives what the SDK lists, page by page, with a SAS and with Shared Key', { timeout: 120_000 }, async () => {
    azurite = await startAzurite();
    const { url } = await azurite.makeContainer();
    const spec = parseTargetUrl(url) as AzureContainerSpec;
    const sdk = new AzureTarget(spec, { leanPut: false });
    const names = ['a', 'a b', 'a&b', 'a<b>', 'q?x=1', 'p%20q', 'café', 'dir/x', 'dir/y', 'emoji-\u{1F600}', 'z'];
    for (const [i, n] of names.entries()) await sdk.put(n, Buffer.alloc(i * 3, 1));
    const collect = async (t: AzureTarget, prefix: string) => {
      const out: Array<{ name: string; sizeBytes: number }> = [];
      for await (const b of t.list(prefix)) out.push(b);
      return out;
    };
    const want = await collect(sdk, '');
    assert.equal(want.length, names.length);
    const sas = new AzureTarget(spec, { listPageSize: 3 });
    const key = new AzureTarget({ ...spec, sasToken: '' }, { listPageSize: 2, auth: { kind: 'key', accountKey: AZURITE_ACCOUNT_KEY } });
    for (const t of [sas, key]) {
      assert.deepEqual(await collect(t, ''), want);
      assert.deepEqual(await collect(t, 'dir/'), await collect(sdk, 'dir/'));
      assert.deepEqual(await collect(t, 'none'), []);
    }
    // exists (a HEAD) and delete on the same sockets, signed either way
    for (const [i, t] of [sas, key].entries()) {
      assert.equal(await t.exists('a&b'), true);
      assert.equal(await t.exists('nope'), false);
      await t.delete('nope');
      await t.put(`gone-${i}`, Buffer.from('x'));
      assert.equal(await t.exists(`gone-${i}`), true);
      await t.delete(`gone-${i}`);
      assert.equal(await t.exists(`gone-${i}`), false);
      assert.equal(await sdk.exists(`gone-${i}`), false);
    }
    const noContainer = new AzureTarget({ ...spec, sasToken: '', containerName: 'no-such-container' }, { auth: { kind: 'key', accountKey: AZURITE_ACCOUNT_KEY } });
    await assert.rejects(noContainer.exists('a'), (e: { code?: string }) => e.code === 'E_TARGET_CONTAINER_MISSING');
    await noContainer.close();
    // a refused listing is the target's coded error, as through the SDK
    const wrong = new AzureTarget({ ...spec, sasToken: '' }, { auth: { kind: 'key', accountKey: Buffer.alloc(64, 7).toString('base64') } });
    await assert.rejects(collect(wrong, ''), (e: { code?: string }) => typeof e.code === 'string' && e.code.startsWith('E_'));
    for (const t of [sdk, sas, key, wrong]) await t.close();

    // what a load, verify, ls, cat and export ask of a container (access check, list, put,
    // whole-blob get, exists, delete) never loads the SDK (~0.25 s of CPU at start-up)
    const script = `
      import { createRequire } from 'node:module';
      import { AzureTarget, parseTargetUrl } from ${JSON.stringify(new URL('../../src/targets/index.js', import.meta.url).href)};
      const t = new AzureTarget(parseTargetUrl(process.argv[1]));
      await t.checkAccess();
      let n = 0;
      for await (const b of t.list('')) n++;
      const got = await t.get('a b');
      if (!(await t.exists('a b')) || (await t.exists('none'))) throw new Error('exists');
      await t.put('child', Buffer.from('x'));
      await t.delete('child');
      await t.close();
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('@azure/storage-blob'));
      console.log(JSON.stringify({ n, got: got.length, loaded }));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, url], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { n: names.length, got: 3, loaded: false });
  });
});
