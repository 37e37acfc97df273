/**
 * verify --source compares content by size class: a source file up to 64 KiB comes back whole
 * from the reader threads and is compared byte for byte (inline data and, past 16 KiB, its
 * segments); a larger one by SHA-256. One changed byte, same size and mtime, is found in each.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { verify } from '../../src/read/index.js';
import { FolderTarget } from '../../src/targets/index.js';
import { loadTree, rm, tempDir } from './read-fixtures.js';

const temps: string[] = [];
after(() => rm(...temps));

const SIZES = { 'inline-100': 100, 'inline-16384': 16384, 'seg-40000': 40000, 'probe-65536': 65536, 'hash-65537': 65537, 'hash-300000': 300000 };

describe('verify --source: one changed byte, same size and mtime', () => {
  test('is found in a file of every size class, and only there', async () => {
    const source = tempDir('content-src');
    temps.push(source);
    for (const [name, size] of Object.entries(SIZES)) {
      const b = Buffer.alloc(size);
      for (let i = 0; i < size; i++) b[i] = (i * 131 + size) & 0xff;
      fs.writeFileSync(join(source, name), b);
    }
    const loaded = await loadTree(source, false);
    temps.push(join(loaded.folder, '..'));
    const clean = await verify(new FolderTarget(loaded.folder), { source });
    assert.deepEqual(clean.problems, []);
    for (const [name, size] of Object.entries(SIZES)) {
      const p = join(source, name);
      const st = fs.statSync(p);
      const fd = fs.openSync(p, 'r+');
      const at = size - 1; // the last byte: in the last segment of those that have segments
      const one = Buffer.alloc(1);
      fs.readSync(fd, one, 0, 1, at);
      one[0] = one[0]! ^ 0xff;
      fs.writeSync(fd, one, 0, 1, at);
      fs.closeSync(fd);
      fs.utimesSync(p, st.atime, st.mtime);
    }
    const report = await verify(new FolderTarget(loaded.folder), { source });
    const paths = report.problems.map((x) => `${x.code} ${x.path}`).sort();
    assert.deepEqual(paths, Object.keys(SIZES).map((n) => `source-mismatch /${n}`).sort());
    for (const x of report.problems) assert.match(x.message, /content differs from the source/);
  });
});
