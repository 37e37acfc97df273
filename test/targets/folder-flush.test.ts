/**
 * FolderTarget.flush: what it syncs (counted through the syncOps seam, which wraps the real
 * system calls), that puts made during or after a flush are covered by the next one, that memory
 * stays bounded between flushes, and that a failed sync is reported and sticky.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { isClfsError } from '../../src/errors/index.js';
import { durabilityFromEnv, systemSyncOps } from '../../src/targets/folder-sync.js';
import type { FolderSyncOps } from '../../src/targets/folder-sync.js';
import { CountingTarget, DryRunTarget, FaultTarget, FolderTarget, LatencyTarget, openTarget } from '../../src/targets/index.js';
import type { FolderDurability, Target } from '../../src/targets/index.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function folder(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'clfs-flush-'));
  dirs.push(d);
  return d;
}

interface Recorder {
  ops: FolderSyncOps;
  files: string[];
  folders: string[];
  syncfs: number;
  /** while set, every sync waits for it */
  gate?: Promise<void>;
  /** called when a sync starts waiting at the gate */
  onGate?: () => void;
  /** a path (or 'syncfs') whose sync fails with EIO */
  failOn?: string;
}

function recorder(dir: string): Recorder {
  const r: Recorder = {
    files: [],
    folders: [],
    syncfs: 0,
    ops: {
      async fsyncPath(path) {
        if (r.gate !== undefined) {
          r.onGate?.();
          await r.gate;
        }
        if (path === r.failOn) throw Object.assign(new Error('Input/output error'), { code: 'EIO' });
        await systemSyncOps.fsyncPath(path);
        (path === dir ? r.folders : r.files).push(path);
      },
      async syncfs(f) {
        if (r.gate !== undefined) {
          r.onGate?.();
          await r.gate;
        }
        if (r.failOn === 'syncfs') throw Object.assign(new Error("sync: error syncing 'x': Input/output error"), { code: 'EIO' });
        await systemSyncOps.syncfs(f);
        r.syncfs += 1;
      },
      syncfsSuitable: (f) => systemSyncOps.syncfsSuitable(f),
    },
  };
  return r;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const names = (paths: string[], dir: string) => paths.map((p) => p.slice(dir.length + 1)).sort();
const ioError = (e: unknown) => isClfsError(e) && e.code === 'E_TARGET_IO' && !e.retryable;

describe('FolderTarget.flush, fsync mode', () => {
  it('fsyncs every file written since the last flush, once, then the folder once', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'fsync', syncOps: r.ops });
    await target.putMany([
      { name: 'm1', data: Buffer.from('one') },
      { name: 'm2', data: Buffer.from('two') },
    ]);
    // small puts go to the writer thread, a large one is written (temp + rename) in this thread
    await Promise.all([target.put('s1', Buffer.from('x')), target.put('s2', Buffer.from('y'))]);
    await target.put('big', Buffer.alloc(300 * 1024, 7));
    assert.deepEqual(r.files, [], 'nothing is synced before a flush');
    await target.flush();
    assert.deepEqual(names(r.files, dir), ['big', 'm1', 'm2', 's1', 's2']);
    assert.deepEqual(r.folders, [dir]);
    await target.flush();
    assert.equal(r.files.length + r.folders.length, 6, 'a flush with nothing new syncs nothing');
    assert.equal((await target.get('big')).length, 300 * 1024);
    await target.close();
  });

  it('a put that resolves while a flush runs is synced by the next flush', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'fsync', syncOps: r.ops, writerThread: false });
    await target.put('a', Buffer.from('a'));
    await target.put('b', Buffer.from('b'));
    const gate = deferred();
    const reached = deferred();
    r.gate = gate.promise;
    r.onGate = reached.resolve;
    const first = target.flush();
    await reached.promise;
    await target.put('c', Buffer.from('c'));
    r.gate = undefined;
    gate.resolve();
    await first;
    assert.deepEqual(names(r.files, dir), ['a', 'b']);
    await target.flush();
    assert.deepEqual(names(r.files, dir), ['a', 'b', 'c']);
    assert.equal(r.folders.length, 2);
  });

  it('a second flush called while one runs also waits for the first one’s files', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'fsync', syncOps: r.ops, writerThread: false });
    await target.put('a', Buffer.from('a'));
    const gate = deferred();
    const reached = deferred();
    r.gate = gate.promise;
    r.onGate = reached.resolve;
    const first = target.flush();
    await reached.promise;
    let secondDone = false;
    const second = target.flush().then(() => (secondDone = true));
    await new Promise((res) => setTimeout(res, 20));
    assert.equal(secondDone, false, 'the second flush must not resolve before a is synced');
    r.gate = undefined;
    gate.resolve();
    await Promise.all([first, second]);
    assert.deepEqual(names(r.files, dir), ['a']);
  });

  it('syncs in the background past syncBatch files, so memory stays bounded between flushes', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'fsync', syncOps: r.ops, syncBatch: 10, writerThread: false });
    for (let i = 0; i < 35; i++) await target.put(`f${String(i).padStart(2, '0')}`, Buffer.from(String(i)));
    for (let t = 0; t < 100 && r.files.length < 30; t++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(r.files.length, 30, 'three batches of 10 synced before any flush, five still remembered');
    assert.deepEqual(r.folders, []);
    await target.flush();
    const synced = names(r.files, dir);
    assert.equal(synced.length, 35);
    assert.equal(new Set(synced).size, 35, 'each file once');
    assert.deepEqual(r.folders, [dir]);
  });

  it('a blob deleted before the flush is skipped; the folder is still synced', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'fsync', syncOps: r.ops });
    await target.putMany([{ name: 'gone', data: Buffer.from('x') }, { name: 'kept', data: Buffer.from('y') }]);
    await target.delete('gone');
    await target.flush();
    assert.deepEqual(names(r.files, dir), ['kept']);
    assert.deepEqual(r.folders, [dir]);
    await target.delete('kept');
    await target.flush();
    assert.equal(r.folders.length, 2, 'a delete alone changes the folder: it is synced again');
    await target.close();
  });

  it('a failed fsync rejects that flush and every later one (E_TARGET_IO, not retryable)', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'fsync', syncOps: r.ops, writerThread: false });
    await target.put('bad', Buffer.from('x'));
    await target.put('good', Buffer.from('y'));
    r.failOn = join(dir, 'bad');
    await assert.rejects(target.flush(), (e: unknown) => ioError(e) && (e as Error).message.includes(dir) && /re-run/.test((e as Error).message));
    r.failOn = undefined;
    await target.put('later', Buffer.from('z'));
    await assert.rejects(target.flush(), ioError);
  });

  it('a failed folder fsync rejects the flush', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'fsync', syncOps: r.ops, writerThread: false });
    await target.put('a', Buffer.from('x'));
    r.failOn = dir;
    await assert.rejects(target.flush(), ioError);
  });
});

