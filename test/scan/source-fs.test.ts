import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readDirectoryBatches, setSourceFaults, sourceFaultCounts, sourceFs, SOURCE_FAULTS_ENV } from '../../src/scan/index.js';
import type { SourceFaultPlan } from '../../src/scan/index.js';
import { EncoderPool } from '../../src/load/encoder-pool.js';
import type { TransferIdentity } from '../../src/state/index.js';

afterEach(() => setSourceFaults(undefined));

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-srcfs-'));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'no code';
  }
  return undefined;
}

async function codeOfAsync(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'no code';
  }
  return undefined;
}

test('with no plan, the seam is Node fs itself', () => {
  const check = () => {
    assert.equal(sourceFs.lstatSync, fs.lstatSync);
    assert.equal(sourceFs.opendirSync, fs.opendirSync);
    assert.equal(sourceFs.openSync, fs.openSync);
    assert.equal(sourceFs.readSync, fs.readSync);
    assert.equal(sourceFs.fstatSync, fs.fstatSync);
    assert.equal(sourceFs.closeSync, fs.closeSync);
    assert.equal(sourceFs.readlinkSync, fs.readlinkSync);
    assert.equal(sourceFs.promises.open, fs.promises.open);
  };
  check();
  setSourceFaults({ rules: [{ op: 'lstat', code: 'EIO' }] });
  assert.notEqual(sourceFs.lstatSync, fs.lstatSync);
  // ops the plan does not name stay Node's own
  assert.equal(sourceFs.readlinkSync, fs.readlinkSync);
  assert.equal(sourceFs.readSync, fs.readSync);
  setSourceFaults(undefined);
  check();
});

test('lstat fails by path suffix (at a / boundary), absolute path, regex and hex bytes, `times` times', () => {
  const root = tmp();
  fs.mkdirSync(path.join(root, 'a'));
  fs.writeFileSync(path.join(root, 'a', 'b'), 'x');
  fs.mkdirSync(path.join(root, 'xa'));
  fs.writeFileSync(path.join(root, 'xa', 'b'), 'x');
  const odd = Buffer.concat([Buffer.from(root + '/caf'), Buffer.from([0xe9])]);
  fs.writeFileSync(odd, 'latin-1');
  setSourceFaults({ rules: [{ op: 'lstat', path: 'a/b', code: 'EACCES', times: 2 }] });
  const ab = Buffer.from(path.join(root, 'a', 'b'));
  assert.equal(codeOf(() => sourceFs.lstatSync(Buffer.from(path.join(root, 'xa', 'b')))), undefined, 'xa/b is not a/b');
  assert.equal(codeOf(() => sourceFs.lstatSync(ab)), 'EACCES');
  assert.equal(codeOf(() => sourceFs.lstatSync(ab, { bigint: true })), 'EACCES');
  assert.equal(codeOf(() => sourceFs.lstatSync(ab)), undefined, 'spent after two failures');
  assert.deepEqual(sourceFaultCounts(), [2]);
  assert.equal(sourceFs.lstatSync(ab, { bigint: true }).size, 1n);

  setSourceFaults({ rules: [{ op: 'lstat', path: path.join(root, 'xa', 'b'), code: 'ENOENT' }] });
  assert.equal(codeOf(() => sourceFs.lstatSync(ab)), undefined, 'an absolute rule path matches only itself');
  for (let i = 0; i < 3; i++) assert.equal(codeOf(() => sourceFs.lstatSync(path.join(root, 'xa', 'b'))), 'ENOENT', 'times defaults to forever');

  setSourceFaults({ rules: [{ op: 'lstat', pathRegex: '/x?a/b$', code: 'EIO', times: -1 }] });
  assert.equal(codeOf(() => sourceFs.lstatSync(ab)), 'EIO');
  assert.equal(codeOf(() => sourceFs.lstatSync(path.join(root, 'xa', 'b'))), 'EIO');
  assert.equal(codeOf(() => sourceFs.lstatSync(path.join(root, 'a'))), undefined);

  setSourceFaults({ rules: [{ op: 'lstat', pathHex: Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString('hex'), code: 'EACCES' }] });
  assert.equal(codeOf(() => sourceFs.lstatSync(odd)), 'EACCES');
  assert.equal(codeOf(() => sourceFs.lstatSync(ab)), undefined);
  fs.rmSync(root, { recursive: true });
});

