/**
 * Filters end to end: what they leave out is not in the decoded container (directories written
 * without it), the dry run counts it, verify --source with the same filters reports nothing
 * missing (and without them reports exactly what was left out), and a resume cannot change them.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dryRun, FolderTarget, isClfsError, load, openTarget, startAzurite, verify } from '../../src/index.js';
import type { FilterSpec, LoadOptions } from '../../src/index.js';
import { displayPath } from '../../src/scan/index.js';
import { buildOddTree } from '../helpers/tree-builder.js';
import { containerManifest, manifestLines, sourceManifest } from '../helpers/manifest.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
const LATIN1_NAME = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2d, 0x6c, 0x61, 0x74, 0x69, 0x6e, 0x31, 0x2e, 0x74, 0x78, 0x74]); // caf\xe9-latin1.txt

function workDir(t: TestContext, prefix: string): { work: string; src: string } {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `clfsload-${prefix}-`));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  return { work, src };
}

/** The odd tree, NAS snapshot directories, names that look like patterns, a marked directory. */
function buildFilterTree(src: string): void {
  buildOddTree(src, { manyEntries: 20, bigFileBytes: 20_000 });
  const w = (rel: string, data = `${rel}\n`) => {
    fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    fs.writeFileSync(path.join(src, rel), data);
  };
  w('.snapshot/hourly.0/hello.txt');
  w('deep/.zfs/snapshot/daily/leaf.txt');
  w('deep/a/.snapshot/x');
  w('keep/.snapshot', 'a file of that name is kept\n');
  w('pat/*', 'a file named star\n');
  w('pat/[x]*.txt');
  w('pat/a|b(c)');
  w('pat/!neg');
  w('pat/plain.txt');
  w('marked/.nobackup', '');
  w('marked/inside.txt');
}

const FILTERS: FilterSpec = {
  exclude: ['/pat/\\*', '[[]x]\\*.txt', 'caf\\xe9-latin1.txt', '/deep/a/'],
  include: [],
  excludeIfPresent: ['.nobackup'],
  keepSnapshotDirs: false,
};

/** Left out by FILTERS, written by hand: each path and everything below it. */
const USER_EXCLUDED = [Buffer.from('pat/*'), Buffer.from('pat/[x]*.txt'), LATIN1_NAME, Buffer.from('deep/a'), Buffer.from('marked')];
const SNAPSHOT_EXCLUDED = [Buffer.from('.snapshot'), Buffer.from('deep/.zfs')];

function under(p: Buffer, top: Buffer): boolean {
  return p.equals(top) || (p.length > top.length && p.subarray(0, top.length).equals(top) && p[top.length] === 0x2f);
}

/** The source's manifest less the excluded subtrees. */
function expectedLines(src: string, excluded: Buffer[]): string[] {
  const m = sourceManifest(src, { preserveHardlinks: false });
  for (const [k, e] of m.entries) if (excluded.some((x) => under(e.path, x))) m.entries.delete(k);
  return manifestLines(m);
}

function folderLoad(src: string, work: string, extra: Partial<LoadOptions> = {}): { opts: LoadOptions; target: FolderTarget; blobs: string } {
  const blobs = path.join(work, 'blobs');
  fs.mkdirSync(blobs, { recursive: true });
  const target = new FolderTarget(blobs);
  return { target, blobs, opts: { source: src, target, targetKey: `file:${blobs}`, stateDir: path.join(work, 'state'), newTransfer: true, ...extra } };
}

