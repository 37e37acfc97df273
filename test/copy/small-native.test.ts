/**
 * A small file's copy in one native call (CountedFs.copySmall, native copySmall), a fresh
 * directory's small files several to a call (copyBatch), and the path without the addon
 * (CLFSLOAD_NATIVE=0): the same tree copied each way comes out the same (bytes, mode with set-id
 * bits, owner, times to the nanosecond) with the same calls counted; each failure of a native
 * call is tagged with its side and step and leaves no DEST file behind; through the CLI a failed
 * file is reported alone and retried by the re-run, and a kill -9 leaves nothing looking complete
 * that is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CountedFs, SideError, SourceChanged, type BatchResult } from '../../src/copy/fs-ops.js';
import { BS_COPIED, BS_FAILED, BS_NOT_TRIED, BS_OTHER, nativeOps } from '../../src/copy/native.js';
import { manifestLines, sourceManifest } from '../helpers/manifest.js';
import { isRoot } from '../helpers/privilege.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
const ENV: NodeJS.ProcessEnv = { ...process.env, UV_THREADPOOL_SIZE: '72' };
delete ENV.SLURM_ARRAY_TASK_ID;
delete ENV.JOB_COMPLETION_INDEX;
delete ENV.CLFSLOAD_SOURCE_FAULTS;
delete ENV.CLFSLOAD_NATIVE;
const MiB = 1 << 20;

function tmp(t: { after(fn: () => void): void }, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `clfs-small-${name}-`));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function py(code: string, ...args: string[]): string {
  const r = spawnSync('python3', ['-c', code, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** Every file's mode and mtime/atime in nanoseconds (python3's os.lstat, not the addon; nothing read, so no atime moves). */
function times(root: string): string[] {
  const out = py(
    'import os,sys\nfor d,ds,fs in os.walk(sys.argv[1]):\n  for n in fs:\n    p=os.path.join(d,n); s=os.lstat(p); print(os.path.relpath(p,sys.argv[1]), oct(s.st_mode), s.st_mtime_ns, s.st_atime_ns)',
    root,
  );
  // a symlink's atime moves when it is read (its own times are not set here; test/copy/exact.test.ts has them)
  return out.trim().split('\n').filter((l) => !l.includes(' 0o120')).sort();
}

/** Every entry's type, mode, owner, size, mtime (s) and bytes. */
function lines(root: string): string[] {
  return manifestLines(sourceManifest(root, { preserveHardlinks: true })).filter((l) => !l.startsWith('.clfsload-copy'));
}

function buildTree(src: string): void {
  fs.mkdirSync(path.join(src, 'a/b'), { recursive: true });
  const sizes = [0, 1, 4095, 4096, 65537, MiB - 1, MiB];
  for (const [i, size] of sizes.entries()) {
    const buf = Buffer.alloc(size);
    for (let k = 0; k < size; k++) buf[k] = (k * 7 + i) & 0xff;
    fs.writeFileSync(path.join(src, i % 2 === 0 ? 'a' : 'a/b', `f${size}`), buf);
  }
  const modes: Array<[string, number]> = [
    ['setuid', 0o4755],
    ['setgid', 0o2711],
    ['private', 0o600],
    ['sticky', 0o1644],
  ];
  for (const [name, mode] of modes) {
    fs.writeFileSync(path.join(src, 'a', name), name);
    if (isRoot) fs.chownSync(path.join(src, 'a', name), 1234, 5678);
    fs.chmodSync(path.join(src, 'a', name), mode);
  }
  if (isRoot) {
    // a set-group-id directory of another group: what is made in it takes that group unless the copy sets the owner
    const sg = path.join(src, 'sg');
    fs.mkdirSync(sg);
    fs.chownSync(sg, 0, 4242);
    fs.chmodSync(sg, 0o2755);
    fs.writeFileSync(path.join(sg, 'mine'), 'root:root');
    fs.writeFileSync(path.join(sg, 'empty'), '');
    fs.symlinkSync('mine', path.join(sg, 'link'));
    for (const n of ['mine', 'empty', 'link']) fs.lchownSync(path.join(sg, n), 0, 0);
  }
  // times with nanoseconds, an atime apart from the mtime
  py('import os,sys\nfor d,ds,fs in os.walk(sys.argv[1]):\n  for i,n in enumerate(fs): os.utime(os.path.join(d,n), ns=(1600000000123456789+i, 1700000000987654321+i))', src);
}