test('the injected error looks like Node\'s: code, errno, syscall, path, and says it was injected', () => {
  setSourceFaults({ rules: [{ op: 'lstat', path: 'nowhere', code: 'EACCES' }] });
  try {
    sourceFs.lstatSync('/some/nowhere');
    assert.fail('should have thrown');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    assert.equal(err.code, 'EACCES');
    assert.equal(err.errno, -os.constants.errno.EACCES);
    assert.equal(err.syscall, 'lstat');
    assert.equal(err.path, '/some/nowhere');
    assert.match(err.message, /^EACCES: injected source fault, lstat '\/some\/nowhere'$/);
  }
});

test('`after` lets that many matching calls succeed first', () => {
  const root = tmp();
  fs.writeFileSync(path.join(root, 'f'), 'x');
  setSourceFaults({ rules: [{ op: 'lstat', path: 'f', after: 3, times: 1 }] });
  const f = path.join(root, 'f');
  const codes = Array.from({ length: 6 }, () => codeOf(() => sourceFs.lstatSync(f)));
  assert.deepEqual(codes, [undefined, undefined, undefined, 'EIO', undefined, undefined]);
  fs.rmSync(root, { recursive: true });
});

test('readdir fails after `after` entries of each listing; opendir fails on its own', () => {
  const root = tmp();
  const dir = path.join(root, 'many');
  fs.mkdirSync(dir);
  for (let i = 0; i < 1500; i++) fs.writeFileSync(path.join(dir, `e${i}`), '');
  setSourceFaults({ rules: [{ op: 'readdir', path: 'many', after: 1200, code: 'EIO', times: 1 }] });
  const list = (): { n: number; code?: string } => {
    const d = sourceFs.opendirSync(dir);
    let n = 0;
    try {
      while (d.readSync() !== null) n++;
      return { n };
    } catch (e) {
      return { n, code: (e as NodeJS.ErrnoException).code };
    } finally {
      d.closeSync();
    }
  };
  assert.deepEqual(list(), { n: 1200, code: 'EIO' });
  assert.deepEqual(list(), { n: 1500 }, 'once the rule is spent the listing is whole');

  // the scanner sees it: a batch of 1,000, then the failure naming the directory
  setSourceFaults({ rules: [{ op: 'readdir', path: 'many', after: 1200, code: 'EIO', times: 1 }] });
  const batches: number[] = [];
  assert.throws(
    () => {
      for (const b of readDirectoryBatches(Buffer.from(dir), 1000, () => assert.fail('no lstat failure expected'))) batches.push(b.length);
    },
    (e: Error & { code?: string }) => e.code === 'E_SOURCE_UNREADABLE' && e.message.includes(dir) && e.message.includes('EIO'),
  );
  assert.deepEqual(batches, [1000]);

  setSourceFaults({ rules: [{ op: 'opendir', path: 'many', code: 'EACCES', times: 1 }] });
  assert.equal(codeOf(() => sourceFs.opendirSync(dir)), 'EACCES');
  assert.equal(list().n, 1500);
  fs.rmSync(root, { recursive: true });
});

test('readdir faults the promise form of Dir.read too', async () => {
  const root = tmp();
  for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(root, `e${i}`), '');
  setSourceFaults({ rules: [{ op: 'readdir', path: path.basename(root), after: 4, code: 'ESTALE' }] });
  const d = sourceFs.opendirSync(root);
  let n = 0;
  const code = await codeOfAsync(async () => {
    while ((await d.read()) !== null) n++;
  });
  d.closeSync();
  assert.equal(code, 'ESTALE');
  assert.equal(n, 4);
  fs.rmSync(root, { recursive: true });
});