test('filters on the odd tree: excluded subtrees, byte names and pattern-like names are absent from the decoded container; verify with the same filters is clean', async (t) => {
  const { work, src } = workDir(t, 'filters');
  buildFilterTree(src);
  const { opts, target } = folderLoad(src, work, { filters: FILTERS });
  const estimate = dryRun({ source: src, filters: FILTERS });
  const s = await load(opts);
  assert.equal(s.status, 'complete');
  assert.equal(s.errors, 0);
  assert.equal(s.excluded, USER_EXCLUDED.length + SNAPSHOT_EXCLUDED.length, 'an excluded directory counts once');
  assert.equal(estimate.excluded, s.excluded, 'the dry run counts what the load leaves out');
  assert.equal(estimate.entries, s.entries);

  const got = await containerManifest(target);
  assert.deepEqual(got.broken, []);
  const lines = manifestLines(got);
  assert.deepEqual(lines, expectedLines(src, [...USER_EXCLUDED, ...SNAPSHOT_EXCLUDED]));
  for (const kept of ['pat/a|b(c)', 'pat/!neg', 'pat/plain.txt', 'keep/.snapshot', 'caf\u00e9 \u2615 spaced.txt']) {
    assert.ok(lines.some((l) => l.startsWith(`${kept} `)), `${kept} is loaded`);
  }

  const same = await verify(target, { source: src, filters: FILTERS });
  assert.deepEqual(same.problems, []);
  // without the load's filters, exactly what they left out is reported missing (the snapshots stay out by default)
  const defaults = await verify(target, { source: src });
  assert.deepEqual(
    defaults.problems.map((p) => p.message).sort(),
    USER_EXCLUDED.map((p) => `/${displayPath(p)}: in the source but not in the container`).sort(),
  );
  const keeping = await verify(target, { source: src, filters: { ...FILTERS, keepSnapshotDirs: true } });
  assert.deepEqual(keeping.problems.map((p) => p.path).sort(), ['/.snapshot', '/deep/.zfs']);
});

test('the default filters leave out .snapshot and .zfs directories; keepSnapshotDirs loads them; an entry the filters leave out but the container holds is reported', async (t) => {
  const { work, src } = workDir(t, 'snap');
  fs.mkdirSync(path.join(src, 'vol', '.snapshot', 'weekly'), { recursive: true });
  fs.writeFileSync(path.join(src, 'vol', '.snapshot', 'weekly', 'old.txt'), 'old\n');
  fs.writeFileSync(path.join(src, 'vol', 'live.txt'), 'live\n');
  const plain = folderLoad(src, path.join(work, 'a'));
  const s = await load(plain.opts);
  assert.equal(s.status, 'complete');
  assert.equal(s.excluded, 1);
  assert.deepEqual(manifestLines(await containerManifest(plain.target)), expectedLines(src, [Buffer.from('vol/.snapshot')]));
  assert.deepEqual((await verify(plain.target, { source: src })).problems, []);

  const kept = folderLoad(src, path.join(work, 'b'), { filters: { exclude: [], include: [], excludeIfPresent: [], keepSnapshotDirs: true } });
  assert.equal((await load(kept.opts)).status, 'complete');
  assert.deepEqual(manifestLines(await containerManifest(kept.target)), expectedLines(src, []));
  const wrong = await verify(kept.target, { source: src });
  assert.deepEqual(
    wrong.problems.map((p) => p.message),
    ['/vol/.snapshot: in the container but the filters leave it out (verify with the filter options of the load)'],
  );
});

test('includes: only matching files are loaded, every directory is kept', async (t) => {
  const { work, src } = workDir(t, 'incl');
  buildFilterTree(src);
  const filters: FilterSpec = { exclude: ['/many/'], include: ['*.txt'], excludeIfPresent: [], keepSnapshotDirs: false };
  const { opts, target } = folderLoad(src, work, { filters });
  assert.equal((await load(opts)).status, 'complete');
  const m = sourceManifest(src, { preserveHardlinks: false });
  for (const [k, e] of m.entries) {
    const gone = [...SNAPSHOT_EXCLUDED, Buffer.from('deep/a/.snapshot'), Buffer.from('many')].some((x) => under(e.path, x));
    if (gone || (e.type !== 'dir' && !e.path.toString('latin1').endsWith('.txt'))) m.entries.delete(k);
  }
  assert.deepEqual(manifestLines(await containerManifest(target)), manifestLines(m));
  assert.deepEqual((await verify(target, { source: src, filters })).problems, []);
});

