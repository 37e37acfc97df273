import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
const ENV: NodeJS.ProcessEnv = { ...process.env, UV_THREADPOOL_SIZE: '72' };
delete ENV.SLURM_ARRAY_TASK_ID;
delete ENV.JOB_COMPLETION_INDEX;
delete ENV.CLFSLOAD_SOURCE_FAULTS;

function clfs(args: string[]): { code: number | null; stdout: string; stderr: string; json?: Record<string, unknown> } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: ENV, encoding: 'utf8', maxBuffer: 64 << 20 });
  const out: { code: number | null; stdout: string; stderr: string; json?: Record<string, unknown> } = { code: r.status, stdout: r.stdout, stderr: r.stderr };
  if (args.includes('--json')) {
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      out.json = JSON.parse(line) as Record<string, unknown>;
    } catch {
      assert.fail(`no JSON: ${r.stdout}\n${r.stderr}`);
    }
  }
  return out;
}

/** Every path under root (names as bytes, shown latin1), by a plain walk independent of src/copy. */
function paths(root: string): string[] {
  const out: string[] = [];
  const walk = (abs: Buffer, rel: string) => {
    for (const name of fs.readdirSync(abs, { encoding: 'buffer' })) {
      const r = rel === '' ? name.toString('latin1') : `${rel}/${name.toString('latin1')}`;
      if (r === '.clfsload-copy') continue;
      const child = Buffer.concat([abs, Buffer.from('/'), name]);
      out.push(r);
      if (fs.lstatSync(child).isDirectory()) walk(child, r);
    }
  };
  walk(Buffer.from(root), '');
  return out.sort();
}

const FF_LOG = Buffer.from([0xff, 0x2e, 0x6c, 0x6f, 0x67]); // "\xff.log": a byte name the pattern must match

function build(src: string): void {
  const w = (rel: string, data = rel) => {
    fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    fs.writeFileSync(path.join(src, rel), data);
  };
  w('keep/a.txt');
  w('keep/b.log');
  w('keep/[x].txt'); // looks like a pattern, is a name
  w('cache/big.bin', 'x'.repeat(5000));
  w('cache/deep/c.txt');
  w('.snapshot/hourly.0/keep/a.txt');
  w('sub/.snapshot/old.txt');
  w('sub/d.txt');
  w('nobak/.nobackup', '');
  w('nobak/e.txt');
  fs.writeFileSync(Buffer.concat([Buffer.from(`${src}/`), FF_LOG]), 'ff');
}

const FILTERS = ['--exclude', '/cache/', '--exclude', '*.log', '--exclude-if-present', '.nobackup'];
const EXCLUDED = ['cache', 'keep/b.log', 'nobak', FF_LOG.toString('latin1')];
const SNAPSHOTS = ['.snapshot', 'sub/.snapshot'];

function differencePaths(r: { json?: Record<string, unknown> }): string[] {
  return ((r.json!.differences as Array<{ path: string; what: string }>).map((d) => d.path)).sort();
}

