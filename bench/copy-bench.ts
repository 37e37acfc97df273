/**
 * The copy case (`npm run bench -- --only copy`): copy tools side by side into a destination
 * behind delayfs (bench/delayfs/delayfs.c), a FUSE passthrough that sleeps a fixed time in every
 * operation (1 ms: a client-to-cache round trip; and 0), so every tool pays the same cost per
 * operation. The harness's own ceiling is measured first (copy-ceiling.ts): a figure near it is
 * bound by the harness, not by the tool.
 *
 * Tools: cp -a; the manual recipe (one cp -pR per top-level directory in the background);
 * the parallelcp recipe (find | parallel -j N cp -P, mkdir -p per directory); fpsync -n N;
 * rsync -a; rclone copy --transfers N; clfsload copy (--threads N, and its adaptive default).
 * Each row: seconds, files/s, MiB/s, file-system operations per file (counted by delayfs), peak
 * RSS, and whether `clfsload compare` finds the copy equal to its source. Shards: four
 * `clfsload copy --shard K/4` at once into one destination, and `copy --report`'s max/mean.
 *
 * Needs root (FUSE mount, dropping caches), cc, libfuse3-dev, fuse3, and the tools (installed
 * with apt-get when missing: fuse3 libfuse3-dev fpart rsync rclone parallel).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { measureChild } from './measure-child.js';
import { buildSmallFilesTree } from '../test/helpers/tree-builder.js';

const MIB = 1048576;

export interface CopyBenchOptions {
  quick: boolean;
  cache: string;
  cli: string;
  repo: string;
  /** delays in µs per operation (default 1000 and 0) */
  delaysUs?: number[];
  sweep?: number[];
}

interface Tree {
  name: string;
  root: string;
  files: number;
  bytes: number;
}

interface Row {
  tree: string;
  delayUs: number;
  tool: string;
  n?: number;
  seconds: number;
  filesPerSecond: number;
  mibPerSecond: number;
  opsPerFile: number;
  /** the tool's own CPU (user + system, all its processes) per file, ms */
  cpuMsPerFile?: number;
  /** delayfs's CPU per request it answered during the row, µs */
  delayfsUsPerOp?: number;
  /** the part of the tree the row copied when not all of it (the slow per-file tools on a large tree) */
  scope?: string;
  peakRssMb: number;
  exit: number;
  equal: string;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function ensureTools(): void {
  const need = [
    ['cc', 'gcc'],
    ['fusermount3', 'fuse3'],
    ['rsync', 'rsync'],
    ['rclone', 'rclone'],
    ['fpsync', 'fpart'],
    ['parallel', 'parallel'],
  ].filter(([c]) => !have(c!));
  const headers = fs.existsSync('/usr/include/fuse3/fuse.h') ? [] : ['libfuse3-dev'];
  const pkgs = [...need.map(([, p]) => p!), ...headers];
  if (pkgs.length === 0) return;
  process.stderr.write(`copy bench: installing ${pkgs.join(' ')}\n`);
  const r = spawnSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'inherit' });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'inherit' });
  }
}

function buildDelayfs(o: CopyBenchOptions): string {
  const bin = path.join(o.cache, 'delayfs');
  const src = path.join(o.repo, 'bench', 'delayfs', 'delayfs.c');
  if (!fs.existsSync(bin) || fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs) {
    const flags = execFileSync('pkg-config', ['fuse3', '--cflags', '--libs'], { encoding: 'utf8' }).trim().split(/\s+/);
    execFileSync('cc', ['-O2', '-Wall', src, ...flags, '-o', bin], { stdio: 'inherit' });
  }
  return bin;
}

interface Mount {
  point: string;
  under: string;
  pid: number;
  stats: string;
  ops(): Promise<number>;
  /** delayfs's CPU so far (user + system), seconds */
  cpu(): number;
  unmount(): Promise<void>;
}

