import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { manifestLines, sourceManifest } from '../helpers/manifest.js';
import { isRoot, mountTmpfs } from '../helpers/privilege.js';
import { buildSmallFilesTree } from '../helpers/tree-builder.js';
import { dateNs, setTimesNs } from '../helpers/times.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
// the tests set the pool themselves, so the process they kill is the copy (no re-run for the pool)
const ENV: NodeJS.ProcessEnv = { ...process.env, UV_THREADPOOL_SIZE: "72" };
delete ENV.SLURM_ARRAY_TASK_ID;
delete ENV.JOB_COMPLETION_INDEX;
delete ENV.CLFSLOAD_SOURCE_FAULTS;

function tmp(t: { after(fn: () => void): void }, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `clfs-copy-${name}-`));
  t.after(() => {
    spawnSync('umount', [path.join(dir, 'small')], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  json?: Record<string, unknown> & { problems: Array<{ path: string; message: string }> };
}

function clfs(args: string[], env: NodeJS.ProcessEnv = ENV): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const out: Run = { code: r.status, stdout: r.stdout, stderr: r.stderr };
  if (args.includes('--json')) {
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      out.json = JSON.parse(line) as Run['json'];
    } catch {
      assert.fail(`no JSON summary: ${r.stdout}\n${r.stderr}`);
    }
  }
  return out;
}

/** The tree as an lstat walk sees it (independent of src/copy), the destination's copy folder left out. */
function lines(root: string): string[] {
  return manifestLines(sourceManifest(root, { preserveHardlinks: true })).filter((l) => !l.startsWith('.clfsload-copy'));
}

function usTimes(root: string, rel: string): [bigint, bigint] {
  const s = fs.lstatSync(path.join(root, rel), { bigint: true });
  return [s.mtimeNs / 1000n, s.atimeNs / 1000n];
}

/** Times back as they were, to the nanosecond. */
function restoreTimes(p: string, s: fs.BigIntStats): void {
  setTimesNs(p, s.atimeNs, s.mtimeNs);
}

const odd = (s: string) => Buffer.from(s, 'latin1');

/** Every entry kind, boundary sizes around the chunk and large-file thresholds, odd names. */
function buildKinds(src: string): void {
  const p = (...xs: Array<string | Buffer>) => Buffer.concat(xs.flatMap((x, i) => (i === 0 ? [Buffer.from(x)] : [Buffer.from('/'), Buffer.from(x)])));
  fs.mkdirSync(path.join(src, 'a/b/c'), { recursive: true });
  fs.mkdirSync(path.join(src, 'empty/deeper'), { recursive: true });
  fs.mkdirSync(path.join(src, 'other'));
  const MiB = 1 << 20;
  for (const n of [0, 1, 4095, 4096, 4097, MiB - 1, MiB, MiB + 1, 2 * MiB + 3, 5 * MiB + 7]) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 997) b[i] = (i * 31 + n) & 0xff;
    fs.writeFileSync(path.join(src, 'a', `size-${n}`), b);
  }
  fs.writeFileSync(p(src, 'a', odd('caf\xe9-latin1')) as unknown as string, 'bytes');
  fs.writeFileSync(p(src, 'a', odd('\xff\xfe')) as unknown as string, 'ff fe');
  fs.writeFileSync(path.join(src, 'a', 'new\nline'), 'nl');
  fs.writeFileSync(path.join(src, 'a', 'back\\slash and space'), 'bs');
  fs.writeFileSync(path.join(src, 'a', '-dash'), 'dash');
  fs.writeFileSync(path.join(src, 'a/b/c/linked'), 'one inode, three names');
  fs.linkSync(path.join(src, 'a/b/c/linked'), path.join(src, 'other/linked-too'));
  fs.linkSync(path.join(src, 'a/b/c/linked'), path.join(src, 'linked-at-top'));
  fs.symlinkSync('../a/size-1', path.join(src, 'other/rel-link'));
  fs.symlinkSync('/nowhere/dangling', path.join(src, 'other/dangling'));
  fs.symlinkSync(odd('\xff-target'), p(src, 'other', 'byte-target') as unknown as string);
  execFileSync('mkfifo', [path.join(src, 'other/fifo')]);
  // sparse: 8 MiB with two islands of data
  const fd = fs.openSync(path.join(src, 'sparse'), 'w');
  fs.writeSync(fd, Buffer.alloc(5000, 7), 0, 5000, 3 * MiB);
  fs.writeSync(fd, Buffer.from('end'), 0, 3, 8 * MiB - 3);
  fs.closeSync(fd);
  fs.chmodSync(path.join(src, 'a/size-1'), 0o4755);
  fs.chmodSync(path.join(src, 'a/size-0'), 0o400);
  fs.chmodSync(path.join(src, 'a/b'), 0o2750);
  fs.chmodSync(path.join(src, 'other/fifo'), 0o620);
  if (isRoot) {
    execFileSync('mknod', [path.join(src, 'other/null-dev'), 'c', '1', '3']);
    execFileSync('mknod', [path.join(src, 'other/block-dev'), 'b', '7', '200']);
    fs.chownSync(path.join(src, 'a/size-4096'), 1234, 5678);
    fs.chownSync(path.join(src, 'a/b'), 4321, 8765);
    fs.lchownSync(path.join(src, 'other/rel-link'), 99, 98);
  }
  const when = dateNs(new Date('2003-04-05T06:07:08.123Z'));
  for (const rel of ['a/size-4097', 'other/rel-link', 'empty/deeper', 'a/b/c']) setTimesNs(path.join(src, rel), when, when);
}

