/**
 * verify --source and hard links (issue 11): every name of a hard-linked inode is compared, names
 * that share an inode in the source share one in the container and the reverse, nlink and BACK
 * match the names, and the loader's split of an inode past 1,023 names is accepted. Trees are
 * loaded with load() into folder targets, with hard links preserved and copied; then the source
 * or the container is damaged and the report must name the path.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { Btype, blobName, encodeBlob, encodeDirents, encodeInodeBody } from '../../src/codec/index.js';
import { registerCommands } from '../../src/cli/commands/index.js';
import { createCliContext } from '../../src/cli/context.js';
import { ContainerReader, FolderTarget, load, verify, type VerifyOptions, type VerifyReport } from '../../src/index.js';
import type { InodeObject } from '../../src/read/index.js';
import { copyContainer, rm, tempDir } from './read-fixtures.js';

const temps: string[] = [];
after(() => rm(...temps));

const MTIME = 1650000000;
const SHARED = 'shared content\n';
const MANY = 'one inode, 1,030 names\n';
/** names of the many-named file: 600 in m1, 430 in m2; the loader puts 1,023 on one inode, 7 on a second */
const MANY_NAMES = 1030;

/**
 * a/x = a/x2 = b/y (two names in one directory, one in another); c/z: an independent file equal
 * to a/x in content and attributes; c/w: one equal to the many-named file m1/n0000 … m2/n1029.
 */
function buildTree(): string {
  const root = join(tempDir('links-src'), 'tree');
  for (const d of ['a', 'b', 'c', 'm1', 'm2']) fs.mkdirSync(join(root, d), { recursive: true });
  const file = (rel: string, content: string) => {
    fs.writeFileSync(join(root, rel), content);
    fs.chmodSync(join(root, rel), 0o644);
    fs.utimesSync(join(root, rel), MTIME, MTIME);
  };
  file('a/x', SHARED);
  fs.linkSync(join(root, 'a/x'), join(root, 'a/x2'));
  fs.linkSync(join(root, 'a/x'), join(root, 'b/y'));
  file('c/z', SHARED);
  file('c/w', MANY);
  file('m1/n0000', MANY);
  for (let i = 1; i < MANY_NAMES; i++) {
    fs.linkSync(join(root, 'm1/n0000'), join(root, i < 600 ? 'm1' : 'm2', `n${String(i).padStart(4, '0')}`));
  }
  for (const d of ['a', 'b', 'c', 'm1', 'm2', '.']) fs.utimesSync(join(root, d), MTIME, MTIME);
  return root;
}

async function loadInto(source: string, preserveHardlinks: boolean): Promise<string> {
  const base = tempDir('links-load');
  temps.push(base);
  const folder = join(base, 'blobs');
  fs.mkdirSync(folder);
  const summary = await load({
    source,
    target: new FolderTarget(folder),
    targetKey: `file:${folder}`,
    stateDir: join(base, 'state'),
    newTransfer: true,
    preserveHardlinks,
    reporter: { log: () => undefined },
  });
  assert.equal(summary.status, 'complete', summary.problems.join('; '));
  return folder;
}

let source: string;
let preserved: string;
let copied: string;

before(async () => {
  source = buildTree();
  temps.push(join(source, '..'));
  preserved = await loadInto(source, true);
  copied = await loadInto(source, false);
});

/** A copy of the source (hard links kept) changed by `damage`; directory mtimes put back after. */
function damagedSource(damage: (root: string) => void): string {
  const dir = tempDir('links-damaged');
  temps.push(dir);
  const root = join(dir, 'tree');
  execFileSync('cp', ['-a', source, root]);
  damage(root);
  for (const d of ['a', 'b', 'c', 'm1', 'm2', '.']) fs.utimesSync(join(root, d), MTIME, MTIME);
  return root;
}

function check(folder: string, src: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  return verify(new FolderTarget(folder), { source: src, ...options });
}

function listing(r: VerifyReport): string {
  return r.problems.map((p) => `${p.code} ${p.message}`).join('\n');
}

/** Exactly these problems (code, path, message pattern), in any order. */
function assertProblems(r: VerifyReport, want: Array<[code: string, path: string, message: RegExp]>): void {
  assert.equal(r.ok, false, 'verify must fail');
  assert.equal(r.problems.length, want.length, listing(r));
  for (const [code, path, message] of want) {
    const hit = r.problems.find((p) => p.code === code && p.path === path && message.test(p.message));
    assert.ok(hit, `expected ${code} at ${path} matching ${message}; got:\n${listing(r)}`);
  }
}

const A_NAME = '/(a/x2?|b/y)';

