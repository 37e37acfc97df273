import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isClfsError } from '../../src/errors/index.js';
import { AzureTarget, bypassesProxy, parseTargetUrl, proxySettingsOf, redactProxyUrl, type AzureContainerSpec } from '../../src/targets/index.js';
import { startForwardProxy } from '../helpers/forward-proxy.js';

describe('proxy settings, by the Azure SDK\'s rules', () => {
  it('HTTPS_PROXY, then ALL_PROXY, then HTTP_PROXY serves every request; a bare host:port is http://', () => {
    assert.equal(proxySettingsOf({}), undefined);
    assert.equal(proxySettingsOf({ httpsProxy: ' ' }), undefined);
    assert.equal(proxySettingsOf({ httpsProxy: 'http://a:1', allProxy: 'http://b:2', httpProxy: 'http://c:3' })?.url, 'http://a:1/');
    assert.equal(proxySettingsOf({ allProxy: 'http://b:2', httpProxy: 'http://c:3' })?.url, 'http://b:2/');
    assert.equal(proxySettingsOf({ httpProxy: 'proxy.example:3128' })?.url, 'http://proxy.example:3128/');
    assert.deepEqual(proxySettingsOf({ httpProxy: 'http://p:1', noProxy: ' Localhost, .Example.com ,,*.x' })?.noProxy, ['localhost', '.example.com', '*.x']);
  });

  it('refuses a proxy URL that is not http, without its password', () => {
    for (const bad of ['https://u:hunter2pass@p:1', 'socks5://u:hunter2pass@p:1']) {
      assert.throws(() => proxySettingsOf({ httpsProxy: bad }), (e: unknown) => isClfsError(e) && e.code === 'E_USAGE' && /http:\/\//.test(e.message) && !e.message.includes('hunter2pass'));
    }
    assert.equal(redactProxyUrl('http://user:secret@p:1'), 'http://user:REDACTED@p:1');
  });

  it('NO_PROXY: exact names, .domain for the domain and below, * for all', () => {
    const list = ['localhost', '.corp.example', '127.0.0.1'];
    assert.ok(bypassesProxy('localhost', list));
    assert.ok(bypassesProxy('corp.example', list));
    assert.ok(bypassesProxy('a.b.corp.example', list));
    assert.ok(bypassesProxy('127.0.0.1', list));
    assert.ok(!bypassesProxy('acct.blob.core.windows.net', list));
    assert.ok(!bypassesProxy('notcorp.example', list));
    assert.ok(bypassesProxy('anything', ['*']));
    assert.ok(!bypassesProxy('anything', []));
  });
});

describe('a proxy that refuses the tunnel', () => {
  it('stops the run (E_TARGET_IO, not per entry) naming the host, on the lean put and the SDK alike', async () => {
    const proxy = await startForwardProxy({ denyTunnelsTo: ['acct.blob.core.windows.net'] });
    try {
      for (const leanPut of [true, false]) {
        const t = new AzureTarget(parseTargetUrl('https://acct.blob.core.windows.net/cont?sv=1&sig=x') as AzureContainerSpec, { proxy: { url: proxy.url }, leanPut });
        try {
          for (const attempt of [() => t.put('a', Buffer.from('x')), () => t.checkAccess()]) {
            await assert.rejects(attempt(), (e: unknown) => {
              assert.ok(isClfsError(e));
              assert.equal(e.code, 'E_TARGET_IO');
              assert.equal(e.recoverable, false);
              assert.match(e.message, /the proxy refused a tunnel to acct\.blob\.core\.windows\.net .*\(HTTP 403\): check that the proxy allows CONNECT/);
              return true;
            });
          }
        } finally {
          await t.close();
        }
      }
      assert.equal(proxy.stats.tunnels, 0);
    } finally {
      await proxy.close();
    }
  });
});
