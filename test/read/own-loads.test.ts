/** verify, export, ls and cat on containers our own load() wrote from an odd tree. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cat, exportTree, ls, verify } from '../../src/read/index.js';
import { buildOddTree, loadTree, type LoadedTree, rm, tempDir } from './read-fixtures.js';

const temps: string[] = [];
after(() => rm(...temps));

let source: string;
let plain: LoadedTree;
let linked: LoadedTree;

before(async () => {
  source = buildOddTree();
  temps.push(join(source, '..'));
  plain = await loadTree(source, false);
  linked = await loadTree(source, true);
  temps.push(join(plain.folder, '..'), join(linked.folder, '..'));
});

const LATIN1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]);
const DIR_FF = Buffer.from([0x64, 0x69, 0x72, 0xff]);

/** Walks a local tree with lstat (never following symlinks): relative byte path → description. */
function describeTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: Buffer, rel: string) => {
    for (const name of fs.readdirSync(dir as unknown as string, { encoding: 'buffer' }) as unknown as Buffer[]) {
      const p = Buffer.concat([dir, Buffer.from('/'), name]);
      const r = rel + '/' + name.toString('hex');
      const st = fs.lstatSync(p as unknown as string, { bigint: true });
      let what = `mode=${st.mode.toString(8)} uid=${st.uid} gid=${st.gid}`;
      if (!st.isDirectory()) what += ` mtime=${st.mtimeNs / 1_000_000_000n}`;
      if (st.isFile()) what += ` size=${st.size} sha=${createHash('sha256').update(fs.readFileSync(p as unknown as string)).digest('hex')}`;
      if (st.isSymbolicLink()) what += ` -> ${(fs.readlinkSync(p as unknown as string, { encoding: 'buffer' }) as unknown as Buffer).toString('hex')}`;
      out.set(r, what);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(Buffer.from(root), '');
  return out;
}

describe('own loads', () => {
  test('verify with source: no problems, without hard links preserved', async () => {
    const report = await verify(plain.target, { source });
    assert.deepEqual(report.problems, []);
    // 3000 + odd names; the 20 MiB file is 16 KiB inline + 3 segments (8 MiB, 8 MiB, rest)
    assert.ok(report.counts.files > 3000);
    assert.ok(report.counts.segments >= 3 + 1, `segments ${report.counts.segments}: file segments and the 'many' directory segment`);
    assert.equal(report.counts.hardlinkRepeats, 0);
  });

  test('verify with source: no problems, with hard links preserved (one inode, 3 names)', async () => {
    const report = await verify(linked.target, { source });
    assert.deepEqual(report.problems, []);
    assert.equal(report.counts.hardlinkRepeats, 2);
  });

  test('verify against a source that differs names the paths', async () => {
    const other = buildOddTree({ big: false, many: 10 });
    temps.push(join(other, '..'));
    fs.writeFileSync(join(other, 'with space.txt'), 'changed\n');
    const report = await verify(plain.target, { source: other });
    assert.equal(report.ok, false);
    const messages = report.problems.map((p) => p.message);
    assert.ok(messages.some((m) => m.startsWith('/with space.txt: ') && m.includes('content differs')), messages.join('\n'));
    assert.ok(messages.some((m) => m.startsWith('/big20m.bin: in the container but not in the source')));
    assert.ok(messages.some((m) => m.startsWith('/many/entry-number-02999.txt: in the container but not in the source')));
  });

  test('export of the hard-link load equals the source: content, modes, mtimes, symlinks, fifo, hard links', async () => {
    const dest = tempDir('export');
    temps.push(dest);
    const summary = await exportTree(linked.target, dest);
    assert.equal(summary.hardlinks, 2);
    assert.equal(summary.fifos, 1);
    assert.deepEqual(describeTree(dest), describeTree(source));
    const a = fs.statSync(join(dest, 'linked-a.txt'));
    const bStat = fs.statSync(join(dest, 'sub', 'linked-b.txt'));
    assert.equal(a.ino, bStat.ino);
    assert.equal(a.nlink, 3);
    assert.ok(fs.lstatSync(join(dest, 'sub', 'fifo')).isFIFO());
    assert.equal(fs.statSync(join(dest, 'exact16k.bin')).mtimeMs, 1500000000250);
    const root = fs.statSync(dest);
    assert.equal(root.mode, fs.statSync(source).mode);
  });

  test('export refuses to overwrite without force, names the path; --force overwrites', async () => {
    const dest = tempDir('export2');
    temps.push(dest);
    fs.writeFileSync(join(dest, 'empty.txt'), 'in the way');
    await assert.rejects(exportTree(plain.target, dest), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'E_USAGE');
      assert.match(e.message, /empty\.txt: already exists; pass --force/);
      return true;
    });
    await exportTree(plain.target, dest, { force: true });
    assert.equal(fs.readFileSync(join(dest, 'empty.txt'), 'utf8'), '');
    // without preserved hard links each name is its own file
    assert.notEqual(fs.statSync(join(dest, 'linked-a.txt')).ino, fs.statSync(join(dest, 'sub', 'linked-b.txt')).ino);
  });

  test('export of one file and of a subtree', async () => {
    const dest = tempDir('export3');
    temps.push(dest);
    await exportTree(plain.target, join(dest, 'one'), { path: 'over16k.bin' });
    assert.deepEqual(fs.readFileSync(join(dest, 'one', 'over16k.bin')), fs.readFileSync(join(source, 'over16k.bin')));
    await exportTree(plain.target, join(dest, 'sub'), { path: Buffer.concat([Buffer.from('sub/'), DIR_FF]) });
    assert.equal(fs.readFileSync(join(dest, 'sub', 'inner.txt'), 'utf8'), 'inner\n');
  });

  test('ls and cat round trip on odd names (non-UTF-8, spaces, unicode)', async () => {
    const names: Buffer[] = [];
    for await (const e of ls(plain.target, '/')) names.push(e.name);
    for (const want of [Buffer.from('with space.txt'), Buffer.from('ünïcødé-日本.txt'), LATIN1, Buffer.from('odd-link')]) {
      assert.ok(names.some((n) => n.equals(want)), `ls lists ${want.toString('hex')}`);
      if (want.toString() === 'odd-link') continue;
      const chunks: Buffer[] = [];
      for await (const c of cat(plain.target, want)) chunks.push(c);
      assert.deepEqual(Buffer.concat(chunks), fs.readFileSync(Buffer.concat([Buffer.from(source + '/'), want]) as unknown as string));
    }
    const sub: Array<{ path: string; type: string; target?: string }> = [];
    for await (const e of ls(plain.target, 'sub', { recursive: true, long: true })) {
      sub.push({ path: e.path.toString('hex'), type: e.type, ...(e.symlinkTarget ? { target: e.symlinkTarget.toString() } : {}) });
    }
    assert.ok(sub.some((e) => e.path === Buffer.concat([DIR_FF, Buffer.from('/inner.txt')]).toString('hex') && e.type === 'file'));
    assert.ok(sub.some((e) => e.type === 'symlink' && e.target === '../empty.txt'));
    assert.ok(sub.some((e) => e.type === 'fifo'));
    const big = createHash('sha256');
    let n = 0;
    for await (const c of cat(plain.target, '/big20m.bin')) {
      big.update(c);
      n += c.length;
    }
    assert.equal(n, 20 * 1024 * 1024);
    assert.equal(big.digest('hex'), createHash('sha256').update(fs.readFileSync(join(source, 'big20m.bin'))).digest('hex'));
    await assert.rejects(async () => {
      for await (const _ of cat(plain.target, 'sub')) void _;
    }, /\/sub: a directory/);
    await assert.rejects(async () => {
      for await (const _ of cat(plain.target, 'nope/x')) void _;
    }, /\/nope: no such file or directory/);
  });
});
