/**
 * copy's exactness through clfsload's native addon (native/): sparse files by SEEK_DATA/SEEK_HOLE
 * (and the zero-block fallback with CLFSLOAD_NATIVE=0), extended attributes (--xattrs, copy and
 * compare), times to the nanosecond, SOURCE and DEST given as bytes that are not UTF-8. The
 * attributes and times are set and read back with python3's os module, not with the addon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { CopyState } from '../../src/state/copy-state.js';
import { sameTime } from '../../src/copy/copy.js';
import { throughDouble } from '../../src/copy/fs-ops.js';
import { setTimesNs } from '../helpers/times.js';
import { shellQuote } from '../../src/copy/fs-ops.js';
import { isRoot } from '../helpers/privilege.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
const ENV: NodeJS.ProcessEnv = { ...process.env, UV_THREADPOOL_SIZE: '72' };
delete ENV.SLURM_ARRAY_TASK_ID;
delete ENV.JOB_COMPLETION_INDEX;
delete ENV.CLFSLOAD_SOURCE_FAULTS;
delete ENV.CLFSLOAD_NATIVE;
const FALLBACK: NodeJS.ProcessEnv = { ...ENV, CLFSLOAD_NATIVE: '0' };
const MiB = 1 << 20;

function tmp(t: { after(fn: () => void): void }, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `clfs-exact-${name}-`));
  t.after(() => {
    spawnSync('umount', [path.join(dir, 'ramfs')], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  json?: Record<string, unknown>;
}

function clfs(args: string[], env: NodeJS.ProcessEnv = ENV): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const out: Run = { code: r.status, stdout: r.stdout, stderr: r.stderr };
  if (args.includes('--json')) out.json = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  return out;
}

/** Arguments as bytes: bash's $'\ooo' quoting hands the process exactly these bytes. */
const q = (a: string | Buffer) => `$'${[...(typeof a === 'string' ? Buffer.from(a) : a)].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('')}'`;