async function mountDelayfs(bin: string, o: CopyBenchOptions, delayUs: number): Promise<Mount> {
  const base = path.join(o.cache, `copy-delay-${delayUs}`);
  const point = path.join(base, 'mnt');
  const under = path.join(base, 'under');
  const stats = path.join(base, 'ops');
  spawnSync('fusermount3', ['-u', point], { stdio: 'ignore' });
  fs.mkdirSync(point, { recursive: true });
  fs.mkdirSync(under, { recursive: true });
  // stderr ignored: libfuse 3.14 warns about its own default for max_idle_threads
  const child = spawn(bin, [`--root=${under}`, `--delay-us=${delayUs}`, `--stats=${stats}`, point, '-f', '-o', 'max_threads=256,allow_other'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    if (fs.readFileSync('/proc/mounts', 'utf8').includes(` ${point} fuse.delayfs `)) break;
  }
  const pid = child.pid!;
  return {
    point,
    under,
    pid,
    stats,
    async ops() {
      fs.rmSync(stats, { force: true });
      process.kill(pid, 'SIGUSR1');
      for (let i = 0; i < 100 && !fs.existsSync(stats); i++) await new Promise((r) => setTimeout(r, 10));
      // the first line is the total (one per kernel request); per operation after it
      return Number(fs.readFileSync(stats, 'utf8').split('\n')[0]!.trim());
    },
    cpu() {
      // /proc/PID/stat: utime and stime are fields 14 and 15, in clock ticks (100 a second); the name field may hold spaces
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    },
    async unmount() {
      spawnSync('fusermount3', ['-u', point], { stdio: 'ignore' });
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    },
  };
}

function treeOf(o: CopyBenchOptions, name: string, build: (root: string) => void): Tree {
  const root = path.join(o.cache, 'copy-trees', name);
  const done = `${root}.done`;
  if (!fs.existsSync(done)) {
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root, { recursive: true });
    build(root);
    fs.writeFileSync(done, '');
  }
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        files += 1;
        bytes += fs.lstatSync(p).size;
      }
    }
  };
  walk(root);
  return { name, root, files, bytes };
}

function dropCaches(): void {
  spawnSync('sync');
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {
    // not root: the runs see a warm cache
  }
}

function toolCommand(tool: string, n: number | undefined, src: string, dst: string, o: CopyBenchOptions, stateDir: string): [string, string[], NodeJS.ProcessEnv?] {
  const sh = (script: string): [string, string[]] => ['bash', ['-c', script]];
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  switch (tool) {
    case 'cp -a':
      return sh(`cp -a ${q(src)}/. ${q(dst)}/`);
    case 'manual (cp -pR per top dir)':
      return sh(`cd ${q(src)} && for d in *; do cp -pR "$d" ${q(dst)}/ & done; wait`);
    case 'parallel -j N cp -P':
      return sh(`cd ${q(src)} && find . -type d | parallel -j ${n} mkdir -p ${q(dst)}/{} && find . ! -type d | parallel -j ${n} cp -P {} ${q(dst)}/{}`);
    case 'fpsync -n N':
      return ['fpsync', ['-n', String(n), '-f', '1000', '-t', path.join(stateDir, 'fpsync'), src, dst]];
    case 'rsync -a':
      return ['rsync', ['-a', `${src}/`, `${dst}/`]];
    case 'rclone copy --transfers N':
      return ['rclone', ['copy', '--transfers', String(n), '--checkers', String(n), '--links', '-q', src, dst]];
    case 'clfsload copy':
      return [process.execPath, [o.cli, 'copy', src, dst, '--state-dir', stateDir, '--new', ...(n !== undefined ? ['--threads', String(n)] : [])]];
    default:
      throw new Error(tool);
  }
}

const TOOLS: Array<{ tool: string; swept: boolean }> = [
  { tool: 'cp -a', swept: false },
  { tool: 'manual (cp -pR per top dir)', swept: false },
  { tool: 'parallel -j N cp -P', swept: true },
  { tool: 'fpsync -n N', swept: true },
  { tool: 'rsync -a', swept: false },
  { tool: 'rclone copy --transfers N', swept: true },
  { tool: 'clfsload copy', swept: true },
];

