/**
 * The load benchmark suite (`npm run bench`): small, flush, large, latency, http, http20, limits, verify, hugedir, shard, scaling, scale, update. Each case runs the
 * loader as a child process (whole-process wall time and peak RSS), `cp -r` of the same tree to the
 * same disk as the floor, the median of --runs runs, and `verify` on every container it loads.
 * Writes the tables into docs/benchmarks.md under "## Load". See bench/README.md.
 *
 *   node dist/bench/run.js [--quick] [--runs N] [--only a,b] [--skip a,b] [--scale N] [--hugedir N]
 *                          [--concurrency N] [--latency-concurrency N] [--update-files N] [--shards N] [--no-docs]
 *                          [--http-delay-ms N] [--sweep N,N,...]
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { availableParallelism, cpus, totalmem } from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FolderTarget, openTarget, startAzurite, verify } from '../src/index.js';
import type { Target } from '../src/index.js';
import { measureChild, measureMethod } from './measure-child.js';
import type { Measured, ThreadCpu } from './measure-child.js';
import { startMiniBlobServer } from './mini-blob-server.js';
import { copyBench } from './copy-bench.js';
import { randomBytesSeeded, seeded, textBytes } from '../test/helpers/tree-builder.js';

const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const REPO = path.resolve(HERE, '..', '..');
const CLI = path.join(REPO, 'dist', 'bin', 'clfsload.js');
const LATENCY_CHILD = path.join(HERE, 'latency-child.js');
const UPDATE_CHILD = path.join(HERE, 'update-child.js');
// BENCH_CACHE puts the trees and the outputs elsewhere (e.g. a freshly made file system)
const CACHE = process.env.BENCH_CACHE ?? path.join(REPO, '.bench-cache');
const WORK = path.join(CACHE, 'work');
const DOCS = path.join(REPO, 'docs', 'benchmarks.md');
const MIB = 1048576;
const CASES = ['small', 'flush', 'large', 'latency', 'http', 'http20', 'limits', 'verify', 'hugedir', 'shard', 'copy', 'scaling', 'scale', 'update'] as const;
type CaseName = (typeof CASES)[number];

// ---------------------------------------------------------------- options

interface Options {
  quick: boolean;
  runs: number;
  cases: CaseName[];
  scaleFiles: number;
  hugedirFiles: number;
  /** --runs was given (hugedir runs once unless it was) */
  runsGiven: boolean;
  concurrency?: number;
  latencyConcurrency: number;
  latencyMs: number;
  /** shards of the shard case (default 4) */
  shards: number;
  writeDocs: boolean;
  /** files of the update case's tree (--update-files N) */
  updateFiles: number;
  /** the http20 case's delay per request (--http-delay-ms, default 20) */
  httpDelayMs: number;
  /** the http20 case: the loader at each of these --concurrency values as well (--sweep) */
  sweep: number[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, runs: 3, cases: [...CASES], scaleFiles: 1_000_000, hugedirFiles: 2_000_000, runsGiven: false, latencyConcurrency: 256, latencyMs: 20, shards: 4, writeDocs: true, updateFiles: 200_000, httpDelayMs: 20, sweep: [] };
  let runsGiven = false;
  let scaleGiven = false;
  let hugedirGiven = false;
  const list = (v: string | undefined): CaseName[] => {
    const names = (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    for (const n of names) if (!(CASES as readonly string[]).includes(n)) throw new Error(`unknown case ${n} (cases: ${CASES.join(', ')})`);
    return names as CaseName[];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = (v: string) => {
      const n = Number(v.replace(/_/g, ''));
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a}: expected a positive integer, got ${v}`);
      return n;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--runs') ((o.runs = int(next())), (runsGiven = true));
    else if (a === '--only') o.cases = list(next());
    else if (a === '--update-files') o.updateFiles = Number(next());
    else if (a === '--skip') {
      const skip = list(next());
      o.cases = o.cases.filter((c) => !skip.includes(c));
    } else if (a === '--scale') ((o.scaleFiles = int(next())), (scaleGiven = true));
    else if (a === '--hugedir') ((o.hugedirFiles = int(next())), (hugedirGiven = true));
    else if (a === '--concurrency') o.concurrency = int(next());
    else if (a === '--latency-concurrency') o.latencyConcurrency = int(next());
    else if (a === '--latency-ms') o.latencyMs = int(next());
    else if (a === '--shards') o.shards = int(next());
    else if (a === '--http-delay-ms') o.httpDelayMs = int(next());
    else if (a === '--sweep') o.sweep = next().split(',').map(int);
    else if (a === '--no-docs') o.writeDocs = false;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]! + '*/\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (o.quick) {
    if (!runsGiven) o.runs = 1;
    if (!scaleGiven) o.scaleFiles = 20_000;
    if (!hugedirGiven) o.hugedirFiles = 20_000;
  }
  o.runsGiven = runsGiven;
  // scale runs last whatever the order given
  o.cases = CASES.filter((c) => o.cases.includes(c));
  return o;
}

// ---------------------------------------------------------------- trees (generated once into .bench-cache)

interface Tree {
  root: string;
  files: number;
  bytes: number;
}

function cached(name: string, build: (root: string) => void): Tree {
  const dir = path.join(CACHE, name);
  const root = path.join(dir, 'tree');
  const marker = path.join(dir, 'done.json');
  if (fs.existsSync(marker)) return JSON.parse(fs.readFileSync(marker, 'utf8')) as Tree;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const t0 = Date.now();
  process.stderr.write(`generating ${name} into ${dir} ...\n`);
  build(root);
  const { files, bytes } = countTree(root);
  const tree: Tree = { root, files, bytes };
  fs.writeFileSync(marker, JSON.stringify(tree));
  process.stderr.write(`  ${files} files, ${(bytes / MIB).toFixed(1)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  return tree;
}

function countTree(root: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files++;
        bytes += fs.statSync(p).size;
      }
    }
  };
  walk(root);
  return { files, bytes };
}

function dirOf(root: string, d: number): string {
  return path.join(root, `d${String(Math.floor(d / 10)).padStart(3, '0')}`, `s${String(d).padStart(4, '0')}`);
}

/** Like test/helpers buildSmallFilesTree (1–8 KiB, even files text, odd files random), with one fd per file and a cheaper text generator. */
function buildSmall(root: string, files: number, dirs: number): void {
  const rand = seeded(1);
  const text = textBytes(64 * 1024, 7);
  for (let d = 0; d < dirs; d++) fs.mkdirSync(dirOf(root, d), { recursive: true });
  for (let i = 0; i < files; i++) {
    const size = 1024 + Math.floor(rand() * 7 * 1024);
    let data: Buffer;
    if (i % 2 === 0) {
      const off = Math.floor(rand() * (text.length - size));
      data = text.subarray(off, off + size);
    } else data = randomBytesSeeded(rand, size);
    fs.writeFileSync(path.join(dirOf(root, i % dirs), `f${i}.dat`), data);
  }
}

/** Deterministic incompressible bytes at memory speed: AES-256-CTR of zeros with a fixed key. */
function randomStream(seed: number): (n: number) => Buffer {
  const key = Buffer.alloc(32, seed);
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16, 0));
  return (n) => cipher.update(Buffer.alloc(n));
}