function bash(line: string): void {
  const r = spawnSync('bash', ['-c', line], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${line}: ${r.stderr}`);
}

function clfsBytes(args: Array<string | Buffer>, env: NodeJS.ProcessEnv = ENV): Run {
  const r = spawnSync('bash', ['-c', `exec ${q(process.execPath)} ${q(BIN)} ${args.map(q).join(' ')}`], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const out: Run = { code: r.status, stdout: r.stdout, stderr: r.stderr };
  if (args.includes('--json')) out.json = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  return out;
}

function py(code: string, ...args: string[]): string {
  return execFileSync('python3', ['-c', code, ...args], { encoding: 'utf8' });
}

function setXattr(p: string, name: string, valueHex: string): void {
  py('import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), follow_symlinks=False)', p, name, valueHex);
}

/** name -> value (hex) of an entry, the link itself for a symlink. */
function xattrsOf(p: string): Record<string, string> {
  return JSON.parse(py('import os,sys,json; p=sys.argv[1]; print(json.dumps({n: os.getxattr(p, n, follow_symlinks=False).hex() for n in os.listxattr(p, follow_symlinks=False)}))', p)) as Record<string, string>;
}

function blocks(p: string): number {
  return Number(fs.statSync(p, { bigint: true }).blocks);
}

/** A sparse file: `islands` of data (offset, length) in a file of `size` bytes, and `zeros` written as allocated zero bytes. */
function sparseFile(p: string, size: number, islands: Array<[number, number]>, zeros: Array<[number, number]> = []): void {
  const fd = fs.openSync(p, 'w');
  fs.ftruncateSync(fd, size);
  for (const [at, len] of islands) {
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = (i * 7 + at) & 0xff || 1;
    fs.writeSync(fd, b, 0, len, at);
  }
  for (const [at, len] of zeros) fs.writeSync(fd, Buffer.alloc(len), 0, len, at);
  fs.closeSync(fd);
}

test('the native addon was built by npm ci / npm run build:native (no fallback in the test run)', () => {
  const req = createRequire(import.meta.url);
  const addon = req('../../../native/build/Release/clfsload_native.node') as { lseek(fd: number, off: number, whence: number): number; SEEK_DATA: number; SEEK_HOLE: number };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfs-exact-addon-'));
  try {
    const f = path.join(dir, 'f');
    sparseFile(f, 8 * MiB, [[3 * MiB, 5000]]);
    const fd = fs.openSync(f, 'r');
    try {
      assert.equal(addon.lseek(fd, 0, addon.SEEK_DATA), 3 * MiB);
      assert.ok(addon.lseek(fd, 3 * MiB, addon.SEEK_HOLE) >= 3 * MiB + 5000);
      assert.throws(() => addon.lseek(fd, 8 * MiB, addon.SEEK_DATA), (e: Error & { errno?: number }) => e.errno === os.constants.errno.ENXIO);
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

for (const mode of ['SEEK_DATA/SEEK_HOLE', 'fallback (CLFSLOAD_NATIVE=0)'] as const) {
  test(`copy: sparse files stay sparse and equal, small and large (ranges), ${mode}`, (t) => {
    const env = mode === 'SEEK_DATA/SEEK_HOLE' ? ENV : FALLBACK;
    const dir = tmp(t, 'sparse');
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    fs.mkdirSync(src);
    fs.mkdirSync(dst);
    // small (one task): a hole, data, a hole to the end
    sparseFile(path.join(src, 'small'), 6 * MiB, [[MiB + 123, 70_000]]);
    // large (16 MiB ranges at --large-file-mib 8): islands across range edges, ends with data
    sparseFile(path.join(src, 'large'), 40 * MiB, [[0, 4096], [16 * MiB - 2000, 10_000], [33 * MiB, MiB], [40 * MiB - 1, 1]]);
    // allocated zeros: SEEK_DATA reports them as data, so the copy allocates them as well
    sparseFile(path.join(src, 'zeros'), 12 * MiB, [[0, 100]], [[4 * MiB, 2 * MiB]]);
    // all hole
    sparseFile(path.join(src, 'empty-hole'), 5 * MiB, []);
    const r = clfs(['copy', src, dst, '--state-dir', path.join(dir, 'state'), '--large-file-mib', '8', '--json'], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const c = clfs(['compare', src, dst, '--checksum'], env);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    for (const f of ['small', 'large', 'zeros', 'empty-hole']) {
      const a = fs.statSync(path.join(src, f));
      const b = fs.statSync(path.join(dst, f));
      assert.equal(b.size, a.size, f);
      assert.ok(b.blocks < a.size / 512, `${f}: the copy is sparse (${b.blocks} blocks for ${a.size} bytes)`);
      if (f === 'zeros' && mode === 'fallback (CLFSLOAD_NATIVE=0)') {
        // the zero-block path cannot tell allocated zeros from a hole: it writes fewer blocks
        assert.ok(b.blocks < a.blocks, `${f}: ${b.blocks} < ${a.blocks}`);
      } else {
        // holes where the source has holes, data where it has data: st_blocks within 16 KiB
        assert.ok(Math.abs(b.blocks - a.blocks) <= 32, `${f}: destination ${b.blocks} blocks, source ${a.blocks}`);
      }
    }
    assert.ok(blocks(path.join(dst, 'empty-hole')) <= 8);
  });
}

test('copy --xattrs: attributes (binary values, dirs, symlinks as root) copied and compared; a difference is found; a re-run adds them to an earlier copy', (t) => {
  const dir = tmp(t, 'xattrs');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  fs.mkdirSync(dst);
  fs.writeFileSync(path.join(src, 'f'), 'data');
  fs.writeFileSync(path.join(src, 'plain'), 'no attributes');
  fs.writeFileSync(path.join(src, 'sub/big'), Buffer.alloc(3 * MiB, 5));
  fs.symlinkSync('f', path.join(src, 'link'));
  setXattr(path.join(src, 'f'), 'user.text', Buffer.from('hello').toString('hex'));
  setXattr(path.join(src, 'f'), 'user.binary', '00ff10e9');
  setXattr(path.join(src, 'f'), 'user.empty', '');
  setXattr(path.join(src, 'sub'), 'user.dir', Buffer.from('a directory').toString('hex'));
  setXattr(path.join(src, 'sub/big'), 'user.big', 'ab'.repeat(3000));
  if (isRoot) {
    setXattr(path.join(src, 'f'), 'trusted.root-only', '01');
    // user.* is not allowed on symlinks; trusted.* is (root)
    setXattr(path.join(src, 'link'), 'trusted.of-the-link', '02');
  }
  const state = ['--state-dir', path.join(dir, 'state'), '--large-file-mib', '1'];
  // without --xattrs: none copied, and compare without --xattrs does not look
  const plain = clfs(['copy', src, dst, ...state]);
  assert.equal(plain.code, 0, plain.stdout + plain.stderr);
  assert.deepEqual(xattrsOf(path.join(dst, 'f')), {});
  assert.equal(clfs(['compare', src, dst]).code, 0);
  const missing = clfs(['compare', src, dst, '--xattrs']);
  assert.equal(missing.code, 1, missing.stdout);
  assert.match(missing.stdout, /^f: xattrs: .*user\.binary missing in the destination, user\.empty missing in the destination, user\.text missing in the destination$/m);
  // the re-run with --xattrs: its state says nothing of attributes, so every entry is looked at
  const r = clfs(['copy', src, dst, ...state, '--xattrs', '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const rel of ['f', 'plain', 'sub', 'sub/big', 'link']) assert.deepEqual(xattrsOf(path.join(dst, rel)), xattrsOf(path.join(src, rel)), rel);
  assert.equal(xattrsOf(path.join(dst, 'f'))['user.binary'], '00ff10e9');
  if (isRoot) assert.equal(xattrsOf(path.join(dst, 'link'))['trusted.of-the-link'], '02');
  const same = clfs(['compare', src, dst, '--xattrs']);
  assert.equal(same.code, 0, same.stdout);
  assert.match(same.stdout, /xattrs compared/);
  // a fresh copy with --xattrs from the start, and --verify checks them
  const dst2 = path.join(dir, 'dst2');
  fs.mkdirSync(dst2);
  const v = clfs(['copy', src, dst2, '--state-dir', path.join(dir, 'state2'), '--xattrs', '--verify']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.deepEqual(xattrsOf(path.join(dst2, 'sub/big')), xattrsOf(path.join(src, 'sub/big')));
  // differences: a value changed, one removed, one only in the destination
  setXattr(path.join(dst, 'f'), 'user.text', Buffer.from('HELLO').toString('hex'));
  py('import os,sys; os.removexattr(sys.argv[1], "user.dir")', path.join(dst, 'sub'));
  setXattr(path.join(dst, 'plain'), 'user.extra', '00');
  const diff = clfs(['compare', src, dst, '--xattrs']);
  assert.equal(diff.code, 1, diff.stdout);
  assert.match(diff.stdout, /^f: xattrs: user\.text differs/m);
  assert.match(diff.stdout, /^sub: xattrs: user\.dir missing in the destination/m);
  assert.match(diff.stdout, /^plain: xattrs: user\.extra only in the destination/m);
  assert.equal(clfs(['compare', src, dst]).code, 0, 'without --xattrs they are not compared');
});

test('copy --xattrs into a DEST that keeps none (ramfs): one line before anything is copied, exit 2; without the addon: one line', (t) => {
  const dir = tmp(t, 'noxattr');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'ramfs');
  fs.mkdirSync(src);
  fs.mkdirSync(dst);
  fs.writeFileSync(path.join(src, 'f'), 'data');
  setXattr(path.join(src, 'f'), 'user.a', '01');
  assert.ok(isRoot, 'mounting ramfs needs root (the tests run as root)');
  execFileSync('mount', ['-t', 'ramfs', 'ramfs', dst]);
  const r = clfs(['copy', src, dst, '--state-dir', path.join(dir, 'state'), '--xattrs']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /keeps no extended attributes .*ENOTSUP.*without --xattrs/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.equal(fs.existsSync(path.join(dst, 'f')), false);
  // without --xattrs the same copy works
  assert.equal(clfs(['copy', src, dst, '--state-dir', path.join(dir, 'state')]).code, 0);
  const off = clfs(['compare', src, path.join(dir, 'src'), '--xattrs'], FALLBACK);
  assert.equal(off.code, 2, off.stdout + off.stderr);
  assert.match(off.stderr, /--xattrs needs clfsload's native addon \(CLFSLOAD_NATIVE=0\)/);
});

test('copy: times to the nanosecond on ext4 (files, directories, symlinks, fifos); the fallback keeps microseconds and compare allows the coarser side', (t) => {
  const dir = tmp(t, 'ns');
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'd'), { recursive: true });
  fs.writeFileSync(path.join(src, 'd/f'), 'x');
  fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(2 * MiB, 1));
  fs.symlinkSync('d/f', path.join(src, 'link'));
  execFileSync('mkfifo', [path.join(src, 'fifo')]);
  const times: Record<string, [bigint, bigint]> = {
    'd/f': [1_234_567_890_123_456_789n, 1_100_000_000_987_654_321n],
    big: [1_300_000_000_000_000_001n, 1_300_000_000_999_999_999n],
    link: [1_400_000_000_111_111_111n, 1_400_000_000_222_222_223n],
    fifo: [1_500_000_000_000_000_007n, 1_500_000_000_000_000_009n],
    d: [1_600_000_000_123_456_789n, 1_600_000_000_876_543_211n],
  };
  for (const [rel, [a, m]] of Object.entries(times)) setTimesNs(path.join(src, rel), a, m);
  for (const [name, env] of [['native', ENV], ['fallback', FALLBACK]] as const) {
    const dst = path.join(dir, `dst-${name}`);
    fs.mkdirSync(dst);
    const r = clfs(['copy', src, dst, '--state-dir', path.join(dir, `state-${name}`), '--large-file-mib', '1'], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const [rel, [a, m]] of Object.entries(times)) {
      const s = fs.lstatSync(path.join(dst, rel), { bigint: true });
      if (name === 'native') {
        assert.equal(s.mtimeNs, m, `${rel} mtime`);
        assert.equal(s.atimeNs, a, `${rel} atime`);
      } else {
        // Node 20 and 22 keep the microsecond; Node 24 the double's own nanoseconds, within it
        assert.equal(s.mtimeNs / 1000n, m / 1000n, `${rel} mtime to the µs`);
        assert.ok(s.mtimeNs % 1000n === 0n || s.mtimeNs === throughDouble(m), `${rel}: the fallback sets whole microseconds or the double's time: ${s.mtimeNs}`);
      }
    }
    const c = clfs(['compare', src, dst]);
    assert.equal(c.code, 0, `${name}: ${c.stdout}`);
  }
  // a nanosecond destination off by one nanosecond is a difference
  setTimesNs(path.join(dir, 'dst-native', 'd/f'), 1n, times['d/f']![1] + 1n);
  const off = clfs(['compare', src, path.join(dir, 'dst-native')]);
  assert.equal(off.code, 1, off.stdout);
  assert.match(off.stdout, /^d\/f: mtime: source 2004-11-09T11:33:20\.987654321Z, destination 2004-11-09T11:33:20\.987654322Z/m);
});