async function runTool(m: Mount, tree: Tree, delayUs: number, tool: string, n: number | undefined, o: CopyBenchOptions, scope?: string): Promise<Row> {
  const label = `${tool.replace(/\W+/g, '_')}-${n ?? 'default'}`;
  const dst = path.join(m.point, label);
  fs.rmSync(path.join(m.under, label), { recursive: true, force: true });
  fs.mkdirSync(dst);
  const stateDir = path.join(o.cache, 'copy-state', label);
  fs.rmSync(stateDir, { recursive: true, force: true });
  fs.mkdirSync(stateDir, { recursive: true });
  dropCaches();
  const before = await m.ops();
  const cpuBefore = m.cpu();
  const [cmd, args, env] = toolCommand(tool, n, tree.root, dst, o, stateDir);
  const r = await measureChild(cmd, args, { env: { ...process.env, ...env } });
  const ops = (await m.ops()) - before;
  const fsCpu = m.cpu() - cpuBefore;
  const cmp = spawnSync(process.execPath, [o.cli, 'compare', tree.root, dst, '--json'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  let equal = 'no';
  try {
    const rep = JSON.parse(cmp.stdout.trim().split('\n').pop()!) as { ok: boolean; differencesTotal: number };
    equal = rep.ok ? 'yes' : `no (${rep.differencesTotal} differences)`;
  } catch {
    equal = `compare failed (${cmp.status})`;
  }
  fs.rmSync(path.join(m.under, label), { recursive: true, force: true });
  const row: Row = {
    tree: tree.name,
    delayUs,
    tool,
    ...(n !== undefined ? { n } : {}),
    seconds: r.wallSeconds,
    filesPerSecond: tree.files / r.wallSeconds,
    mibPerSecond: tree.bytes / MIB / r.wallSeconds,
    opsPerFile: ops / tree.files,
    ...(r.cpuSeconds !== undefined ? { cpuMsPerFile: (1000 * r.cpuSeconds) / tree.files } : {}),
    ...(ops > 0 ? { delayfsUsPerOp: (1e6 * fsCpu) / ops } : {}),
    ...(scope !== undefined ? { scope } : {}),
    peakRssMb: r.peakRssBytes / MIB,
    exit: r.exitCode,
    equal,
  };
  // each row as it is measured, so a run stopped part way keeps what it measured
  fs.appendFileSync(path.join(o.cache, 'copy-rows.jsonl'), `${JSON.stringify({ ...row, at: new Date().toISOString() })}\n`);
  process.stderr.write(`  ${tree.name}${scope !== undefined ? ` (${scope})` : ''} ${delayUs}us ${tool}${n !== undefined ? ` N=${n}` : ''}: ${row.seconds.toFixed(2)} s, ${row.filesPerSecond.toFixed(0)} files/s, ${row.mibPerSecond.toFixed(1)} MiB/s, ${row.opsPerFile.toFixed(1)} ops/file, ${row.peakRssMb.toFixed(0)} MB, exit ${row.exit}, equal ${equal}\n`);
  return row;
}

/** `last`: seconds, or for the copy mode the source directory */
function ceiling(o: CopyBenchOptions, m: Mount, mode: string, conc: number, last: number | string): number {
  const script = path.join(o.repo, 'dist', 'bench', 'copy-ceiling.js');
  const r = spawnSync(process.execPath, [script, mode, path.join(m.point, `ceiling-${mode}`), String(conc), String(last)], { encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '256' } });
  return Number(r.stdout.trim());
}

/**
 * The same ceilings measured by plain processes, which a Node loop can understate (its own CPU
 * per call): `dd` writing 1 MiB blocks from /dev/zero, `writers` at once, 1 GiB in all; or with
 * `sources`, one `dd` per source file copying it (cold: the caller drops caches first). MiB/s.
 */
async function ddCeiling(m: Mount, writers: number, sources?: string[]): Promise<number> {
  const dir = path.join(m.point, sources === undefined ? 'ceiling-dd' : 'ceiling-dd-copy');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const jobs = sources ?? Array.from({ length: writers }, () => '/dev/zero');
  const bytes = sources === undefined ? 1024 * MIB : sources.reduce((a, f) => a + fs.statSync(f).size, 0);
  const count = sources === undefined ? [`count=${Math.round(1024 / writers)}`] : [];
  const t0 = process.hrtime.bigint();
  await Promise.all(
    jobs.map(
      (src, i) =>
        new Promise<void>((resolve, reject) => {
          const c = spawn('dd', [`if=${src}`, `of=${path.join(dir, `f${i}`)}`, 'bs=1M', ...count, 'status=none'], { stdio: 'ignore' });
          c.on('error', reject);
          c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`dd exited ${code}`))));
        }),
    ),
  );
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  fs.rmSync(dir, { recursive: true, force: true });
  return Math.round(bytes / MIB / s);
}

