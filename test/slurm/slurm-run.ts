/**
 * `npm run test:slurm` (outside `npm test`): a planned load on a real Slurm cluster of one node.
 * Starts the cluster (test/slurm/slurm-local.sh: installs Debian's slurm-wlm and munge if missing),
 * plans a tree into N shards, submits the shards as an `sbatch --array` job and the finalize as a
 * job that depends on it (`--dependency=afterok`), waits, and checks that the container decodes to
 * what a single-node load of the same tree decodes to and passes `verify --source`. Prints each
 * shard's time, the wall time from submission to the finalize's end, and a single load's time.
 * As root (Slurm's daemons). SLURM_TEST_SHARDS (default 4) and SLURM_TEST_FILES (default 8000).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FolderTarget } from '../../src/index.js';
import { containerManifest, manifestLines } from '../helpers/manifest.js';
import { buildSmallFilesTree, textBytes } from '../helpers/tree-builder.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const recipe = path.join(repo, 'test/slurm/slurm-local.sh');
const BIN = path.join(repo, 'dist/bin/clfsload.js');
const shards = Number(process.env.SLURM_TEST_SHARDS ?? 4);
const files = Number(process.env.SLURM_TEST_FILES ?? 8000);

if (process.getuid?.() !== 0) {
  process.stderr.write('test:slurm runs as root (it starts slurmctld, slurmd and munged): sudo npm run test:slurm\n');
  process.exit(1);
}

function clfsload(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lastJson(text: string): Record<string, unknown> {
  return JSON.parse(text.trim().split('\n').pop()!) as Record<string, unknown>;
}

execFileSync('bash', [recipe], { stdio: 'inherit' });
const work = fs.mkdtempSync('/tmp/clfsload-slurm-');
let failed = false;
try {
  const src = path.join(work, 'src');
  buildSmallFilesTree(src, files, 64);
  fs.writeFileSync(path.join(src, 'd000/big.bin'), textBytes(20 * 1024 * 1024, 3));
  // hard links between subtrees that land in different shards
  fs.linkSync(path.join(src, 'd000/s0000/f0.dat'), path.join(src, 'd006/s0063/link-to-f0.dat'));
  fs.linkSync(path.join(src, 'd000/s0000/f0.dat'), path.join(src, 'd003/link-to-f0.dat'));

  const single = path.join(work, 'single');
  fs.mkdirSync(single);
  const t0 = Date.now();
  const s = clfsload(['load', src, `file://${single}`, '--new', '--preserve-hardlinks', '--state', path.join(work, 'single-state'), '--json']);
  const singleSeconds = (Date.now() - t0) / 1000;
  assert.equal(s.code, 0, s.stderr);
  const expected = manifestLines(await containerManifest(new FolderTarget(single)));

  const out = path.join(work, 'out');
  fs.mkdirSync(out);
  const plan = path.join(work, 'plan.json');
  const p = clfsload(['plan', src, `file://${out}`, '--shards', String(shards), '--plan', plan, '--preserve-hardlinks']);
  assert.equal(p.code, 0, p.stderr);
  process.stdout.write(p.stdout);

  // the job scripts of docs/guide.md, with this build's node and clfsload
  const shardScript = path.join(work, 'shard.sbatch');
  fs.writeFileSync(shardScript, `#!/bin/bash
#SBATCH --job-name=clfsload-shard
#SBATCH --output=${work}/shard-%a.out
#SBATCH --cpus-per-task=1
set -euo pipefail
exec ${process.execPath} ${BIN} load --plan ${plan} --json
`);
  const finalizeScript = path.join(work, 'finalize.sbatch');
  fs.writeFileSync(finalizeScript, `#!/bin/bash
#SBATCH --job-name=clfsload-finalize
#SBATCH --output=${work}/finalize.out
set -euo pipefail
exec ${process.execPath} ${BIN} finalize --plan ${plan} --json
`);
  const submitted = Date.now();
  const arrayJob = execFileSync('sbatch', ['--parsable', `--array=0-${shards - 1}`, shardScript], { encoding: 'utf8' }).trim().split(';')[0]!;
  const finalizeJob = execFileSync('sbatch', ['--parsable', `--dependency=afterok:${arrayJob}`, '--kill-on-invalid-dep=yes', finalizeScript], { encoding: 'utf8' }).trim().split(';')[0]!;
  process.stdout.write(`submitted array job ${arrayJob} (${shards} tasks) and finalize job ${finalizeJob} (afterok:${arrayJob})\n`);
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    const q = execFileSync('squeue', ['-h', '-j', `${arrayJob},${finalizeJob}`, '-o', '%i %T'], { encoding: 'utf8' }).trim();
    if (q === '') break;
    assert.ok(Date.now() < deadline, `jobs still queued after 15 minutes:\n${q}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const wall = (Date.now() - submitted) / 1000;
  const shardSeconds: number[] = [];
  for (let k = 0; k < shards; k++) {
    const text = fs.readFileSync(path.join(work, `shard-${k}.out`), 'utf8');
    const j = lastJson(text) as { status: string; seconds: number; entries: number };
    assert.equal(j.status, 'complete', `shard ${k}: ${text}`);
    shardSeconds.push(j.seconds);
    process.stdout.write(`shard ${k}: ${j.entries} entries in ${j.seconds.toFixed(1)} s\n`);
  }
  const fin = lastJson(fs.readFileSync(path.join(work, 'finalize.out'), 'utf8')) as { status: string; seconds: number };
  assert.equal(fin.status, 'complete');
  const m = await containerManifest(new FolderTarget(out));
  assert.deepEqual(m.broken, []);
  assert.deepEqual(manifestLines(m), expected, 'the sharded container differs from a single-node load');
  const v = clfsload(['verify', `file://${out}`, '--source', src]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  process.stdout.write(
    `finalize: ${fin.seconds.toFixed(1)} s\n` +
      `${shards} shards on Slurm: wall ${wall.toFixed(1)} s from submission to the finalize's end (slowest shard ${Math.max(...shardSeconds).toFixed(1)} s); ` +
      `one load of the same tree: ${singleSeconds.toFixed(1)} s\n` +
      'test:slurm: OK (container equals a single-node load, verify --source passed)\n',
  );
} catch (err) {
  failed = true;
  process.stderr.write(`test:slurm FAILED: ${(err as Error).stack ?? String(err)}\nkept ${work}\n`);
} finally {
  execFileSync('bash', [recipe, 'stop'], { stdio: 'inherit' });
  if (!failed) fs.rmSync(work, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
