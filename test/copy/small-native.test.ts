/**
 * A small file's copy in one native call (CountedFs.copySmall, native copySmall) and the path
 * without the addon (CLFSLOAD_NATIVE=0): the same tree copied both ways comes out the same (bytes,
 * mode with set-id bits, owner, times to the nanosecond) with the same calls counted; each
 * failure of the native call is tagged with its side and leaves no DEST file behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CountedFs, SideError, SourceChanged } from '../../src/copy/fs-ops.js';
import { nativeOps } from '../../src/copy/native.js';
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
  return out.trim().split('\n').sort();
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
    assert.equal(summary.files, 11, name);
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