test('a resume with other filters is refused before anything is written; without filter options it uses the stored ones', async (t) => {
  const { work, src } = workDir(t, 'resume');
  buildFilterTree(src);
  const { opts, target, blobs } = folderLoad(src, work, { filters: FILTERS });
  const first = await load({ ...opts, phases: ['init'] as LoadOptions['phases'] });
  assert.equal(first.status, 'phases-done');
  const before = fs.readdirSync(blobs).sort();
  const others: FilterSpec[] = [
    { ...FILTERS, exclude: FILTERS.exclude.slice(1) },
    { ...FILTERS, keepSnapshotDirs: true },
    { ...FILTERS, excludeIfPresent: [] },
    { exclude: [], include: [], excludeIfPresent: [], keepSnapshotDirs: false },
  ];
  for (const filters of others) {
    await assert.rejects(
      load({ ...opts, newTransfer: false, filters }),
      (e: unknown) => isClfsError(e) && e.code === 'E_STATE_MISMATCH' && /--exclude|--keep-snapshot-dirs/.test(e.message) && e.message.includes('--update') && !e.message.includes('\n'),
    );
  }
  assert.deepEqual(fs.readdirSync(blobs).sort(), before, 'nothing was written by the refused runs');
  // the same patterns in another order are the same filters
  const same = await load({ ...opts, newTransfer: false, filters: { ...FILTERS, exclude: [...FILTERS.exclude].reverse() } });
  assert.equal(same.status, 'complete');
  assert.deepEqual(manifestLines(await containerManifest(target)), expectedLines(src, [...USER_EXCLUDED, ...SNAPSHOT_EXCLUDED]));
  const stored = await load({ ...opts, newTransfer: false, filters: undefined });
  assert.equal(stored.status, 'already-complete');
});

test('cli: filters from the command line and an --exclude-from file with a non-UTF-8 line; verify reads the filters from the state; a resume with other filters is one line, non-zero', async (t) => {
  const { work, src } = workDir(t, 'cli');
  buildFilterTree(src);
  const blobs = path.join(work, 'blobs');
  fs.mkdirSync(blobs);
  const state = path.join(work, 'state');
  const patterns = path.join(work, 'patterns');
  // the latin-1 name as its raw byte, the way a file written on that system holds it
  fs.writeFileSync(patterns, Buffer.concat([Buffer.from('# pattern-like names\n/pat/\\*\n[[]x]\\*.txt\r\n\n'), LATIN1_NAME, Buffer.from('\n')]));
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, XDG_STATE_HOME: path.join(work, 'xdg') }, timeout: 120_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const url = `file://${blobs}`;
  const filterArgs = ['--exclude-from', patterns, '--exclude', '/deep/a/', '--exclude-if-present', '.nobackup'];
  const dry = cli(['load', src, url, '--dry-run', '--json', ...filterArgs]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(JSON.parse(dry.stdout).excluded, 7);
  const r = cli(['load', src, url, '--new', '--state', state, '--json', ...filterArgs]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()!).excluded, 7);
  assert.deepEqual(manifestLines(await containerManifest(new FolderTarget(blobs))), expectedLines(src, [...USER_EXCLUDED, ...SNAPSHOT_EXCLUDED]));

  const v = cli(['verify', url, '--source', src, '--state', state]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stderr, /filters of the load in/);
  const bare = cli(['verify', url, '--source', src]);
  assert.equal(bare.code, 1, 'the default state folder is not this load\'s: the excluded entries are reported');
  assert.equal(bare.stdout.split('\n').filter((l) => l.includes('in the source but not in the container')).length, USER_EXCLUDED.length);

  const other = cli(['load', src, url, '--state', state, '--exclude', '*.tmp']);
  assert.equal(other.code, 2, 'other filters than the stored ones: the command as typed cannot work (exit code table)');
  assert.equal(other.stdout, '');
  const lines = other.stderr.trim().split('\n');
  assert.equal(lines.length, 1, other.stderr);
  assert.match(lines[0]!, /^clfsload: state folder .* was loading with --exclude '\/deep\/a\/' --exclude '\/pat\/\\\*' .*not --exclude '\*\.tmp'.*--update/);

  const bad = cli(['load', src, url, '--state', path.join(work, 'state2'), '--new', '--exclude', 'x\\']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr.trim(), /^clfsload: --exclude 'x\\': a pattern cannot end in \\/);
  const badRate = cli(['load', src, url, '--bwlimit', '08:00,fast']);
  assert.equal(badRate.code, 2);
  assert.match(badRate.stderr, /--bwlimit <rate>' argument '08:00,fast' is invalid.*'fast': not a rate/);
  assert.equal(badRate.stderr.trim().split('\n').length, 1);
});

