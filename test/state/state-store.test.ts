import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { isClfsError } from '../../src/errors/index.js';
import { EntryState, faultPlanFromEnv, StateDb, StateReader, STATE_DB_FILE, STATE_FAULTS_ENV } from '../../src/state/index.js';
import type { NewEntry, StateFaultPlan, StateRetryEvent } from '../../src/state/index.js';

const STATE_DB_JS = new URL('../../src/state/state-db.js', import.meta.url).href;
const STATE_FAULTS_JS = new URL('../../src/state/state-faults.js', import.meta.url).href;
const STATE_READER_JS = new URL('../../src/state/state-reader.js', import.meta.url).href;
const BETTER_SQLITE3 = import.meta.resolve('better-sqlite3');

function tempDir(t: { after(fn: () => void): void }, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function entry(parentId: number | null, name: string, ftype: number, state: EntryState): NewEntry {
  return {
    parentId: parentId, name: Buffer.from(name), path: ftype === 1 ? Buffer.from(`/src/${name}`) : null, ftype, fh: Buffer.alloc(32, name.length),
    state, mode: ftype === 1 ? 0o40755 : 0o100644, uid: 0, gid: 0, sizeBytes: 10, mtimeSec: 1, mtimeNsec: 0, ctimeSec: 1, ctimeNsec: 0, atimeSec: 1, atimeNsec: 0,
    ino: name, dev: '1', rdev: '0', nlink: 1, linkOf: null, reconcile: 0,
  };
}

/** A state with a root directory; `files` pending one-object children (what the encode workers read). */
function seed(dir: string, files = 0): void {
  const db = StateDb.open(dir, { create: true, faults: { rules: [] } });
  db.tx(() => {
    const root = db.insertEntry(entry(null, 'root', 1, EntryState.SCANNED));
    for (let i = 0; i < files; i++) db.insertEntry(entry(root, `f${i}`, 2, EntryState.PENDING));
  });
  db.close();
}

/** One unit of work that must happen exactly once: a row and a counter in the same transaction. */
function work(db: StateDb, name: string): void {
  const n = (db.all<{ n: number }>('SELECT COUNT(*) AS n FROM entries')[0]!).n;
  db.insertEntry(entry(1, name, 2, EntryState.PENDING));
  db.setMeta('done', n);
}

function rowsNamed(db: StateDb, name: string): number {
  return db.all<{ n: number }>('SELECT COUNT(*) AS n FROM entries WHERE name = ?', Buffer.from(name))[0]!.n;
}

test('a transient SQLITE_BUSY at a write point is retried and the transaction takes effect once', (t) => {
  const dir = tempDir(t, 'clfsload-state-busy-');
  seed(dir);
  // the write points of one unit of work, counted without faults
  let db = StateDb.open(dir, { create: false, faults: { rules: [] } });
  db.tx(() => work(db, 'probe'));
  const writes = db.faultStats!.writes;
  assert.equal(writes, 2);
  db.close();

  for (let at = 1; at <= writes; at++) {
    const events: StateRetryEvent[] = [];
    db = StateDb.open(dir, { create: false, faults: { rules: [{ op: 'write', at, code: 'SQLITE_BUSY', times: 2 }] }, onRetry: (e) => events.push(e) });
    let runs = 0;
    db.tx(() => {
      runs += 1;
      work(db, `x${at}`);
    });
    assert.equal(runs, 3, 'two failed attempts, then the one that commits');
    // a retried attempt is not a new point: the count is the same as without faults
    assert.deepEqual(db.faultStats, { writes, reads: 1, commits: 1, injected: 2 });
    assert.equal(rowsNamed(db, `x${at}`), 1);
    assert.deepEqual(events.map((e) => [e.what, e.code, e.attempt, e.delayMs]), [['transaction', 'SQLITE_BUSY', 1, 50], ['transaction', 'SQLITE_BUSY', 2, 100]]);
    db.close();
  }
});

test('a failing commit rolls back and is retried; a nested transaction is retried with its outer one', (t) => {
  const dir = tempDir(t, 'clfsload-state-commit-');
  seed(dir);
  const db = StateDb.open(dir, { create: false, faults: { rules: [{ op: 'commit', at: 1, code: 'SQLITE_IOERR_FSYNC' }, { op: 'write', at: 4, code: 'SQLITE_BUSY' }] } });
  let runs = 0;
  db.tx(() => {
    runs += 1;
    work(db, 'c');
  });
  assert.equal(runs, 2);
  assert.equal(rowsNamed(db, 'c'), 1);
  let outer = 0;
  db.tx(() => {
    outer += 1;
    db.insertEntry(entry(1, 'outer', 2, EntryState.PENDING));
    // write 4 fails inside the savepoint: the whole outer transaction runs again
    db.tx(() => db.insertEntry(entry(1, 'inner', 2, EntryState.PENDING)));
  });
  assert.equal(outer, 2);
  assert.equal(rowsNamed(db, 'outer'), 1);
  assert.equal(rowsNamed(db, 'inner'), 1);
  db.close();
});

test('statements outside a transaction are retried alone', (t) => {
  const dir = tempDir(t, 'clfsload-state-stmt-');
  seed(dir);
  const events: StateRetryEvent[] = [];
  const db = StateDb.open(dir, { create: false, faults: { rules: [{ op: 'read', at: 1, code: 'SQLITE_BUSY_RECOVERY', times: 3 }, { op: 'write', at: 1, code: 'SQLITE_IOERR_SHMLOCK' }] }, onRetry: (e) => events.push(e) });
  assert.equal(db.rootEntry()?.name.toString(), 'root');
  db.setState(1, EntryState.READY);
  assert.equal(db.entry(1)?.state, EntryState.READY);
  assert.deepEqual(events.map((e) => [e.what, e.code]), [['statement', 'SQLITE_BUSY_RECOVERY'], ['statement', 'SQLITE_BUSY_RECOVERY'], ['statement', 'SQLITE_BUSY_RECOVERY'], ['statement', 'SQLITE_IOERR_SHMLOCK']]);
  assert.deepEqual(db.faultStats, { writes: 1, reads: 2, commits: 0, injected: 4 });
  db.close();
});

test('an error of the caller inside tx is not retried and propagates unchanged', (t) => {
  const dir = tempDir(t, 'clfsload-state-own-');
  seed(dir);
  const db = StateDb.open(dir, { create: false });
  let runs = 0;
  const mine = new RangeError('mine');
  assert.throws(() => db.tx(() => {
    runs += 1;
    db.insertEntry(entry(1, 'rolled-back', 2, EntryState.PENDING));
    throw mine;
  }), (err) => err === mine);
  assert.equal(runs, 1);
  assert.equal(rowsNamed(db, 'rolled-back'), 0);
  db.close();
});

function assertStateIo(err: unknown, dir: string, fragment: RegExp): true {
  assert.ok(isClfsError(err), String(err));
  assert.equal(err.code, 'E_STATE_IO');
  assert.equal(err.subject, dir);
  assert.ok(err.message.startsWith(`state folder ${dir}`), err.message);
  assert.match(err.message, fragment);
  assert.match(err.message, /re-run the load \(without --new\) to resume/);
  assert.ok(!err.message.includes('\n'));
  return true;
}

test('a persistent SQLITE_IOERR becomes E_STATE_IO naming the folder, after the retries, and nothing is half-written', (t) => {
  const dir = tempDir(t, 'clfsload-state-ioerr-');
  seed(dir);
  const events: StateRetryEvent[] = [];
  const db = StateDb.open(dir, { create: false, retry: { totalMs: 1200 }, faults: { rules: [{ op: 'write', at: 2, code: 'SQLITE_IOERR_WRITE', times: -1 }] }, onRetry: (e) => events.push(e) });
  const started = Date.now();
  assert.throws(() => db.tx(() => work(db, 'never')), (err) => assertStateIo(err, dir, /disk I\/O error .*SQLITE_IOERR_WRITE.*still failing after \d+ s of retries/));
  assert.ok(Date.now() - started >= 350, 'it waited before giving up');
  // backoff doubling from 50 ms until the next wait would pass 1.2 s (50 + 100 + 200 + 400 on an idle machine)
  const delays = events.map((e) => e.delayMs);
  assert.ok(delays.length >= 3 && delays.every((d, i) => d === 50 * 2 ** i), delays.join(' '));
  // a persistent failure stays: later writes fail at once too
  assert.throws(() => db.setMeta('later', 1), (err) => assertStateIo(err, dir, /SQLITE_IOERR_WRITE/));
  db.close();
  // nothing of the failed transaction is in the state, and without the fault it resumes
  const again = StateDb.open(dir, { create: false });
  assert.equal(rowsNamed(again, 'never'), 0);
  again.tx(() => work(again, 'resumed'));
  assert.equal(rowsNamed(again, 'resumed'), 1);
  again.close();
});

test('SQLITE_FULL, SQLITE_CORRUPT and SQLITE_READONLY are not retried and say what to do', (t) => {
  const dir = tempDir(t, 'clfsload-state-full-');
  seed(dir);
  const cases: Array<[string, RegExp]> = [
    ['SQLITE_FULL', /: disk full; free space there and re-run/],
    ['SQLITE_CORRUPT', /reads as damaged .*if it fails the same way, remove the folder and start again with --new/],
    ['SQLITE_READONLY', /is not writable \(a read-only file system or permissions/],
  ];
  for (const [code, message] of cases) {
    const events: StateRetryEvent[] = [];
    const db = StateDb.open(dir, { create: false, faults: { rules: [{ op: 'write', at: 1, code }] }, onRetry: (e) => events.push(e) });
    assert.throws(() => db.tx(() => work(db, 'x')), (err) => assertStateIo(err, dir, message));
    assert.equal(events.length, 0, code);
    db.close();
  }
});

/** Mount a small tmpfs (we run as root); undefined where mounting is not permitted. */
function mountTmpfs(t: { after(fn: () => void): void }, sizeKiB: number): string | undefined {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-state-mnt-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k`, 'tmpfs', mnt], { stdio: 'pipe' });
  } catch {
    fs.rmdirSync(mnt);
    return undefined;
  }
  t.after(() => {
    execFileSync('umount', [mnt]);
    fs.rmdirSync(mnt);
  });
  return mnt;
}

test('a state folder on a real full disk, and on a read-only file system, stops with the matching E_STATE_IO', (t) => {
  const mnt = mountTmpfs(t, 256);
  if (mnt === undefined) {
    t.skip('mount -t tmpfs is not permitted here (not root)');
    return;
  }
  const dir = path.join(mnt, 'state');
  const db = StateDb.open(dir, { create: true });
  db.tx(() => db.insertEntry(entry(null, 'root', 1, EntryState.SCANNED)));
  assert.throws(() => {
    for (let i = 0; i < 10_000; i++) db.tx(() => db.setMeta(`k${i}`, 'x'.repeat(4000)));
  }, (err) => assertStateIo(err, dir, /: disk full; free space there/));
  db.close();
  execFileSync('mount', ['-o', 'remount,ro', mnt]);
  // SQLite opens it read-only when the -wal and -shm are there (the full disk kept them), else
  // not at all: the first write or the open says so
  let ro: StateDb | undefined;
  assert.throws(() => {
    ro = StateDb.open(dir, { create: false });
    ro.setMeta('x', 1);
  }, (err) => assertStateIo(err, dir, /is not writable \(a read-only file system/));
  ro?.close();
});

test('CLFSLOAD_STATE_FAULTS, read by the caller (the CLI), applies in a child process, and its statsFile counts the write points even on process.exit', async (t) => {
  const dir = tempDir(t, 'clfsload-state-env-');
  seed(dir);
  const statsFile = path.join(dir, 'stats.json');
  const script = `
    const { StateDb } = await import(${JSON.stringify(STATE_DB_JS)});
    const { faultPlanFromEnv } = await import(${JSON.stringify(STATE_FAULTS_JS)});
    const db = StateDb.open(process.argv[1], { create: false, retry: { totalMs: 300 }, faults: faultPlanFromEnv(process.env) });
    db.onRetry = (e) => console.log('retry', e.code);
    db.tx(() => db.setMeta('a', 1));
    db.tx(() => db.setMeta('b', 2));
    try { db.setMeta('c', 3); } catch (e) { console.log(e.code, e.message); }
    process.exit(7);`;
  const plan: StateFaultPlan = { rules: [{ op: 'write', at: 2, code: 'SQLITE_LOCKED' }, { op: 'write', at: 3, code: 'SQLITE_IOERR', times: -1 }], statsFile };
  const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], { env: { ...process.env, [STATE_FAULTS_ENV]: JSON.stringify(plan) }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout }));
  });
  assert.equal(out.code, 7);
  const lines = out.stdout.trim().split('\n');
  assert.equal(lines[0], 'retry SQLITE_LOCKED');
  assert.ok(lines.slice(1, -1).every((l) => l === 'retry SQLITE_IOERR'), out.stdout);
  assert.match(lines.at(-1)!, new RegExp(`^E_STATE_IO state folder ${dir}: disk I/O error .*still failing`));
  assert.deepEqual(JSON.parse(fs.readFileSync(statsFile, 'utf8')), { writes: 3, reads: 0, commits: 2, injected: 1 + lines.length - 1 });
  const db = StateDb.open(dir, { create: false });
  assert.deepEqual(db.all("SELECT key, value FROM meta WHERE key IN ('a', 'b', 'c') ORDER BY key"), [{ key: 'a', value: '1' }, { key: 'b', value: '2' }]);
  db.close();
});

test('a malformed CLFSLOAD_STATE_FAULTS is one E_USAGE line naming the variable', (t) => {
  const dir = tempDir(t, 'clfsload-state-envbad-');
  seed(dir);
  const saved = process.env[STATE_FAULTS_ENV];
  t.after(() => {
    if (saved === undefined) delete process.env[STATE_FAULTS_ENV];
    else process.env[STATE_FAULTS_ENV] = saved;
  });
  for (const [value, why] of [['{', /not JSON/], ['{"rules":[{"op":"delete","at":1,"code":"SQLITE_BUSY"}]}', /op must be write, read or commit/], ['{"rules":[{"op":"write","at":0,"code":"SQLITE_BUSY"}]}', /"at" must be/]] as const) {
    process.env[STATE_FAULTS_ENV] = value;
    assert.throws(() => StateDb.open(dir, { create: false, faults: faultPlanFromEnv(process.env) }), (err) => {
      assert.ok(isClfsError(err));
      assert.equal(err.code, 'E_USAGE');
      assert.match(err.message, new RegExp(`^${STATE_FAULTS_ENV} \\(state fault plan\\): `));
      assert.match(err.message, why);
      return true;
    });
  }
});

/** Another process takes the write lock (BEGIN IMMEDIATE), says so, and holds it for `holdMs`. */
async function holdWriteLock(file: string, holdMs: number): Promise<{ exited: Promise<number | null> }> {
  const script = `
    const Database = (await import(${JSON.stringify(BETTER_SQLITE3)})).default;
    const db = new Database(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    db.prepare("INSERT INTO meta(key, value) VALUES ('other', '1') ON CONFLICT(key) DO UPDATE SET value = value + 1").run();
    console.log('locked');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${holdMs});`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  // wrapped: an async function returning the promise itself would wait for it
  return { exited };
}

test('another process holding the write lock for 1.5 s makes StateDb writes wait, not fail', async (t) => {
  const dir = tempDir(t, 'clfsload-state-lock-');
  seed(dir);
  const file = path.join(dir, STATE_DB_FILE);
  // the busy timeout waits it out: a transaction that reads first (as a scan batch does), and a
  // single statement
  const events: StateRetryEvent[] = [];
  const db = StateDb.open(dir, { create: false, onRetry: (e) => events.push(e) });
  let { exited } = await holdWriteLock(file, 1500);
  let started = Date.now();
  db.tx(() => work(db, 'waited'));
  assert.ok(Date.now() - started >= 1300, `waited ${Date.now() - started} ms`);
  assert.equal(await exited, 0);
  ({ exited } = await holdWriteLock(file, 1500));
  started = Date.now();
  db.setState(1, EntryState.READY);
  assert.ok(Date.now() - started >= 1300);
  assert.equal(await exited, 0);
  assert.equal(events.length, 0, 'the busy timeout alone covered it');
  db.close();

  // with a short busy timeout, the retries do
  const short = StateDb.open(dir, { create: false, retry: { busyTimeoutMs: 100 }, onRetry: (e) => events.push(e) });
  ({ exited } = await holdWriteLock(file, 1500));
  short.tx(() => work(short, 'retried'));
  assert.ok(events.length >= 2 && events.every((e) => e.code === 'SQLITE_BUSY' && e.what === 'transaction'), JSON.stringify(events));
  assert.equal(await exited, 0);
  assert.equal(rowsNamed(short, 'waited'), 1);
  assert.equal(rowsNamed(short, 'retried'), 1);
  assert.equal(short.all<{ value: string }>("SELECT value FROM meta WHERE key = 'other'")[0]!.value, '3');
  short.close();
});

test('the encode workers\u2019 reader retries its read faults, and a persistent one is E_STATE_IO', (t) => {
  const dir = tempDir(t, 'clfsload-state-reader-');
  seed(dir, 5);
  const events: StateRetryEvent[] = [];
  const reader = new StateReader(dir, { faults: { rules: [{ op: 'read', at: 1, code: 'SQLITE_BUSY', times: 2, conn: 'reader' }] }, onRetry: (e) => events.push(e) });
  assert.equal(reader.singleObjectRows(1, 100).length, 5);
  assert.deepEqual(events.map((e) => [e.what, e.code]), [['statement', 'SQLITE_BUSY'], ['statement', 'SQLITE_BUSY']]);
  reader.close();
  // the first rule is the main connection's: the reader ignores it; a call reads its rows, then
  // their one parent (two reads), so the second call's first read is the third
  const faults: StateFaultPlan = { rules: [{ op: 'read', at: 1, code: 'SQLITE_BUSY' }, { op: 'read', at: 3, code: 'SQLITE_IOERR_READ', times: -1, conn: 'reader' }] };
  const failing = new StateReader(dir, { faults, retry: { totalMs: 300 } });
  assert.equal(failing.singleObjectRows(1, 100).length, 5);
  assert.throws(() => failing.singleObjectRows(1, 100), (err) => assertStateIo(err, dir, /SQLITE_IOERR_READ.*still failing/));
  failing.close();
});

test('one-object rows carry their own parent\u2019s handle and path, from both connections, across parents in one range; a row whose parent is gone is left out', (t) => {
  const dir = tempDir(t, 'clfsload-state-parents-');
  const db = StateDb.open(dir, { create: true, faults: { rules: [] } });
  const ids = new Map<string, number>();
  const fhOf = { root: Buffer.alloc(32, 4), 'dir-a': Buffer.alloc(32, 0xaa), 'dir-bb': Buffer.alloc(32, 0xbb) };
  db.tx(() => {
    ids.set('root', db.insertEntry(entry(null, 'root', 1, EntryState.SCANNED)));
    for (const d of ['dir-a', 'dir-bb'] as const) ids.set(d, db.insertEntry({ ...entry(ids.get('root')!, d, 1, EntryState.SCANNED), fh: fhOf[d] }));
  });
  // children of three parents, interleaved in id order as a range can hold them
  const children = [['dir-a', 'a1'], ['dir-a', 'a2'], ['dir-bb', 'b1'], ['root', 'r1'], ['dir-bb', 'b2'], ['dir-a', 'a3']] as const;
  db.tx(() => {
    for (const [parent, name] of children) ids.set(name, db.insertEntry(entry(ids.get(parent)!, name, 2, EntryState.PENDING)));
  });
  const expected = children.map(([parent, name]) => [name, `/src/${parent}`, fhOf[parent].toString('hex')]);
  const seen = (rows: Array<{ name: Buffer; parentPath: Buffer; parentFh: Buffer }>): string[][] => rows.map((r) => [r.name.toString(), r.parentPath.toString(), r.parentFh.toString('hex')]);
  const [first, last] = [ids.get('a1')!, ids.get('a3')!];
  const reader = new StateReader(dir);
  assert.deepEqual(seen(db.singleObjectRows(first, last)), expected);
  assert.deepEqual(seen(reader.singleObjectRows(first, last)), expected);
  // dir-bb's row is gone (a join would find no parent): its children are not handed out
  db.tx(() => db.all(`DELETE FROM entries WHERE id = ${ids.get('dir-bb')!} RETURNING id`));
  const left = expected.filter(([name]) => !name!.startsWith('b'));
  assert.deepEqual(seen(db.singleObjectRows(first, last)), left);
  assert.deepEqual(seen(reader.singleObjectRows(first, last)), left);
  reader.close();
  db.close();
});

test('encode-worker readers opened while the writer inserts and checkpoints (TRUNCATE) never fail', async (t) => {
  const dir = tempDir(t, 'clfsload-state-ckpt-');
  seed(dir, 50);
  const RUN_MS = 3000;
  const until = Date.now() + RUN_MS;
  // each reader opens, queries and closes in a loop; reports opens, rows seen and failures
  const readerLoop = `
    const { StateReader } = await import(${JSON.stringify(STATE_READER_JS)});
    const [dir, until] = [DIR, UNTIL];
    let opens = 0, maxRows = 0; const failures = [];
    while (Date.now() < until) {
      try {
        const r = new StateReader(dir);
        maxRows = Math.max(maxRows, r.singleObjectRows(1, 1e9).length);
        r.close();
        opens += 1;
      } catch (e) { failures.push(String(e.code) + ' ' + e.message); }
    }
    REPORT(JSON.stringify({ opens, maxRows, failures: failures.slice(0, 5), failed: failures.length }));`;
  const withArgs = (report: string) => readerLoop.replace('DIR', JSON.stringify(dir)).replace('UNTIL', String(until)).replace('REPORT', report);
  const workers = [0, 1].map(() => new Promise<string>((resolve, reject) => {
    const w = new Worker(`(async () => { const { parentPort } = require('node:worker_threads'); const report = (s) => parentPort.postMessage(s); ${withArgs('report')} })()`, { eval: true });
    w.once('message', resolve);
    w.once('error', reject);
  }));
  const child = new Promise<string>((resolve, reject) => {
    const c = spawn(process.execPath, ['--input-type=module', '-e', withArgs('console.log')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`reader process exited with ${code}`))));
  });

  const db = StateDb.open(dir, { create: false });
  let inserted = 0;
  let checkpoints = 0;
  let truncated = 0;
  await new Promise<void>((resolve) => {
    const step = (): void => {
      const stop = Math.min(until, Date.now() + 40);
      while (Date.now() < stop) {
        db.tx(() => {
          for (let i = 0; i < 20; i++) db.insertEntry(entry(1, `w${inserted++}`, 2, EntryState.PENDING));
        });
        // busy = 1: readers kept it from truncating this time
        const [result] = db.all<{ busy: number }>('PRAGMA wal_checkpoint(TRUNCATE)');
        checkpoints += 1;
        if (result!.busy === 0) truncated += 1;
      }
      if (Date.now() < until) setImmediate(step);
      else resolve();
    };
    step();
  });
  const reports = (await Promise.all([...workers, child])).map((r) => JSON.parse(r) as { opens: number; maxRows: number; failures: string[]; failed: number });
  db.close();
  assert.ok(truncated >= 5, `checkpoints ${checkpoints}, truncated ${truncated}`);
  for (const r of reports) {
    assert.deepEqual(r.failures, [], JSON.stringify(r));
    assert.ok(r.opens > 20, JSON.stringify(r));
    assert.ok(r.maxRows > 50, 'readers saw the writer\u2019s commits');
  }
  // the database is whole after all that
  const check = new Database(path.join(dir, STATE_DB_FILE), { readonly: true });
  assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
  assert.equal((check.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n, 51 + inserted);
  check.close();
});
