/**
 * A large file interrupted mid-way is resumed from its first unwritten 8 MiB segment, not
 * written whole again; a file that changed in between is written from the start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { load, verify, cat, FolderTarget } from '../../src/index.js';
import type { LoadChildOptions } from '../helpers/load-child.js';

const CHILD = fileURLToPath(new URL('../helpers/load-child.js', import.meta.url));
const SEGMENT = 8 * 1024 * 1024;
const SEGMENTS = 14;
/** 16 KiB inline, 14 full segments, and a partial last one */
const BIG_BYTES = 16384 + SEGMENTS * SEGMENT + 12345;

/** The most segments any file of the state records as stored (0 while none). */
function storedSegments(stateDir: string): number {
  const file = path.join(stateDir, 'state.db');
  if (!fs.existsSync(file)) return 0;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
    try {
      const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'segment_progress'").get() !== undefined;
      if (!hasTable) return 0;
      return (db.prepare('SELECT COALESCE(MAX(segments), 0) AS n FROM segment_progress').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

/**
 * Start a slow load in a child process and kill -9 it once the state records at least
 * `minStored` segments of the big file. Fails if the load ended first.
 */
async function loadUntilStored(o: LoadChildOptions, minStored: number): Promise<number> {
  const child = spawn(process.execPath, [CHILD, '--options', JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let ended = false;
  void exited.then(() => (ended = true));
  const deadline = Date.now() + 120_000;
  let stored = 0;
  while (!ended && Date.now() < deadline) {
    stored = storedSegments(o.stateDir);
    if (stored >= minStored) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(!ended, `the load ended before ${minStored} segments were recorded (stderr: ${stderr})`);
  assert.ok(stored >= minStored, `no progress recorded within the deadline (${stored} segments)`);
  child.kill('SIGKILL');
  const code = await exited;
  assert.equal(code, null, 'killed by the signal');
  return storedSegments(o.stateDir);
}

function buildSource(src: string): Buffer {
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  // random bytes: LZ4 cannot shrink them, so uploaded bytes are comparable with file bytes
  const big = randomBytes(BIG_BYTES);
  fs.writeFileSync(path.join(src, 'sub', 'big.bin'), big);
  fs.writeFileSync(path.join(src, 'small.txt'), 'small\n');
  return big;
}

async function readBack(target: FolderTarget, rel: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const b of cat(target, rel)) chunks.push(b);
  return Buffer.concat(chunks);
}

test('kill -9 mid-file, resume: the big file continues from its first unwritten segment, and the container verifies', async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-segresume-'));
  try {
    const src = path.join(work, 'src');
    const blobs = path.join(work, 'blobs');
    const state = path.join(work, 'state');
    fs.mkdirSync(blobs);
    const big = buildSource(src);
    // one request at a time, each 300 ms late: the file takes seconds, the kill lands mid-file
    const stored = await loadUntilStored({ source: src, blobDir: blobs, stateDir: state, newTransfer: true, latencyMs: 300, concurrency: 1 }, 3);
    assert.ok(stored >= 3 && stored < SEGMENTS, `killed mid-file (${stored} segments recorded)`);

    const target = new FolderTarget(blobs);
    const summary = await load({ source: src, target, targetKey: `file:${blobs}`, stateDir: state, newTransfer: false });
    assert.equal(summary.status, 'complete');
    const remaining = BIG_BYTES - 16384 - stored * SEGMENT;
    // segments stored+1.. of the big file, its inode (16 KiB inline), the small file, two
    // directories, the root, the bucket object and the logs: nothing near a whole file more
    assert.ok(summary.bytesUploaded < remaining + 1024 * 1024, `resume uploaded ${summary.bytesUploaded} bytes; ${remaining} of the big file were left`);
    assert.ok(summary.bytesUploaded >= remaining, `resume uploaded the rest of the file (${summary.bytesUploaded} < ${remaining})`);
    assert.ok(summary.blobsWritten <= SEGMENTS + 1 - stored + 12, `resume wrote ${summary.blobsWritten} blobs`);
    const log = fs.readFileSync(path.join(state, 'output.txt'), 'utf8');
    assert.match(log, new RegExp(`sub/big\\.bin: resuming from segment ${stored + 1} of ${SEGMENTS + 1}`));

    const report = await verify(target, { source: src });
    assert.deepEqual(report.problems, []);
    assert.ok((await readBack(target, 'sub/big.bin')).equals(big), 'the big file reads back equal');
    // no progress is left behind for a finished file
    assert.equal(storedSegments(state), 0);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('kill -9 mid-file, change the file (same size and mtime), resume: it is written from the start', async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-segresume-'));
  try {
    const src = path.join(work, 'src');
    const blobs = path.join(work, 'blobs');
    const state = path.join(work, 'state');
    fs.mkdirSync(blobs);
    const big = buildSource(src);
    const file = path.join(src, 'sub', 'big.bin');
    const stored = await loadUntilStored({ source: src, blobDir: blobs, stateDir: state, newTransfer: true, latencyMs: 300, concurrency: 1 }, 2);
    assert.ok(stored < SEGMENTS, `killed mid-file (${stored} segments recorded)`);
    // rewrite bytes inside a stored segment, keeping size and mtime: only ctime tells
    const before = fs.statSync(file);
    const fd = fs.openSync(file, 'r+');
    const patch = Buffer.from('changed after the kill');
    fs.writeSync(fd, patch, 0, patch.length, 16384 + 100);
    fs.closeSync(fd);
    fs.utimesSync(file, before.atime, before.mtime);
    patch.copy(big, 16384 + 100);

    const target = new FolderTarget(blobs);
    const summary = await load({ source: src, target, targetKey: `file:${blobs}`, stateDir: state, newTransfer: false });
    // the scan's mtime still matches, so this is not "changed while read": the file is simply written whole
    assert.equal(summary.status, 'complete');
    assert.ok(summary.bytesUploaded >= BIG_BYTES - 16384, `written whole again (${summary.bytesUploaded} bytes)`);
    const log = fs.readFileSync(path.join(state, 'output.txt'), 'utf8');
    assert.match(log, /sub\/big\.bin: changed since \d+ of its segments were stored; writing it from the start/);
    assert.ok((await readBack(target, 'sub/big.bin')).equals(big), 'the file reads back as it is now');
    const report = await verify(target, { source: src });
    assert.deepEqual(report.problems, []);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