function buildLarge(root: string, fileBytes: number): void {
  const chunk = 4 * MIB;
  for (let f = 0; f < 4; f++) {
    const isText = f < 2;
    const p = path.join(root, isText ? `text-${f}.log` : `random-${f}.bin`);
    const fd = fs.openSync(p, 'w');
    try {
      const rnd = randomStream(f + 1);
      for (let done = 0, k = 0; done < fileBytes; k++) {
        const n = Math.min(chunk, fileBytes - done);
        // text-like: numbered lines, a different run of numbers in every chunk (compresses about 10:1)
        const data = isText ? textBytes(n, f * 10_000_000 + k * 60_000) : rnd(n);
        fs.writeSync(fd, data);
        done += n;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** One directory holding every file (empty): the directory's entry stream is files x ~20 bytes. */
function buildHugedir(root: string, files: number): void {
  const dir = path.join(root, 'huge');
  fs.mkdirSync(dir);
  for (let i = 0; i < files; i++) {
    fs.closeSync(fs.openSync(path.join(dir, `f${i}`), 'w'));
    if (i % 200_000 === 199_999) process.stderr.write(`  ${i + 1} files\n`);
  }
}

function buildScale(root: string, files: number): void {
  const dirs = Math.max(1, Math.min(1000, Math.ceil(files / 1000)));
  for (let d = 0; d < dirs; d++) fs.mkdirSync(dirOf(root, d), { recursive: true });
  const empty = Buffer.alloc(0);
  for (let i = 0; i < files; i++) {
    fs.closeSync(fs.openSync(path.join(dirOf(root, i % dirs), `f${i}`), 'w'));
    if (i % 100_000 === 99_999) process.stderr.write(`  ${i + 1} files\n`);
  }
  void empty;
}

// ---------------------------------------------------------------- measurement

interface Row {
  label: string;
  files: number;
  bytes: number;
  wall: number;
  rss: number;
  requestsPerFile?: number;
  cpuUsPerRequest?: number;
  floorWall?: number;
  /** wall + the `sync` right after it: until the written data is on the disk */
  diskWall?: number;
  floorDiskWall?: number;
  note?: string;
}

interface CaseResult {
  name: string;
  runs: number;
  title: string;
  rows: Row[];
  notes: string[];
  /** more markdown after the notes (the scaling case's per-thread table) */
  extra?: string;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

let freshCount = 0;

/**
 * A new, unique folder under the work folder. Nothing is deleted while the suite measures: ext4
 * allocates new inodes several times slower for minutes after mass deletions (it skips inodes
 * deleted recently: `recently_deleted` in `__ext4_new_inode`, up to 300 s, was 38% of all CPU in
 * a profile), which would charge one run for an earlier run's cleanup. The outputs are removed
 * when the next `npm run bench` starts.
 */
function fresh(name: string): string {
  return path.join(WORK, `${name}-${++freshCount}`);
}

/** At the start: remove the previous suite's outputs, then wait out ext4's recently-deleted window. */
async function dropWork(): Promise<void> {
  const had = fs.existsSync(WORK) && fs.readdirSync(WORK).length > 0;
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });
  if (had) {
    settle();
    process.stderr.write(`removed the previous outputs; waiting ${DELETE_SETTLE_MS / 1000} s for ext4 to settle\n`);
    await new Promise((r) => setTimeout(r, DELETE_SETTLE_MS));
  }
}

const DELETE_SETTLE_MS = Number(process.env.BENCH_DELETE_SETTLE_MS ?? 300_000);

function ensureOk(m: Measured, what: string): void {
  if (m.exitCode !== 0) {
    throw new Error(`${what} exited with ${m.exitCode}\nstdout: ${m.stdout.slice(-2000)}\nstderr: ${m.stderr.slice(-4000)}`);
  }
}

/**
 * Flush dirty pages left by the previous step, so one measurement does not pay for the last one's
 * write-back; returns how long the flush took (after a measured child: the rest of its writing).
 */
function settle(): number {
  const t0 = process.hrtime.bigint();
  try {
    execFileSync('sync');
  } catch {
    // no sync(1)
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/**
 * Before a measurement, the same machine state every time: dirty pages flushed, the page cache
 * emptied (where /proc/sys/vm/drop_caches may be written), the source tree read back in, then a
 * second of quiet. Without this the floor swung tenfold with what earlier runs left cached: cp -r
 * of the large tree took 0.25 s with free memory and 2.5 s once the cache filled the memory
 * (every new page then costs a reclaim). With free memory cp -r is a page-cache copy, the hardest
 * floor to come near; right after a flush the journal is still busy (0.3-1.5 s at random).
 */
async function quiet(tree: Tree): Promise<void> {
  settle();
  cachesDropped = dropCaches();
  warm(tree.root);
  if (cachesDropped) warmPrograms();
  await new Promise((r) => setTimeout(r, QUIET_MS));
}

/**
 * After the cache was dropped: start both programs once so neither is charged for reading its own
 * code from disk (node, better-sqlite3 and the loader's modules: 0.15 s more start-up otherwise).
 */
function warmPrograms(): void {
  execFileSync('cp', ['--version'], { stdio: 'ignore' });
  if (hasLz4Cli()) execFileSync('lz4', ['--version'], { stdio: 'ignore' });
  const dir = fresh('warm');
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'out'));
  fs.writeFileSync(path.join(dir, 'src', 'file'), 'warm');
  execFileSync(process.execPath, cliArgs(path.join(dir, 'src'), `file://${path.join(dir, 'out')}`, path.join(dir, 'state'), undefined), { stdio: 'ignore' });
}

let cachesDropped = false;

function dropCaches(): boolean {
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
    return true;
  } catch {
    return false;
  }
}

/** Read every file of the tree once, so the measured runs read it from memory. */
function warm(root: string): void {
  execFileSync('sh', ['-c', 'find "$1" -type f -print0 | xargs -0 -r cat > /dev/null', 'warm', root]);
}

const QUIET_MS = Number(process.env.BENCH_QUIET_MS ?? 1000);

async function cpFloor(tree: Tree): Promise<Measured & { diskSeconds: number }> {
  const dest = fresh('cp-out');
  await quiet(tree);
  const m = await measureChild('cp', ['-r', tree.root, dest]);
  ensureOk(m, 'cp -r');
  return { ...m, diskSeconds: m.wallSeconds + settle() };
}

/**
 * The `lz4` command line tool compressing every file of the tree into the same disk, as many at
 * once as there are cores, in the frame layout the reference writes (level 1, 256 KiB linked
 * blocks): compression alone, no CLFS objects, no state. What any LZ4-on loader must at least
 * spend on this machine. Undefined when `lz4` is not installed.
 */
async function lz4CliFloor(tree: Tree): Promise<(Measured & { diskSeconds: number }) | undefined> {
  if (!hasLz4Cli()) return undefined;
  const dest = fresh('lz4-out');
  fs.mkdirSync(dest, { recursive: true });
  await quiet(tree);
  const script = 'find "$1" -type f -print0 | xargs -0 -r -P "$3" -I{} sh -c \'lz4 -q -1 -B5 -BD "$1" "$2/$(basename "$1").lz4"\' lz4 {} "$2"';
  const m = await measureChild('sh', ['-c', script, 'lz4-floor', tree.root, dest, String(availableParallelism())]);
  ensureOk(m, 'lz4 command line');
  return { ...m, diskSeconds: m.wallSeconds + settle() };
}

let lz4CliFound: boolean | undefined;

function hasLz4Cli(): boolean {
  if (lz4CliFound === undefined) {
    try {
      execFileSync('lz4', ['--version'], { stdio: 'ignore' });
      lz4CliFound = true;
    } catch {
      lz4CliFound = false;
    }
  }
  return lz4CliFound;
}

interface LoadJson {
  status: string;
  blobsWritten: number;
  bytesUploaded: number;
  seconds: number;
  entries: number;
  errors: number;
  problems: string[];
}

function lastJson<T>(stdout: string, what: string): T {
  const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (line === undefined) throw new Error(`${what}: no JSON summary on stdout: ${stdout.slice(-2000)}`);
  return JSON.parse(line) as T;
}

function checkSummary(s: LoadJson, what: string): void {
  if (s.status !== 'complete' || s.errors !== 0) {
    throw new Error(`${what}: load ended ${s.status} with ${s.errors} errors: ${s.problems.slice(0, 5).join('; ')}`);
  }
}

async function checkVerify(target: Target, source: string | undefined, what: string): Promise<number> {
  const t0 = Date.now();
  const report = (await verify(target, source === undefined ? {} : { source })) as unknown as { ok: boolean; problems?: unknown[]; counts?: unknown };
  const secs = (Date.now() - t0) / 1000;
  if (!report.ok) {
    throw new Error(`${what}: verify failed: ${JSON.stringify(report).slice(0, 3000)}`);
  }
  return secs;
}

function cliArgs(source: string, targetUrl: string, state: string, concurrency: number | undefined): string[] {
  const args = [CLI, 'load', source, targetUrl, '--new', '--state', state, '--json'];
  if (concurrency !== undefined) args.push('--concurrency', String(concurrency));
  return args;
}

// ---------------------------------------------------------------- the reference, side by side

/**
 * The reference CLFSLoad (Python), when it is set up on this machine: `../shared/reference` next to
 * the repository (or BENCH_REFERENCE), with its setup done (the reference's source under
 * CLFS_REFERENCE_DIR or TMPDIR/clfs-reference, see its README). Its `load.sh SOURCE OUT` loads into a
 * folder, one file per blob, as our file:// target does.
 */
function referenceScript(): string | undefined {
  const dir = process.env.BENCH_REFERENCE ?? path.resolve(REPO, '..', 'shared', 'reference');
  const script = path.join(dir, 'load.sh');
  const setup = path.join(process.env.CLFS_REFERENCE_DIR ?? path.join(process.env.TMPDIR ?? '/tmp', 'clfs-reference'), 'ref', 'clfsload');
  return fs.existsSync(script) && fs.existsSync(setup) ? script : undefined;
}

/** The last figure recorded for the reference on the small tree (docs/benchmarks.md, "Reading the load figures"), used when it cannot run here. */
const REFERENCE_SMALL_RECORDED = { seconds: 13.5, when: '2026-11-24, third session, medians of 3' };

async function referenceRun(script: string, tree: Tree): Promise<Measured> {
  const out = fresh('reference');
  await quiet(tree);
  const m = await measureChild('bash', [script, tree.root, out]);
  ensureOk(m, 'reference load.sh');
  return m;
}

/** The reference started once on a one-file tree, so its first measured run does not pay for reading its code from disk. */
function warmReference(script: string): void {
  const dir = fresh('reference-warm');
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'src', 'file'), 'warm');
  execFileSync('bash', [script, path.join(dir, 'src'), path.join(dir, 'out')], { stdio: 'ignore' });
}

interface Variant {
  label: string;
  /** extra CLI arguments */
  args: string[];
  /** extra environment variables for the loader */
  env?: Record<string, string>;
}

const DEFAULT_VARIANT: Variant = { label: 'clfsload → file://', args: [] };