test('copy: every entry kind, boundary sizes, odd names, hard links across directories, sparse, into an equal tree', async (t) => {
  const dir = tmp(t, 'kinds');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(src);
  fs.mkdirSync(dst);
  buildKinds(src);
  // a socket: its file lasts while the server listens (the copies run while it does)
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(path.join(src, 'other/sock'), resolve));
  t.after(() => server.close());
  const r = clfs(['copy', src, dst, '--state-dir', path.join(dir, 'state'), '--large-file-mib', '1', '--json', '--verify']);
  assert.equal(r.code, 0, JSON.stringify(r));
  assert.equal(r.json!.status, 'complete');
  assert.equal((r.json!.verify as { ok: boolean }).ok, true);
  assert.equal(r.json!.hardlinks, 2);
  assert.deepEqual(lines(dst), lines(src));
  // what the manifest does not show: microsecond times, device numbers, links kept as links, sparseness
  for (const rel of ['a/size-4097', 'other/rel-link', 'empty/deeper', 'a/b/c', 'a', '.']) assert.deepEqual(usTimes(dst, rel)[0], usTimes(src, rel)[0], rel);
  assert.equal(fs.lstatSync(path.join(dst, 'a/b/c/linked')).ino, fs.lstatSync(path.join(dst, 'other/linked-too')).ino);
  assert.equal(fs.lstatSync(path.join(dst, 'a/b/c/linked')).nlink, 3);
  const sparse = fs.statSync(path.join(dst, 'sparse'));
  assert.equal(sparse.size, 8 << 20);
  assert.ok(sparse.blocks * 512 < 1 << 20, `sparse file stays sparse (${sparse.blocks} blocks)`);
  assert.deepEqual(fs.readFileSync(path.join(dst, 'sparse')), fs.readFileSync(path.join(src, 'sparse')));
  assert.equal(fs.lstatSync(path.join(dst, 'other/fifo')).isFIFO(), true);
  assert.equal(fs.lstatSync(path.join(dst, 'other/sock')).isSocket(), true);
  assert.equal(fs.lstatSync(path.join(dst, 'a/size-1')).mode & 0o7777, 0o4755);
  if (isRoot) {
    assert.equal(fs.lstatSync(path.join(dst, 'other/null-dev')).rdev, fs.lstatSync(path.join(src, 'other/null-dev')).rdev);
    assert.equal(fs.lstatSync(path.join(dst, 'other/block-dev')).rdev, fs.lstatSync(path.join(src, 'other/block-dev')).rdev);
  }
  assert.equal(fs.existsSync(path.join(dst, '.clfsload-copy')), false, 'a single copy leaves no folder of its own');
  // a re-run copies nothing and touches nothing
  const again = clfs(['copy', src, dst, '--state-dir', path.join(dir, 'state'), '--large-file-mib', '1', '--json']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(again.json!.files, 0);
  assert.equal(again.json!.hardlinks, 0);
  assert.deepEqual(lines(dst), lines(src));
  // without the state (another client's run), the destination itself says what is done
  const fresh = clfs(['copy', src, dst, '--state-dir', path.join(dir, 'state2'), '--large-file-mib', '1', '--json']);
  assert.equal(fresh.code, 0, fresh.stdout + fresh.stderr);
  assert.equal(fresh.json!.files, 0);
  assert.deepEqual(lines(dst), lines(src));
});

