/**
 * Sharded loads end to end through the CLI (issue 14): `plan`, N shards as N processes (in any
 * order, at once), `finalize`; the container must decode to what a single-node load of the same
 * tree decodes to, pass `verify --source`, and hold nothing but CLFS objects and logs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FolderTarget, openTarget, parseTargetUrl, readPlan, readShardReport, startAzurite } from '../../src/index.js';
import type { Target } from '../../src/index.js';
import { packUnits } from '../../src/load/plan.js';
import { containerManifest, manifestLines, sourceManifest } from '../helpers/manifest.js';
import { textBytes } from '../helpers/tree-builder.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
type Azurite = Awaited<ReturnType<typeof startAzurite>>;
let work: string;
let src: string;
/** the manifest of a single-node load of `src` (hard links preserved) */
let singleLines: string[];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> & { child: ReturnType<typeof spawn> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, XDG_STATE_HOME: path.join(work, 'xdg'), CLFSLOAD_ENCODE_WORKERS: '1', SLURM_ARRAY_TASK_ID: '', JOB_COMPLETION_INDEX: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const p = new Promise<Run>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))) as Promise<Run> & { child: typeof child };
  p.child = child;
  return p;
}

function lastJson(r: Run): Record<string, unknown> {
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

/**
 * A tree with enough top-level subtrees to cut, uneven sizes, a file of two segments, a directory
 * with segments of dirents, symlinks, a fifo, an empty directory, and hard links whose names fall
 * in many subtrees (so in several shards) as well as within one directory and at the top.
 */
function buildTree(root: string): void {
  const w = (rel: string, data: string | Buffer) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), data);
  };
  w('top.txt', 'top\n');
  w('alpha/big.bin', textBytes(9 * 1024 * 1024 + 123, 7));
  for (let i = 0; i < 30; i++) w(`alpha/a${i}.txt`, `alpha ${i}\n`.repeat(i + 1));
  w('alpha/deep/x/y/z/leaf.txt', 'leaf\n');
  for (let i = 0; i < 700; i++) w(`beta/${'n'.repeat(40)}-${String(i).padStart(4, '0')}`, `b${i}`);
  for (let t = 0; t < 12; t++) {
    for (let i = 0; i < 3 + t; i++) w(`t${String(t).padStart(2, '0')}/sub/f${i}`, `t${t} f${i}\n`);
    w(`t${String(t).padStart(2, '0')}/sub2/g`, `t${t} g\n`);
  }
  fs.mkdirSync(path.join(root, 'delta/empty'), { recursive: true });
  fs.symlinkSync('../top.txt', path.join(root, 'delta/to-top'));
  fs.symlinkSync('alpha', path.join(root, 'top-sym'));
  fs.mkdirSync(path.join(root, 'delta/sub'), { recursive: true });
  // one inode named in every tNN subtree, and one named at the top and inside alpha
  w('t00/shared.txt', 'shared by many subtrees\n');
  for (let t = 1; t < 12; t++) fs.linkSync(path.join(root, 't00/shared.txt'), path.join(root, `t${String(t).padStart(2, '0')}/sub/shared-link`));
  fs.linkSync(path.join(root, 'alpha/a3.txt'), path.join(root, 'top-link.txt'));
  fs.linkSync(path.join(root, 'alpha/a4.txt'), path.join(root, 'alpha/a4-again.txt'));
  for (let t = 0; t < 12; t++) fs.linkSync(path.join(root, 'alpha/big.bin'), path.join(root, `t${String(t).padStart(2, '0')}/big-link.bin`));
  w('t07/big2.bin', textBytes(8 * 1024 * 1024 + 16 * 1024 + 5000, 11));
  fs.linkSync(path.join(root, 't07/big2.bin'), path.join(root, 't08/big2-link.bin'));
}

function folder(name: string): { dir: string; url: string } {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  return { dir, url: `file://${dir}` };
}

