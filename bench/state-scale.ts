/**
 * Issue 5's memory target: a transfer of 10 million entries keeps RSS under 500 MB. A real tree
 * of 10M files takes hours to create, so this generates the *state* of one: a source root with
 * D directories of N empty files each, every file already stored (DONE) and every directory
 * READY, as a transfer would leave them just before the directories are written. Then it runs
 * the real loader on it (resume path, a folder target), which pages every child of every
 * directory out of SQLite, packs 10M dirents into directory segments, writes the directories,
 * the root, and finalizes; and reports wall time and the peak RSS of that process.
 *
 *   node dist/bench/state-scale.js [--entries 10000000] [--dirs 1000]
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { bucketBlobName, encodeBlob, encodeBucketBody, ROOT_ID } from '../src/codec/index.js';
import { StateDb } from '../src/state/index.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const WORK = path.join(REPO, '.bench-cache', 'state-scale');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const entries = arg('--entries', 10_000_000);
const dirs = arg('--dirs', 1000);
const perDir = Math.ceil(entries / dirs);

fs.rmSync(WORK, { recursive: true, force: true });
const source = path.join(WORK, 'source');
const blobs = path.join(WORK, 'blobs');
const stateDir = path.join(WORK, 'state');
fs.mkdirSync(source, { recursive: true });
fs.mkdirSync(blobs, { recursive: true });

const t0 = Date.now();
const identity = {
  formatVersion: 1,
  sourceRootHex: Buffer.from(source).toString('hex'),
  targetKey: `file:${blobs}`,
  compression: 'lz4',
  preserveHardlinks: false,
  containerId: 0x29fbd3f5,
  fsid: 0x7f4a7c15,
  bucketUuid: randomUUID(),
  massUuid: randomUUID(),
  wipeEpoch: randomUUID(),
  idSecretHex: randomBytes(32).toString('hex'),
  createdAt: new Date().toISOString(),
};
StateDb.open(stateDir, { create: true }).close();
const db = new Database(path.join(stateDir, 'state.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = OFF');
const meta = db.prepare('INSERT INTO meta(key, value) VALUES (?, ?)');
meta.run('identity', JSON.stringify(identity));
meta.run('phase', JSON.stringify('transfer'));
const st = fs.statSync(source);
const now = Math.floor(Date.now() / 1000);
db.prepare(
  `INSERT INTO entries (id, parent_id, name, path, ftype, fh, state, mode, uid, gid, size, mtime_s, mtime_ns, ctime_s, ctime_ns, atime_s, atime_ns, ino, dev, rdev, nlink, pending)
   VALUES (1, NULL, ?, ?, 1, ?, 3, ?, 0, 0, 0, ?, 0, ?, 0, ?, 0, ?, '0', '0', 2, ?)`,
).run(Buffer.from('source'), Buffer.from(source), ROOT_ID, st.mode, now, now, now, String(st.ino), dirs);
// directories 2..dirs+1 (READY: scanned, children all stored), then their files (DONE)
db.exec(`
  WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i + 1 < ${dirs})
  INSERT INTO entries (id, parent_id, name, path, ftype, fh, state, mode, uid, gid, size, mtime_s, mtime_ns, ctime_s, ctime_ns, atime_s, atime_ns, ino, dev, rdev, nlink, pending)
  SELECT i + 2, 1, CAST('dir-' || printf('%05d', i) AS BLOB), CAST('${source}/dir-' || printf('%05d', i) AS BLOB), 1,
         unhex('B17E7A3F00010100' || hex(randomblob(16))), 4, ${0o40755}, 0, 0, 4096, ${now}, 0, ${now}, 0, ${now}, 0, CAST(1000 + i AS TEXT), '0', '0', 2, 0
  FROM d;
`);
const batch = 100_000;
for (let start = 0; start < dirs * perDir; start += batch) {
  const end = Math.min(dirs * perDir, start + batch);
  db.exec(`
    WITH RECURSIVE f(i) AS (SELECT ${start} UNION ALL SELECT i + 1 FROM f WHERE i + 1 < ${end})
    INSERT INTO entries (parent_id, name, path, ftype, fh, state, mode, uid, gid, size, mtime_s, mtime_ns, ctime_s, ctime_ns, atime_s, atime_ns, ino, dev, rdev, nlink)
    SELECT 2 + i / ${perDir}, CAST('file-with-a-typical-name-' || printf('%08d', i) || '.dat' AS BLOB), NULL, 2,
           unhex('B17E7A3F01010200' || hex(randomblob(16))), 6, ${0o100644}, 0, 0, 0, ${now}, 0, ${now}, 0, ${now}, 0, CAST(100000 + i AS TEXT), '0', '0', 1
    FROM f;
  `);
}
db.close();
for (let i = 0; i < dirs; i++) fs.mkdirSync(path.join(source, `dir-${String(i).padStart(5, '0')}`));
fs.writeFileSync(path.join(blobs, bucketBlobName()), encodeBlob(encodeBucketBody([
  ['bucketCurrentNameVersion', '2'], ['bucketNameVersion', '2'], ['bucketObjVersion', '2'], ['bucketUUID', identity.bucketUuid],
]), 'lz4'));
const generated = (Date.now() - t0) / 1000;

const cli = path.join(REPO, 'dist', 'bin', 'clfsload.js');
const r = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, cli, 'load', source, `file://${blobs}`, '--state', stateDir, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
const [wall, kb] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
const summary = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
const blobCount = fs.readdirSync(blobs).length;
console.log(`| entries in state | directories | generate s | load wall s | peak RSS MiB | status | blobs |`);
console.log(`|---:|---:|---:|---:|---:|---|---:|`);
console.log(`| ${(dirs * perDir + dirs + 1).toLocaleString('en-US')} | ${dirs} | ${generated.toFixed(0)} | ${wall} | ${Math.round(kb! / 1024)} | ${summary.status} | ${blobCount} |`);
if (r.status !== 0) {
  console.error(r.stderr);
  process.exitCode = 1;
}