describe('verify --source: hard links', () => {
  test('preserved load: clean, checked as preserved, the 1,030-name inode split into 1,023 + 7', async () => {
    const r = await check(preserved, source);
    assert.deepEqual(r.problems, []);
    assert.equal(r.hardlinks, 'preserved');
    // inodes: a/x, c/z, c/w and the two halves of the many-named file
    assert.equal(r.counts.files, 5);
    assert.equal(r.counts.hardlinkRepeats, 2 + (1023 - 1) + (7 - 1));
  });

  test('copied load: clean, checked as copied, one inode per name', async () => {
    const r = await check(copied, source);
    assert.deepEqual(r.problems, []);
    assert.equal(r.hardlinks, 'copied');
    assert.equal(r.counts.files, 3 + 2 + MANY_NAMES);
    assert.equal(r.counts.hardlinkRepeats, 0);
  });

  test('source: a link replaced by an independent copy (rm b/y; cp -p a/x b/y)', async () => {
    const src = damagedSource((root) => {
      fs.rmSync(join(root, 'b/y'));
      execFileSync('cp', ['-p', join(root, 'a/x'), join(root, 'b/y')]);
    });
    assertProblems(await check(preserved, src), [
      ['hardlink', '/b/y', new RegExp(`^/b/y: /a/x2? and /b/y are one inode in the container but two in the source$`)],
    ]);
    // copied: each name was its own copy anyway
    assert.deepEqual((await check(copied, src)).problems, []);
  });

  test('source: every name is compared, not only the first one the walk reaches', async () => {
    // two of the three names replaced by files of other content and mode: whichever name the walk
    // reaches first, at least one damaged name is a further name of the container inode
    const src = damagedSource((root) => {
      for (const [rel, content] of [['a/x2', SHARED.toUpperCase()], ['b/y', SHARED.replace('shared', 'SHARED')]] as const) {
        fs.rmSync(join(root, rel));
        fs.writeFileSync(join(root, rel), content);
        fs.chmodSync(join(root, rel), 0o600);
        fs.utimesSync(join(root, rel), MTIME, MTIME);
      }
    });
    const contentAndMode = (path: string): Array<[string, string, RegExp]> => [
      ['source-mismatch', path, new RegExp(`^${path}: content differs from the source`)],
      ['source-mismatch', path, new RegExp(`^${path}: mode 100644 but the source has 100600$`)],
    ];
    const r = await check(preserved, src);
    assertProblems({ ...r, problems: r.problems.filter((p) => p.code !== 'hardlink') }, [...contentAndMode('/a/x2'), ...contentAndMode('/b/y')]);
    // and two of the three names reported as not one inode in the source
    assert.equal(r.problems.filter((p) => p.code === 'hardlink' && /one inode in the container but two in the source$/.test(p.message)).length, 2, listing(r));
    assertProblems(await check(copied, src), [...contentAndMode('/a/x2'), ...contentAndMode('/b/y')]);
  });

  test('source: a loaded independent file made one more hard link (ln -f a/x c/z)', async () => {
    const src = damagedSource((root) => {
      fs.linkSync(join(root, 'a/x'), join(root, 'c/z.new'));
      fs.renameSync(join(root, 'c/z.new'), join(root, 'c/z'));
    });
    assertProblems(await check(preserved, src), [
      ['hardlink', '/c/z', new RegExp(`^/c/z: ${A_NAME} and /c/z are one inode in the source but two in the container$`)],
    ]);
    assert.deepEqual((await check(copied, src)).problems, []);
  });

  test('source: the 1,031st name of the split inode (ln -f m1/n0000 c/w) is not taken for the split', async () => {
    const src = damagedSource((root) => {
      fs.rmSync(join(root, 'c/w'));
      fs.linkSync(join(root, 'm1/n0000'), join(root, 'c/w'));
    });
    assertProblems(await check(preserved, src), [['hardlink', '/c/w', /^\/c\/w: \/m[12]\/n\d{4} and \/c\/w are one inode in the source but two in the container$/]]);
    assert.deepEqual((await check(copied, src)).problems, []);
  });

  test('preserveHardlinks: true on a copied load reports every name that is its own copy', async () => {
    const r = await check(copied, source, { preserveHardlinks: true });
    assert.equal(r.hardlinks, 'preserved');
    // a/x: one of 3 names kept as the inode, 2 reported; the many-named file: 1 kept, 1,029 reported
    assert.equal(r.problems.length, 2 + MANY_NAMES - 1, listing(r).slice(0, 2000));
    assert.ok(r.problems.every((p) => p.code === 'hardlink' && p.message.includes('one inode in the source but two in the container')));
    assert.deepEqual((await check(preserved, source, { preserveHardlinks: false })).problems, []);
  });

  test('container: BACK names a directory once for its two names (nlink and BACK length still 3)', async () => {
    const { folder, reader } = await containerCopy(preserved);
    const { inode } = await reader.resolve('a/x');
    const a = (await reader.resolve('a')).inode.handle;
    const b = (await reader.resolve('b')).inode.handle;
    const back = inode.obj.back!;
    assert.equal(back.length, 3);
    // keep BACK[0] (the blob is named after it), change the multiset {a, a, b}
    writeInode(folder, inode.blob, inode.obj, { back: back[0]!.equals(a) ? [a, b, b] : [b, b, a] });
    const r = await check(folder, source);
    assert.equal(r.problems.length, 1, listing(r));
    const p = r.problems[0]!;
    assert.equal(p.code, 'backpointer');
    assert.match(p.path, /^\/a\/x2?$/);
    assert.match(p.message, new RegExp(`hard link of ${A_NAME}: BACK names this directory fewer times than the inode has names in it$`));
  });

  test('container: a name split off into its own inode, nlink and BACK consistent (the source says one inode)', async () => {
    const { folder, reader } = await containerCopy(preserved);
    const dirA = (await reader.resolve('a')).inode;
    const { inode } = await reader.resolve('a/x2');
    const o = inode.obj;
    // the shared inode keeps the other two names: one "a" less in BACK (never BACK[0]), nlink 2
    const back = [...o.back!];
    let drop = -1;
    for (let i = back.length - 1; i > 0; i--) if (back[i]!.equals(dirA.handle) && drop < 0) drop = i;
    back.splice(drop, 1);
    writeInode(folder, inode.blob, o, { back, nlink: 2 });
    // a/x2 gets a new inode of its own (same type byte, another sequence), nlink 1, BACK [a]
    const handle = Buffer.from(inode.handle);
    handle[handle.length - 1] ^= 0x5a;
    const split = blobName(handle, Btype.REG, dirA.handle, 9);
    writeInode(folder, split, o, { back: [dirA.handle], nlink: 1, handle });
    const d = dirA.obj;
    const dirents = d.dirents!.map((e) => (e.name.toString() === 'x2' ? { name: e.name, handle } : e));
    fs.writeFileSync(join(folder, dirA.blob), encodeBlob(encodeInodeBody({ vattr: d.vattr, bmap: d.bmap, name: d.name, direntsPiece: encodeDirents(dirents) }), 'lz4'));
    assertProblems(await check(folder, source), [
      ['hardlink', '/a/x2', new RegExp(`^/a/x2: /(a/x|b/y) and /a/x2 are one inode in the source but two in the container$`)],
    ]);
  });

  test('CLI verify exits 1 on a hard-link problem, 0 when clean; --preserve-hardlinks is passed on', async () => {
    const src = damagedSource((root) => {
      fs.rmSync(join(root, 'b/y'));
      execFileSync('cp', ['-p', join(root, 'a/x'), join(root, 'b/y')]);
    });
    const broken = await cli(['verify', `file://${preserved}`, '--source', src]);
    assert.equal(broken.code, 1);
    assert.match(broken.lines[0]!, /^\/b\/y: \/a\/x2? and \/b\/y are one inode in the container but two in the source$/);
    assert.match(broken.lines[broken.lines.length - 1]!, /^FAILED: 1 problem\(s\);.*; hard links checked as preserved$/);
    const clean = await cli(['verify', `file://${copied}`, '--source', source]);
    assert.equal(clean.code, 0, clean.lines.join('\n'));
    assert.match(clean.lines[0]!, /^OK: 0 problem\(s\);.*; hard links checked as copied$/);
    const strict = await cli(['verify', `file://${copied}`, '--source', source, '--preserve-hardlinks', '--json']);
    assert.equal(strict.code, 1);
    const report = JSON.parse(strict.lines[0]!) as VerifyReport;
    assert.equal(report.hardlinks, 'preserved');
    assert.equal(report.problems.length, 2 + MANY_NAMES - 1);
    const lax = await cli(['verify', `file://${preserved}`, '--source', source, '--no-preserve-hardlinks']);
    assert.equal(lax.code, 0, lax.lines.join('\n'));
  });
});