test('lstat failures inside a listing reach the scanner\'s onError and leave the child out', () => {
  const root = tmp();
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(root, `e${String(i).padStart(2, '0')}`), '');
  setSourceFaults({ rules: [{ op: 'lstat', pathRegex: '/e1[0-4]$', code: 'EACCES' }] });
  const errors: string[] = [];
  const names: string[] = [];
  for (const b of readDirectoryBatches(Buffer.from(root), 1000, (e) => errors.push(e.message))) for (const e of b) names.push(e.name.toString());
  assert.equal(names.length, 15);
  assert.equal(errors.length, 5);
  assert.ok(errors.every((m) => m.includes('permission denied')), errors.join('\n'));
  fs.rmSync(root, { recursive: true });
});

test('open fails (sync and promise forms), by path', async () => {
  const root = tmp();
  const f = path.join(root, 'gone.txt');
  fs.writeFileSync(f, 'here after all');
  setSourceFaults({ rules: [{ op: 'open', path: 'gone.txt', code: 'ENOENT', times: 2 }] });
  assert.equal(codeOf(() => sourceFs.openSync(Buffer.from(f), 'r')), 'ENOENT');
  assert.equal(await codeOfAsync(() => sourceFs.promises.open(Buffer.from(f), 'r')), 'ENOENT');
  const fd = sourceFs.openSync(f, 'r');
  sourceFs.closeSync(fd);
  const h = await sourceFs.promises.open(f, 'r');
  await h.close();
  fs.rmSync(root, { recursive: true });
});

test('read fails at `afterBytes` (a short read first), for sequential, positioned and FileHandle reads, `times` times', async () => {
  const root = tmp();
  const f = path.join(root, 'big.bin');
  const data = Buffer.alloc(100_000, 7);
  fs.writeFileSync(f, data);
  setSourceFaults({ rules: [{ op: 'read', path: 'big.bin', afterBytes: 50_000, code: 'EIO', times: 3 }] });
  const buf = Buffer.alloc(100_000);
  // sequential: 50,000 bytes, then the failure
  const fd = sourceFs.openSync(f, 'r');
  let got = 0;
  const seqCode = codeOf(() => {
    for (;;) {
      const n = sourceFs.readSync(fd, buf, got, 30_000, null);
      if (n === 0) break;
      got += n;
    }
  });
  assert.equal(seqCode, 'EIO');
  assert.equal(got, 50_000);
  // positioned, on a descriptor opened elsewhere (as the encode workers read): found by fd
  const fd2 = fs.openSync(f, 'r');
  assert.equal(sourceFs.readSync(fd2, buf, 0, 10_000, 0), 10_000, 'before afterBytes: untouched');
  assert.equal(codeOf(() => sourceFs.readSync(fd2, buf, 0, 8_000, 60_000)), 'EIO');
  // FileHandle
  const h = await sourceFs.promises.open(Buffer.from(f), 'r');
  const first = await h.read(buf, 0, 80_000, 0);
  assert.equal(first.bytesRead, 50_000, 'a read across afterBytes is cut short there');
  assert.equal(await codeOfAsync(() => h.read(buf, 0, 1000, 50_000)), 'EIO');
  assert.deepEqual(sourceFaultCounts(), [3]);
  // spent: everything reads
  assert.equal((await h.read(buf, 0, 100_000, 0)).bytesRead, 100_000);
  assert.equal(sourceFs.readSync(fd, buf, 0, 100_000, 0), 100_000);
  assert.ok(buf.equals(data));
  await h.close();
  sourceFs.closeSync(fd);
  fs.closeSync(fd2);
  fs.rmSync(root, { recursive: true });
});