test('copy: incremental re-run copies only what changed; --delete (with --dry-run) removes what left the source', (t) => {
  const dir = tmp(t, 'incr');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(dst);
  buildSmallFilesTree(src, 300, 12);
  const state = ['--state-dir', path.join(dir, 'state')];
  assert.equal(clfs(['copy', src, dst, ...state]).code, 0);
  const files = fs.readdirSync(path.join(src, 'd000/s0000'));
  fs.appendFileSync(path.join(src, 'd000/s0000', files[0]!), 'changed');
  fs.writeFileSync(path.join(src, 'd000/added'), 'new');
  fs.rmSync(path.join(src, 'd000/s0000', files[1]!));
  fs.rmSync(path.join(src, 'd001'), { recursive: true });
  // same size and mtime, other bytes: only --checksum sees it
  const same = path.join(src, 'd000/s0002', fs.readdirSync(path.join(src, 'd000/s0002'))[0]!);
  const st = fs.statSync(same, { bigint: true });
  const bytes = fs.readFileSync(same);
  bytes[0] = bytes[0]! ^ 0xff;
  fs.writeFileSync(same, bytes);
  restoreTimes(same, st);
  const r = clfs(['copy', src, dst, ...state, '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json!.files, 2, 'the changed and the added file');
  assert.equal(fs.existsSync(path.join(dst, 'd000/s0000', files[1]!)), true, 'no --delete: kept');
  const c = clfs(['copy', src, dst, ...state, '--json', '--checksum']);
  assert.equal(c.json!.files, 1, 'the same-size, same-mtime change');
  assert.deepEqual(fs.readFileSync(path.join(dst, path.relative(src, same))), bytes);
  const dry = clfs(['copy', src, dst, ...state, '--delete', '--dry-run']);
  assert.equal(dry.code, 0, dry.stdout + dry.stderr);
  assert.match(dry.stderr, /would delete: d001\n/);
  assert.match(dry.stderr, new RegExp(`would delete: d000/s0000/${files[1]!.replace('.', '\\.')}\\n`));
  assert.equal(fs.existsSync(path.join(dst, 'd001')), true, 'a dry run deletes nothing');
  const del = clfs(['copy', src, dst, ...state, '--delete', '--json']);
  assert.equal(del.code, 0, del.stdout + del.stderr);
  assert.equal(del.json!.deleted, 2);
  assert.deepEqual(lines(dst), lines(src));
  assert.equal(clfs(['compare', src, dst, '--checksum']).code, 0);
});

test('compare: catches each kind of difference and names the paths; exit 1', (t) => {
  const dir = tmp(t, 'cmp');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(src);
  fs.mkdirSync(dst);
  buildKinds(src);
  assert.equal(clfs(['copy', src, dst, '--state-dir', path.join(dir, 'state')]).code, 0);
  assert.equal(clfs(['compare', src, dst]).code, 0);
  const d = (rel: string) => path.join(dst, rel);
  const keep = (rel: string, fn: () => void) => {
    const s = fs.lstatSync(d(rel), { bigint: true });
    fn();
    if (isRoot) fs.lchownSync(d(rel), Number(s.uid), Number(s.gid));
    restoreTimes(d(rel), s);
  };
  keep('a/size-4095', () => {
    const b = fs.readFileSync(d('a/size-4095'));
    b[100] = b[100]! ^ 1;
    fs.writeFileSync(d('a/size-4095'), b);
  });
  keep('a/size-4096', () => fs.appendFileSync(d('a/size-4096'), 'x'));
  fs.chmodSync(d('a/size-1'), 0o755);
  setTimesNs(d('a/size-4097'), 10n ** 18n, 10n ** 18n);
  keep('other/rel-link', () => {
    fs.rmSync(d('other/rel-link'));
    fs.symlinkSync('../a/size-0', d('other/rel-link'));
  });
  keep('a/-dash', () => {
    fs.rmSync(d('a/-dash'));
    fs.mkdirSync(d('a/-dash'));
  });
  fs.rmSync(d('a/new\nline'));
  fs.writeFileSync(d('other/extra'), 'only here');
  keep('other/linked-too', () => {
    const b = fs.readFileSync(d('other/linked-too'));
    fs.rmSync(d('other/linked-too'));
    fs.writeFileSync(d('other/linked-too'), b);
  });
  if (isRoot) {
    const s0 = fs.lstatSync(d('a/size-1048576'), { bigint: true });
    fs.chownSync(d('a/size-1048576'), 7, 7);
    restoreTimes(d('a/size-1048576'), s0);
    keep('other/null-dev', () => {
      fs.rmSync(d('other/null-dev'));
      execFileSync('mknod', [d('other/null-dev'), 'c', '1', '5']);
    });
  }
  const plain = clfs(['compare', src, dst]);
  assert.equal(plain.code, 1, plain.stdout);
  const want: Array<[string, RegExp]> = [
    ['a/size-4096', /size: source 4096, destination 4097/],
    ['a/size-1', /mode: source 4755, destination 755/],
    ['a/size-4097', /mtime: source 2003-04-05T06:07:08\.123000000Z, destination 2001-09-09T01:46:40\.000000000Z/],
    ['other/rel-link', /symlink target: source \.\.\/a\/size-1, destination \.\.\/a\/size-0/],
    ['a/-dash', /type: source file, destination dir/],
    ['a/new\\x0aline', /missing in the destination/],
    ['other/extra', /only in the destination/],
    ['other/linked-too', /hard links: the source's names of one inode are 2 inodes/],
  ];
  if (isRoot) want.push(['a/size-1048576', /owner: source 0:0, destination 7:7/], ['other/null-dev', /device: source/]);
  for (const [p, what] of want) {
    const line = plain.stdout.split('\n').find((l) => l.startsWith(`${p}: `) && what.test(l));
    assert.ok(line !== undefined, `a difference for ${p} matching ${what} in:\n${plain.stdout}`);
  }
  assert.doesNotMatch(plain.stdout, /^a\/size-4095: /m, 'same size and mtime: only --checksum reads the bytes');
  const sums = clfs(['compare', src, dst, '--checksum', '--json']);
  assert.equal(sums.code, 1);
  const diffs = (sums.json as unknown as { differences: Array<{ path: string; what: string }> }).differences;
  assert.ok(diffs.some((x) => x.path === 'a/size-4095' && x.what === 'content differs'), JSON.stringify(diffs));
});

test('copy --shard: N processes into one DEST, then --finalize, equal a single copy (hard links across shards, directory times)', async (t) => {
  const dir = tmp(t, 'shards');
  const src = path.join(dir, 'src');
  const one = path.join(dir, 'one');
  const many = path.join(dir, 'many');
  fs.mkdirSync(one);
  fs.mkdirSync(many);
  buildSmallFilesTree(src, 600, 40);
  buildKinds(path.join(src, 'kinds'));
  // names of one inode in several top-level directories, so in different shards
  fs.linkSync(path.join(src, 'd000/s0000/f0.dat'), path.join(src, 'd003/far-link'));
  fs.linkSync(path.join(src, 'd000/s0000/f0.dat'), path.join(src, 'top-link'));
  assert.equal(clfs(['copy', src, one, '--state-dir', path.join(dir, 'state1')]).code, 0);
  const N = 3;
  const runs = await Promise.all(
    Array.from({ length: N }, (_, k) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const env = { ...ENV, SLURM_ARRAY_TASK_ID: String(k + 1), SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: String(N) };
        const c = spawn(process.execPath, [BIN, 'copy', src, many, '--state-dir', path.join(dir, 'stateN'), '--json'], { env });
        let out = '';
        c.stdout.on('data', (b: Buffer) => (out += b));
        c.stderr.on('data', (b: Buffer) => (out += b));
        c.on('close', (code) => resolve({ code, out }));
      }),
    ),
  );
  for (const r of runs) assert.equal(r.code, 0, r.out);
  const summaries = runs.map((r) => JSON.parse(r.out.trim().split('\n').pop()!) as { shard: { index: number }; files: number; frontierDepth: number });
  assert.deepEqual(summaries.map((s) => s.shard.index).sort(), [0, 1, 2]);
  assert.ok(summaries.every((s) => s.files > 50), `every shard has work: ${summaries.map((s) => s.files).join(', ')}`);
  const notYet = clfs(['compare', src, many]);
  assert.equal(notYet.code, 1, 'before --finalize the hard links across shards are separate files');
  const rep = clfs(['copy', '--report', src, many, '--shards', String(N), '--json']);
  assert.equal(rep.code, 0, rep.stdout + rep.stderr);
  assert.equal((rep.json!.totals as { files: number }).files, summaries.reduce((a, s) => a + s.files, 0));
  const fin = clfs(['copy', '--finalize', src, many, '--shards', String(N)]);
  assert.equal(fin.code, 0, fin.stdout + fin.stderr);
  assert.match(fin.stdout, /finalized: 3 shards, [1-9]\d* names linked across shards/);
  assert.deepEqual(lines(many), lines(one));
  const cmp = clfs(['compare', src, many]);
  assert.equal(cmp.code, 0, cmp.stdout);
  assert.equal(fs.lstatSync(path.join(many, 'top-link')).ino, fs.lstatSync(path.join(many, 'd003/far-link')).ino);
  // the finalize refuses while a shard has not finished
  fs.rmSync(path.join(many, '.clfsload-copy/shards/1-of-3.json'));
  const early = clfs(['copy', '--finalize', src, many, '--shards', String(N)]);
  assert.equal(early.code, 1);
  assert.match(early.stdout, /shard\(s\) 1 of 3 have not finished/);
});

test('copy: kill -9 of one shard mid-run, then its re-run: the destination equals an uninterrupted copy', async (t) => {
  const dir = tmp(t, 'kill');
  const src = path.join(dir, 'src');
  const one = path.join(dir, 'one');
  const many = path.join(dir, 'many');
  fs.mkdirSync(one);
  fs.mkdirSync(many);
  buildSmallFilesTree(src, 400, 30);
  // half-written large files are the interesting case: a slow read keeps them open when the kill comes
  for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(src, `d00${i % 3}`, `large${i}`), Buffer.alloc(3 << 20, i + 1));
  assert.equal(clfs(['copy', src, one, '--state-dir', path.join(dir, 's1'), '--large-file-mib', '1']).code, 0);
  const state = ['--state-dir', path.join(dir, 'sN'), '--large-file-mib', '1'];
  for (const k of [0, 2]) assert.equal(clfs(['copy', src, many, '--shard', `${k}/3`, ...state]).code, 0);
  const slow = { ...ENV, CLFSLOAD_SOURCE_FAULTS: JSON.stringify({ rules: [{ op: 'read', delayMs: 40 }] }) };
  const child = spawn(process.execPath, [BIN, 'copy', src, many, '--shard', '1/3', '--threads', '8', ...state], { env: slow, stdio: 'ignore' });
  const stateFile = path.join(dir, 'sN', 'copy-1-of-3.sqlite');
  const deadline = Date.now() + 20000;
  // wait until the shard has recorded some files, so the kill lands mid-copy
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (fs.existsSync(`${stateFile}-wal`) && fs.statSync(`${stateFile}-wal`).size > 8192) break;
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(child.exitCode, null, 'the shard was still running when it was killed');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('close', r));
  assert.equal(fs.existsSync(path.join(many, '.clfsload-copy/shards/1-of-3.json')), false);
  const again = clfs(['copy', src, many, '--shard', '1/3', ...state, '--json']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.ok((again.json!.skipped as number) > 0, 'the re-run skips what the killed run finished');
  assert.equal(clfs(['copy', '--finalize', src, many, '--shards', '3']).code, 0);
  assert.deepEqual(lines(many), lines(one));
  assert.equal(clfs(['compare', src, many, '--checksum']).code, 0);
});

