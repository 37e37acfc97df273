import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { isClfsError } from '../../src/errors/index.js';
import { FolderTarget, openTarget } from '../../src/targets/index.js';
import { runTargetConformance } from './conformance.js';

runTargetConformance('folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clfs-folder-'));
  return { target: openTarget(pathToFileURL(dir).href), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('folder target specifics', () => {
  it('rejects names that could leave the folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clfs-folder-'));
    const target = new FolderTarget(dir);
    for (const name of ['a/b', '..', '.', '', 'a\\b', '../x']) {
      await assert.rejects(target.put(name, Buffer.from('x')), (e: unknown) => isClfsError(e) && e.code === 'E_USAGE');
    }
    await rm(dir, { recursive: true });
  });

  it('a missing folder is E_TARGET_CONTAINER_MISSING for every operation', async () => {
    const target = new FolderTarget(join(tmpdir(), 'clfs-does-not-exist-' + process.pid));
    const missing = (e: unknown) => isClfsError(e) && e.code === 'E_TARGET_CONTAINER_MISSING';
    await assert.rejects(target.put('a', Buffer.from('x')), missing);
    await assert.rejects(target.putMany([{ name: 'a', data: Buffer.from('x') }]), missing);
    await assert.rejects(target.get('a'), missing);
    await assert.rejects(target.exists('a'), missing);
    await assert.rejects(target.delete('a'), missing);
    await assert.rejects(async () => {
      for await (const _ of target.list('')) void _;
    }, missing);
    await assert.rejects(target.checkAccess(), missing);
  });

  it('leaves no temp files, and list ignores stale ones from a killed run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clfs-folder-'));
    const target = new FolderTarget(dir);
    await target.put('a', Buffer.from('x'));
    await target.putMany([{ name: 'b', data: Buffer.from('y') }]);
    assert.deepEqual((await readdir(dir)).sort(), ['a', 'b']);
    await writeFile(join(dir, '.clfsload-tmp-c.123'), 'half');
    const names: string[] = [];
    for await (const info of target.list('')) names.push(info.name);
    assert.deepEqual(names, ['a', 'b']);
    await rm(dir, { recursive: true });
  });

  it('putMany honours an aborted signal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clfs-folder-'));
    const target = new FolderTarget(dir);
    await assert.rejects(
      target.putMany([{ name: 'a', data: Buffer.from('x') }], { abortSignal: AbortSignal.abort() }),
      (e: unknown) => isClfsError(e) && e.code === 'E_ABORTED',
    );
    await rm(dir, { recursive: true });
  });
});