test('copy: small files through the native one-call path and through Node calls (CLFSLOAD_NATIVE=0) come out the same, with the same calls counted', (t) => {
  assert.ok(nativeOps()?.copySmall !== undefined, 'the addon is built (npm run build:native) and has copySmall');
  const dir = tmp(t, 'both');
  const src = path.join(dir, 'src');
  buildTree(src);
  const ops: Record<string, { source: number; dest: number }> = {};
  for (const [name, env] of [
    ['native', ENV],
    ['fallback', { ...ENV, CLFSLOAD_NATIVE: '0' }],
  ] as const) {
    const dst = path.join(dir, `dst-${name}`);
    fs.mkdirSync(dst);
    // before the copy: reading the source moves its atime on (relatime), after the lstat the copy takes it from
    const want = times(src);
    const r = spawnSync(process.execPath, [BIN, 'copy', src, dst, '--state-dir', path.join(dir, `state-${name}`), '--json'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { files: number; ops: { source: number; dest: number } };
    assert.equal(summary.files, isRoot ? 13 : 11, name);
    ops[name] = summary.ops;
    const got = times(dst);
    assert.deepEqual(lines(dst), lines(src), `${name}: bytes, set-id bits, owners`);
    if (name === 'native') assert.deepEqual(got, want, 'times to the nanosecond');
    else {
      // Node's calls set times to the microsecond: the rest is the same
      const us = (lines: string[]) => lines.map((l) => l.replace(/ (\d+)(\d{3}) (\d+)(\d{3})$/, ' $1 $3'));
      assert.deepEqual(us(got), us(want), name);
    }
    const cmp = spawnSync(process.execPath, [BIN, 'compare', src, dst, '--checksum'], { env, encoding: 'utf8' });
    assert.equal(cmp.status, 0, `${name}: ${cmp.stdout}${cmp.stderr}`);
    if (isRoot) {
      // the set-group-id directory already in DEST (not made by the run): its files one by one (copySmall, or Node's calls)
      const dst2 = path.join(dir, `dst2-${name}`);
      fs.mkdirSync(path.join(dst2, 'sg'), { recursive: true });
      fs.chownSync(path.join(dst2, 'sg'), 0, 4242);
      fs.chmodSync(path.join(dst2, 'sg'), 0o2755);
      const again = spawnSync(process.execPath, [BIN, 'copy', src, dst2, '--state-dir', path.join(dir, `state2-${name}`)], { env, encoding: 'utf8' });
      assert.equal(again.status, 0, `${name}: ${again.stdout}${again.stderr}`);
      assert.deepEqual(lines(dst2), lines(src), `${name}: owners in a set-group-id directory that was there`);
    }
  }
  assert.deepEqual(ops.native, ops.fallback, 'one native call counts the calls it makes, as the path without the addon does');
});

test('copySmall: each failure names its side, a size change is SourceChanged, and no DEST file is left behind', async (t) => {
  const dir = tmp(t, 'fail');
  const fsx = new CountedFs();
  const b = (p: string) => Buffer.from(path.join(dir, p));
  fs.writeFileSync(path.join(dir, 's'), 'hello world');
  const copy = (src: string | null, data: Buffer | null, size: number, dest: string) => fsx.copySmall(src === null ? null : b(src), data, size, b(dest), 0o640, undefined, 1n, 2_000_000_003n);

  await copy('s', null, 11, 'ok');
  assert.equal(fs.readFileSync(path.join(dir, 'ok'), 'utf8'), 'hello world');
  const st = fs.statSync(path.join(dir, 'ok'), { bigint: true });
  assert.equal(st.mtimeNs, 2_000_000_003n);
  assert.equal(Number(st.mode) & 0o7777, 0o640);
  assert.deepEqual(fsx.ops, { source: 3, dest: 4 }, 'open, read, close; create, write, futimens, close');

  const side = (want: string, errno: string) => (err: unknown) => err instanceof SideError && err.side === want && err.errno === errno;
  await assert.rejects(copy('missing', null, 3, 'x1'), side('source', 'ENOENT'));
  await assert.rejects(copy('s', null, 11, 'ok'), side('dest', 'EEXIST'), 'exclusive create: what is there is not written over');
  assert.equal(fs.readFileSync(path.join(dir, 'ok'), 'utf8'), 'hello world');
  await assert.rejects(copy('s', null, 11, 'no-such-dir/x2'), side('dest', 'ENOENT'));
  await assert.rejects(copy('s', null, 5, 'x3'), (e) => e instanceof SourceChanged && /grew/.test(e.message));
  await assert.rejects(copy('s', null, 20, 'x4'), (e) => e instanceof SourceChanged && /shrank/.test(e.message));
  assert.deepEqual(
    ['x1', 'x3', 'x4'].filter((f) => fs.existsSync(path.join(dir, f))),
    [],
    'a source failure or change leaves no DEST file',
  );
  // the bytes handed over (read through the source seam): written as given
  await copy(null, Buffer.from('abcdef'), 6, 'given');
  assert.equal(fs.readFileSync(path.join(dir, 'given'), 'utf8'), 'abcdef');
  // a failure after the create (a write into a full file system): the file is removed
  if (isRoot) {
    const tiny = path.join(dir, 'ramfs');
    fs.mkdirSync(tiny);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', tiny]).status === 0;
    assert.ok(mounted, 'mounting tmpfs needs root (the tests run as root)');
    try {
      fs.writeFileSync(path.join(dir, 'big'), Buffer.alloc(256 * 1024, 1));
      await assert.rejects(fsx.copySmall(b('big'), null, 256 * 1024, b('ramfs/big'), 0o644, undefined, 1n, 2n), side('dest', 'ENOSPC'));
      assert.equal(fs.existsSync(path.join(tiny, 'big')), false, 'a write that failed part way leaves nothing');
    } finally {
      spawnSync('umount', [tiny]);
    }
  }
});

/** A directory's regular files by one copyBatch, as copy hands a directory it created to it. */
function batchOf(fsx: CountedFs, srcDir: string, destDir: string, names: string[], setgid = false) {
  return fsx.copyBatch(Buffer.from(srcDir), Buffer.from(destDir), names.map((n) => Buffer.from(n)), MiB, setgid);
}

test('copyBatch: every small-file case byte-exact with mode, owner and times to the ns; what is not a plain small file is left to the caller, untouched', async (t) => {
  const dir = tmp(t, 'batch');
  const src = path.join(dir, 'src');
  buildTree(src);
  const files = fs.readdirSync(path.join(src, 'a')).filter((n) => fs.lstatSync(path.join(src, 'a', n)).isFile());
  // not plain small files: a hard link, a sparse file, one over the limit, a directory, a symlink, a fifo
  fs.linkSync(path.join(src, 'a/setuid'), path.join(src, 'a/hardlinked'));
  const fd = fs.openSync(path.join(src, 'a/sparse'), 'w');
  fs.writeSync(fd, Buffer.from('end'), 0, 3, 512 * 1024);
  fs.closeSync(fd);
  fs.writeFileSync(path.join(src, 'a/big'), Buffer.alloc(MiB + 1, 3));
  fs.symlinkSync('f0', path.join(src, 'a/link'));
  spawnSync('mkfifo', [path.join(src, 'a/fifo')]);
  const others = ['hardlinked', 'sparse', 'big', 'b', 'link', 'fifo'];
  const plain = files.filter((n) => n !== 'setuid');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(path.join(dst, 'a'), { recursive: true });
  const want = times(path.join(src, 'a'));
  const fsx = new CountedFs();
  const res = await batchOf(fsx, path.join(src, 'a'), path.join(dst, 'a'), [...plain, ...others]);
  assert.deepEqual(
    res.map((r) => r.status),
    [...plain.map(() => BS_COPIED), ...others.map(() => BS_OTHER)],
  );
  assert.ok(res.every((r) => r.error === undefined));
  // before anything reads DEST (a read moves an atime older than the mtime on)
  const got = times(path.join(dst, 'a'));
  assert.deepEqual(got, want.filter((l) => plain.includes(l.split(' ')[0]!)), 'mode with set-id bits, and times to the nanosecond');
  for (const [i, name] of plain.entries()) {
    const s = fs.lstatSync(path.join(src, 'a', name), { bigint: true });
    assert.equal(res[i]!.size, s.size, name);
    assert.equal(res[i]!.mtimeNs, s.mtimeNs, name);
    assert.deepEqual(fs.readFileSync(path.join(dst, 'a', name)), fs.readFileSync(path.join(src, 'a', name)), name);
  }
  assert.deepEqual(fs.readdirSync(path.join(dst, 'a')).sort(), [...plain].sort(), 'nothing made for what is left to the caller');
  const srcLines = lines(path.join(src, 'a')).filter((l) => plain.includes(l.split(' ')[0]!));
  assert.equal(srcLines.length, plain.length);
  assert.deepEqual(lines(path.join(dst, 'a')), srcLines, 'type, mode, owner, size, bytes');
  // each file: lstat, then open, read, close (none for the empty one); create, write (none when empty), fchown/fchmod as root when the owner differs, futimens, close
  const nonEmpty = plain.filter((n) => fs.statSync(path.join(src, 'a', n)).size > 0).length;
  const owned = isRoot ? plain.filter((n) => ['setgid', 'private', 'sticky'].includes(n)).length : 0;
  const setIds = isRoot ? 1 : 0; // setgid (the setuid one is hard-linked above, so left to the caller)
  assert.deepEqual(fsx.ops, { source: plain.length + others.length + 3 * nonEmpty, dest: 3 * plain.length + nonEmpty + owned + setIds });

  // the setuid file through the batch too (its link gone), the second time into a set-group-id directory: owner set though it is the caller's
  fs.unlinkSync(path.join(src, 'a/hardlinked'));
  const sg = path.join(dir, 'sg');
  fs.mkdirSync(sg);
  if (isRoot) {
    fs.chownSync(sg, 0, 4242);
    fs.chmodSync(sg, 0o2755);
    fs.writeFileSync(path.join(src, 'a/mine'), 'root:root');
    fs.chownSync(path.join(src, 'a/mine'), 0, 0);
  }
  const two = await batchOf(new CountedFs(), path.join(src, 'a'), sg, isRoot ? ['setuid', 'mine'] : ['setuid'], isRoot);
  assert.ok(two.every((r) => r.status === BS_COPIED));
  assert.equal(fs.statSync(path.join(sg, 'setuid')).mode & 0o7777, 0o4755);
  if (isRoot) {
    assert.equal(fs.statSync(path.join(sg, 'setuid')).uid, 1234);
    assert.equal(fs.statSync(path.join(sg, 'mine')).gid, 0, 'a set-group-id directory does not pass its group on to a copied file');
  }
});

test('copyBatch: a failure at each step names its side and call, leaves no DEST file, and the names after it are not tried', async (t) => {
  const dir = tmp(t, 'batchfail');
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  for (const n of ['one', 'two', 'three']) fs.writeFileSync(path.join(src, n), n);
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(dst);
  const fsx = new CountedFs();
  const fails = (r: BatchResult, side: string, errno: string, call: string) =>
    r.status === BS_FAILED && r.error instanceof SideError && r.error.side === side && r.error.errno === errno && new RegExp(`^${errno}: .*, ${call}$`).test(r.error.message);

  // the source: gone since the listing (lstat)
  let res = await batchOf(fsx, src, dst, ['one', 'gone', 'two']);
  assert.deepEqual(res.map((r) => r.status), [BS_COPIED, BS_FAILED, BS_NOT_TRIED]);
  assert.ok(fails(res[1]!, 'source', 'ENOENT', 'lstat'), res[1]!.error?.message);
  assert.deepEqual(fs.readdirSync(dst), ['one']);
  // the destination: a name already there (exclusive create: not written over)
  fs.writeFileSync(path.join(dst, 'two'), 'keep');
  res = await batchOf(fsx, src, dst, ['two', 'three']);
  assert.deepEqual(res.map((r) => r.status), [BS_FAILED, BS_NOT_TRIED]);
  assert.ok(fails(res[0]!, 'dest', 'EEXIST', 'open'), res[0]!.error?.message);
  assert.equal(fs.readFileSync(path.join(dst, 'two'), 'utf8'), 'keep');
  // the destination directory gone
  res = await batchOf(fsx, src, path.join(dir, 'no-such-dir'), ['three']);
  assert.ok(fails(res[0]!, 'dest', 'ENOENT', 'open'), res[0]!.error?.message);
  // the source not readable (as root everything is: a source file that cannot be opened is a dangling name's, covered by lstat above)
  if (!isRoot) {
    fs.chmodSync(path.join(src, 'three'), 0);
    res = await batchOf(fsx, src, dst, ['three']);
    assert.ok(fails(res[0]!, 'source', 'EACCES', 'open'), res[0]!.error?.message);
    assert.equal(fs.existsSync(path.join(dst, 'three')), false);
  }
  // a write that fails part way (a full file system): the file is removed
  if (isRoot) {
    const tiny = path.join(dir, 'tiny');
    fs.mkdirSync(tiny);
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', tiny]).status, 0, 'mounting tmpfs needs root (the tests run as root)');
    try {
      fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(256 * 1024, 1));
      res = await batchOf(fsx, src, tiny, ['one', 'big', 'two']);
      assert.deepEqual(res.map((r) => r.status), [BS_COPIED, BS_FAILED, BS_NOT_TRIED]);
      assert.ok(fails(res[1]!, 'dest', 'ENOSPC', 'write'), res[1]!.error?.message);
      assert.deepEqual(fs.readdirSync(tiny).sort(), ['one'], 'the file that failed part way is gone');
    } finally {
      spawnSync('umount', [tiny]);
    }
  }
});

function copyCli(args: string[], env: NodeJS.ProcessEnv = ENV, asNobody = false) {
  const argv = asNobody && isRoot ? ['runuser', '-u', 'nobody', '--', process.execPath, BIN, ...args] : [process.execPath, BIN, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { env: { ...env, HOME: os.tmpdir() }, encoding: 'utf8', maxBuffer: 64 << 20 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  const json = args.includes('--json') ? (JSON.parse(last) as { status: string; files: number; problems: Array<{ path: string; message: string }>; problemsFile?: string; skipped: number }) : undefined;
  return { code: r.status, out: r.stdout + r.stderr, json };
}

test('copy (batched small files): a file that fails is reported on its own (exit 1, problems file) and the others are copied; the re-run copies it', (t) => {
  const work = fs.mkdtempSync(path.join('/tmp', 'clfs-small-perfile-'));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  fs.chmodSync(work, 0o777);
  const src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'd'), { recursive: true });
  for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(src, 'd', `f${String(i).padStart(2, '0')}`), `file ${i}\n`.repeat(i + 1));
  const dst = path.join(work, 'dst');
  fs.mkdirSync(dst);
  if (isRoot) spawnSync('chown', ['-R', 'nobody', work]);
  // unreadable to the copying user: the open fails (EACCES) in the batch; root reads everything, so root runs it as nobody
  fs.chmodSync(path.join(src, 'd/f13'), 0);
  fs.chmodSync(path.join(src, 'd/f29'), 0);
  if (!isRoot && fs.accessSync !== undefined) {
    try {
      fs.accessSync(path.join(src, 'd/f13'), fs.constants.R_OK);
      t.skip('this user reads a mode-000 file');
      return;
    } catch {
      // as expected
    }
  }
  const state = ['--state-dir', path.join(work, 'state')];
  const r = copyCli(['copy', src, dst, ...state, '--json'], ENV, true);
  assert.equal(r.code, 1, r.out);
  assert.equal(r.json!.status, 'incomplete');
  assert.deepEqual(
    r.json!.problems.map((p) => p.path).sort(),
    ['d/f13', 'd/f29'],
  );
  for (const p of r.json!.problems) assert.match(p.message, /cannot read the source \(EACCES: permission denied, open\)/);
  assert.match(fs.readFileSync(r.json!.problemsFile!, 'utf8'), /^d\/f13\t/m);
  assert.equal(r.json!.files, 38, 'every other file of the batches copied');
  assert.deepEqual(fs.readdirSync(path.join(dst, 'd')).filter((n) => n === 'f13' || n === 'f29'), [], 'nothing left of the failed ones');
  for (const n of fs.readdirSync(path.join(dst, 'd'))) assert.deepEqual(fs.readFileSync(path.join(dst, 'd', n)), fs.readFileSync(path.join(src, 'd', n)), n);
  fs.chmodSync(path.join(src, 'd/f13'), 0o644);
  fs.chmodSync(path.join(src, 'd/f29'), 0o644);
  const again = copyCli(['copy', src, dst, ...state, '--json'], ENV, true);
  assert.equal(again.code, 0, again.out);
  assert.equal(again.json!.files, 2, 'only the two that failed are copied again');
  const cmp = copyCli(['compare', src, dst, '--checksum'], ENV, true);
  assert.equal(cmp.code, 0, cmp.out);
});