/** The loader into a folder target (small, large, scale), with the cp -r floor measured in between. */
async function folderCase(name: string, title: string, tree: Tree, o: Options, runs: number, withSource: boolean, variants: Variant[] = [DEFAULT_VARIANT], withLz4Cli = false, withReference = false): Promise<CaseResult> {
  const per = variants.map(() => ({ walls: [] as number[], rsss: [] as number[], disks: [] as number[], reqs: [] as number[] }));
  const refScript = withReference ? referenceScript() : undefined;
  const ref = { walls: [] as number[], rsss: [] as number[] };
  if (refScript !== undefined) warmReference(refScript);
  const floors: number[] = [];
  const floorDisks: number[] = [];
  const floorRss: number[] = [];
  const lz4 = { walls: [] as number[], disks: [] as number[], rsss: [] as number[] };
  const verifySecs: number[] = [];
  for (let r = 0; r < runs; r++) {
    const cp = await cpFloor(tree);
    floors.push(cp.wallSeconds);
    floorDisks.push(cp.diskSeconds);
    floorRss.push(cp.peakRssBytes);
    const z = withLz4Cli ? await lz4CliFloor(tree) : undefined;
    if (z !== undefined) {
      lz4.walls.push(z.wallSeconds);
      lz4.disks.push(z.diskSeconds);
      lz4.rsss.push(z.peakRssBytes);
      process.stderr.write(`  ${name} run ${r + 1}/${runs}: lz4 command line ${z.wallSeconds.toFixed(2)} s\n`);
    }
    for (const [i, v] of variants.entries()) {
      const e = per[i]!;
      const dest = fresh('blobs');
      const state = fresh('state');
      fs.mkdirSync(dest, { recursive: true });
      await quiet(tree);
      const m = await measureChild(process.execPath, [...cliArgs(tree.root, `file://${dest}`, state, o.concurrency), ...v.args], v.env === undefined ? {} : { env: { ...process.env, ...v.env } });
      ensureOk(m, `${name}: clfsload load ${v.args.join(' ')}`);
      e.disks.push(m.wallSeconds + settle());
      const s = lastJson<LoadJson>(m.stdout, name);
      checkSummary(s, name);
      verifySecs.push(await checkVerify(new FolderTarget(dest), withSource ? tree.root : undefined, name));
      e.walls.push(m.wallSeconds);
      e.rsss.push(m.peakRssBytes);
      e.reqs.push(s.blobsWritten / tree.files);
      process.stderr.write(`  ${name} run ${r + 1}/${runs}: clfsload${v.args.length ? ` ${v.args.join(' ')}` : ''} ${m.wallSeconds.toFixed(2)} s, ${(m.peakRssBytes / MIB).toFixed(0)} MiB; cp -r ${cp.wallSeconds.toFixed(2)} s; verify ${verifySecs.at(-1)!.toFixed(1)} s OK\n`);
    }
    if (refScript !== undefined) {
      const m = await referenceRun(refScript, tree);
      ref.walls.push(m.wallSeconds);
      ref.rsss.push(m.peakRssBytes);
      process.stderr.write(`  ${name} run ${r + 1}/${runs}: reference ${m.wallSeconds.toFixed(2)} s, ${(m.peakRssBytes / MIB).toFixed(0)} MiB\n`);
    }
  }
  const ours = median(per[0]!.walls);
  const refNotes = !withReference
    ? []
    : ref.walls.length > 0
      ? [
          `runs: reference CLFSLoad v1.0.24 (Python, \`../shared/reference/load.sh SOURCE OUT\`, blobs as files like file://; started once on a one-file tree first) ${ref.walls.map((w) => w.toFixed(2)).join(', ')} s, after clfsload in each run: **${(median(ref.walls) / ours).toFixed(1)}x** (reference median / ${variants[0]!.label} median, same runs)`,
        ]
      : [`the reference is not set up on this machine (../shared/reference and its setup): its last recorded figure, ${REFERENCE_SMALL_RECORDED.seconds.toFixed(2)} s (${REFERENCE_SMALL_RECORDED.when}), against this run: ${(REFERENCE_SMALL_RECORDED.seconds / ours).toFixed(1)}x (not side by side)`];
  const floor = median(floors);
  const floorDisk = median(floorDisks);
  return {
    name,
    runs,
    title,
    rows: [
      ...variants.map((v, i) => {
        const e = per[i]!;
        return { label: v.label, files: tree.files, bytes: tree.bytes, wall: median(e.walls), rss: median(e.rsss), requestsPerFile: median(e.reqs), floorWall: floor, diskWall: median(e.disks), floorDiskWall: floorDisk };
      }),
      ...(lz4.walls.length > 0
        ? [{ label: `lz4 command line, ${availableParallelism()} files at once (compression only, no CLFS)`, files: tree.files, bytes: tree.bytes, wall: median(lz4.walls), rss: median(lz4.rsss), floorWall: floor, diskWall: median(lz4.disks), floorDiskWall: floorDisk }]
        : []),
      ...(ref.walls.length > 0 ? [{ label: 'reference CLFSLoad v1.0.24 → folder (load.sh)', files: tree.files, bytes: tree.bytes, wall: median(ref.walls), rss: median(ref.rsss), floorWall: floor }] : []),
      { label: 'cp -r (floor)', files: tree.files, bytes: tree.bytes, wall: floor, rss: median(floorRss), floorWall: floor, diskWall: floorDisk, floorDiskWall: floorDisk },
    ],
    notes: [
      ...refNotes,
      ...variants.map((v, i) => `runs: ${v.label} ${per[i]!.walls.map((w) => w.toFixed(2)).join(', ')} s; to disk (wall + the sync right after) ${per[i]!.disks.map((w) => w.toFixed(2)).join(', ')} s`),
      ...(lz4.walls.length > 0
        ? [
            `runs: lz4 command line (\`lz4 -q -1 -B5 -BD\` per file, into the same disk) ${lz4.walls.map((w) => w.toFixed(2)).join(', ')} s; to disk ${lz4.disks.map((w) => w.toFixed(2)).join(', ')} s`,
            `against the lz4 command line (its median / ours; issue 17 asks for >= 90%): ${variants.map((v, i) => `${v.label}: wall ${pct(median(lz4.walls) / median(per[i]!.walls))}, to disk ${pct(median(lz4.disks) / median(per[i]!.disks))}`).join('; ')}. The load with its default durability has its blobs on the disk when it exits (it syncs them before the state records them); the lz4 command line leaves its output in the page cache, so its wall compares with the CLFSLOAD_FOLDER_FSYNC=0 row, and to disk with the default row's to disk`,
          ]
        : withLz4Cli
          ? ['the `lz4` command line tool is not installed here: its row is missing']
          : []),
      `runs: cp -r ${floors.map((w) => w.toFixed(2)).join(', ')} s; to disk ${floorDisks.map((w) => w.toFixed(2)).join(', ')} s`,
      `verify ${withSource ? 'against the source' : 'without source (structure only)'}: OK on every run (median ${median(verifySecs).toFixed(1)} s, not counted)`,
    ],
  };
}

async function latencyCase(tree: Tree, o: Options, runs: number): Promise<CaseResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const floors: number[] = [];
  const results = new Map<string, { walls: number[]; rss: number[]; reqs: number[] }>();
  for (let r = 0; r < runs; r++) {
    floors.push((await cpFloor(tree)).wallSeconds);
    for (const mode of ['per-blob', 'batched'] as const) {
      const dest = fresh('blobs');
      const state = fresh('state');
      fs.mkdirSync(dest, { recursive: true });
      await quiet(tree);
      const m = await measureChild(process.execPath, [LATENCY_CHILD, tree.root, dest, state, String(o.latencyMs), String(o.latencyConcurrency), mode]);
      ensureOk(m, `latency ${mode}`);
      const out = lastJson<{ summary: LoadJson; counts: { singlePuts: number; putManyCalls: number; putManyItems: number; get: number; exists: number; list: number; delete: number } }>(m.stdout, 'latency');
      checkSummary(out.summary, `latency ${mode}`);
      await checkVerify(new FolderTarget(dest), tree.root, `latency ${mode}`);
      const c = out.counts;
      // delayed requests: a putMany batch is one request
      const requests = c.singlePuts + c.putManyCalls + c.get + c.exists + c.list + c.delete;
      const e = results.get(mode) ?? { walls: [], rss: [], reqs: [] };
      e.walls.push(m.wallSeconds);
      e.rss.push(m.peakRssBytes);
      e.reqs.push(requests / tree.files);
      results.set(mode, e);
      process.stderr.write(`  latency ${mode} run ${r + 1}/${runs}: ${m.wallSeconds.toFixed(2)} s, ${(m.peakRssBytes / MIB).toFixed(0)} MiB, ${requests} delayed requests (${JSON.stringify(c)}); verify OK\n`);
    }
  }
  const floor = median(floors);
  for (const [mode, e] of results) {
    rows.push({
      label: mode === 'per-blob' ? `load() → Latency(${o.latencyMs} ms) → folder, one delay per blob` : `load() → Latency(${o.latencyMs} ms) → folder, putMany batch = one delay`,
      files: tree.files,
      bytes: tree.bytes,
      wall: median(e.walls),
      rss: median(e.rss),
      requestsPerFile: median(e.reqs),
      floorWall: floor,
    });
    notes.push(`${mode}: runs ${e.walls.map((w) => w.toFixed(2)).join(', ')} s`);
  }
  rows.push({ label: 'cp -r (floor)', files: tree.files, bytes: tree.bytes, wall: floor, rss: 0, floorWall: floor });
  notes.push(`concurrency ${o.latencyConcurrency}; requests per file counts delayed requests (put/get/exists/list/delete; a putMany call as one); verify against the source OK on every run`);
  return { name: 'latency', runs, title: `latency: the small tree, ${o.latencyMs} ms added to every blob request (in-process library load, run as its own process)`, rows, notes };
}

/** A command's CPU, medians over its runs: the process, its main thread, then each kind of thread (summed over the threads of that name). */
function cpuText(runs: Array<{ total: number; main: number; byName: Map<string, number> }>): string {
  const names = [...new Set(runs.flatMap((r) => [...r.byName.keys()]))].sort();
  const parts = names.map((n) => `${n} ${median(runs.map((r) => r.byName.get(n) ?? 0)).toFixed(2)}`);
  return `process ${median(runs.map((r) => r.total)).toFixed(2)} s, main thread ${median(runs.map((r) => r.main)).toFixed(2)} s, ${parts.join(', ')} s (threads named "node" are V8's and libuv's)`;
}

/**
 * verify next to the load of the same tree (issue 18: verify as fast as the load): the loader, then
 * `verify` without the source (structure only) and `verify --source`, each a CLI child on a cold
 * page cache, against the cp -r floor; into a folder (file://) and into an Azurite the bench starts
 * (in memory, a fresh container per run, the same cold cache before each command; Azurite runs on
 * the same cores, outside the measured process).
 */