test('sameTime: equal to the precision both sides keep', () => {
  const s = 1_700_000_000_123_456_789n;
  assert.ok(sameTime(s, s));
  assert.ok(!sameTime(s, s + 1n), 'both nanosecond');
  assert.ok(sameTime(s, 1_700_000_000_123_456_000n), 'destination in µs');
  assert.ok(!sameTime(s, 1_700_000_000_123_457_000n), 'µs destination one µs off');
  assert.ok(sameTime(s, 1_700_000_000_000_000_000n), 'destination in seconds');
  assert.ok(!sameTime(s, 1_700_000_001_000_000_000n), 'seconds destination one second off');
  assert.ok(sameTime(1_700_000_000_000_000_000n, s));
  assert.ok(sameTime(-1_500_000_000n, -2_000_000_000n), 'before 1970: the second of -1.5 s is -2 s');
  // Node 24's utimes without the addon: the double's nanoseconds, worked out as libuv does (the
  // pair was read off a copy on Node 24.22: source …323 ns, destination …447 ns)
  assert.equal(throughDouble(1_700_000_000_987_654_323n), 1_700_000_000_987_654_447n);
  assert.ok(sameTime(1_100_000_000_987_654_321n, 1_100_000_000_987_654_447n), 'the fallback on Node 24');
  assert.ok(!sameTime(1_100_000_000_987_654_321n, 1_100_000_000_987_654_446n), 'one ns beside it');
  assert.ok(!sameTime(1_100_000_000_988_654_321n, 1_100_000_000_987_654_447n), 'another µs');
});