test('read without afterBytes fails every matching read; other files read normally', () => {
  const root = tmp();
  fs.writeFileSync(path.join(root, 'bad'), 'bad');
  fs.writeFileSync(path.join(root, 'good'), 'good');
  setSourceFaults({ rules: [{ op: 'read', path: 'bad', code: 'EIO' }] });
  const buf = Buffer.alloc(10);
  const bad = sourceFs.openSync(path.join(root, 'bad'), 'r');
  const good = sourceFs.openSync(path.join(root, 'good'), 'r');
  assert.equal(codeOf(() => sourceFs.readSync(bad, buf, 0, 10, null)), 'EIO');
  assert.equal(sourceFs.readSync(good, buf, 0, 10, null), 4);
  sourceFs.closeSync(bad);
  sourceFs.closeSync(good);
  fs.rmSync(root, { recursive: true });
});

test('fstat, close and readlink fail by path', async () => {
  const root = tmp();
  const f = path.join(root, 'f');
  fs.writeFileSync(f, 'x');
  fs.symlinkSync('f', path.join(root, 'l'));
  setSourceFaults({
    rules: [
      { op: 'fstat', path: 'f', code: 'EIO', times: 2 },
      { op: 'close', path: 'f', code: 'EIO', times: 2 },
      { op: 'readlink', path: 'l', code: 'EACCES', times: 1 },
    ],
  });
  const fd = sourceFs.openSync(f, 'r');
  assert.equal(codeOf(() => sourceFs.fstatSync(fd)), 'EIO');
  assert.equal(codeOf(() => sourceFs.closeSync(fd)), 'EIO');
  // a failed close still released the descriptor
  assert.equal(codeOf(() => fs.fstatSync(fd)), 'EBADF');
  const h = await sourceFs.promises.open(f, 'r');
  assert.equal(await codeOfAsync(() => h.stat()), 'EIO');
  assert.equal(await codeOfAsync(() => h.close()), 'EIO');
  assert.equal(codeOf(() => sourceFs.readlinkSync(path.join(root, 'l'), { encoding: 'buffer' })), 'EACCES');
  assert.equal(sourceFs.readlinkSync(path.join(root, 'l'), { encoding: 'buffer' }).toString(), 'f');
  assert.deepEqual(sourceFaultCounts(), [2, 2, 1]);
  fs.rmSync(root, { recursive: true });
});

test('probability picks the same paths for a seed, about that fraction of them', () => {
  const paths = Array.from({ length: 2000 }, (_, i) => `/src/d/f${i}`);
  const failing = (seed: number) => {
    setSourceFaults({ seed, rules: [{ op: 'lstat', pathRegex: '^/src/', code: 'EIO', probability: 0.1 }] });
    return paths.filter((p) => codeOf(() => sourceFs.lstatSync(p)) === 'EIO');
  };
  const a = failing(5);
  assert.deepEqual(failing(5), a);
  assert.notDeepEqual(failing(6), a);
  assert.ok(a.length > 140 && a.length < 260, `${a.length} of 2000`);
});

test('delayMs slows the op without failing it', () => {
  const root = tmp();
  setSourceFaults({ rules: [{ op: 'lstat', path: path.basename(root), delayMs: 30 }] });
  const t = process.hrtime.bigint();
  assert.equal(sourceFs.lstatSync(root).isDirectory(), true);
  assert.ok(process.hrtime.bigint() - t >= 29_000_000n);
  fs.rmSync(root, { recursive: true });
});