test('copy: a 256 MiB file (16 MiB ranges in flight at once); kill -9 mid-file leaves it looking unfinished, the re-run rewrites it equal', async (t) => {
  const dir = tmp(t, 'bigkill');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(path.join(src, 'd'), { recursive: true });
  fs.mkdirSync(dst);
  // every MiB different (its index stamped through it), so a range written at the wrong offset shows
  const big = path.join(src, 'd', 'big');
  const fd = fs.openSync(big, 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < 256; i++) {
    for (let k = 0; k < chunk.length; k += 4) chunk.writeUInt32LE((i * 2654435761 + k) >>> 0, k);
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
  fs.writeFileSync(path.join(src, 'd', 'small'), 'x');
  const state = ['--state-dir', path.join(dir, 'state')];
  // slow reads: the kill lands while the ranges are being written
  const slow = { ...ENV, CLFSLOAD_SOURCE_FAULTS: JSON.stringify({ rules: [{ op: 'read', path: 'd/big', delayMs: 40 }] }) };
  const child = spawn(process.execPath, [BIN, 'copy', src, dst, '--threads', '8', ...state], { env: slow, stdio: 'ignore' });
  const out = path.join(dst, 'd', 'big');
  const deadline = Date.now() + 30000;
  let written = 0;
  while (Date.now() < deadline && child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 50));
    const s = fs.statSync(out, { throwIfNoEntry: false });
    written = s === undefined ? 0 : s.blocks * 512;
    if (written >= 32 << 20) break;
  }
  assert.equal(child.exitCode, null, 'the copy was still running when it was killed');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('close', r));
  const half = fs.statSync(out, { bigint: true });
  assert.ok(half.blocks * 512n < 256n << 20n, `killed part way (${half.blocks * 512n} bytes on disk)`);
  // the destination was cut to the full size first: only the time tells it is not finished
  assert.notEqual(half.mtimeNs / 1000n, fs.statSync(big, { bigint: true }).mtimeNs / 1000n);
  assert.equal(clfs(['compare', src, dst]).code, 1, 'compare sees the half-written file');
  const again = clfs(['copy', src, dst, ...state, '--json']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.ok((again.json!.files as number) >= 1, 'the half-written file was copied again');
  assert.equal(clfs(['compare', src, dst, '--checksum']).code, 0);
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(big)));
  assert.deepEqual(lines(dst), lines(src));
});