test('copy and compare: SOURCE and DEST given as bytes that are not UTF-8 (0xe9), several DEST; state, summary and resume line keep them', (t) => {
  // registered before tmp()'s removal, so the bind mount is gone before its folder is removed
  let mounted: Buffer | undefined;
  t.after(() => void (mounted !== undefined && spawnSync('bash', ['-c', `umount ${q(mounted)}`], { stdio: 'ignore' })));
  const dir = tmp(t, 'bytes');
  const b = (s: string) => Buffer.from(s, 'latin1');
  const src = Buffer.concat([Buffer.from(dir), b('/src-caf\xe9')]);
  const dst = Buffer.concat([Buffer.from(dir), b('/dst-\xe9t\xe9')]);
  const dst2 = Buffer.concat([Buffer.from(dir), b('/bind-\xe9')]);
  // a decoy with the name Node's decoding would give (U+FFFD): it must not be read or written
  const decoy = Buffer.concat([Buffer.from(dir), Buffer.from('/src-caf\ufffd')]);
  fs.mkdirSync(Buffer.concat([src, b('/sub')]) as unknown as string, { recursive: true });
  fs.mkdirSync(dst as unknown as string);
  fs.mkdirSync(dst2 as unknown as string);
  fs.mkdirSync(decoy as unknown as string);
  fs.writeFileSync(Buffer.concat([decoy, b('/decoy')]) as unknown as string, 'no');
  for (let i = 0; i < 40; i++) fs.writeFileSync(Buffer.concat([src, b(`/sub/f${i}-\xff`)]) as unknown as string, `file ${i}`);
  fs.writeFileSync(Buffer.concat([src, b('/top')]) as unknown as string, 'top');
  assert.ok(isRoot, 'bind mounts need root (the tests run as root)');
  bash(`mount --bind ${q(dst)} ${q(dst2)}`);
  mounted = dst2;
  const state = Buffer.from(path.join(dir, 'state'));
  const r = clfsBytes(['copy', src, dst, dst2, '--state-dir', state, '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json!.source, shellQuote(src));
  assert.match(String(r.json!.source), /\/src-caf'\$'\\351'$/);
  assert.deepEqual(r.json!.dests, [shellQuote(dst), shellQuote(dst2)]);
  assert.equal(r.json!.files, 41);
  assert.equal(fs.existsSync(Buffer.concat([dst, b('/top')]) as unknown as string), true);
  assert.equal(fs.existsSync(path.join(dir, 'dst-\ufffdt\ufffd')), false, 'nothing written to the decoded name');
  const c = clfsBytes(['compare', src, dst, '--checksum']);
  assert.equal(c.code, 0, c.stdout + c.stderr);
  assert.match(c.stdout, /compare: OK: 43 entries/);
  // the decoy differs from the source: compare really read the byte path
  assert.equal(clfsBytes(['compare', decoy, dst]).code, 1);
  // the re-run finds its state (stored as bytes) and skips everything
  const again = clfsBytes(['copy', src, dst, '--state-dir', state, '--json']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(again.json!.skipped, 41);
  // a run that does not finish prints the resume line with the paths as ls quotes them
  const plan = { seed: 1, rules: [{ op: 'read', path: 'top', code: 'EIO' }] };
  fs.writeFileSync(Buffer.concat([src, b('/top')]) as unknown as string, 'changed');
  const failed = clfsBytes(['copy', src, dst, '--state-dir', state], { ...ENV, CLFSLOAD_SOURCE_FAULTS: JSON.stringify(plan) });
  assert.equal(failed.code, 1, failed.stdout + failed.stderr);
  assert.ok(failed.stdout.includes(`to resume (clfsload copy ${shellQuote(src)} ${shellQuote(dst)}, with the same options)`), failed.stdout);
  // another DEST for the same state folder: refused, the paths shown escaped
  const other = clfsBytes(['copy', src, dst2.subarray(0, dst2.length - 1), '--state-dir', state]);
  assert.equal(other.code, 2, other.stdout + other.stderr);
  // an error naming a byte path shows it escaped, one line
  const none = clfsBytes(['copy', Buffer.concat([src, b('-missing\xe9')]), dst]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /\/src-caf'\$'\\351''-missing'\$'\\351': not a directory/);
  bash(`umount ${q(dst2)}`);
  mounted = undefined;
  // two shards into a third byte-named DEST, then --finalize and --report given the bytes
  const dst3 = Buffer.concat([Buffer.from(dir), b('/shards-\xe9')]);
  fs.mkdirSync(dst3 as unknown as string);
  fs.linkSync(Buffer.concat([src, b('/top')]) as unknown as string, Buffer.concat([src, b('/sub/top-link')]) as unknown as string);
  for (const k of [0, 1]) {
    const sh = clfsBytes(['copy', src, dst3, '--shard', `${k}/2`, '--state-dir', Buffer.from(path.join(dir, `state-shard-${k}`))]);
    assert.equal(sh.code, 0, sh.stdout + sh.stderr);
  }
  const fin = clfsBytes(['copy', '--finalize', src, dst3, '--shards', '2']);
  assert.equal(fin.code, 0, fin.stdout + fin.stderr);
  const rep = clfsBytes(['copy', '--report', src, dst3, '--shards', '2']);
  assert.equal(rep.code, 0, rep.stdout + rep.stderr);
  const c3 = clfsBytes(['compare', src, dst3]);
  assert.equal(c3.code, 0, c3.stdout + c3.stderr);
});

test('copy state: version 2 stores the paths as bytes; a version-1 state is upgraded when its strings are the bytes, refused clearly when they lost some', (t) => {
  const dir = tmp(t, 'state');
  const mk = (name: string, source: string) => {
    const d = path.join(dir, name);
    fs.mkdirSync(d);
    const db = new Database(path.join(d, 'copy-0-of-1.sqlite'));
    db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE entries (path BLOB PRIMARY KEY, kind TEXT NOT NULL, size TEXT NOT NULL, mtime_ns TEXT NOT NULL, status TEXT NOT NULL, error TEXT, run INTEGER NOT NULL) WITHOUT ROWID;`);
    const put = db.prepare('INSERT INTO meta VALUES (?, ?)');
    for (const [k, v] of [['version', '1'], ['source', source], ['dest', '/d'], ['shard', '0-of-1'], ['run', '3']]) put.run(k, v);
    db.prepare('INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)').run(Buffer.from('a'), 'file', '1', '5', 'done', null, 3);
    db.close();
    return d;
  };
  const ok = mk('v1-utf8', '/s/café');
  const s = new CopyState(ok, '0-of-1', { source: Buffer.from('/s/café'), dest: Buffer.from('/d'), shard: '0-of-1' }, false);
  assert.equal(s.run, 4);
  assert.equal(s.get(Buffer.from('a'))?.status, 'done', 'the rows of a version-1 state are kept');
  assert.equal(s.getMeta('version'), '2');
  assert.equal(s.getMeta('source_bytes'), Buffer.from('/s/café').toString('hex'));
  s.close();
  const lost = mk('v1-lost', '/s/caf\ufffd');
  assert.throws(
    () => new CopyState(lost, '0-of-1', { source: Buffer.from('/s/caf\xe9', 'latin1'), dest: Buffer.from('/d'), shard: '0-of-1' }, false),
    (e: Error) => /version-1 state names the source as \/s\/caf\ufffd, which lost the bytes that are not UTF-8 \(now \/s\/caf\\xe9\); pass --new/.test(e.message),
  );
  const v2 = new CopyState(lost, '0-of-1', { source: Buffer.from('/s/caf\xe9', 'latin1'), dest: Buffer.from('/d'), shard: '0-of-1' }, true);
  v2.close();
  assert.throws(
    () => new CopyState(lost, '0-of-1', { source: Buffer.from('/s/caf\xe8', 'latin1'), dest: Buffer.from('/d'), shard: '0-of-1' }, false),
    (e: Error) => /another copy \(source was \/s\/caf\\xe9, now \/s\/caf\\xe8\)/.test(e.message),
  );
});

test('copy --xattrs in shards, then --finalize: the root and the directories above the frontier get their attributes too; compare --xattrs is clean', (t) => {
  const dir = tmp(t, 'xattrs-shards');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(dst);
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 12; b++) {
      const sub = path.join(src, `top${a}`, `sub${b}`);
      fs.mkdirSync(sub, { recursive: true });
      fs.writeFileSync(path.join(sub, 'f'), `${a}/${b}`);
    }
    setXattr(path.join(src, `top${a}`), 'user.top', Buffer.from(`top ${a}`).toString('hex'));
  }
  setXattr(src, 'user.root', 'c0ffee');
  setXattr(path.join(src, 'top1/sub3'), 'user.deeper', '01');
  setXattr(path.join(src, 'top2/sub5/f'), 'user.file', '02');
  // the DEST root had one the source has not: a single --xattrs run removes it, so does finalize
  setXattr(dst, 'user.stale', '00');
  const state = ['--state-dir', path.join(dir, 'state'), '--xattrs', '--json'];
  const depths = new Set<unknown>();
  for (const k of [0, 1, 2]) {
    const r = clfs(['copy', src, dst, '--shard', `${k}/3`, ...state]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    depths.add(r.json!.frontierDepth);
  }
  assert.equal(depths.size, 1);
  assert.ok((depths.values().next().value as number) >= 2, 'the root and the top directories are above the frontier');
  const fin = clfs(['copy', '--finalize', src, dst, '--shards', '3']);
  assert.equal(fin.code, 0, fin.stdout + fin.stderr);
  assert.deepEqual(xattrsOf(dst), { 'user.root': 'c0ffee' });
  for (const rel of ['top0', 'top1', 'top2', 'top1/sub3', 'top2/sub5/f']) assert.deepEqual(xattrsOf(path.join(dst, rel)), xattrsOf(path.join(src, rel)), rel);
  const cmp = clfs(['compare', src, dst, '--xattrs']);
  assert.equal(cmp.code, 0, cmp.stdout + cmp.stderr);
});