async function verifyCase(fileTree: Tree, azureTree: Tree, o: Options, runs: number): Promise<CaseResult> {
  const names = ['load', 'verify', 'verify --source'] as const;
  const targets = ['file', 'azurite'] as const;
  type Key = `${(typeof targets)[number]} ${(typeof names)[number]}`;
  const walls = new Map<Key, number[]>();
  const rsss = new Map<Key, number[]>();
  /** the process's CPU, its main thread's, and by thread name (clfs-reader, clfs-source, clfs-encode; V8's and libuv's threads are "node") */
  const cpus = new Map<Key, Array<{ total: number; main: number; byName: Map<string, number> }>>();
  const requests = new Map<string, number>();
  const treeOf = { file: fileTree, azurite: azureTree };
  const floors = { file: [] as number[], azurite: [] as number[] };
  /** file://: `cat` of every source file and every blob, in the cache state verify meets (source warm, container cold) */
  const readFloors: number[] = [];
  // in memory: with its data folder, Azurite's metadata store slowed to ~20 puts/s past 15,000 blobs here
  const azurite = await startAzurite({ inMemory: true });
  try {
    for (let r = 0; r < runs; r++) {
      for (const t of targets) {
        const tree = treeOf[t];
        floors[t].push((await cpFloor(tree)).wallSeconds);
        let url: string;
        let dest: string | undefined;
        if (t === 'file') {
          dest = fresh('blobs');
          fs.mkdirSync(dest, { recursive: true });
          url = `file://${dest}`;
        } else {
          url = (await azurite.makeContainer()).url;
        }
        await quiet(tree);
        const m = await measureChild(process.execPath, cliArgs(tree.root, url, fresh('state'), o.concurrency), { threads: true });
        ensureOk(m, `verify: clfsload load (${t})`);
        const s = lastJson<LoadJson>(m.stdout, 'verify');
        checkSummary(s, 'verify');
        requests.set(t, s.blobsWritten / tree.files);
        const push = (k: Key, v: Measured): void => {
          (walls.get(k) ?? walls.set(k, []).get(k)!).push(v.wallSeconds);
          (rsss.get(k) ?? rsss.set(k, []).get(k)!).push(v.peakRssBytes);
          const byName = new Map<string, number>();
          for (const th of v.threads ?? []) if (!th.main) byName.set(th.name, (byName.get(th.name) ?? 0) + th.cpuSeconds);
          const main = (v.threads ?? []).find((th) => th.main)?.cpuSeconds ?? 0;
          (cpus.get(k) ?? cpus.set(k, []).get(k)!).push({ total: v.cpuSeconds ?? 0, main, byName });
        };
        push(`${t} load`, m);
        const runsOf: Array<[(typeof names)[number], string[]]> = [
          ['verify', [CLI, 'verify', url, '--json']],
          ['verify --source', [CLI, 'verify', url, '--source', tree.root, '--json']],
        ];
        for (const [name, args] of runsOf) {
          await quiet(tree);
          const v = await measureChild(process.execPath, args, { threads: true });
          ensureOk(v, `verify: clfsload ${name} (${t})`);
          if ((JSON.parse(v.stdout) as { ok: boolean }).ok !== true) throw new Error(`verify: clfsload ${name} (${t}) found problems: ${v.stdout.slice(0, 2000)}`);
          push(`${t} ${name}`, v);
        }
        if (dest !== undefined) {
          await quiet(tree);
          const rf = await measureChild('sh', ['-c', 'find "$1" "$2" -type f -print0 | xargs -0 -r cat > /dev/null', 'read-floor', tree.root, dest]);
          ensureOk(rf, 'verify: read floor');
          readFloors.push(rf.wallSeconds);
        }
        process.stderr.write(`  verify ${t} run ${r + 1}/${runs}: ${names.map((n) => `${n} ${walls.get(`${t} ${n}`)!.at(-1)!.toFixed(2)} s`).join(', ')}; cp -r ${floors[t].at(-1)!.toFixed(2)} s${dest !== undefined ? `; cat of source and container ${readFloors.at(-1)!.toFixed(2)} s` : ''}\n`);
      }
    }
  } finally {
    await azurite.stop();
  }
  const where = { file: 'file://', azurite: 'Azurite (SAS URL)' };
  const label = (t: (typeof targets)[number], n: (typeof names)[number]): string =>
    n === 'load' ? `clfsload load → ${where[t]}` : n === 'verify' ? `clfsload verify ${where[t]} (structure only)` : `clfsload verify --source ${where[t]} (reads every file and blob)`;
  const keys = targets.flatMap((t) => names.map((n) => [t, n] as const));
  const ratio = (t: (typeof targets)[number], n: (typeof names)[number]): string => `${((100 * median(walls.get(`${t} ${n}`)!)) / median(walls.get(`${t} load`)!)).toFixed(0)}%`;
  return {
    name: 'verify',
    runs,
    title: `verify: a tree loaded, then verified without and with the source, on a cold page cache → file:// (the small tree) and → Azurite (${azureTree.files} files)`,
    rows: [
      ...keys.map(([t, n]) => ({ label: label(t, n), files: treeOf[t].files, bytes: treeOf[t].bytes, wall: median(walls.get(`${t} ${n}`)!), rss: median(rsss.get(`${t} ${n}`)!), ...(n === 'load' ? { requestsPerFile: requests.get(t)! } : {}), floorWall: median(floors[t]) })),
      ...targets.map((t) => ({ label: `cp -r (floor of the ${treeOf[t].files}-file tree)`, files: treeOf[t].files, bytes: treeOf[t].bytes, wall: median(floors[t]), rss: 0, floorWall: median(floors[t]) })),
      { label: 'cat of every source file and every blob (what verify --source file:// reads)', files: fileTree.files, bytes: fileTree.bytes, wall: median(readFloors), rss: 0, floorWall: median(floors.file) },
    ],
    notes: [
      ...targets.map((t) => `${where[t]}: verify takes ${ratio(t, 'verify')} of the load's wall time, verify --source ${ratio(t, 'verify --source')}`),
      `file://: verify --source takes ${((100 * median(walls.get('file verify --source')!)) / median(readFloors)).toFixed(0)}% of the time \`find SOURCE CONTAINER -type f -print0 | xargs -0 cat > /dev/null\` needs to read the same files in the same cache state (the source read back into memory, the container not: as before every command)`,
      `runs: cat of the source and the container ${readFloors.map((w) => w.toFixed(2)).join(', ')} s`,
      ...keys.map(([t, n]) => `runs: ${label(t, n)} ${walls.get(`${t} ${n}`)!.map((w) => w.toFixed(2)).join(', ')} s`),
      ...keys.map(([t, n]) => `CPU (median of the runs): ${label(t, n)}: ${cpuText(cpus.get(`${t} ${n}`)!)}`),
      ...targets.map((t) => `runs: cp -r of the ${treeOf[t].files}-file tree ${floors[t].map((w) => w.toFixed(2)).join(', ')} s`),
      'Azurite (npm package azurite, started by the bench with --inMemoryPersistence) runs outside the measured process, on the same cores: its own CPU per request is in the wall time; it gets the 2,000-file tree (the --quick small tree): past ~15,000 blobs its puts slowed to tens per second on this machine'
    ],
  };
}

/**
 * The update case: a tree loaded once, then 1% of its files rewritten (same size, new data, new
 * mtime) and 0.1% removed; `load --update` against a full load of the edited tree, and against the
 * update's comparison alone (its floor). Each run starts from a fresh copy of the tree and a
 * fresh load of it (not measured).
 */
async function updateCase(tree: Tree, o: Options, runs: number): Promise<CaseResult> {
  const modes = ['scan', 'update', 'load'] as const;
  const results = new Map<string, { walls: number[]; rss: number[]; reqs: number[] }>();
  const notes: string[] = [];
  let changed = 0;
  let removed = 0;
  for (let r = 0; r < runs; r++) {
    const src = path.join(fresh('update-src'), 'tree');
    fs.mkdirSync(path.dirname(src), { recursive: true });
    execFileSync('cp', ['-a', tree.root, src]);
    const blobs = fresh('update-blobs');
    const state = fresh('update-state');
    fs.mkdirSync(blobs, { recursive: true });
    const base = await measureChild(process.execPath, [UPDATE_CHILD, src, blobs, state, 'load']);
    ensureOk(base, 'update: the first load');
    // the edits: every 100th file rewritten, every 1000th (offset 50) removed
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(src);
    files.sort();
    changed = 0;
    removed = 0;
    files.forEach((p, i) => {
      if (i % 1000 === 50) {
        fs.rmSync(p);
        removed += 1;
      } else if (i % 100 === 0) {
        const size = fs.statSync(p).size;
        fs.writeFileSync(p, randomStream(i)(size));
        fs.utimesSync(p, new Date(), new Date(Date.now() + 1000));
        changed += 1;
      }
    });
    for (const mode of modes) {
      const dest = mode === 'load' ? fresh('update-full') : blobs;
      const st = mode === 'load' ? fresh('update-full-state') : state;
      fs.mkdirSync(dest, { recursive: true });
      await quiet(tree);
      const m = await measureChild(process.execPath, [UPDATE_CHILD, src, dest, st, mode]);
      ensureOk(m, `update ${mode}`);
      const out = lastJson<{ summary: LoadJson; counts: { put: number; putMany: number; get: number; exists: number; list: number; delete: number } }>(m.stdout, `update ${mode}`);
      if (mode !== 'scan') {
        checkSummary(out.summary, `update ${mode}`);
        await checkVerify(new FolderTarget(dest), src, `update ${mode}`);
      }
      const c = out.counts;
      const requests = c.put + c.get + c.exists + c.list + c.delete;
      const e = results.get(mode) ?? { walls: [], rss: [], reqs: [] };
      e.walls.push(m.wallSeconds);
      e.rss.push(m.peakRssBytes);
      e.reqs.push(requests);
      results.set(mode, e);
      process.stderr.write(`  update ${mode} run ${r + 1}/${runs}: ${m.wallSeconds.toFixed(2)} s, ${(m.peakRssBytes / MIB).toFixed(0)} MiB, ${requests} requests (${JSON.stringify(c)})\n`);
    }
  }
  const labels: Record<(typeof modes)[number], string> = {
    scan: 'the comparison alone (update --dry-run: lstat against the state; floor)',
    update: 'load --update of the loaded container',
    load: 'full load of the edited tree into an empty container',
  };
  const full = median(results.get('load')!.walls);
  const rows: Row[] = modes.map((mode) => {
    const e = results.get(mode)!;
    return { label: labels[mode], files: tree.files, bytes: tree.bytes, wall: median(e.walls), rss: median(e.rss), requestsPerFile: median(e.reqs) / tree.files, note: `${median(e.reqs)} requests, ${((median(e.walls) / full) * 100).toFixed(1)}% of the full load` };
  });
  notes.push(`${changed} files rewritten (same size), ${removed} removed before each run; verify against the source OK after the update and the full load`);
  return { name: 'update', runs, title: `update: ${tree.files} small files, 1% rewritten and 0.1% removed → file:// (update vs a full load vs the comparison alone)`, rows, notes };
}

