import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { load, ls, cat, FolderTarget } from '../../src/index.js';
import type { Target } from '../../src/index.js';
import { extractContainer, extractSource, tempDir } from '../read/read-fixtures.js';

/** A container decoded into path → attributes and content hash (what a cache would serve). */
async function decode(target: Target): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for await (const e of ls(target, '/', { recursive: true })) {
    const p = e.path.toString('hex');
    let content: string | undefined;
    if (e.type === 'file') {
      const h = createHash('sha256');
      for await (const chunk of cat(target, Buffer.concat([Buffer.from('/'), e.path]))) h.update(chunk);
      content = h.digest('hex');
    }
    out.set(p, {
      path: e.path.toString(),
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      size: e.sizeBytes,
      mtimeSec: e.mtime.sec,
      nlink: e.nlink,
      rdev: [e.rdevMajor, e.rdevMinor],
      symlinkTarget: e.symlinkTarget?.toString('hex'),
      content,
    });
  }
  return out;
}

for (const [id, preserveHardlinks] of [
  ['vectree-plain', false],
  ['vectree-hardlinks', true],
] as const) {
  test(`our load of the vectree source decodes like the reference's ${id} container`, async () => {
    const source = extractSource('vectree');
    const work = tempDir(`equiv-${id}`);
    const blobs = path.join(work, 'blobs');
    fs.mkdirSync(blobs);
    const s = await load({ source, target: new FolderTarget(blobs), targetKey: 'equiv', stateDir: path.join(work, 'state'), newTransfer: true, preserveHardlinks });
    assert.equal(s.status, 'complete');
    const ours = await decode(new FolderTarget(blobs));
    const reference = await decode(new FolderTarget(extractContainer(id)));
    assert.equal(ours.size, reference.size);
    for (const [p, ref] of reference) assert.deepEqual(ours.get(p), ref, Buffer.from(p, 'hex').toString());
    // the same objects: as many blobs of each kind (names differ only by run-random ids)
    const kinds = (dir: string) => {
      const count: Record<string, number> = {};
      for (const n of fs.readdirSync(dir)) {
        const k = n.endsWith('.txt') ? 'log' : n.split('.')[1]!.length === 4 ? n.split('.')[1]! : 'v1';
        count[k] = (count[k] ?? 0) + 1;
      }
      delete count.log;
      return count;
    };
    assert.deepEqual(kinds(blobs), kinds(extractContainer(id)));
  });
}