async function assertSameAsSingle(target: Target, what: string): Promise<void> {
  const m = await containerManifest(target);
  assert.deepEqual(m.broken, [], `${what}: broken entries`);
  assert.deepEqual(manifestLines(m), singleLines, `${what}: the sharded container differs from a single-node load`);
}

/** Nothing in the container but CLFS objects (hex-named) and uploaded logs (.txt): no shard report, no plan. */
async function assertOnlyClfsAndLogs(target: Target, what: string): Promise<string[]> {
  const logs: string[] = [];
  for await (const b of target.list('')) {
    if (/^[0-9A-F]{8}(_|[0-9A-F]{8}_)/.test(b.name)) continue;
    assert.match(b.name, /\.txt$/, `${what}: ${b.name} is neither a CLFS object nor a log`);
    logs.push(b.name);
  }
  return logs;
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-shard-'));
  src = path.join(work, 'src');
  buildTree(src);
  const single = folder('single');
  const r = await cli(['load', src, single.url, '--new', '--preserve-hardlinks', '--state', path.join(work, 'single-state'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  singleLines = manifestLines(await containerManifest(new FolderTarget(single.dir)));
  // the single load itself matches its source, so comparing with it compares with the source
  assert.deepEqual(singleLines, manifestLines(sourceManifest(src, { preserveHardlinks: true })));
});

after(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

test('longest-processing-time packing: heaviest first, each to the lightest shard', () => {
  assert.deepEqual(packUnits([5, 4, 3, 3, 1], 2), [0, 1, 1, 0, 1]);
  assert.deepEqual(packUnits([1, 1, 1], 5), [0, 1, 2]);
});

test('3 shards into a folder, run at once in reverse order: the container equals a single-node load, hard links across shards merged, verify --source passes', async () => {
  const out = folder('out3');
  const plan = path.join(work, 'p3.json');
  const p = await cli(['plan', src, out.url, '--shards', '3', '--plan', plan, '--preserve-hardlinks', '--json']);
  assert.equal(p.code, 0, p.stderr);
  const ps = lastJson(p) as { shards: number; units: number; balance: number; perShard: unknown[] };
  assert.equal(ps.shards, 3);
  assert.ok(ps.units >= 24, `a cut with at least 8 units per shard (got ${ps.units})`);
  assert.ok(ps.balance >= 1 && ps.balance < 1.5, `balance ${ps.balance}`);
  // only the bucket object so far
  assert.deepEqual(fs.readdirSync(out.dir).filter((f) => !f.startsWith('.')).length, 1);
  const runs = [2, 1, 0].map((k) => cli(['load', '--plan', plan, '--shard', String(k), '--json']));
  for (const r of await Promise.all(runs)) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastJson(r).status, 'complete');
  }
  // the inode named in every tNN subtree has names in more than one shard
  const reports = [0, 1, 2].map((k) => readShardReport(plan, k)!);
  const shardsOf = new Map<string, Set<number>>();
  for (const r of reports) for (const l of r.links) (shardsOf.get(l.fh) ?? shardsOf.set(l.fh, new Set()).get(l.fh)!).add(r.shard);
  assert.ok([...shardsOf.values()].some((s) => s.size >= 2), 'a hard-linked inode with names in two shards');
  const f = await cli(['finalize', '--plan', plan, '--json']);
  assert.equal(f.code, 0, f.stderr);
  const fs1 = lastJson(f) as { status: string; linkedInodes: number };
  assert.equal(fs1.status, 'complete');
  assert.equal(fs1.linkedInodes, 5);
  const target = new FolderTarget(out.dir);
  await assertSameAsSingle(target, '3 shards');
  const logs = await assertOnlyClfsAndLogs(target, '3 shards');
  for (const k of [0, 1, 2]) assert.ok(logs.includes(`shard-000${k}-output.txt`), `shard ${k}'s log uploaded (${logs.join(', ')})`);
  const v = await cli(['verify', out.url, '--source', src, '--json']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.equal((JSON.parse(v.stdout) as { ok: boolean }).ok, true);
  // finalize and a shard run again: nothing to do
  const again = await cli(['finalize', '--plan', plan, '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(lastJson(again).status, 'already-complete');
  const shardAgain = await cli(['load', '--plan', plan, '--shard', '1', '--json']);
  assert.equal(shardAgain.code, 0, shardAgain.stderr);
  assert.equal(lastJson(shardAgain).status, 'already-complete');
});

test('4 shards into Azurite with a SAS: the plan stores no secret, the shard index comes from --shard, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX; equals a single-node load', async () => {
  const azurite: Azurite = await startAzurite();
  try {
    const c = await azurite.makeContainer();
    const plan = path.join(work, 'p4.json');
    const p = await cli(['plan', src, c.url, '--shards', '4', '--plan', plan, '--preserve-hardlinks']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /balance: max\/mean \d/);
    assert.ok(!fs.readFileSync(plan, 'utf8').includes(c.sasToken.split('sig=')[1]!.split('&')[0]!), 'the plan holds no SAS signature');
    assert.equal(readPlan(plan).targetUrl, undefined);
    // without TARGET the shard cannot reach the container: one line, exit 2
    const noTarget = await cli(['load', '--plan', plan, '--shard', '0']);
    assert.equal(noTarget.code, 2);
    assert.equal(noTarget.stderr.trim().split('\n').length, 1, noTarget.stderr);
    assert.match(noTarget.stderr, /give TARGET/);
    const runs = [
      cli(['load', '--plan', plan, c.url, '--json'], { SLURM_ARRAY_TASK_ID: '3' }),
      cli(['load', '--plan', plan, c.url, '--json'], { JOB_COMPLETION_INDEX: '2' }),
      cli(['load', '--plan', plan, '--shard', '1', c.url, '--json']),
      cli(['load', '--plan', plan, '--shard', '0', c.url, '--json']),
    ];
    for (const r of await Promise.all(runs)) assert.equal(r.code, 0, r.stderr);
    for (const k of [0, 1, 2, 3]) assert.equal(readShardReport(plan, k)?.status, 'complete', `shard ${k} reported`);
    const f = await cli(['finalize', '--plan', plan, c.url]);
    assert.equal(f.code, 0, f.stderr);
    const target = openTarget(parseTargetUrl(c.url));
    await assertSameAsSingle(target, 'Azurite');
    await assertOnlyClfsAndLogs(target, 'Azurite');
    const v = await cli(['verify', c.url, '--source', src]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  } finally {
    await azurite.stop();
  }
});

test('a shard killed with -9 is refused by finalize (as are shards not run), re-runs alone, and the container is still exact', async () => {
  const out = folder('outkill');
  const plan = path.join(work, 'pk.json');
  const p = await cli(['plan', src, out.url, '--shards', '2', '--plan', plan, '--preserve-hardlinks']);
  assert.equal(p.code, 0, p.stderr);
  // shard 0 slowed (every file open waits), killed once it has stored some of its blobs
  const slow = JSON.stringify({ seed: 1, rules: [{ op: 'open', delayMs: 30 }, { op: 'lstat', delayMs: 2 }] });
  const run = cli(['load', '--plan', plan, '--shard', '0'], { CLFSLOAD_SOURCE_FAULTS: slow });
  const t0 = Date.now();
  while (fs.readdirSync(out.dir).length < 40) {
    assert.ok(Date.now() - t0 < 60_000, 'shard 0 stored nothing in 60 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  run.child.kill('SIGKILL');
  const killed = await run;
  assert.equal(killed.signal, 'SIGKILL', `shard 0 finished before it was killed: ${killed.stdout}`);
  const refused = await cli(['finalize', '--plan', plan]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.match(refused.stderr, /finalize refused: shard 1 not run; shard 0 not finished/);
  // nothing of the finalize reached the container: no root, final or tmp
  assert.ok(!fs.readdirSync(out.dir).some((f) => f.includes('_00000000000000000000000000000064.')), 'no root written');
  const again = await cli(['load', '--plan', plan, '--shard', '0', '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(lastJson(again).status, 'complete');
  const one = await cli(['load', '--plan', plan, '--shard', '1']);
  assert.equal(one.code, 0, one.stderr);
  const f = await cli(['finalize', '--plan', plan]);
  assert.equal(f.code, 0, f.stderr);
  await assertSameAsSingle(new FolderTarget(out.dir), 'after kill -9');
  // verify's listing pass fails on any blob the walk does not reach: the killed attempt left none
  const v = await cli(['verify', out.url, '--source', src]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('a shard that finishes with failed entries: finalize exits 1 naming them; the shard re-run alone retries them and a second finalize makes the container exact', async () => {
  const out = folder('outerr');
  const plan = path.join(work, 'pe.json');
  assert.equal((await cli(['plan', src, out.url, '--shards', '3', '--plan', plan, '--preserve-hardlinks'])).code, 0);
  // one file at the top of a unit (alpha is above the cut) and one deep in a subtree cannot be read
  // and the hard-linked big file (alpha/big.bin, tNN/big-link.bin) fails part way through in one
  // shard that does not hold alpha/big.bin, while the others store it: the segments they all
  // wrote under the same names must stay
  const planned = readPlan(plan);
  const shardOfFile = (dirSuffix: string, name: string) => {
    const d = planned.dirs.findIndex((x) => Buffer.from(x.path, 'hex').toString().endsWith(dirSuffix));
    const c = planned.dirs[d]!.children.findIndex((x) => Buffer.from(x.name, 'hex').toString() === name);
    return planned.units[planned.dirs[d]!.children[c]!.unit!]!.shard;
  };
  const links = Array.from({ length: 12 }, (_, t) => `t${String(t).padStart(2, '0')}`).map((t) => ({ rel: `${t}/big-link.bin`, shard: shardOfFile(`/${t}`, 'big-link.bin') }));
  const failing = links.find((l) => l.shard !== shardOfFile('/alpha', 'big.bin'));
  assert.ok(failing !== undefined, 'a name of the big file in another shard than alpha/big.bin');
  const failingNames = links.filter((l) => l.shard === failing.shard).map((l) => l.rel);
  const faults = JSON.stringify({
    seed: 1,
    rules: [
      { op: 'open', path: 'alpha/a7.txt', code: 'EACCES' },
      { op: 'open', path: 't03/sub/f1', code: 'EIO' },
      { op: 'read', pathRegex: `/(${failingNames.join('|')})$`, afterBytes: 8 * 1024 * 1024 + 4096, code: 'EIO' },
      // and another fails in every shard that meets it, after its first segment was stored
      { op: 'read', pathRegex: '/t0[78]/big2', afterBytes: 8 * 1024 * 1024 + 16 * 1024 + 1000, code: 'EIO' },
    ],
  });
  const runs = await Promise.all([0, 1, 2].map((k) => cli(['load', '--plan', plan, '--shard', String(k), '--json'], { CLFSLOAD_SOURCE_FAULTS: faults })));
  const failed = runs.map((r, k) => [r, k] as const).filter(([r]) => r.code !== 0);
  assert.ok(failed.length >= 1, 'a shard failed');
  for (const [r] of failed) {
    assert.equal(r.code, 1, r.stderr);
    assert.equal(lastJson(r).status, 'complete-with-errors');
  }
  const f = await cli(['finalize', '--plan', plan, '--json']);
  assert.equal(f.code, 1, f.stderr);
  const fsum = lastJson(f) as { status: string; errors: number; problems: Array<{ path: string }> };
  assert.equal(fsum.status, 'complete-with-errors');
  const failedPaths = fsum.problems.map((p) => path.relative(src, p.path)).sort();
  // the shard's first name of the big file fails, and every other name it holds with it
  assert.deepEqual(failedPaths.filter((p) => !p.includes('big2')), ['alpha/a7.txt', 't03/sub/f1', ...failingNames].sort());
  assert.ok(failedPaths.includes('t07/big2.bin') || failedPaths.includes('t08/big2-link.bin'), failedPaths.join(', '));
  assert.equal(fsum.errors, failedPaths.length);
  // the container is whole without them: everything else as in a single load (the big file has one name less)
  const partial = await containerManifest(new FolderTarget(out.dir));
  assert.deepEqual(partial.broken, []);
  // what failed, and the other names of the big file (their nlink is lower)
  const withoutFailed = (lines: string[]) => lines.filter((l) => !/^(alpha\/a7\.txt|t03\/sub\/f1|t\d\d\/big-link\.bin|alpha\/big\.bin|t07\/big2\.bin|t08\/big2-link\.bin) /.test(l));
  assert.deepEqual(withoutFailed(manifestLines(partial)), withoutFailed(singleLines));
  assert.match(manifestLines(partial).find((l) => l.startsWith('alpha/big.bin '))!, new RegExp(` nlink=${13 - failingNames.length} `));
  // no blob the walk does not reach: the failed inode's segments are gone (verify's listing pass)
  const structure = await cli(['verify', out.url, '--read-data']);
  assert.equal(structure.code, 0, structure.stdout + structure.stderr);
  for (const [, k] of failed) {
    const again = await cli(['load', '--plan', plan, '--shard', String(k), '--json']);
    assert.equal(again.code, 0, again.stderr);
  }
  const f2 = await cli(['finalize', '--plan', plan, '--json']);
  assert.equal(f2.code, 0, f2.stderr);
  assert.equal(lastJson(f2).status, 'complete');
  await assertSameAsSingle(new FolderTarget(out.dir), 'after the retry');
  const v = await cli(['verify', out.url, '--source', src]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  // a shard whose state is gone may not start anew once the load is finalized
  fs.rmSync(path.join(`${plan}.d`, 'shard-0000', 'state'), { recursive: true });
  const late = await cli(['load', '--plan', plan, '--shard', '0']);
  // the command as typed can never work: exit 2 (docs/guide.md, exit codes)
  assert.equal(late.code, 2, late.stderr);
  assert.match(late.stderr, /the plan's load was finalized/);
});

test('usage errors name the option and the fix, in one line', async () => {
  const out = folder('outusage');
  const plan = path.join(work, 'pu.json');
  assert.equal((await cli(['plan', src, out.url, '--shards', '2', '--plan', plan])).code, 0);
  const cases: Array<[string[], RegExp]> = [
    [['load', '--plan', plan], /needs --shard K \(or SLURM_ARRAY_TASK_ID/],
    [['load', '--plan', plan, '--shard', '5'], /--shard 5: the plan has shards 0 to 1/],
    [['load', '--plan', plan, '--shard', '0', '--compression', 'disabled'], /--compression is fixed by the plan/],
    [['load', '--shard', '0', src, out.url], /--shard needs --plan/],
    [['load', src], /load needs SOURCE and TARGET/],
    [['plan', src, out.url, '--plan', path.join(work, 'px.json')], /plan needs --shards N/],
    [['finalize'], /finalize needs --plan PLAN/],
    [['plan', src, `file://${src}/alpha`, '--shards', '2', '--plan', path.join(work, 'py.json')], /overlaps the source/],
    [['load', '--plan', plan, '--shard', '0', '--dry-run'], /--dry-run does not apply/],
    [['plan', src, out.url, '--shards', '2', '--plan', plan], /already exists/],
    [['load', '--plan', path.join(work, 'nope.json'), '--shard', '0'], /cannot read it \(ENOENT\)/],
    [['load', '--plan', plan, '--shard', '0', `file://${work}/other`], /is not the container of --plan/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
  const notEmpty = await cli(['plan', src, out.url, '--shards', '2', '--plan', path.join(work, 'pu2.json')]);
  assert.equal(notEmpty.code, 2, 'a container that is not empty: exit 2, as for load --new');
  assert.match(notEmpty.stderr, /is not empty/);
});
