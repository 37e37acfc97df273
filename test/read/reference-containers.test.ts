/** verify on the containers the reference CLFSLoad wrote (test/fixtures/containers). */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cat, ls, verify } from '../../src/read/index.js';
import { FolderTarget } from '../../src/targets/folder-target.js';
import { extractContainer, extractSource, FIXTURES, rm } from './read-fixtures.js';

const temps: string[] = [];
after(() => rm(...temps));

interface Manifest {
  counts: { blobs: number; dirs: number; files: number; symlinks: number; special: number; hardlink_repeats?: number };
}

function manifest(id: string): Manifest {
  return JSON.parse(fs.readFileSync(join(FIXTURES, `${id}.manifest.json`), 'utf8')) as Manifest;
}

const isRoot = process.getuid?.() === 0;

describe('verify: reference containers', () => {
  const cases: Array<{ id: string; source: 'tiny' | 'vectree' }> = [
    { id: 'tiny', source: 'tiny' },
    { id: 'vectree-plain', source: 'vectree' },
    { id: 'vectree-hardlinks', source: 'vectree' },
  ];
  for (const c of cases) {
    test(`${c.id}: no problems, counts match the reference checker`, async () => {
      const dir = extractContainer(c.id);
      temps.push(dir);
      const report = await verify(new FolderTarget(dir));
      assert.deepEqual(report.problems, []);
      assert.equal(report.ok, true);
      const m = manifest(c.id).counts;
      assert.equal(report.counts.blobs, m.blobs);
      assert.equal(report.counts.dirs, m.dirs);
      assert.equal(report.counts.files, m.files);
      assert.equal(report.counts.symlinks, m.symlinks);
      assert.equal(report.counts.special, m.special);
      assert.equal(report.counts.hardlinkRepeats, m.hardlink_repeats ?? 0);
    });

    // uid/gid (0 and 1234:5678) only come back from the tar when extracting as root.
    test(`${c.id}: matches its source tree`, { skip: isRoot ? false : 'needs root to restore uid/gid from the tar' }, async () => {
      const dir = extractContainer(c.id);
      const src = extractSource(c.source);
      temps.push(dir, join(src, '..'));
      // Source-random per the vectors README: atime, ctime and inode numbers are never compared
      // by verify. The mtimes of vectree's link-to-hello and pipe are taken from the generating
      // machine; GNU tar restores them (lutimes, mknod + utimes), so they are compared too. Were
      // a tar not to restore them, skipSourceField would have to exclude these two paths.
      const report = await verify(new FolderTarget(dir), { source: src });
      assert.deepEqual(report.problems, []);
    });
  }

  test('readData downloads every segment (vectree-plain: 4 segments incl. the 2-segment file)', async () => {
    const dir = extractContainer('vectree-plain');
    temps.push(dir);
    const report = await verify(new FolderTarget(dir), { readData: true, concurrency: 4 });
    assert.deepEqual(report.problems, []);
    assert.equal(report.counts.segments, 4);
  });

  test('ls and cat on the tiny container', async () => {
    const dir = extractContainer('tiny');
    temps.push(dir);
    const t = new FolderTarget(dir);
    const entries = [];
    for await (const e of ls(t, '/', { recursive: true, long: true })) entries.push(e);
    const byPath = new Map(entries.map((e) => [e.path.toString(), e]));
    assert.deepEqual([...byPath.keys()].sort(), ['fifo', 'hello.txt', 'link', 'sub', 'sub/data.bin']);
    assert.equal(byPath.get('hello.txt')!.uid, 1234);
    assert.equal(byPath.get('hello.txt')!.gid, 5678);
    assert.equal(byPath.get('sub')!.mode, 0o40750);
    assert.equal(byPath.get('link')!.symlinkTarget!.toString(), 'hello.txt');
    // tiny's options: 1700000300.999999999 is stored as 1700000301 s by the reference's doubles
    assert.equal(byPath.get('sub/data.bin')!.mtime.sec, 1700000301);
    const chunks: Buffer[] = [];
    for await (const c of cat(t, 'sub/data.bin')) chunks.push(c);
    const data = Buffer.concat(chunks);
    assert.equal(data.length, 20000);
    const { createHash } = await import('node:crypto');
    assert.equal(createHash('sha256').update(data).digest('hex'), '497ccbfe5cdaa720c43e1ee49951532a5e546012fbb4216bc0ea947cbba51ad6');
  });
});
