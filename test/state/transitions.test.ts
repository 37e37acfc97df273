/**
 * Every transition of the resume table (docs/architecture.md, "Resume model"), on the state alone:
 * scans (HELD, SCANNING), completions (once, with their parents and the other names of a hard
 * link), the consistency check's repairs, and the transitions of a retry.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkState, EntryState, Phase, StateDb } from '../../src/state/index.js';
import type { NewEntry } from '../../src/state/index.js';

const DIR = 1;
const REG = 2;

function open(t: TestContext): StateDb {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-transitions-'));
  const db = StateDb.open(dir, { create: true });
  t.after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  db.setPhase(Phase.TRANSFER);
  return db;
}

function row(parentId: number | null, name: string, ftype: number, state: EntryState, extra: Partial<NewEntry> = {}): NewEntry {
  return {
    parentId: parentId, name: Buffer.from(name), path: ftype === DIR ? Buffer.from(`/src/${name}`) : null, ftype, fh: Buffer.alloc(24, name.length),
    state, mode: 0o644, uid: 0, gid: 0, sizeBytes: 1, mtimeSec: 1, mtimeNsec: 0, ctimeSec: 1, ctimeNsec: 0, atimeSec: 1, atimeNsec: 0,
    ino: name, dev: '1', rdev: '0', nlink: 1, linkOf: null, reconcile: 0, ...extra,
  };
}

function add(db: StateDb, r: NewEntry): number {
  return db.tx(() => db.insertEntry(r));
}

const stateOf = (db: StateDb, id: number) => db.entry(id)!.state;
const pendingOf = (db: StateDb, id: number) => db.entry(id)!.pending;

test('HELD children are released by finishScan: a plain child to PENDING, another name of a hard link after its inode', (t) => {
  const db = open(t);
  const root = add(db, row(null, 'root', DIR, EntryState.SCANNING));
  const done = add(db, row(root, 'done-inode', REG, EntryState.DONE, { reconcile: 1 }));
  const failed = add(db, row(root, 'failed-inode', REG, EntryState.ERROR, { reconcile: 1 }));
  const dir = add(db, row(root, 'd', DIR, EntryState.SCANNING));
  const plain = add(db, row(dir, 'plain', REG, EntryState.HELD));
  const waiting = add(db, row(dir, 'waiting-inode', REG, EntryState.HELD, { reconcile: 1 }));
  const l1 = add(db, row(dir, 'l1', REG, EntryState.HELD, { linkOf: done }));
  const l2 = add(db, row(dir, 'l2', REG, EntryState.HELD, { linkOf: failed }));
  const l3 = add(db, row(dir, 'l3', REG, EntryState.HELD, { linkOf: waiting }));
  db.tx(() => db.finishScan(dir));
  assert.equal(stateOf(db, plain), EntryState.PENDING);
  assert.equal(stateOf(db, l1), EntryState.DONE);
  assert.equal(stateOf(db, l2), EntryState.ERROR);
  assert.equal(stateOf(db, l3), EntryState.LINKWAIT);
  assert.equal(stateOf(db, dir), EntryState.SCANNED);
  assert.equal(pendingOf(db, dir), 3, 'plain, waiting-inode and l3 are unfinished');
});

test('a completion counts once; a directory becomes READY when its last child finishes', (t) => {
  const db = open(t);
  const root = add(db, row(null, 'root', DIR, EntryState.SCANNING));
  const a = add(db, row(root, 'a', REG, EntryState.HELD));
  const b = add(db, row(root, 'b', REG, EntryState.HELD));
  db.tx(() => db.finishScan(root));
  assert.equal(pendingOf(db, root), 2);
  db.complete([{ id: a, parentId: root, state: EntryState.DONE }]);
  db.complete([{ id: a, parentId: root, state: EntryState.DONE }]);
  assert.equal(pendingOf(db, root), 1, 'the second completion of a changed nothing');
  assert.equal(stateOf(db, root), EntryState.SCANNED);
  db.complete([{ id: b, parentId: root, state: EntryState.ERROR, error: 'x' }]);
  assert.equal(pendingOf(db, root), 0);
  assert.equal(stateOf(db, root), EntryState.READY);
});

test('a batch of completions (recorded many rows a statement): each counts once for its own directory, mixed with failures and repeats', (t) => {
  const db = open(t);
  const root = add(db, row(null, 'root', DIR, EntryState.SCANNING));
  const d1 = add(db, row(root, 'd1', DIR, EntryState.SCANNING));
  const d2 = add(db, row(root, 'd2', DIR, EntryState.SCANNING));
  const one = Array.from({ length: 70 }, (_, i) => add(db, row(d1, `a${i}`, REG, EntryState.HELD)));
  const two = Array.from({ length: 5 }, (_, i) => add(db, row(d2, `b${i}`, REG, EntryState.HELD)));
  db.tx(() => {
    db.finishScan(root);
    db.finishScan(d1);
    db.finishScan(d2);
  });
  // an entry retried after it failed: its error goes with the batch
  db.complete([{ id: one[0]!, parentId: d1, state: EntryState.ERROR, error: 'first try' }]);
  db.tx(() => db.setState(one[0]!, EntryState.PENDING));
  assert.equal(pendingOf(db, d1), 69);
  db.tx(() => db.waitForChildren(d1));
  assert.equal(pendingOf(db, d1), 70);
  // one already finished in the batch again, one failing, the rest stored; more than one statement's worth
  db.complete([{ id: two[0]!, parentId: d2, state: EntryState.DONE }]);
  const batch = [
    ...one.map((id) => ({ id, parentId: d1, state: EntryState.DONE as const, writtenSize: 7 })),
    { id: two[0]!, parentId: d2, state: EntryState.DONE as const },
    { id: two[1]!, parentId: d2, state: EntryState.ERROR as const, error: 'refused' },
    ...two.slice(2).map((id) => ({ id, parentId: d2, state: EntryState.DONE as const })),
  ];
  db.complete(batch);
  assert.equal(pendingOf(db, d1), 0);
  assert.equal(stateOf(db, d1), EntryState.READY);
  assert.equal(pendingOf(db, d2), 0, 'b0 counted once, before');
  assert.equal(stateOf(db, d2), EntryState.READY);
  for (const id of one) assert.equal(stateOf(db, id), EntryState.DONE);
  assert.equal(db.entry(one[0]!)!.error, null, 'the retried entry lost its old error');
  assert.equal(db.entry(one[5]!)!.writtenSizeBytes, 7);
  assert.equal(stateOf(db, two[1]!), EntryState.ERROR);
  assert.equal(db.entry(two[1]!)!.error, 'refused');
  // the whole batch again changes nothing
  db.complete(batch);
  assert.equal(pendingOf(db, d1), 0);
  assert.equal(pendingOf(db, root), 2, 'd1 and d2 are ready, not written');
});

test('an inode that finishes finishes its other names, in their directories; one that fails fails them', (t) => {
  const db = open(t);
  const root = add(db, row(null, 'root', DIR, EntryState.SCANNED));
  const a = add(db, row(root, 'a', DIR, EntryState.SCANNED));
  const b = add(db, row(root, 'b', DIR, EntryState.SCANNED));
  const ok = add(db, row(a, 'ok', REG, EntryState.PENDING, { reconcile: 1 }));
  const bad = add(db, row(a, 'bad', REG, EntryState.PENDING, { reconcile: 1 }));
  const okLink = add(db, row(b, 'ok-link', REG, EntryState.LINKWAIT, { linkOf: ok }));
  const badLink = add(db, row(b, 'bad-link', REG, EntryState.LINKWAIT, { linkOf: bad }));
  db.recountPending();
  assert.equal(pendingOf(db, b), 2);
  db.complete([{ id: ok, parentId: a, state: EntryState.INPROGRESS, linked: true }]);
  assert.equal(stateOf(db, okLink), EntryState.DONE);
  assert.equal(pendingOf(db, b), 1);
  db.complete([{ id: bad, parentId: a, state: EntryState.ERROR, error: 'refused', linked: true }]);
  assert.equal(stateOf(db, badLink), EntryState.ERROR);
  assert.match(db.entry(badLink)!.error!, /another name of an inode that failed: refused/);
  assert.equal(stateOf(db, b), EntryState.READY);
  assert.equal(stateOf(db, a), EntryState.READY);
});

test('SCANNING: a resume drops every child row (held, finished, link names) and the inode map is derived again', (t) => {
  const db = open(t);
  const root = add(db, row(null, 'root', DIR, EntryState.SCANNED));
  const primary = add(db, row(root, 'p', REG, EntryState.INPROGRESS, { reconcile: 1 }));
  db.tx(() => db.putInode('1', 'p', REG, primary));
  const big = add(db, row(root, 'big', DIR, EntryState.SCANNING));
  add(db, row(big, 'held', REG, EntryState.HELD));
  add(db, row(big, 'link', REG, EntryState.DONE, { linkOf: primary }));
  db.tx(() => db.bumpInode('1', 'p', REG));
  assert.equal(db.findInode('1', 'p', REG)!.links, 2);
  assert.equal(db.resetInterruptedScans(), 1);
  assert.equal(stateOf(db, big), EntryState.PENDING);
  assert.equal(db.children(big, 0, 10).length, 0);
  assert.equal(db.findInode('1', 'p', REG)!.links, 1, 'the dropped name no longer counts');
});

test('beginScan starts from a clean slate; dropping a name of an already reconciled inode reconciles it again', (t) => {
  const db = open(t);
  const root = add(db, row(null, 'root', DIR, EntryState.SCANNED));
  const primary = add(db, row(root, 'p', REG, EntryState.DONE, { reconcile: 1 }));
  const d = add(db, row(root, 'd', DIR, EntryState.PENDING));
  add(db, row(d, 'left-over', REG, EntryState.DONE, { linkOf: primary }));
  db.tx(() => db.beginScan(d));
  assert.equal(stateOf(db, d), EntryState.SCANNING);
  assert.equal(db.children(d, 0, 10).length, 0);
  assert.equal(stateOf(db, primary), EntryState.INPROGRESS, 'its backpointers must be written again');
  db.tx(() => db.reconcileAgain(primary));
  assert.equal(stateOf(db, primary), EntryState.INPROGRESS);
});

test('counts are derived from the rows: a negative or stale count is recounted, and the state follows', (t) => {
  const db = open(t);
  const root = add(db, row(null, 'root', DIR, EntryState.SCANNED));
  const d = add(db, row(root, 'd', DIR, EntryState.SCANNED));
  add(db, row(d, 'x', REG, EntryState.DONE));
  db.tx(() => db.run('UPDATE entries SET pending = -100 WHERE id = ?', d));
  db.tx(() => db.run('UPDATE entries SET pending = 7 WHERE id = ?', root));
  assert.equal(db.recountPending(), 2);
  assert.equal(pendingOf(db, d), 0);
  assert.equal(stateOf(db, d), EntryState.READY);
  assert.equal(pendingOf(db, root), 1);
  assert.equal(stateOf(db, root), EntryState.SCANNED);
  assert.equal(db.recountPending(), 0);
});

test('the consistency check repairs WRITING, hidden rows outside a scan, stray link names, early directories, and a phase past work', (t) => {
  const db = open(t);
  const root = add(db, row(null, 'root', DIR, EntryState.DONE));
  const writingDir = add(db, row(root, 'wd', DIR, EntryState.WRITING));
  const writingFile = add(db, row(root, 'wf', REG, EntryState.WRITING));
  const scanned = add(db, row(root, 's', DIR, EntryState.DONE));
  const hidden = add(db, row(scanned, 'hidden', REG, EntryState.HELD));
  const primary = add(db, row(root, 'p', REG, EntryState.DONE, { reconcile: 1 }));
  const stray = add(db, row(scanned, 'stray', REG, EntryState.ERROR, { linkOf: primary }));
  db.setPhase(Phase.FINALIZE);
  const dry = checkState(db, { repair: false });
  assert.ok(dry.findings.length >= 4, dry.findings.join('\n'));
  assert.equal(stateOf(db, writingDir), EntryState.WRITING, 'a check without repair changes nothing');
  const r = checkState(db, { repair: true });
  assert.deepEqual(r.damage, []);
  assert.equal(stateOf(db, writingDir), EntryState.READY);
  assert.equal(stateOf(db, writingFile), EntryState.PENDING);
  assert.equal(stateOf(db, hidden), EntryState.PENDING);
  assert.equal(stateOf(db, stray), EntryState.DONE);
  assert.equal(stateOf(db, scanned), EntryState.SCANNED, 'written again once its children are');
  assert.equal(stateOf(db, root), EntryState.SCANNED, 'it was DONE with unfinished children');
  assert.equal(r.phase, Phase.TRANSFER);
  assert.equal(db.phase, Phase.TRANSFER);
  assert.deepEqual(checkState(db, { repair: false }).findings, []);
});

test('rows whose directory row is gone are damage, not repaired', (t) => {
  const db = open(t);
  const root = add(db, row(null, 'root', DIR, EntryState.SCANNED));
  add(db, row(root + 100, 'orphan', REG, EntryState.PENDING));
  const r = checkState(db, { repair: true });
  assert.equal(r.damage.length, 1);
  assert.match(r.damage[0]!, /directory row is missing/);
});

test('retry transitions: markForRetry clears the error; failFinishedInode fails every name and reopens their directories', (t) => {
  const db = open(t);
  const root = add(db, row(null, 'root', DIR, EntryState.DONE));
  const a = add(db, row(root, 'a', DIR, EntryState.DONE));
  const b = add(db, row(root, 'b', DIR, EntryState.DONE));
  const p = add(db, row(a, 'p', REG, EntryState.INPROGRESS, { reconcile: 1 }));
  const l = add(db, row(b, 'l', REG, EntryState.DONE, { linkOf: p }));
  db.tx(() => db.failFinishedInode(p, 'reconcile failed'));
  assert.equal(stateOf(db, p), EntryState.ERROR);
  assert.equal(stateOf(db, l), EntryState.ERROR);
  assert.equal(stateOf(db, a), EntryState.SCANNED);
  assert.equal(stateOf(db, b), EntryState.SCANNED);
  db.recountPending();
  assert.equal(stateOf(db, a), EntryState.READY, 'written again without the failed name');
  db.tx(() => {
    db.markForRetry(p, EntryState.PENDING);
    db.markForRetry(l, EntryState.LINKWAIT);
  });
  assert.equal(db.entry(p)!.error, null);
  db.recountPending();
  assert.equal(stateOf(db, b), EntryState.SCANNED, 'waits for its name to follow the retried inode');
  db.complete([{ id: p, parentId: a, state: EntryState.INPROGRESS, linked: true }]);
  assert.equal(stateOf(db, l), EntryState.DONE);
  assert.equal(stateOf(db, b), EntryState.READY);
});