test('over the blob API (Azurite): the drop-in form takes the filters and limits; verify reads the filters from the default state folder of the modern form', async (t) => {
  const { work, src } = workDir(t, 'azf');
  buildFilterTree(src);
  const azurite = await startAzurite();
  t.after(() => azurite.stop());
  const env = { ...process.env, XDG_STATE_HOME: path.join(work, 'xdg') };
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 120_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const filterArgs = ['--exclude', '/pat/\\*', '--exclude', '[[]x]\\*.txt', '--exclude', 'caf\\xe9-latin1.txt', '--exclude', '/deep/a/', '--exclude-if-present', '.nobackup'];
  const expected = expectedLines(src, [...USER_EXCLUDED, ...SNAPSHOT_EXCLUDED]);

  const legacy = await azurite.makeContainer();
  const state = path.join(work, 'legacy-state');
  const r = cli(['--new', state, src, azurite.accountName, legacy.containerName, legacy.sasToken, '--endpoint', azurite.endpoint, '--json', ...filterArgs, '--bwlimit', '200M', '--max-requests', '5000']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()!).excluded, 7);
  assert.deepEqual(manifestLines(await containerManifest(openTarget(legacy.url))), expected);
  const v = cli(['verify', legacy.url, '--source', src, '--state', state]);
  assert.equal(v.code, 0, v.stdout + v.stderr);

  const modern = await azurite.makeContainer();
  const m = cli(['load', src, modern.url, '--new', ...filterArgs, '--max-requests', '5000']);
  assert.equal(m.code, 0, m.stderr);
  assert.deepEqual(manifestLines(await containerManifest(openTarget(modern.url))), expected);
  const vm = cli(['verify', modern.url, '--source', src]);
  assert.equal(vm.code, 0, vm.stdout + vm.stderr);
  assert.match(vm.stderr, /filters of the load in .*xdg/);
});

test('an update with other filters makes them the transfer\'s: what they now leave out is removed, what they let in is added; the container equals a fresh load with the new filters', async (t) => {
  const { work, src } = workDir(t, 'filters-update');
  buildFilterTree(src);
  const first = folderLoad(src, work, { filters: FILTERS });
  assert.equal((await load(first.opts)).status, 'complete');
  // the resume without --update still refuses other filters
  const NEW: FilterSpec = { exclude: ['*.txt'], include: [], excludeIfPresent: [], keepSnapshotDirs: false };
  await assert.rejects(load({ ...first.opts, newTransfer: false, filters: NEW }), (e: unknown) => isClfsError(e) && e.code === 'E_STATE_MISMATCH');
  const u = await load({ ...first.opts, newTransfer: false, update: true, filters: NEW });
  assert.equal(u.status, 'complete', JSON.stringify(u.problems));
  assert.ok(u.update !== undefined && u.update.removed > 0 && u.update.added > 0, JSON.stringify(u.update));

  const fresh = folderLoad(src, path.join(work, 'fresh'), { filters: NEW });
  assert.equal((await load(fresh.opts)).status, 'complete');
  const got = manifestLines(await containerManifest(first.target));
  assert.deepEqual(got, manifestLines(await containerManifest(fresh.target)));
  assert.ok(!got.some((l) => /\.txt /.test(l.split(' ')[0]! + ' ')), 'no .txt file after the update');
  // verify reads the new filters from the state: nothing missing, nothing extra
  const v = await verify(first.target, { source: src, filters: NEW });
  assert.deepEqual(v.problems, []);
  const countBlobs = async (tg: FolderTarget) => {
    let n = 0;
    for await (const _ of tg.list('')) n += 1;
    return n;
  };
  assert.equal(await countBlobs(first.target), await countBlobs(fresh.target), 'no garbage: as many blobs as a fresh load');
  // a resume with no filter options now uses the new ones
  assert.equal((await load({ ...first.opts, newTransfer: false, filters: undefined })).status, 'already-complete');
});