describe('FolderTarget.flush, syncfs mode', () => {
  it('one syncfs per flush that has something new; none when nothing was written', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'syncfs', syncOps: r.ops });
    await target.flush();
    assert.equal(r.syncfs, 0);
    await target.putMany(Array.from({ length: 50 }, (_, i) => ({ name: `b${i}`, data: Buffer.alloc(100, i) })));
    await target.flush();
    assert.equal(r.syncfs, 1);
    assert.deepEqual(r.files, [], 'syncfs mode fsyncs no single file');
    await target.flush();
    assert.equal(r.syncfs, 1);
    await target.put('one-more', Buffer.from('x'));
    await target.flush();
    assert.equal(r.syncfs, 2);
    await target.close();
  });

  it('a flush called while a syncfs runs waits for it and then runs its own', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'syncfs', syncOps: r.ops, writerThread: false });
    await target.put('a', Buffer.from('a'));
    const gate = deferred();
    const reached = deferred();
    r.gate = gate.promise;
    r.onGate = reached.resolve;
    const first = target.flush();
    await reached.promise;
    // written after the running syncfs started: only a later syncfs covers it
    await target.put('b', Buffer.from('b'));
    const second = target.flush();
    r.gate = undefined;
    gate.resolve();
    await first;
    await second;
    assert.equal(r.syncfs, 2);
  });

  it('a failed syncfs is sticky', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'syncfs', syncOps: r.ops, writerThread: false });
    await target.put('a', Buffer.from('a'));
    r.failOn = 'syncfs';
    await assert.rejects(target.flush(), ioError);
    r.failOn = undefined;
    await target.put('b', Buffer.from('b'));
    await assert.rejects(target.flush(), ioError);
  });
});