test('a bad plan is refused with a message naming the rule', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ rules: [{ op: 'stat' }] }, /rule 0: op must be one of/],
    [{ rules: [{ op: 'read', code: 'eio' }] }, /errno name/],
    [{ rules: [{ op: 'lstat', afterBytes: 3 }] }, /afterBytes applies to op read only/],
    [{ rules: [{ op: 'lstat', times: -2 }] }, /times must be/],
    [{ rules: [{ op: 'lstat', path: 'a', pathRegex: 'b' }] }, /one of path, pathHex, pathRegex/],
    [{ rules: [{ op: 'lstat', pathRegex: '(' }] }, /does not compile/],
    [{ rules: [{ op: 'lstat', colour: 'red' }] }, /unknown key "colour"/],
    [{ rule: [] }, /expected \{"seed"/],
  ];
  for (const [plan, message] of bad) assert.throws(() => setSourceFaults(plan as SourceFaultPlan), (e: Error & { code?: string }) => e.code === 'E_USAGE' && message.test(e.message));
});

const IDENTITY = { compression: 'lz4', containerId: 1, fsid: 1, preserveHardlinks: false } as unknown as TransferIdentity;

test('encode worker threads see the plan and share its counters with the main thread', async () => {
  const root = tmp();
  const f = path.join(root, 'seg.bin');
  fs.writeFileSync(f, Buffer.alloc(3 * 65536, 1));
  setSourceFaults({ rules: [{ op: 'read', path: 'seg.bin', afterBytes: 65536, code: 'EIO', times: 2 }] });
  const pool = new EncoderPool(IDENTITY, 'lz4', 2, { dir: root, singleObjectRows: () => [] });
  const fd = fs.openSync(f, 'r');
  try {
    const job = (position: number) => ({ fd, position, length: 65536, owner: Buffer.alloc(24, 1), ctimeSec: 0 });
    const ok = await pool.segment(job(0));
    assert.equal(ok.kind, 'blob');
    const failed = await pool.segment(job(65536));
    assert.equal(failed.kind, 'error');
    assert.equal(failed.kind === 'error' ? failed.errno : '', 'EIO');
    // the second failure in this thread, the third read succeeds in a worker: one allowance for all
    assert.equal(codeOf(() => sourceFs.readSync(fd, Buffer.alloc(10), 0, 10, 65536)), 'EIO');
    const after = await pool.segment(job(2 * 65536));
    assert.equal(after.kind, 'blob');
    assert.deepEqual(sourceFaultCounts(), [2]);
  } finally {
    fs.closeSync(fd);
    await pool.close();
  }
  // a pool made without a plan gives its workers none
  setSourceFaults(undefined);
  const plainPool = new EncoderPool(IDENTITY, 'lz4', 1, { dir: root, singleObjectRows: () => [] });
  const fd2 = fs.openSync(f, 'r');
  try {
    const r = await plainPool.segment({ fd: fd2, position: 65536, length: 65536, owner: Buffer.alloc(24, 1), ctimeSec: 0 });
    assert.equal(r.kind, 'blob');
  } finally {
    fs.closeSync(fd2);
    await plainPool.close();
  }
  fs.rmSync(root, { recursive: true });
});

const SCAN_INDEX = new URL('../../src/scan/index.js', import.meta.url).href;
const CLI = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));

test(`a child process takes the plan from ${SOURCE_FAULTS_ENV} when it installs it (the CLI does; the library reads no environment)`, () => {
  const script = `
    const { sourceFs, installSourceFaultsFromEnv } = await import(${JSON.stringify(SCAN_INDEX)});
    installSourceFaultsFromEnv(process.env);
    let code = 'none';
    try { sourceFs.lstatSync('/etc/hostname'); } catch (e) { code = e.code; }
    process.stdout.write(code);`;
  const plan = JSON.stringify({ rules: [{ op: 'lstat', path: 'hostname', code: 'ENOENT' }] });
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, [SOURCE_FAULTS_ENV]: plan } });
  assert.equal(out, 'ENOENT');
  const without = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, [SOURCE_FAULTS_ENV]: '' } });
  assert.equal(without, 'none');
});