test('copy (batched small files): kill -9 mid-run leaves no file looking complete that is not; the re-run makes DEST equal', async (t) => {
  const dir = tmp(t, 'kill');
  const src = path.join(dir, 'src');
  // files of 8 KiB to 512 KiB, so a kill may land inside a write
  fs.mkdirSync(src);
  for (let d = 0; d < 24; d++) {
    fs.mkdirSync(path.join(src, `d${d}`));
    for (let i = 0; i < 60; i++) {
      const size = 8192 * (1 + ((d * 60 + i) % 64));
      const buf = Buffer.alloc(size, (d * 60 + i) & 0xff);
      buf.writeUInt32LE(d * 1000 + i, 0);
      fs.writeFileSync(path.join(src, `d${d}`, `f${i}`), buf);
    }
  }
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(dst);
  const state = ['--state-dir', path.join(dir, 'state')];
  let killedMidRun = false;
  for (let attempt = 0; attempt < 4 && !killedMidRun; attempt++) {
    fs.rmSync(dst, { recursive: true, force: true });
    fs.mkdirSync(dst);
    const child = spawn(process.execPath, [BIN, 'copy', src, dst, ...state, '--new', '--threads', '16'], { env: ENV, stdio: 'ignore' });
    // wait until files are being made, then kill: the earlier, the more of the copy is in flight
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 5));
      const made = fs.existsSync(path.join(dst, 'd0')) ? fs.readdirSync(path.join(dst, 'd0')).length : 0;
      if (made > 4 + attempt * 4) break;
    }
    killedMidRun = child.exitCode === null;
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('close', r)));
  }
  assert.ok(killedMidRun, 'one of the runs was killed before it ended');
  // every file with the source's size and mtime is the source's bytes
  let complete = 0;
  let unfinished = 0;
  for (let d = 0; d < 24; d++) {
    const there = fs.existsSync(path.join(dst, `d${d}`)) ? fs.readdirSync(path.join(dst, `d${d}`)) : [];
    for (const n of there) {
      const s = fs.statSync(path.join(src, `d${d}`, n), { bigint: true });
      const o = fs.statSync(path.join(dst, `d${d}`, n), { bigint: true });
      if (o.size === s.size && o.mtimeNs === s.mtimeNs) {
        assert.deepEqual(fs.readFileSync(path.join(dst, `d${d}`, n)), fs.readFileSync(path.join(src, `d${d}`, n)), `d${d}/${n} looks complete`);
        complete += 1;
      } else unfinished += 1;
    }
  }
  assert.ok(complete > 0, "the killed run had copied some files");
  const again = copyCli(['copy', src, dst, ...state, '--json']);
  assert.equal(again.code, 0, again.out);
  assert.ok(again.json!.skipped >= complete - 16, `the re-run skips what the killed run finished (${again.json!.skipped} of ${complete}, ${unfinished} unfinished)`);
  assert.deepEqual(lines(dst), lines(src));
  const cmp = copyCli(['compare', src, dst, '--checksum']);
  assert.equal(cmp.code, 0, cmp.out);
});