async function httpCase(tree: Tree, o: Options, runs: number): Promise<CaseResult> {
  const server = await startMiniBlobServer();
  const walls: number[] = [];
  const rsss: number[] = [];
  const cpus_: number[] = [];
  const reqs: number[] = [];
  const floors: number[] = [];
  const md5s: number[] = [];
  let md5Puts = '';
  try {
    for (let r = 0; r < runs; r++) {
      floors.push((await cpFloor(tree)).wallSeconds);
      const container = `bench${r}`;
      server.createContainer(container);
      server.resetStats();
      const state = fresh('state');
      const url = server.containerUrl(container);
      await quiet(tree);
      const m = await measureChild(process.execPath, cliArgs(tree.root, url, state, o.concurrency));
      ensureOk(m, 'http: clfsload load');
      const s = lastJson<LoadJson>(m.stdout, 'http');
      checkSummary(s, 'http');
      const stats = server.stats;
      await checkVerify(openTarget(url), tree.root, 'http');
      walls.push(m.wallSeconds);
      rsss.push(m.peakRssBytes);
      reqs.push(stats.requests / tree.files);
      if (m.cpuSeconds !== undefined) cpus_.push((m.cpuSeconds * 1e6) / stats.requests);
      // the CPU the loader spends on Content-MD5: the same hashes over the bodies it sent, timed here
      const bodies = server.blobBodies(container);
      const before = process.cpuUsage();
      for (const b of bodies) createHash('md5').update(b).digest('base64');
      const spent = process.cpuUsage(before);
      if (bodies.length > 0) md5s.push((spent.user + spent.system) / bodies.length);
      md5Puts = `${stats.putsWithMd5} of ${stats.put} puts`;
      process.stderr.write(`  http run ${r + 1}/${runs}: ${m.wallSeconds.toFixed(2)} s, ${(m.peakRssBytes / MIB).toFixed(0)} MiB, ${stats.requests} requests ${JSON.stringify(stats)}, loader CPU ${m.cpuSeconds?.toFixed(2)} s, Content-MD5 ${md5s.at(-1)?.toFixed(1)} µs per put; verify OK\n`);
      server.dropContainer(container);
    }
  } finally {
    await server.close();
  }
  const floor = median(floors);
  return {
    name: 'http',
    runs,
    title: 'http: the small tree through the blob REST API (SAS URL) into bench/mini-blob-server.ts (in-memory, keep-alive, same machine)',
    rows: [
      { label: 'clfsload → http://127.0.0.1 SAS URL', files: tree.files, bytes: tree.bytes, wall: median(walls), rss: median(rsss), requestsPerFile: median(reqs), cpuUsPerRequest: cpus_.length ? median(cpus_) : undefined, floorWall: floor },
      { label: 'cp -r (floor)', files: tree.files, bytes: tree.bytes, wall: floor, rss: 0, floorWall: floor },
    ],
    notes: [
      `runs: ${walls.map((w) => w.toFixed(2)).join(', ')} s; requests counted by the server; CPU per request = the loader process's user+sys CPU / requests`,
      'the server runs in the bench process on the same 2 cores, so it competes with the loader for CPU',
      `Content-MD5 on every Put Blob (${md5Puts} carried it, checked by the server): hashing the bodies a run sent costs ${md5s.length ? median(md5s).toFixed(1) : '–'} µs of CPU per put (timed in the bench process over the stored bodies; part of the loader CPU per request above)`,
    ],
  };
}

/** The reference through the same delay: recorded 2026-12-01 (issue 17), 20 ms, the small tree. */
const REFERENCE_HTTP20_LAST = { filesPerSecond: 338, when: '2026-12-01 (issue 17), on another 2-core machine' };

/**
 * The small tree over the real client path (SAS URL → retry layer → lean put → HTTP) into
 * bench/mini-blob-server.ts holding every answer back `--http-delay-ms` (default 20) ms, the way a
 * distant service would; the reference side by side through the same delay per blob write. With
 * --sweep, the loader at each --concurrency given as well (the Azure default is 256 in flight).
 */
async function http20Case(tree: Tree, o: Options, runs: number): Promise<CaseResult> {
  const delay = o.httpDelayMs;
  const server = await startMiniBlobServer({ delayMs: delay });
  const concurrencies: Array<number | undefined> = [o.concurrency, ...o.sweep.filter((c) => c !== o.concurrency)];
  const per = concurrencies.map(() => ({ walls: [] as number[], rsss: [] as number[], cpus: [] as number[], reqs: [] as number[] }));
  const ref = { walls: [] as number[], rsss: [] as number[] };
  const script = referenceScript();
  try {
    for (let r = 0; r < runs; r++) {
      for (const [i, c] of concurrencies.entries()) {
        const container = `delay${r}-${++freshCount}`;
        server.createContainer(container);
        server.resetStats();
        const url = server.containerUrl(container);
        await quiet(tree);
        const m = await measureChild(process.execPath, cliArgs(tree.root, url, fresh('state'), c));
        ensureOk(m, 'http20: clfsload load');
        checkSummary(lastJson<LoadJson>(m.stdout, 'http20'), 'http20');
        const stats = server.stats;
        await checkVerify(openTarget(url), tree.root, 'http20');
        const e = per[i]!;
        e.walls.push(m.wallSeconds);
        e.rsss.push(m.peakRssBytes);
        e.reqs.push(stats.requests / tree.files);
        if (m.cpuSeconds !== undefined) e.cpus.push((m.cpuSeconds * 1e6) / stats.requests);
        process.stderr.write(`  http20 run ${r + 1}/${runs}, concurrency ${c ?? 'default'}: ${m.wallSeconds.toFixed(2)} s (${(tree.files / m.wallSeconds).toFixed(0)} files/s), ${stats.requests} requests, loader CPU ${m.cpuSeconds?.toFixed(2)} s; verify OK\n`);
        server.dropContainer(container);
      }
      if (script !== undefined) {
        const out = fresh('reference');
        await quiet(tree);
        const m = await measureChild(script, [tree.root, out], { env: { ...process.env, FAKE_BLOB_LATENCY_MS: String(delay) } });
        ensureOk(m, 'http20: the reference');
        ref.walls.push(m.wallSeconds);
        ref.rsss.push(m.peakRssBytes);
        process.stderr.write(`  http20 run ${r + 1}/${runs}: reference ${m.wallSeconds.toFixed(2)} s (${(tree.files / m.wallSeconds).toFixed(0)} files/s) ${m.stdout.trim()}\n`);
      }
    }
  } finally {
    await server.close();
  }
  const ours = median(per[0]!.walls);
  const rows: Row[] = concurrencies.map((c, i) => {
    const e = per[i]!;
    const label = `clfsload → http://127.0.0.1 SAS URL, ${delay} ms per request${c === undefined ? ' (default concurrency, 256)' : `, --concurrency ${c}`}`;
    return { label, files: tree.files, bytes: tree.bytes, wall: median(e.walls), rss: median(e.rsss), requestsPerFile: median(e.reqs), cpuUsPerRequest: e.cpus.length ? median(e.cpus) : undefined };
  });
  const notes = concurrencies.map((c, i) => `runs (concurrency ${c ?? 'default'}): ${per[i]!.walls.map((w) => w.toFixed(2)).join(', ')} s`);
  if (ref.walls.length > 0) {
    const refWall = median(ref.walls);
    rows.push({ label: `reference CLFSLoad, ${delay} ms per blob write (FAKE_BLOB_LATENCY_MS=${delay} ../shared/reference/load.sh)`, files: tree.files, bytes: tree.bytes, wall: refWall, rss: median(ref.rsss) });
    notes.push(`runs: reference ${ref.walls.map((w) => w.toFixed(2)).join(', ')} s; clfsload (default concurrency) is **${(refWall / ours).toFixed(1)}x** the reference, side by side in this run`);
  } else {
    const last = REFERENCE_HTTP20_LAST.filesPerSecond;
    notes.push(`the reference is not set up here (../shared/reference and /tmp/clfs-reference/ref): not run; its last recorded figure is ${last} files/s through 20 ms (${REFERENCE_HTTP20_LAST.when}), against which clfsload's ${(tree.files / ours).toFixed(0)} files/s is ${(tree.files / ours / last).toFixed(1)}x`);
  }
  notes.push(
    `the server answers each request ${delay} ms after it arrived whole (a timer per request, so requests in flight wait side by side); it runs in the bench process on the same cores; requests counted by the server; CPU per request = the loader process's user+sys CPU / requests`,
    `the reference's stand-in Azure client (../shared/reference/fakeazure) sleeps ${delay} ms in each blob write and stores the blob as a file: no HTTP on its side`,
  );
  return { name: 'http20', runs, title: `http20: the small tree through the blob REST API (SAS URL → retry layer → lean put → HTTP) into bench/mini-blob-server.ts answering after ${delay} ms, same machine; the reference through the same delay`, rows, notes };
}

// ---------------------------------------------------------------- scaling (issue 17)