test(`a load with a malformed ${SOURCE_FAULTS_ENV} stops with one line naming it (exit 2)`, () => {
  const root = tmp();
  fs.mkdirSync(path.join(root, 'src'));
  fs.writeFileSync(path.join(root, 'src', 'f'), 'x');
  fs.mkdirSync(path.join(root, 'out'));
  const r = spawnSync(process.execPath, [CLI, 'load', path.join(root, 'src'), `file://${path.join(root, 'out')}`, '--new', '--state', path.join(root, 'state')], {
    encoding: 'utf8',
    env: { ...process.env, [SOURCE_FAULTS_ENV]: '{"rules": [{"op": "lstat", "code": 5}]}' },
  });
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /CLFSLOAD_SOURCE_FAULTS/);
  assert.match(lines[0]!, /rule 0: code must be an errno name/);
  fs.rmSync(root, { recursive: true });
});

for (const encodeWorkers of [0, 2]) {
  test(`a load reads the source only through the seam: each faulted op leaves its entry out (${encodeWorkers} encode workers)`, async () => {
    const { load, ls, FolderTarget } = await import('../../src/index.js');
    const root = tmp();
    const src = path.join(root, 'src');
    fs.mkdirSync(path.join(src, 'sub', 'unlistable'), { recursive: true });
    fs.writeFileSync(path.join(src, 'sub', 'unlistable', 'inside.txt'), 'x');
    fs.mkdirSync(path.join(src, 'unopenable-dir'));
    fs.writeFileSync(path.join(src, 'unstatable.txt'), 'x');
    fs.writeFileSync(path.join(src, 'unopenable.txt'), 'x');
    fs.writeFileSync(path.join(src, 'unreadable-small.txt'), 'x'.repeat(1000));
    fs.writeFileSync(path.join(src, 'unreadable-inline.bin'), Buffer.alloc(20_000, 3));
    fs.writeFileSync(path.join(src, 'unreadable-segment.bin'), Buffer.alloc(9 * 1024 * 1024, 5));
    fs.writeFileSync(path.join(src, 'unopenable-big.bin'), Buffer.alloc(20_000, 4));
    fs.symlinkSync('somewhere', path.join(src, 'unreadable-link'));
    fs.writeFileSync(path.join(src, 'fine.txt'), 'fine');
    const faulted = [
      'sub/unlistable',
      'unopenable-dir',
      'unstatable.txt',
      'unopenable.txt',
      'unreadable-small.txt',
      'unreadable-inline.bin',
      'unreadable-segment.bin',
      'unopenable-big.bin',
      'unreadable-link',
    ];
    setSourceFaults({
      rules: [
        { op: 'readdir', path: 'sub/unlistable', code: 'EIO' },
        { op: 'opendir', path: 'unopenable-dir', code: 'EACCES' },
        { op: 'lstat', path: 'unstatable.txt', code: 'EACCES' },
        { op: 'open', path: 'unopenable.txt', code: 'ENOENT' },
        { op: 'read', path: 'unreadable-small.txt', code: 'EIO' },
        { op: 'read', path: 'unreadable-inline.bin', afterBytes: 100, code: 'EIO' },
        // past the inline 16 KiB: a segment, read on an encode worker when there are workers
        { op: 'read', path: 'unreadable-segment.bin', afterBytes: 8 * 1024 * 1024, code: 'EIO' },
        { op: 'open', path: 'unopenable-big.bin', code: 'EACCES' },
        { op: 'readlink', path: 'unreadable-link', code: 'EIO' },
      ],
    });
    const out = path.join(root, 'out');
    fs.mkdirSync(out);
    const target = new FolderTarget(out);
    try {
      await load({ source: src, target, targetKey: `file:${out}`, stateDir: path.join(root, 'state'), newTransfer: true, encodeWorkers });
    } finally {
      setSourceFaults(undefined);
    }
    const names: string[] = [];
    for await (const e of ls(target, '/', { recursive: true })) names.push(e.path.toString());
    names.sort();
    assert.deepEqual(names, ['fine.txt', 'sub'], `only the entries with no fault are in the container (faulted: ${faulted.join(', ')})`);
    fs.rmSync(root, { recursive: true });
  });
}