async function containerCopy(from: string): Promise<{ folder: string; reader: ContainerReader }> {
  const folder = copyContainer(from);
  temps.push(folder);
  return { folder, reader: await ContainerReader.open(new FolderTarget(folder)) };
}

/** Re-encodes a file inode with another BACK, nlink or handle (block map slot 0 follows the handle). */
function writeInode(folder: string, blob: string, o: InodeObject, change: { back?: Buffer[]; nlink?: number; handle?: Buffer }): void {
  const vattr = { ...o.vattr, nlink: change.nlink ?? o.vattr.nlink };
  const bmap = change.handle === undefined ? o.bmap : { ...o.bmap, direct: [change.handle, ...o.bmap.direct.slice(1)] };
  const body = encodeInodeBody({ vattr, bmap, back: change.back ?? o.back!, name: o.name, data: o.data ?? Buffer.alloc(0) });
  fs.writeFileSync(join(folder, blob), encodeBlob(body, 'lz4'));
}

async function cli(args: string[]): Promise<{ code: number | undefined; lines: string[] }> {
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  let code: number | undefined;
  const program = new Command('clfsload').exitOverride();
  registerCommands(program, createCliContext({ stdout, stderr: new PassThrough() }, { setExitCode: (c) => (code = c) }));
  await program.parseAsync(['node', 'clfsload', ...args]);
  return { code, lines: Buffer.concat(chunks).toString().trim().split('\n') };
}