describe('FolderTarget, write-back ahead of the flush (syncfs mode)', () => {
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

  it('starts a syncfs in the background once writebackAheadBytes were written since the last one began; a flush it covers syncs nothing more', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'syncfs', syncOps: r.ops, writerThread: false, writebackAheadBytes: 1000 });
    await target.put('a', Buffer.alloc(600, 1));
    await sleep(20);
    assert.equal(r.syncfs, 0, 'under the threshold: no sync yet');
    await target.put('b', Buffer.alloc(600, 2));
    for (let t = 0; t < 100 && r.syncfs === 0; t++) await sleep(10);
    assert.equal(r.syncfs, 1, 'past it: one syncfs without a flush');
    await target.flush();
    assert.equal(r.syncfs, 1, 'it began after both puts: the flush has nothing left to sync');
    // blobs another thread wrote count by the bytes given
    target.workerWritten(['c'], 5000);
    for (let t = 0; t < 100 && r.syncfs === 1; t++) await sleep(10);
    assert.equal(r.syncfs, 2);
    await target.put('d', Buffer.from('d'));
    await target.flush();
    assert.equal(r.syncfs, 3, 'a put after the last one began is synced by the flush');
    await target.close();
  });

  it('writes under a running sync wait for the next one; 0 turns it off', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'syncfs', syncOps: r.ops, writerThread: false, writebackAheadBytes: 1000 });
    const gate = deferred();
    const reached = deferred();
    r.gate = gate.promise;
    r.onGate = reached.resolve;
    await target.put('a', Buffer.alloc(2000));
    await reached.promise;
    // while that one runs, more bytes start no second one
    await target.put('b', Buffer.alloc(2000));
    r.gate = undefined;
    gate.resolve();
    await target.flush();
    assert.equal(r.syncfs, 2, 'the background one, then the flush’s own for b');
    const off = recorder(dir);
    const quiet = new FolderTarget(dir, { durability: 'syncfs', syncOps: off.ops, writerThread: false, writebackAheadBytes: 0 });
    await quiet.put('big', Buffer.alloc(300 * 1024));
    await sleep(30);
    assert.equal(off.syncfs, 0);
    await target.close();
    await quiet.close();
  });

  it('a failed background sync fails the next flush (E_TARGET_IO, not retryable)', async () => {
    const dir = await folder();
    const r = recorder(dir);
    r.failOn = 'syncfs';
    const target = new FolderTarget(dir, { durability: 'syncfs', syncOps: r.ops, writerThread: false, writebackAheadBytes: 1000 });
    await target.put('a', Buffer.alloc(2000));
    await sleep(30);
    r.failOn = undefined;
    await assert.rejects(target.flush(), ioError);
    await target.close();
  });
});