test('copy and compare: filters leave out a subtree, a pattern, a marked directory and .snapshot; --delete keeps what they exclude; other filters on a re-run are refused', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfs-copy-filters-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  const state = path.join(dir, 'state');
  fs.mkdirSync(src);
  fs.mkdirSync(dst);
  build(src);
  const srcPaths = paths(src);

  const c = clfs(['copy', src, dst, '--state-dir', state, '--verify', '--json', ...FILTERS]);
  assert.equal(c.code, 0, c.stdout + c.stderr);
  assert.equal((c.json!.verify as { ok: boolean }).ok, true);
  const leftOut = (p: string) => [...EXCLUDED, ...SNAPSHOTS].some((e) => p === e || p.startsWith(`${e}/`));
  const expected = srcPaths.filter((p) => !leftOut(p));
  assert.ok(expected.includes('keep/[x].txt') && expected.includes('sub/d.txt'));
  assert.deepEqual(paths(dst), expected);
  assert.equal(c.json!.excluded, EXCLUDED.length + SNAPSHOTS.length);
  assert.equal(fs.readFileSync(path.join(dst, 'keep/a.txt'), 'utf8'), 'keep/a.txt');

  const same = clfs(['compare', src, dst, '--json', ...FILTERS]);
  assert.equal(same.code, 0, same.stdout + same.stderr);
  assert.deepEqual(differencePaths(same), []);

  // without the filters: exactly what they left out is missing (and .snapshot too once it is kept)
  const plain = clfs(['compare', src, dst, '--json']);
  assert.equal(plain.code, 1, plain.stdout + plain.stderr);
  assert.deepEqual(differencePaths(plain), [...EXCLUDED].map((p) => (p === FF_LOG.toString('latin1') ? '\\xff.log' : p)).sort());
  for (const d of plain.json!.differences as Array<{ what: string }>) assert.equal(d.what, 'missing in the destination');
  const kept = clfs(['compare', src, dst, '--json', '--keep-snapshot-dirs', ...FILTERS]);
  assert.equal(kept.code, 1);
  assert.deepEqual(differencePaths(kept), [...SNAPSHOTS].sort());

  // --delete: excluded names that only DEST has are protected; others go
  fs.writeFileSync(path.join(dst, 'keep/old.log'), 'dest only, excluded');
  fs.mkdirSync(path.join(dst, 'sub/.snapshot'));
  fs.writeFileSync(path.join(dst, 'sub/.snapshot/y'), 'dest only, a snapshot');
  fs.mkdirSync(path.join(dst, 'cache'));
  fs.writeFileSync(path.join(dst, 'cache/z'), 'dest only, an excluded subtree');
  fs.writeFileSync(path.join(dst, 'keep/gone.txt'), 'dest only, not excluded');
  const del = clfs(['copy', src, dst, '--state-dir', state, '--delete', '--json', ...FILTERS]);
  assert.equal(del.code, 0, del.stdout + del.stderr);
  assert.equal(del.json!.deleted, 1);
  assert.equal(fs.existsSync(path.join(dst, 'keep/gone.txt')), false);
  for (const p of ['keep/old.log', 'sub/.snapshot/y', 'cache/z']) assert.equal(fs.existsSync(path.join(dst, p)), true, p);
  const after = clfs(['compare', src, dst, '--json', ...FILTERS]);
  assert.equal(after.code, 0, after.stdout);

  // the filters are part of the copy's state: a re-run with others is one line, exit 2
  const other = clfs(['copy', src, dst, '--state-dir', state, '--exclude', '/cache/']);
  assert.equal(other.code, 2, other.stdout + other.stderr);
  const lines = other.stderr.trim().split('\n');
  assert.equal(lines.length, 1, other.stderr);
  assert.match(lines[0]!, /same filter options.*--new/);
  assert.equal(fs.existsSync(path.join(dst, 'keep/b.log')), false);
  const fresh = clfs(['copy', src, dst, '--state-dir', state, '--new', '--exclude', '/cache/']);
  assert.equal(fresh.code, 0, fresh.stdout + fresh.stderr);
  assert.equal(fs.readFileSync(path.join(dst, 'keep/b.log'), 'utf8'), 'keep/b.log');
});

test('copy --shard with filters, then --finalize: the shards and finalize split the filtered tree; compare with the filters is clean', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfs-copy-filters-shard-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(src);
  fs.mkdirSync(dst);
  build(src);
  for (let k = 0; k < 2; k++) {
    const r = clfs(['copy', src, dst, '--shard', `${k}/2`, '--state-dir', path.join(dir, `state-${k}`), ...FILTERS]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  }
  const f = clfs(['copy', '--finalize', src, dst, '--shards', '2', '--json']);
  assert.equal(f.code, 0, f.stdout + f.stderr);
  for (const p of [...EXCLUDED, ...SNAPSHOTS]) assert.equal(fs.existsSync(Buffer.concat([Buffer.from(`${dst}/`), Buffer.from(p, 'latin1')])), false, p);
  const same = clfs(['compare', src, dst, '--json', ...FILTERS]);
  assert.equal(same.code, 0, same.stdout + same.stderr);
});