/** A ceiling and delayfs's CPU per request while it ran (µs). */
async function ceilingWithCpu(o: CopyBenchOptions, m: Mount, mode: string, conc: number, last: number | string): Promise<{ rate: number; usPerOp: number }> {
  const ops0 = await m.ops();
  const cpu0 = m.cpu();
  const rate = ceiling(o, m, mode, conc, last);
  const ops = (await m.ops()) - ops0;
  return { rate, usPerOp: ops > 0 ? (1e6 * (m.cpu() - cpu0)) / ops : 0 };
}

/** The slow per-file tools (one process per file, or one file at a time) copy one top directory of the small tree: its rate per file is theirs for the whole tree. */
const PER_FILE_SLOW = ['rsync -a', 'parallel -j N cp -P'];

function subtree(tree: Tree): Tree & { scope: string } {
  const first = fs.readdirSync(tree.root).sort()[0]!;
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        files += 1;
        bytes += fs.lstatSync(p).size;
      }
    }
  };
  const root = path.join(tree.root, first);
  walk(root);
  return { name: tree.name, root, files, bytes, scope: `${first}/ only: ${files} files` };
}

function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(root);
  return out.sort();
}

async function shardBalance(o: CopyBenchOptions, m: Mount, tree: Tree): Promise<string> {
  const dst = path.join(m.point, 'shards');
  fs.rmSync(path.join(m.under, 'shards'), { recursive: true, force: true });
  fs.mkdirSync(dst);
  const stateDir = path.join(o.cache, 'copy-state', 'shards');
  const t0 = Date.now();
  await Promise.all(
    [0, 1, 2, 3].map(
      (k) =>
        new Promise((resolve) => {
          const c = spawn(process.execPath, [o.cli, 'copy', tree.root, dst, '--shard', `${k}/4`, '--state-dir', stateDir, '--new'], { stdio: 'ignore' });
          c.on('exit', resolve);
        }),
    ),
  );
  const fin = spawnSync(process.execPath, [o.cli, 'copy', '--finalize', tree.root, dst, '--shards', '4'], { encoding: 'utf8' });
  const seconds = (Date.now() - t0) / 1000;
  const rep = JSON.parse(spawnSync(process.execPath, [o.cli, 'copy', '--report', tree.root, dst, '--shards', '4', '--json'], { encoding: 'utf8' }).stdout) as { balance: { files: number; bytes: number } };
  const cmp = spawnSync(process.execPath, [o.cli, 'compare', tree.root, dst], { encoding: 'utf8' });
  fs.rmSync(path.join(m.under, 'shards'), { recursive: true, force: true });
  return `four shards at once on one machine (${tree.name}): ${seconds.toFixed(2)} s including --finalize (exit ${fin.status}), ${(tree.files / seconds).toFixed(0)} files/s; max/mean per shard ${rep.balance.files.toFixed(2)} (files), ${rep.balance.bytes.toFixed(2)} (bytes); compare ${cmp.status === 0 ? 'equal' : 'DIFFERENT'}`;
}

/** Env knobs for a partial run (the docs say which parts a figure comes from): COPY_BENCH_DELAYS=1000,0, COPY_BENCH_TREES=small,medium,large, COPY_BENCH_SWEEP=16,64. */
function listEnv(name: string): string[] | undefined {
  const v = process.env[name];
  return v === undefined || v.trim() === '' ? undefined : v.split(',').map((x) => x.trim());
}