describe('FolderTarget.flush, modes and wrappers', () => {
  it("'auto' picks syncfs where it is suitable and works, else fsync, and syncs what was written", async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'auto', syncOps: r.ops, writerThread: false });
    assert.equal(target.syncStats.mode, undefined);
    await target.put('a', Buffer.from('a'));
    await target.flush();
    const expected = (await systemSyncOps.syncfsSuitable(dir)) ? 'syncfs' : 'fsync';
    assert.equal(target.syncStats.mode, expected);
    if (expected === 'syncfs') assert.ok(r.syncfs >= 1);
    else assert.deepEqual(names(r.files, dir), ['a']);
  });

  it('syncfs is suitable on tmpfs and ext4, not on /proc (statfs f_type)', async () => {
    // this machine's kernel is 5.8 or later and /dev/shm is tmpfs; the test checks both
    const [major = 0, minor = 0] = release().split('.').map((n) => Number.parseInt(n, 10));
    assert.ok(major > 5 || (major === 5 && minor >= 8), `kernel ${major}.${minor}`);
    assert.equal((await statfs('/dev/shm')).type, 0x01021994, '/dev/shm is tmpfs');
    assert.equal(await systemSyncOps.syncfsSuitable('/dev/shm'), true);
    assert.equal(await systemSyncOps.syncfsSuitable('/proc'), false);
    const dir = await folder();
    if ((await statfs(dir)).type === 0xef53) assert.equal(await systemSyncOps.syncfsSuitable(dir), true);
  });

  it("'auto' falls back to fsync when syncfs fails, and keeps the files written before it decided", async () => {
    const dir = await folder();
    const r = recorder(dir);
    r.failOn = 'syncfs';
    const ops: FolderSyncOps = { ...r.ops, syncfsSuitable: async () => true };
    const target = new FolderTarget(dir, { durability: 'auto', syncOps: ops, writerThread: false });
    await target.put('a', Buffer.from('a'));
    await target.put('b', Buffer.from('b'));
    await target.flush();
    assert.equal(target.syncStats.mode, 'fsync');
    assert.deepEqual(names(r.files, dir), ['a', 'b']);
  });

  it("'auto' runs no sync before the first flush, unless syncBatch files pile up", async () => {
    const dir = await folder();
    const r = recorder(dir);
    const ops: FolderSyncOps = { ...r.ops, syncfsSuitable: async () => false };
    const target = new FolderTarget(dir, { durability: 'auto', syncOps: ops, syncBatch: 3, writerThread: false });
    await target.put('a', Buffer.from('a'));
    await target.put('b', Buffer.from('b'));
    await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual([target.syncStats.mode, r.files.length], [undefined, 0]);
    await target.put('c', Buffer.from('c'));
    for (let t = 0; t < 100 && r.files.length < 3; t++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(target.syncStats.mode, 'fsync');
    assert.deepEqual(names(r.files, dir), ['a', 'b', 'c']);
  });

  it("'none' syncs nothing; CLFSLOAD_FOLDER_FSYNC selects the mode", async () => {
    const dir = await folder();
    const r = recorder(dir);
    const target = new FolderTarget(dir, { durability: 'none', syncOps: r.ops, writerThread: false });
    await target.put('a', Buffer.from('a'));
    await target.flush();
    assert.deepEqual([r.files.length, r.folders.length, r.syncfs], [0, 0, 0]);
    const expect: Array<[string | undefined, FolderDurability]> = [[undefined, 'auto'], ['', 'auto'], ['1', 'auto'], ['0', 'none'], ['fsync', 'fsync'], ['syncfs', 'syncfs']];
    for (const [value, mode] of expect) assert.equal(durabilityFromEnv(value), mode);
    assert.throws(() => durabilityFromEnv('yes'), (e: unknown) => isClfsError(e) && e.code === 'E_USAGE' && /CLFSLOAD_FOLDER_FSYNC/.test((e as Error).message));
  });

  it('the library reads no environment: CLFSLOAD_FOLDER_FSYNC=0 does not turn flush off; the durability option does', async () => {
    const saved = process.env.CLFSLOAD_FOLDER_FSYNC;
    process.env.CLFSLOAD_FOLDER_FSYNC = '0';
    try {
      const dir = await folder();
      const r = recorder(dir);
      const target = new FolderTarget(dir, { syncOps: r.ops, writerThread: false });
      await target.put('a', Buffer.from('a'));
      await target.flush();
      assert.ok(r.files.length + r.syncfs > 0, 'the default (auto) synced');
      assert.notEqual(target.syncStats.mode, 'none');
      const opened = openTarget(pathToFileURL(dir).href, { folder: { durability: 'none', syncOps: r.ops, writerThread: false } });
      assert.ok(opened instanceof FolderTarget);
      const before = r.files.length + r.syncfs;
      await opened.put('b', Buffer.from('b'));
      await opened.flush!();
      assert.equal(r.files.length + r.syncfs, before, 'durability given to openTarget reaches the folder target');
    } finally {
      if (saved === undefined) delete process.env.CLFSLOAD_FOLDER_FSYNC;
      else process.env.CLFSLOAD_FOLDER_FSYNC = saved;
    }
  });

  it('an aborted flush rejects with E_ABORTED', async () => {
    const dir = await folder();
    const target = new FolderTarget(dir, { durability: 'fsync', writerThread: false });
    await target.put('a', Buffer.from('a'));
    await assert.rejects(target.flush({ abortSignal: AbortSignal.abort() }), (e: unknown) => isClfsError(e) && e.code === 'E_ABORTED');
  });

  it('wrappers forward flush to the folder target, and have none when the inner target has none', async () => {
    const dir = await folder();
    const r = recorder(dir);
    const inner = new FolderTarget(dir, { durability: 'fsync', syncOps: r.ops, writerThread: false });
    const counting = new CountingTarget(new FaultTarget(new LatencyTarget(inner, { latencyMs: 1 })));
    await counting.put('a', Buffer.from('a'));
    await counting.flush!();
    assert.deepEqual(names(r.files, dir), ['a']);
    assert.equal(counting.counts.flush, 1);
    const noFlush: Target = {
      description: 'no flush',
      capabilities: inner.capabilities,
      features: { putMany: false, checkAccess: false, flush: false },
      put: (n, d, o) => inner.put(n, d, o),
      get: (n, o) => inner.get(n, o),
      exists: (n, o) => inner.exists(n, o),
      list: (p, o) => inner.list(p, o),
      delete: (n, o) => inner.delete(n, o),
    };
    assert.equal(new CountingTarget(noFlush).flush, undefined);
    assert.equal(new LatencyTarget(noFlush).flush, undefined);
    assert.equal(new FaultTarget(noFlush).flush, undefined);
    await new DryRunTarget().flush();
  });

  it('a FaultTarget fails flush only when told to', async () => {
    const dir = await folder();
    const inner = new FolderTarget(dir, { durability: 'fsync', writerThread: false });
    const faulty = new FaultTarget(inner, { operations: ['flush'], failRequests: [2] });
    await faulty.put('a', Buffer.from('a'));
    await assert.rejects(faulty.flush!(), (e: unknown) => isClfsError(e) && e.code === 'E_TARGET_TRANSIENT');
    await faulty.flush!();
    assert.equal(faulty.injected, 1);
  });
});