test('copy: source faults are retried when they pass, reported (problems file, --json, exit 1) when they do not; nothing partial is left', (t) => {
  const dir = tmp(t, 'faults');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(dst);
  buildSmallFilesTree(src, 100, 5);
  fs.writeFileSync(path.join(src, 'd000/big'), Buffer.alloc(3 << 20, 9));
  const bad = fs.readdirSync(path.join(src, 'd000/s0001'))[0]!;
  const plan = {
    seed: 1,
    rules: [
      { op: 'read', path: `d000/s0001/${bad}`, code: 'EIO' },
      { op: 'read', path: 'd000/big', afterBytes: 2 << 20, code: 'EIO' },
      { op: 'lstat', path: 'd000/s0002', code: 'EIO', times: 2 },
      { op: 'readdir', path: 'd000/s0003', code: 'ESTALE', times: 1 },
    ],
  };
  const env = { ...ENV, CLFSLOAD_SOURCE_FAULTS: JSON.stringify(plan) };
  const state = ['--state-dir', path.join(dir, 'state'), '--large-file-mib', '1'];
  const r = clfs(['copy', src, dst, ...state, '--json'], env);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.json!.status, 'incomplete');
  assert.deepEqual(r.json!.problems.map((p) => p.path).sort(), ['d000/big', `d000/s0001/${bad}`]);
  assert.match(r.json!.problems[0]!.message, /cannot read the source \(EIO/);
  const problems = fs.readFileSync(r.json!.problemsFile as string, 'utf8');
  assert.match(problems, new RegExp(`^d000/s0001/${bad.replace('.', '\\.')}\\t`, 'm'));
  assert.equal(fs.existsSync(path.join(dst, 'd000/big')), false, 'a file that failed half way is removed');
  assert.equal(fs.existsSync(path.join(dst, 'd000/s0001', bad)), false);
  // the transient ones were retried: those directories are complete
  assert.deepEqual(fs.readdirSync(path.join(dst, 'd000/s0003')).sort(), fs.readdirSync(path.join(src, 'd000/s0003')).sort());
  const text = clfs(['copy', src, dst, ...state], env);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /every failed path is listed in /);
  const fixed = clfs(['copy', src, dst, ...state, '--json']);
  assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
  assert.equal(fixed.json!.files, 2);
  assert.deepEqual(lines(dst), lines(src));
});