const RECIPES = ['manual (cp -pR per top dir)', 'parallel -j N cp -P', 'fpsync -n N'];

export async function copyBench(o: CopyBenchOptions): Promise<string> {
  if (process.getuid?.() !== 0) throw new Error('the copy bench mounts FUSE and drops caches: run it as root');
  ensureTools();
  const bin = buildDelayfs(o);
  const q = o.quick;
  const want = listEnv('COPY_BENCH_TREES') ?? ['small', 'medium', 'large'];
  const trees: Array<Tree & { kind: string }> = [];
  if (want.includes('small')) trees.push({ kind: 'small', ...treeOf(o, q ? 'small-1000' : 'small-20000', (r) => buildSmallFilesTree(r, q ? 1000 : 20_000, q ? 20 : 200)) });
  if (want.includes('medium')) trees.push({ kind: 'medium', ...treeOf(o, q ? 'medium-3000' : 'medium-200000', (r) => buildSmallFilesTree(r, q ? 3000 : 200_000, q ? 60 : 2000, 2)) });
  if (want.includes('large')) {
    trees.push({
      kind: 'large',
      ...treeOf(o, q ? 'large-4x8' : 'large-4x256', (r) => {
        for (let i = 0; i < 4; i++) {
          fs.mkdirSync(path.join(r, `d${i}`));
          const fd = fs.openSync(path.join(r, `d${i}`, `big${i}`), 'w');
          const chunk = Buffer.alloc(MIB);
          for (let k = 0; k < (q ? 8 : 256); k++) {
            chunk.fill((i * 31 + k) & 0xff);
            fs.writeSync(fd, chunk);
          }
          fs.closeSync(fd);
        }
      }),
    });
  }
  // in the order given (the small tree first: it ranks the tools for the 200,000-file tree)
  trees.sort((a, b) => want.indexOf(a.kind) - want.indexOf(b.kind));
  const delays = o.delaysUs ?? listEnv('COPY_BENCH_DELAYS')?.map(Number) ?? (q ? [1000] : [1000, 0]);
  const sweep = o.sweep ?? listEnv('COPY_BENCH_SWEEP')?.map(Number) ?? (q ? [16] : [16, 64]);
  // COPY_BENCH_TOOLS=manual,fpsync,rclone,clfsload: only the tools whose names start so
  const onlyTools = listEnv('COPY_BENCH_TOOLS');
  const rows: Row[] = [];
  const ceilings: string[] = [];
  const shards: string[] = [];
  const notRun: string[] = [];
  const verdicts: string[] = [];
  const rate = (r: Row, large: boolean) => (large ? r.mibPerSecond : r.filesPerSecond);
  for (const delayUs of delays) {
    const m = await mountDelayfs(bin, o, delayUs);
    try {
      const meta = ceiling(o, m, 'meta', 128, q ? 1 : 3);
      const createC = await ceilingWithCpu(o, m, 'create', 128, q ? 1 : 3);
      const create = createC.rate;
      const bytes = ceiling(o, m, 'bytes', 16, q ? 1 : 3);
      ceilings.push(
        `delayfs at ${delayUs} µs per operation: ${meta} utimes/s, ${create} files/s created (create + 4 KiB write + futimes + close, 128 at once over 64 directories; delayfs's own CPU ${createC.usPerOp.toFixed(0)} µs per request, 5 requests per file), ${bytes} MiB/s written (16 writers of 1 MiB from memory)`,
      );
      // the best N of each tool on the small tree: the 200,000-file tree runs the tools at it
      const bestN = new Map<string, number | undefined>();
      let bestRecipe: string | undefined;
      for (const tree of trees) {
        const large = tree.kind === 'large';
        // the large tree's byte ceiling again, just before its rows (the machine's load moves)
        const nodeByteCeiling = large ? ceiling(o, m, 'bytes', 16, q ? 1 : 3) : 0;
        // and the same bytes read from the cold source and written, no metadata: what any tool can reach
        if (large) dropCaches();
        const nodeCopyCeiling = large ? ceiling(o, m, 'copy', 16, tree.root) : 0;
        // the same two by dd processes: on 2 cores a Node loop's own CPU per call held its figure to
        // half of what 16 dd wrote (2026-12-02: 422 against 908 MiB/s at 1 ms)
        const ddBytes = large ? await ddCeiling(m, 16) : 0;
        if (large) dropCaches();
        const ddCopy = large ? await ddCeiling(m, 0, filesUnder(tree.root)) : 0;
        const byteCeiling = Math.max(nodeByteCeiling, ddBytes);
        const copyCeiling = Math.max(nodeCopyCeiling, ddCopy);
        if (large)
          ceilings.push(
            `delayfs at ${delayUs} µs, ${tree.name}: written from memory ${nodeByteCeiling} MiB/s by a Node loop (16 writers of 1 MiB), ${ddBytes} MiB/s by 16 dd (bs=1M); copied from the cold source ${nodeCopyCeiling} MiB/s by a Node loop (16 MiB ranges, 16 at once, 1 MiB reads and writes, no metadata), ${ddCopy} MiB/s by one dd per file (bs=1M); just before the tree's rows (the higher of each pair is the ceiling below)`,
          );
        const here: Row[] = [];
        for (const { tool, swept } of TOOLS) {
          if (onlyTools !== undefined && !onlyTools.some((t) => tool.startsWith(t))) {
            notRun.push(`${tree.name} at ${delayUs} µs: ${tool} (left out of this run by COPY_BENCH_TOOLS)`);
            continue;
          }
          if (tool === 'cp -a' && tree.files > 50_000 && delayUs > 0 && !q) {
            notRun.push(`${tree.name} at ${delayUs} µs: cp -a (about 100 files/s through the mount: over half an hour)`);
            continue;
          }
          let ns: Array<number | undefined> = swept ? sweep : [undefined];
          if (tree.kind === 'medium' && !q) {
            // the tree of 200,000 files: clfsload, rclone and the best recipe of the small tree, at their best N
            if (tool !== 'clfsload copy' && tool !== 'rclone copy --transfers N' && tool !== bestRecipe) {
              notRun.push(`${tree.name} at ${delayUs} µs: ${tool} (minutes to hours on 200,000 files; the small tree ranks it)`);
              continue;
            }
            if (bestN.has(tool)) ns = [bestN.get(tool)];
          }
          const part = tree.kind === 'small' && !q && PER_FILE_SLOW.includes(tool) ? subtree(tree) : undefined;
          for (const n of ns) here.push(await runTool(m, part ?? tree, delayUs, tool, n, o, part?.scope));
          if (tool === 'clfsload copy') here.push(await runTool(m, tree, delayUs, tool, undefined, o));
        }
        rows.push(...here);
        const ok = here.filter((r) => r.exit === 0);
        const best = (pred: (r: Row) => boolean) => ok.filter(pred).sort((a, b) => rate(b, large) - rate(a, large))[0];
        if (tree.kind === 'small') {
          for (const { tool } of TOOLS) {
            const b = best((r) => r.tool === tool);
            if (b !== undefined) bestN.set(tool, b.n);
          }
          bestRecipe = best((r) => RECIPES.includes(r.tool))?.tool;
        }
        const ours = best((r) => r.tool === 'clfsload copy');
        const other = best((r) => r.tool !== 'clfsload copy');
        const cp = best((r) => r.tool === 'cp -a');
        if (ours !== undefined) {
          const unit = large ? 'MiB/s' : 'files/s';
          const parts = [`${tree.name} at ${delayUs} µs: clfsload copy ${rate(ours, large).toFixed(large ? 0 : 0)} ${unit} (N=${ours.n ?? 'adaptive'})`];
          if (other !== undefined) parts.push(`${(rate(ours, large) / rate(other, large)).toFixed(2)}x the best other tool (${other.tool}${other.n !== undefined ? ` N=${other.n}` : ''}, ${rate(other, large).toFixed(0)} ${unit})`);
          if (cp !== undefined) parts.push(`${(rate(ours, large) / rate(cp, large)).toFixed(1)}x cp -a`);
          if (large) parts.push(`${((100 * ours.mibPerSecond) / byteCeiling).toFixed(0)}% of the byte ceiling measured just before (${byteCeiling} MiB/s), ${((100 * ours.mibPerSecond) / copyCeiling).toFixed(0)}% of the cold-source copy ceiling (${copyCeiling} MiB/s)`);
          else parts.push(`${((100 * ours.filesPerSecond) / create).toFixed(0)}% of the harness's create ceiling (${create} files/s)`);
          parts.push(`${ours.opsPerFile.toFixed(1)} operations per file${ours.cpuMsPerFile !== undefined ? `, ${ours.cpuMsPerFile.toFixed(2)} ms of its own CPU per file` : ''}, peak RSS ${ours.peakRssMb.toFixed(0)} MB${tree.kind === 'medium' && !q ? ' (target ≤ 250 MB)' : ''}`);
          verdicts.push(parts.join('; '));
        }
      }
      if (delayUs > 0 && trees[0] !== undefined && trees[0].kind === 'small') shards.push(await shardBalance(o, m, trees[0]));
    } finally {
      await m.unmount();
    }
  }
  const knobs = ['COPY_BENCH_DELAYS', 'COPY_BENCH_TREES', 'COPY_BENCH_SWEEP', 'COPY_BENCH_TOOLS', 'BENCH_CACHE'].filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`);
  const command = [...knobs, 'npm run bench --', ...process.argv.slice(2)].join(' ');
  const lines = [
    `### Copy through a mount that adds a fixed delay per operation`,
    '',
    `\`${command}\` — ${new Date().toISOString().slice(0, 10)}${q ? ', **--quick sizes**' : ''}; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.version}; load average at the end ${os.loadavg()[0]!.toFixed(1)} (other work shares this machine)`,
    '',
    `Trees: ${trees.map((t) => `${t.name} (${t.files} files, ${(t.bytes / MIB).toFixed(0)} MiB)`).join('; ')}. Delays: ${delays.join(', ')} µs per kernel request. Tools swept over N = ${sweep.join(', ')}. Each figure is one whole-process run (wall time from spawn to exit, caches dropped before it); ops/file counts delayfs's requests (one delay each); CPU ms/file is the tool's own user + system time (all its processes) per file, delayfs µs/request the daemon's (a row whose two CPU figures fill 2 cores is CPU-bound on this machine, whatever the delay). ${PER_FILE_SLOW.join(' and ')} copy one top directory of the small tree (their rate per file does not depend on the tree's size: on the whole tree an earlier run had parallel -j 16 at 641 s and -j 64 past 19 minutes).`,
    '',
    ...ceilings.map((c) => `- harness ceiling: ${c}`),
    ...verdicts.map((v) => `- ${v}`),
    ...shards.map((s) => `- ${s}`),
    ...(notRun.length > 0 ? ['- not run: ' + notRun.join('; ')] : []),
    '',
    '| tree | delay | tool | N | s | files/s | MiB/s | ops/file | CPU ms/file | delayfs µs/request | peak RSS MB | exit | equal (clfsload compare) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.tree}${r.scope !== undefined ? ` (${r.scope})` : ''} | ${r.delayUs} µs | ${r.tool} | ${r.n ?? (r.tool === 'clfsload copy' ? 'adaptive' : '')} | ${r.seconds.toFixed(2)} | ${r.filesPerSecond.toFixed(0)} | ${r.mibPerSecond.toFixed(1)} | ${r.opsPerFile.toFixed(1)} | ${r.cpuMsPerFile?.toFixed(2) ?? '–'} | ${r.delayfsUsPerOp?.toFixed(0) ?? '–'} | ${r.peakRssMb.toFixed(0)} | ${r.exit} | ${r.equal} |`,
    ),
  ];
  return lines.join('\n');
}