/** One measured run's CPU by thread, in seconds. */
interface ThreadSplit {
  main: number;
  /** each encode worker's */
  encode: number[];
  /** the folder target's writer threads, together */
  writers: number;
  /** V8's and libuv's threads, and what threads that ended between two samples used */
  other: number;
  /** the process's user + system CPU (GNU time's rusage; the threads' sum without it) */
  total: number;
  busiest: ThreadCpu;
}

function splitThreads(m: Measured): ThreadSplit {
  const threads = m.threads ?? [];
  const sum = (xs: ThreadCpu[]) => xs.reduce((a, t) => a + t.cpuSeconds, 0);
  const main = threads.find((t) => t.main)?.cpuSeconds ?? 0;
  const encode = threads.filter((t) => t.name === 'clfs-encode').map((t) => t.cpuSeconds);
  const writers = sum(threads.filter((t) => t.name === 'clfs-writer'));
  const total = m.cpuSeconds ?? sum(threads);
  const busiest = threads[0] ?? { tid: 0, name: '?', main: false, cpuSeconds: 0 };
  return { main, encode, writers, other: Math.max(0, total - main - encode.reduce((a, b) => a + b, 0) - writers), total, busiest };
}

/** The cores the loader is pinned to in the scaling case: one, then two (when the machine has them). */
function scalingCpuSets(): string[] {
  return availableParallelism() >= 2 ? ['0', '0,1'] : ['0'];
}

const PROJECT_CORES = 16;

/**
 * How the loader scales (issue 17): the small tree into a folder and over HTTP (SAS URL into
 * bench/mini-blob-server.ts, no added delay), the loader pinned with `taskset` to one core and to
 * two, alternating. Each thread's CPU is sampled from /proc/PID/task while it runs
 * (bench/measure-child.ts; the loader names its threads); per 1,000 files (or requests), the
 * busiest thread is the serial part, and the projection for PROJECT_CORES cores is
 * min(1000 / serial s, PROJECT_CORES x 1000 / total s): no more than the serial thread allows, nor
 * than the cores can give.
 */
