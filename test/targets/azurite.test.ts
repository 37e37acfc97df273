import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';
import { isClfsError, type ClfsErrorCode } from '../../src/errors/index.js';
import { AzureTarget, openTarget, parseTargetUrl } from '../../src/targets/index.js';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';
import { runTargetConformance } from './conformance.js';

let azurite: RunningAzurite | undefined;
const shared = async (): Promise<RunningAzurite> => (azurite ??= await startAzurite());
after(async () => {
  await azurite?.stop();
});

runTargetConformance(
  'azurite',
  async () => {
    const az = await shared();
    const { url } = await az.makeContainer();
    return { target: openTarget(url, { azure: { listPageSize: 100 } }), cleanup: async () => undefined };
  },
  { manyCount: 1200, concurrency: 32 },
);

function hasCode(code: ClfsErrorCode) {
  return (error: unknown): boolean => {
    assert.ok(isClfsError(error), `not a ClfsError: ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.ok(!error.message.includes('\n'), 'one-line message');
    assert.ok(!error.message.includes('sig='), 'message must not leak the SAS');
    return true;
  };
}

describe('azure target against Azurite: credentials and containers', () => {
  let az: RunningAzurite;
  let containerName: string;
  before(async () => {
    az = await shared();
    containerName = (await az.makeContainer()).containerName;
  });

  it('a SAS without write permission is E_TARGET_PERMISSION on put, naming w', async () => {
    const { url } = await az.containerSasUrl(containerName, { permissions: 'rl' });
    const target = openTarget(url);
    await assert.rejects(target.put('x', Buffer.from('x')), (e: unknown) => {
      hasCode('E_TARGET_PERMISSION')(e);
      assert.match((e as Error).message, /'w'/);
      return true;
    });
    await assert.rejects(target.delete('x'), hasCode('E_TARGET_PERMISSION'));
    await assert.rejects(target.checkAccess!(), hasCode('E_TARGET_PERMISSION'));
    const names: string[] = [];
    for await (const info of target.list('')) names.push(info.name);
    assert.deepEqual(names, []);
  });

  it('an expired SAS is E_TARGET_SAS_EXPIRED', async () => {
    const { url } = await az.containerSasUrl(containerName, { lifetimeMs: -3600_000 });
    const target = openTarget(url);
    await assert.rejects(target.put('x', Buffer.from('x')), hasCode('E_TARGET_SAS_EXPIRED'));
    await assert.rejects(target.exists('x'), hasCode('E_TARGET_SAS_EXPIRED'));
    await assert.rejects(target.checkAccess!(), (e: unknown) => {
      hasCode('E_TARGET_SAS_EXPIRED')(e);
      assert.match((e as Error).message, /re-run the same command/);
      return true;
    });
  });

  it('a SAS signed with a wrong key is E_TARGET_AUTH', async () => {
    const credential = new StorageSharedKeyCredential(az.accountName, Buffer.alloc(64, 7).toString('base64'));
    const sas = generateBlobSASQueryParameters(
      {
        containerName,
        permissions: ContainerSASPermissions.parse('racwdl'),
        expiresOn: new Date(Date.now() + 3600_000),
        version: '2025-11-05',
      },
      credential,
    ).toString();
    const target = openTarget(`${az.endpoint}/${containerName}?${sas}`);
    await assert.rejects(target.put('x', Buffer.from('x')), hasCode('E_TARGET_AUTH'));
    await assert.rejects(target.get('x'), hasCode('E_TARGET_AUTH'));
    await assert.rejects(target.checkAccess!(), hasCode('E_TARGET_AUTH'));
  });

  it('a missing container is E_TARGET_CONTAINER_MISSING for every operation', async () => {
    const { url } = await az.containerSasUrl('no-such-container');
    const target = openTarget(url);
    const missing = hasCode('E_TARGET_CONTAINER_MISSING');
    await assert.rejects(target.put('x', Buffer.from('x')), missing);
    await assert.rejects(target.get('x'), missing);
    await assert.rejects(target.exists('x'), missing);
    await assert.rejects(target.delete('x'), missing);
    await assert.rejects(target.checkAccess!(), missing);
    await assert.rejects(async () => {
      for await (const _ of target.list('')) void _;
    }, missing);
  });

  it('a SAS pasted with a leading ? works, from parts and in a URL', async () => {
    const { sasToken } = await az.containerSasUrl(containerName);
    const fromParts = AzureTarget.fromParts(az.endpoint, az.accountName, containerName, `?${sasToken}`);
    await fromParts.put('q1', Buffer.from('one'));
    await fromParts.checkAccess();
    const fromUrl = openTarget(`${az.endpoint}/${containerName}??${sasToken}`);
    assert.equal((await fromUrl.get('q1')).toString(), 'one');
    const relative = parseTargetUrl(`${containerName}?${sasToken}`, { endpoint: az.endpoint });
    assert.equal((await openTarget(relative).get('q1')).toString(), 'one');
  });

  it('Azurite restarts keep the data', async () => {
    const { url } = await az.makeContainer();
    const target = openTarget(url);
    await target.put('kept', Buffer.from('kept'));
    await az.restart();
    assert.equal((await target.get('kept')).toString(), 'kept');
  });
});