test('copy: a destination directory removed after a finished copy is copied again whole, though the state has its files as done', (t) => {
  const dir = tmp(t, 'gone');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(dst);
  buildSmallFilesTree(src, 60, 3);
  const state = ['--state-dir', path.join(dir, 'state')];
  assert.equal(clfs(['copy', src, dst, ...state]).code, 0);
  fs.rmSync(path.join(dst, 'd000'), { recursive: true });
  const again = clfs(['copy', src, dst, ...state, '--json']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.ok((again.json!.files as number) > 0);
  assert.deepEqual(lines(dst), lines(src));
  assert.equal(clfs(['compare', src, dst]).code, 0);
});

test('copy: small files read on the thread pool (a slow source) and on the main thread (a fast one) copy the same; a read fault on either path is reported', (t) => {
  const dir = tmp(t, 'readpaths');
  const src = path.join(dir, 'src');
  buildSmallFilesTree(src, 120, 3);
  const bad = fs.readdirSync(path.join(src, 'd000/s0001'))[0]!;
  for (const [name, rules] of [
    ['fast', [{ op: 'read', path: `d000/s0001/${bad}`, code: 'EIO' }]],
    // every read slow: the gate sends small files' reads to the pool (faulted there too)
    ['slow', [{ op: 'read', delayMs: 2 }, { op: 'read', path: `d000/s0001/${bad}`, code: 'EIO' }]],
  ] as const) {
    const dst = path.join(dir, `dst-${name}`);
    fs.mkdirSync(dst);
    const state = ['--state-dir', path.join(dir, `state-${name}`)];
    const r = clfs(['copy', src, dst, ...state, '--json'], { ...ENV, CLFSLOAD_SOURCE_FAULTS: JSON.stringify({ rules }) });
    assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
    assert.deepEqual(r.json!.problems.map((p) => p.path), [`d000/s0001/${bad}`], name);
    assert.match(r.json!.problems[0]!.message, /cannot read the source \(EIO/);
    assert.equal(fs.existsSync(path.join(dst, 'd000/s0001', bad)), false, `${name}: nothing partial`);
    const fixed = clfs(['copy', src, dst, ...state]);
    assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
    assert.deepEqual(lines(dst), lines(src), name);
    assert.equal(clfs(['compare', src, dst, '--checksum']).code, 0, name);
  }
});

test('copy: a destination that fills up stops the run (exit 1, state kept); the re-run with room completes it', (t) => {
  const dir = tmp(t, 'full');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'small');
  fs.mkdirSync(dst);
  if (!mountTmpfs(t, dst, 'size=2m')) return;
  buildSmallFilesTree(src, 200, 4);
  fs.writeFileSync(path.join(src, 'd000/huge'), Buffer.alloc(3 << 20, 1));
  const state = ['--state-dir', path.join(dir, 'state'), '--large-file-mib', '1'];
  const r = clfs(['copy', src, dst, ...state, '--json']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.json!.status, 'stopped');
  assert.match(r.json!.stopReason as string, /destination: .*ENOSPC.*run the same command again to resume/);
  // whatever is there is either complete or not looking complete (its mtime is not the source's)
  for (const rel of ['d000/huge']) {
    if (fs.existsSync(path.join(dst, rel))) assert.notEqual(fs.statSync(path.join(dst, rel)).mtimeMs, fs.statSync(path.join(src, rel)).mtimeMs);
  }
  execFileSync('mount', ['-o', 'remount,size=64m', dst]);
  const again = clfs(['copy', src, dst, ...state]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.deepEqual(lines(dst), lines(src));
});

test('copy without UV_THREADPOOL_SIZE re-runs itself with a larger pool; killing the launcher stops the copy', async (t) => {
  const dir = tmp(t, 'pool');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(dst);
  buildSmallFilesTree(src, 200, 4);
  const env: NodeJS.ProcessEnv = { ...ENV };
  delete env.UV_THREADPOOL_SIZE;
  const r = clfs(['copy', src, dst, '--state-dir', path.join(dir, 'state'), '--json'], env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json!.files, 200);
  // a slow copy, its launcher killed: the re-run must not go on alone
  const slow = { ...env, CLFSLOAD_SOURCE_FAULTS: JSON.stringify({ rules: [{ op: 'read', delayMs: 50 }] }) };
  const launcher = spawn(process.execPath, [BIN, 'copy', src, path.join(dir, 'dst2'), '--state-dir', path.join(dir, 'state2'), '--threads', '2'], { env: slow, stdio: 'ignore' });
  fs.mkdirSync(path.join(dir, 'dst2'));
  let child: number | undefined;
  for (let i = 0; i < 100 && child === undefined; i++) {
    await new Promise((res) => setTimeout(res, 100));
    const kids = spawnSync('pgrep', ['-P', String(launcher.pid)], { encoding: 'utf8' }).stdout.trim();
    if (kids !== '') child = Number(kids.split('\n')[0]);
  }
  assert.ok(child !== undefined, 'the launcher started a re-run');
  const childEnv = fs.readFileSync(`/proc/${child}/environ`, 'utf8');
  assert.match(childEnv, /(^|\0)UV_THREADPOOL_SIZE=6(\0|$)/, '--threads 2: a pool of 2 + 4');
  launcher.kill('SIGKILL');
  await new Promise((res) => launcher.once('close', res));
  let gone = false;
  for (let i = 0; i < 30 && !gone; i++) {
    await new Promise((res) => setTimeout(res, 100));
    gone = !fs.existsSync(`/proc/${child}`) || /^State:\s+Z/m.test(fs.readFileSync(`/proc/${child}/status`, 'utf8'));
  }
  assert.ok(gone, 'the re-run exits when its launcher dies');
});

test('copy into several DEST paths (bind mounts of one directory) spreads the work and keeps hard links on one mount', (t) => {
  if (!isRoot) {
    t.skip('bind mounts need root');
    return;
  }
  const dir = tmp(t, 'multi');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  const mounts = [path.join(dir, 'm1'), path.join(dir, 'm2')];
  for (const d of [dst, ...mounts]) fs.mkdirSync(d);
  for (const m of mounts) execFileSync('mount', ['--bind', dst, m]);
  try {
    multiDest(dir, src, dst, mounts);
  } finally {
    // before the folder is removed: a recursive remove would go on through the bind mounts
    for (const m of mounts) spawnSync('umount', [m]);
  }
});

function multiDest(dir: string, src: string, dst: string, mounts: string[]): void {
  buildSmallFilesTree(src, 200, 8);
  fs.linkSync(path.join(src, 'd000/s0000/f0.dat'), path.join(src, 'd000/s0001/hard'));
  execFileSync('mkfifo', [path.join(src, 'd000/fifo')]);
  const r = clfs(['copy', src, dst, ...mounts, '--state-dir', path.join(dir, 'state'), '--json', '--verify']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(lines(dst), lines(src));
  const notSame = clfs(['copy', src, dst, path.join(dir, 'src'), '--state-dir', path.join(dir, 'state2')]);
  assert.equal(notSame.code, 2);
  assert.match(notSame.stderr, /overlaps the source|every DEST must be the same directory/);
  fs.mkdirSync(path.join(dir, 'elsewhere'));
  const other = clfs(['copy', src, dst, path.join(dir, 'elsewhere'), '--state-dir', path.join(dir, 'state3')]);
  assert.equal(other.code, 2, other.stdout + other.stderr);
  assert.match(other.stderr, /elsewhere: does not show what was written through .*every DEST must be the same directory/);
}

test('copy: a Kubernetes Indexed Job (JOB_COMPLETION_INDEX with --shards) splits the tree like --shard', (t) => {
  const dir = tmp(t, 'k8s');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(dst);
  buildSmallFilesTree(src, 300, 20);
  const files: number[] = [];
  for (const k of [1, 0]) {
    const r = clfs(['copy', src, dst, '--shards', '2', '--state-dir', path.join(dir, 'state'), '--json'], { ...ENV, JOB_COMPLETION_INDEX: String(k) });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(r.json!.shard, { index: k, count: 2 });
    files.push(r.json!.files as number);
  }
  assert.equal(files[0]! + files[1]!, 300);
  assert.ok(files.every((n) => n > 0), `both shards had work: ${files.join(', ')}`);
  assert.equal(clfs(['copy', '--finalize', src, dst, '--shards', '2']).code, 0);
  assert.deepEqual(lines(dst), lines(src));
  assert.equal(clfs(['compare', src, dst]).code, 0);
});

test('copy: usage errors are one line naming the option, exit 2', (t) => {
  const dir = tmp(t, 'usage');
  fs.mkdirSync(path.join(dir, 'src'));
  fs.mkdirSync(path.join(dir, 'dst'));
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['copy', path.join(dir, 'src'), path.join(dir, 'nope')], ENV, /nope: destination is not a directory/],
    [['copy', path.join(dir, 'nope'), path.join(dir, 'dst')], ENV, /nope: not a directory/],
    [['copy', path.join(dir, 'src'), path.join(dir, 'dst'), '--shard', '3/3'], ENV, /shard 3 of 3 .* out of range/],
    [['copy', path.join(dir, 'src'), path.join(dir, 'dst'), '--shard', 'x'], ENV, /--shard x: give K\/N/],
    [['copy', path.join(dir, 'src'), path.join(dir, 'dst')], { ...ENV, JOB_COMPLETION_INDEX: '2' }, /JOB_COMPLETION_INDEX is set: give --shards N/],
    [['copy', path.join(dir, 'src'), path.join(dir, 'src/inside')], ENV, /not a directory|overlaps/],
    [['copy', '--finalize', path.join(dir, 'src'), path.join(dir, 'dst')], ENV, /--finalize needs --shards N/],
  ];
  fs.mkdirSync(path.join(dir, 'src/inside'));
  for (const [args, env, want] of cases) {
    const r = clfs(args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