async function scalingCase(tree: Tree, o: Options, runs: number): Promise<CaseResult> {
  const sets = scalingCpuSets();
  // the fixed cost of a load (start-up, the first compilations, finalize): a one-file load, pinned alike
  const tiny = cached('one-file', (root) => fs.writeFileSync(path.join(root, 'file'), 'one'));
  const modes = ['folder', 'http'] as const;
  type Key = `${(typeof modes)[number]}@${string}`;
  const got = new Map<Key, { walls: number[]; rss: number[]; units: number[]; splits: ThreadSplit[]; fixed: ThreadSplit[] }>();
  const server = await startMiniBlobServer();
  try {
    for (let r = 0; r < runs; r++) {
      for (const mode of modes) {
        for (const cpus of sets) {
          const one = async (t: Tree): Promise<{ m: Measured; requests: number }> => {
            const state = fresh('state');
            let url: string;
            let target: Target;
            let container: string | undefined;
            if (mode === 'folder') {
              const dest = fresh('blobs');
              fs.mkdirSync(dest, { recursive: true });
              url = `file://${dest}`;
              target = new FolderTarget(dest);
            } else {
              container = `scaling${r}-${++freshCount}`;
              server.createContainer(container);
              url = server.containerUrl(container);
              target = openTarget(url);
            }
            server.resetStats();
            await quiet(t);
            const m = await measureChild(process.execPath, cliArgs(t.root, url, state, o.concurrency), { threads: true, cpus });
            ensureOk(m, `scaling ${mode} on CPUs ${cpus}`);
            const s = lastJson<LoadJson>(m.stdout, `scaling ${mode}`);
            checkSummary(s, `scaling ${mode}`);
            const requests = mode === 'http' ? server.stats.requests : s.blobsWritten;
            await checkVerify(target, t.root, `scaling ${mode}`);
            if (container !== undefined) server.dropContainer(container);
            return { m, requests };
          };
          const fixed = await one(tiny);
          const { m, requests } = await one(tree);
          const key: Key = `${mode}@${cpus}`;
          const e = got.get(key) ?? { walls: [], rss: [], units: [], splits: [], fixed: [] };
          e.fixed.push(splitThreads(fixed.m));
          e.walls.push(m.wallSeconds);
          e.rss.push(m.peakRssBytes);
          // per file into a folder; per request over HTTP (the account's limit is in requests)
          e.units.push(mode === 'http' ? requests : tree.files);
          e.splits.push(splitThreads(m));
          got.set(key, e);
          const sp = e.splits.at(-1)!;
          process.stderr.write(`  scaling ${mode} CPUs ${cpus} run ${r + 1}/${runs}: ${m.wallSeconds.toFixed(2)} s, CPU ${sp.total.toFixed(2)} s (main ${sp.main.toFixed(2)}, encode ${sp.encode.map((x) => x.toFixed(2)).join('+') || '–'}, writers ${sp.writers.toFixed(2)}, other ${sp.other.toFixed(2)}); verify OK\n`);
        }
      }
    }
  } finally {
    await server.close();
  }
  const cores = (cpus: string) => cpus.split(',').length;
  const label = (mode: string, cpus: string) => `${mode === 'folder' ? 'small → file://' : 'small → http://127.0.0.1 SAS URL'}, taskset -c ${cpus} (${cores(cpus)} core${cores(cpus) > 1 ? 's' : ''})`;
  const rows: Row[] = [];
  const notes: string[] = [];
  const per: string[] = [
    `| run | wall s | main thread s per 1,000 | encode workers s per 1,000 (each) | writer threads s per 1,000 | V8, libuv, other s per 1,000 | all threads s per 1,000 | busiest thread s per 1,000 (serial part) | projected ${PROJECT_CORES} cores | the same without the fixed cost: main s per 1,000 | all s per 1,000 | projected ${PROJECT_CORES} cores |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const mode of modes) {
    for (const cpus of sets) {
      const e = got.get(`${mode}@${cpus}`)!;
      rows.push({ label: label(mode, cpus), files: tree.files, bytes: tree.bytes, wall: median(e.walls), rss: median(e.rss) });
      const k = (f: (sp: ThreadSplit, i: number) => number) => median(e.splits.map((sp, i) => (f(sp, i) * 1000) / e.units[i]!));
      const main = k((sp) => sp.main);
      const workers = Math.max(0, ...e.splits.map((sp) => sp.encode.length));
      const encode = Array.from({ length: workers }, (_, w) => k((sp) => sp.encode[w] ?? 0));
      const serial = k((sp) => sp.busiest.cpuSeconds);
      const total = k((sp) => sp.total);
      const projected = Math.min(1000 / serial, (PROJECT_CORES * 1000) / total);
      // the marginal cost: less the one-file load's CPU (start-up, finalize), by thread
      const mainOnly = k((sp, i) => sp.main - e.fixed[i]!.main);
      const totalOnly = k((sp, i) => sp.total - e.fixed[i]!.total);
      const serialOnly = k((sp, i) => sp.busiest.cpuSeconds - (sp.busiest.main ? e.fixed[i]!.main : 0));
      const projectedOnly = Math.min(1000 / serialOnly, (PROJECT_CORES * 1000) / totalOnly);
      const unit = mode === 'http' ? 'requests/s' : 'files/s';
      // which thread was the busiest, counted over the runs ("clfs-encode in 5 of 5 runs")
      const names = new Map<string, number>();
      for (const sp of e.splits) {
        const n = sp.busiest.main ? 'main' : sp.busiest.name;
        names.set(n, (names.get(n) ?? 0) + 1);
      }
      const busiestName = [...names].map(([n, c]) => `${n} in ${c} of ${e.splits.length} runs`).join(', ');
      per.push(`| ${label(mode, cpus)} | ${fmt(median(e.walls), 2)} | ${fmt(main, 3)} | ${encode.map((x) => fmt(x, 3)).join(' + ') || '–'} | ${fmt(k((sp) => sp.writers), 3)} | ${fmt(k((sp) => sp.other), 3)} | ${fmt(total, 3)} | ${fmt(serial, 3)} (${busiestName}) | ${fmt(projected, 0)} ${unit} | ${fmt(mainOnly, 3)} | ${fmt(totalOnly, 3)} | ${fmt(projectedOnly, 0)} ${unit} |`);
    }
    if (sets.length > 1) {
      const one = got.get(`${mode}@${sets[0]}`)!;
      const two = got.get(`${mode}@${sets[1]}`)!;
      const pairs = one.walls.map((w, i) => w / two.walls[i]!);
      notes.push(`${mode === 'folder' ? 'small → file://' : 'small → http'}: 2 cores against 1: **${(median(one.walls) / median(two.walls)).toFixed(2)}x** (medians; per run ${pairs.map((x) => x.toFixed(2)).join(', ')}); walls on 1 core ${one.walls.map((w) => w.toFixed(2)).join(', ')} s, on 2 ${two.walls.map((w) => w.toFixed(2)).join(', ')} s`);
    }
  }
  notes.push(
    `per-thread CPU: user + system ticks of /proc/PID/task/*/stat sampled every 10 ms while the loader runs (its threads are named: the main thread, clfs-encode, clfs-writer); "other" = the process's CPU (GNU time's rusage) less the named threads: V8's compiler and GC helpers, libuv's pool, and a named thread's last 10 ms before it ended`,
    `per 1,000 files into the folder, per 1,000 requests over HTTP (counted by the server); projection = min(1,000 / busiest thread's s, ${PROJECT_CORES} x 1,000 / all threads' s), medians of the runs; issue 17 asks for >= 50,000 files/s into a folder and >= 20,000 requests/s over HTTP`,
    `without the fixed cost: each thread's CPU less that of a one-file load pinned alike, measured before each run (start-up, the first compilations, finalize: what a larger tree does not pay again); median fixed CPU ${sets.map((c) => modes.map((m) => `${m} on ${cores(c)}: main ${median(got.get(`${m}@${c}`)!.fixed.map((f) => f.main)).toFixed(2)} s of ${median(got.get(`${m}@${c}`)!.fixed.map((f) => f.total)).toFixed(2)} s`).join(', ')).join('; ')}`,
    'the HTTP server runs unpinned in the bench process, on the same cores; every container passed verify --source',
  );
  return {
    name: 'scaling',
    runs,
    title: `scaling: the small tree pinned to ${sets.map((c) => `${cores(c)} core${cores(c) > 1 ? 's' : ''}`).join(' and ')} (taskset), into a folder and over HTTP, with each thread's CPU`,
    rows,
    notes,
    extra: per.join('\n'),
  };
}

/** How far an achieved rate is from its limit, and whether within the 10% the limits case promises. */
function againstLimit(achieved: number, limit: number): string {
  const off = (achieved - limit) / limit;
  return `${(off * 100).toFixed(1)}% ${Math.abs(off) <= 0.1 ? '(within 10%)' : '**(more than 10% off)**'}`;
}

/**
 * --bwlimit and --max-requests hold for the whole process: the large tree into a folder and over
 * HTTP under a byte rate (every encode worker and the folder's writer thread behind one limiter),
 * the small tree over HTTP under a request rate. Each limit is chosen so a run takes about
 * LIMIT_SECONDS; the achieved rate is what the loader reports it sent (bytesUploaded) over the
 * load's own seconds, or the requests the server counted between its first and last request.
 */
const LIMIT_SECONDS = 15;

async function limitsCase(large: Tree, small: Tree, o: Options, runs: number): Promise<CaseResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  // the bytes sent are the compressed blobs: about 0.55 of the large tree (two text files compress ~10:1)
  const bwlimit = Math.max(1, Math.round((large.bytes * 0.55) / LIMIT_SECONDS / MIB));
  const maxRequests = Math.max(1, Math.round(small.files / LIMIT_SECONDS));
  const server = await startMiniBlobServer();
  try {
    const one = async (label: string, tree: Tree, targetOf: (r: number) => { url: string; target: Target; done?: () => void }, args: string[], measure: 'bytes' | 'requests') => {
      const walls: number[] = [];
      const rsss: number[] = [];
      const offs: string[] = [];
      for (let r = 0; r < runs; r++) {
        const { url, target, done } = targetOf(r);
        server.resetStats();
        await quiet(tree);
        const m = await measureChild(process.execPath, [...cliArgs(tree.root, url, fresh('state'), o.concurrency), ...args]);
        ensureOk(m, `limits: ${label}`);
        const s = lastJson<LoadJson>(m.stdout, 'limits');
        checkSummary(s, `limits: ${label}`);
        const { requests, firstAtMs, lastAtMs } = server.stats;
        await checkVerify(target, tree.root, `limits: ${label}`);
        // requests: between the first and the last the server saw (the rate a service would see);
        // bytes: over the load's own time (its summary's seconds: the process start-up left out)
        const achieved = measure === 'bytes' ? s.bytesUploaded / s.seconds : (requests - 1) / ((lastAtMs - firstAtMs) / 1000);
        const limit = measure === 'bytes' ? bwlimit * MIB : maxRequests;
        offs.push(`${measure === 'bytes' ? `${(achieved / MIB).toFixed(2)} MiB/s` : `${achieved.toFixed(1)} requests/s`} (${againstLimit(achieved, limit)})`);
        walls.push(m.wallSeconds);
        rsss.push(m.peakRssBytes);
        process.stderr.write(`  limits ${label} run ${r + 1}/${runs}: ${m.wallSeconds.toFixed(2)} s, achieved ${offs.at(-1)}; verify OK\n`);
        done?.();
      }
      rows.push({ label, files: tree.files, bytes: tree.bytes, wall: median(walls), rss: median(rsss) });
      notes.push(`${label}: achieved ${offs.join(', ')}`);
    };
    const folder = () => {
      const dest = fresh('blobs');
      fs.mkdirSync(dest, { recursive: true });
      return { url: `file://${dest}`, target: new FolderTarget(dest) };
    };
    const http = (r: number) => {
      const container = `limits${r}-${++freshCount}`;
      server.createContainer(container);
      const url = server.containerUrl(container);
      return { url, target: openTarget(url), done: () => server.dropContainer(container) };
    };
    await one(`large → file://, --bwlimit ${bwlimit}M`, large, folder, ['--bwlimit', `${bwlimit}M`], 'bytes');
    await one(`large → http://127.0.0.1 SAS URL, --bwlimit ${bwlimit}M`, large, http, ['--bwlimit', `${bwlimit}M`], 'bytes');
    await one(`small → http://127.0.0.1 SAS URL, --max-requests ${maxRequests}`, small, http, ['--max-requests', String(maxRequests)], 'requests');
  } finally {
    await server.close();
  }
  notes.push(
    `each limit is set so a run takes about ${LIMIT_SECONDS} s; achieved = bytes the loader sent (its summary's bytesUploaded, compressed blobs) over its summary's seconds (the load, without the process start-up), or the requests the server counted between the first and the last; MB/s in the table is file data over the process's wall time`,
  );
  return { name: 'limits', runs, title: 'limits: --bwlimit over the large tree into a folder and over HTTP (bench/mini-blob-server.ts), --max-requests over the small tree over HTTP', rows, notes };
}

// ---------------------------------------------------------------- output

function fmt(n: number | undefined, digits: number): string {
  return n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}

function table(c: CaseResult): string {
  const hasCpu = c.rows.some((r) => r.cpuUsPerRequest !== undefined);
  const hasDisk = c.rows.some((r) => r.diskWall !== undefined);
  const head = [
    'run', 'files', 'files/s', 'MB/s', 'wall s', 'peak RSS MiB', 'requests per file',
    ...(hasCpu ? ['loader CPU µs per request'] : []),
    '% of cp -r',
    ...(hasDisk ? ['to disk s', '% of cp -r to disk'] : []),
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of c.rows) {
    const cells = [
      r.label,
      String(r.files),
      fmt(r.files / r.wall, 0),
      fmt(r.bytes / 1e6 / r.wall, 1),
      fmt(r.wall, 2),
      r.rss > 0 ? fmt(r.rss / MIB, 0) : '–',
      fmt(r.requestsPerFile, 2),
      ...(hasCpu ? [fmt(r.cpuUsPerRequest, 0)] : []),
      r.floorWall !== undefined ? `${fmt((r.floorWall / r.wall) * 100, 0)}%` : '–',
      ...(hasDisk ? [fmt(r.diskWall, 2), r.diskWall !== undefined && r.floorDiskWall !== undefined ? `${fmt((r.floorDiskWall / r.diskWall) * 100, 0)}%` : '–'] : []),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? '?';
  let nproc = String(cpus().length);
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // no coreutils nproc
  }
  return `\`nproc\` ${nproc}, CPU "${cpu}", ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}, ${process.platform}/${process.arch}`;
}

function preamble(o: Options): string {
  return `Machine of this run (each case also names the machine it ran on): ${machine()}. Loader: \`node dist/bin/clfsload.js load SOURCE TARGET --new --state DIR --json\` (LZ4 on, the loader's default concurrency unless stated), measured as a whole process (${measureMethod()}); median of the runs. Floor: \`cp -r\` of the same tree to the same disk, measured in the same run (after \`sync\`, like every measurement). % of cp -r = cp wall / clfsload wall. To disk = wall + the \`sync\` run right after the process (until what it wrote is on the disk; cp -r of a tree that fits in the page cache returns before any of it is). Before every measurement: \`sync\`, the page cache dropped (\`/proc/sys/vm/drop_caches\`, where the bench may write it${cachesDropped ? '' : '; **it could not here**'}), the source tree read back into memory, both programs started once (so neither reads its own code from disk), a second of quiet. MB = 10^6 bytes of file data. Requests per file = blob requests / regular files. Every loaded container passed \`verify\` before its figures were kept.`;
}

function caseBlock(c: CaseResult, o: Options, command: string): string {
  const date = new Date().toISOString().slice(0, 10);
  // the machine with each case: a later --only run may be on another machine than the cases it keeps
  return `#### ${c.title}\n\n\`${command}\` — ${date}, ${c.runs} run(s)${o.quick ? ', **--quick sizes**' : ''}${o.concurrency ? `, --concurrency ${o.concurrency}` : ''}; ${machine()}\n\n${table(c)}\n\n${c.notes.map((n) => `- ${n}`).join('\n')}${c.extra === undefined ? '' : `\n\n${c.extra}`}`;
}

const START = '<!-- bench:load:start (written by npm run bench; edits between these markers are overwritten) -->';
const END = '<!-- bench:load:end -->';
const caseStart = (name: string) => `<!-- bench:case:${name} -->`;
const CASE_END = '<!-- bench:case:end -->';

/** Replace the cases just run inside the Load block, keep the others (e.g. a separate --only scale run). */
function writeDocs(blocks: Map<string, string>, o: Options): void {
  let doc = fs.existsSync(DOCS) ? fs.readFileSync(DOCS, 'utf8') : '# Benchmarks\n';
  const s = doc.indexOf(START);
  const e = doc.indexOf(END);
  const old = new Map<string, string>();
  if (s >= 0 && e > s) {
    const inner = doc.slice(s, e);
    for (const m of inner.matchAll(/<!-- bench:case:(\w+) -->\n([\s\S]*?)\n<!-- bench:case:end -->/g)) old.set(m[1]!, m[2]!);
  }
  const parts = [START, '', preamble(o), ''];
  for (const name of CASES) {
    const text = blocks.get(name) ?? old.get(name);
    if (text !== undefined) parts.push(caseStart(name), text, CASE_END, '');
  }
  parts.push(END);
  const block = parts.join('\n');
  if (s >= 0 && e > s) {
    doc = doc.slice(0, s) + block + doc.slice(e + END.length);
  } else if (doc.includes('\n## Load\n')) {
    const at = doc.indexOf('\n## Load\n') + '\n## Load\n'.length;
    doc = `${doc.slice(0, at)}\n${block}\n${doc.slice(at)}`;
  } else {
    doc = `${doc.replace(/\s*$/, '')}\n\n## Load\n\n${block}\n`;
  }
  fs.writeFileSync(DOCS, doc);
}

/**
 * A planned load (issue 14): `plan`, N shard processes at once, `finalize`, against one load of
 * the same tree. On one machine the shards share its cores: the point is the mechanism and the
 * balance, not a speed-up.
 */
async function shardCase(tree: Tree, o: Options, runs: number): Promise<CaseResult> {
  const n = o.shards;
  const single = { walls: [] as number[], rss: [] as number[] };
  const phases = { plan: [] as number[], shards: [] as number[], finalize: [] as number[], total: [] as number[], rss: [] as number[] };
  const perShard: number[][] = Array.from({ length: n }, () => []);
  let balance = 0;
  for (let r = 0; r < runs; r++) {
    const dest = fresh('blobs');
    fs.mkdirSync(dest, { recursive: true });
    await quiet(tree);
    const m = await measureChild(process.execPath, cliArgs(tree.root, `file://${dest}`, fresh('state'), o.concurrency));
    ensureOk(m, 'shard: one load');
    checkSummary(lastJson<LoadJson>(m.stdout, 'shard: one load'), 'shard: one load');
    single.walls.push(m.wallSeconds);
    single.rss.push(m.peakRssBytes);
    const out = fresh('blobs');
    fs.mkdirSync(out, { recursive: true });
    const plan = path.join(fresh('plan'), 'plan.json');
    fs.mkdirSync(path.dirname(plan), { recursive: true });
    await quiet(tree);
    const t0 = Date.now();
    const p = await measureChild(process.execPath, [CLI, 'plan', tree.root, `file://${out}`, '--shards', String(n), '--plan', plan, '--json']);
    ensureOk(p, 'shard: plan');
    balance = lastJson<{ balance: number }>(p.stdout, 'shard: plan').balance;
    const shards = await Promise.all(Array.from({ length: n }, (_, k) => measureChild(process.execPath, [CLI, 'load', '--plan', plan, '--shard', String(k), '--json'])));
    shards.forEach((s, k) => {
      ensureOk(s, `shard: shard ${k}`);
      checkSummary(lastJson<LoadJson>(s.stdout, `shard ${k}`), `shard ${k}`);
      perShard[k]!.push(s.wallSeconds);
    });
    const f = await measureChild(process.execPath, [CLI, 'finalize', '--plan', plan, '--json']);
    ensureOk(f, 'shard: finalize');
    phases.total.push((Date.now() - t0) / 1000);
    phases.plan.push(p.wallSeconds);
    phases.shards.push(Math.max(...shards.map((s) => s.wallSeconds)));
    phases.finalize.push(f.wallSeconds);
    phases.rss.push(Math.max(...shards.map((s) => s.peakRssBytes)));
    await checkVerify(new FolderTarget(out), tree.root, 'shard');
    process.stderr.write(`  shard run ${r + 1}/${runs}: one load ${m.wallSeconds.toFixed(2)} s; plan ${p.wallSeconds.toFixed(2)} s, ${n} shards ${phases.shards.at(-1)!.toFixed(2)} s, finalize ${f.wallSeconds.toFixed(2)} s; verify OK\n`);
  }
  const row = (label: string, wall: number, rss = 0): Row => ({ label, files: tree.files, bytes: tree.bytes, wall, rss });
  return {
    name: 'shard',
    runs,
    title: `shard: the small tree → file://, one load against plan + ${n} shards at once + finalize`,
    rows: [
      row('clfsload load (one process)', median(single.walls), median(single.rss)),
      row(`plan --shards ${n}`, median(phases.plan)),
      row(`${n} shards at once (the slowest)`, median(phases.shards), median(phases.rss)),
      row('finalize', median(phases.finalize)),
      row('plan + shards + finalize', median(phases.total)),
    ],
    notes: [
      `each shard (median wall): ${perShard.map((w, k) => `shard ${k} ${median(w).toFixed(2)} s`).join(', ')}; the plan's balance (max/mean of its estimates) ${balance.toFixed(2)}`,
      `the ${n} shards share this machine's ${availableParallelism()} cores: the figure shows the mechanism's cost, not the speed-up of ${n} machines`,
    ],
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  fs.mkdirSync(CACHE, { recursive: true });
  await dropWork();
  const q = o.quick;
  const smallFiles = q ? 2000 : 20_000;
  const smallDirs = q ? 20 : 200;
  const largeBytes = q ? 16 * MIB : 256 * MIB;
  const results: CaseResult[] = [];
  const ownBlocks = new Map<string, string>();
  const small = () => cached(`small-${smallFiles}-${smallDirs}`, (root) => buildSmall(root, smallFiles, smallDirs));
  for (const c of o.cases) {
    process.stderr.write(`== ${c}\n`);
    if (c === 'small') {
      results.push(await folderCase('small', `small: ${smallFiles} files of 1–8 KiB (half text, half random) in ${smallDirs} directories, two levels deep → file://, the reference side by side`, small(), o, o.runs, true, [DEFAULT_VARIANT], false, true));
    } else if (c === 'flush') {
      // what durability costs a load (the loader flushes the folder target before it records
      // entries done): the default, syncfs where it is trustworthy (folder-sync.ts), against an
      // fsync of every file and against no flush at all (CLFSLOAD_FOLDER_FSYNC, DEVELOPERS.md)
      results.push(
        await folderCase('flush', `flush: the small tree → file://, by how the folder target makes blobs durable (CLFSLOAD_FOLDER_FSYNC)`, small(), o, o.runs, true, [
          { label: 'clfsload → file:// (default: auto)', args: [] },
          { label: 'CLFSLOAD_FOLDER_FSYNC=fsync (each file, then the folder)', args: [], env: { CLFSLOAD_FOLDER_FSYNC: 'fsync' } },
          { label: 'CLFSLOAD_FOLDER_FSYNC=0 (no flush: not durable)', args: [], env: { CLFSLOAD_FOLDER_FSYNC: '0' } },
        ]),
      );
    } else if (c === 'large') {
      const t = cached(`large-4x${largeBytes / MIB}`, (root) => buildLarge(root, largeBytes));
      results.push(
        await folderCase('large', `large: four ${largeBytes / MIB} MiB files (two text-like, two random) → file://`, t, o, o.runs, true, [
          DEFAULT_VARIANT,
          // the same load without LZ4: how much of the time is compression
          { label: 'clfsload → file://, --compression disabled', args: ['--compression', 'disabled'] },
          // what the lz4 row does: nothing made durable before the exit
          { label: 'clfsload → file://, CLFSLOAD_FOLDER_FSYNC=0 (not durable at exit, like the lz4 row)', args: [], env: { CLFSLOAD_FOLDER_FSYNC: '0' } },
        ], true),
      );
    } else if (c === 'latency') {
      results.push(await latencyCase(small(), o, o.runs));
    } else if (c === 'http') {
      results.push(await httpCase(small(), o, o.runs));
    } else if (c === 'http20') {
      results.push(await http20Case(small(), o, o.runs));
    } else if (c === 'limits') {
      const t = cached(`large-4x${largeBytes / MIB}`, (root) => buildLarge(root, largeBytes));
      results.push(await limitsCase(t, small(), o, o.runs));
    } else if (c === 'verify') {
      results.push(await verifyCase(small(), cached('small-2000-20', (root) => buildSmall(root, 2000, 20)), o, o.runs));
    } else if (c === 'hugedir') {
      const t = cached(`hugedir-${o.hugedirFiles}`, (root) => buildHugedir(root, o.hugedirFiles));
      // memory is the point here (issue 11: under 250 MB), and a run takes minutes: once unless --runs
      const runs = o.runsGiven ? o.runs : 1;
      results.push(await folderCase('hugedir', `hugedir: one directory of ${o.hugedirFiles} empty files → file:// (${runs} run${runs === 1 ? '' : 's'})`, t, o, runs, false));
    } else if (c === 'update') {
      const files = q ? Math.min(o.updateFiles, 5000) : o.updateFiles;
      const t = cached(`update-${files}`, (root) => buildSmall(root, files, Math.max(1, Math.ceil(files / 1000))));
      results.push(await updateCase(t, o, o.runs));
    } else if (c === 'shard') {
      results.push(await shardCase(small(), o, o.runs));
    } else if (c === 'scaling') {
      results.push(await scalingCase(small(), o, o.runs));
    } else if (c === 'copy') {
      // its own tables (bench/copy-bench.ts): tools side by side through the delayfs mount
      // through the installed command's launcher (dist/bin/clfsload.cjs), as a user's `clfsload copy` runs
      ownBlocks.set('copy', await copyBench({ quick: q, cache: CACHE, cli: CLI.replace(/\.js$/, '.cjs'), repo: REPO }));
    } else if (c === 'scale') {
      const t = cached(`scale-${o.scaleFiles}`, (root) => buildScale(root, o.scaleFiles));
      // the median of --runs like every case (the issue asks for several runs): about 5 minutes a
      // run at 1,000,000 files, most of it the verify that every run must pass
      const runs = o.runs;
      results.push(await folderCase('scale', `scale: ${o.scaleFiles} empty files in ${Math.min(1000, Math.ceil(o.scaleFiles / 1000))} directories → file:// (${runs} run${runs === 1 ? '' : 's'})`, t, o, runs, false));
    }
  }
  const command = ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');
  const blocks = new Map([...results.map((c): [string, string] => [c.name, caseBlock(c, o, command)]), ...ownBlocks]);
  process.stdout.write(`${preamble(o)}\n\n${[...blocks.values()].join('\n\n')}\n`);
  if (o.writeDocs) {
    writeDocs(blocks, o);
    process.stderr.write(`written to ${path.relative(REPO, DOCS)}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
