/**
 * What FolderTarget.flush costs, alone: N small blobs (1–8 KiB, incompressible) written with
 * putMany in batches of 1,000, as the loader writes small blobs, with a flush after every
 * `every` blobs, in each durability mode (none, syncfs, fsync), alternating modes run by run,
 * each run into a fresh folder after a `sync`. Not part of `npm run bench` (it measures the
 * target, not a load); see bench/README.md.
 *
 *   node dist/bench/folder-flush.js [--files N] [--every N] [--runs N] [--dir DIR]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FolderTarget } from '../src/targets/index.js';
import type { FolderDurability } from '../src/targets/index.js';
import { randomBytesSeeded, seeded } from '../test/helpers/tree-builder.js';

interface Options {
  files: number;
  every: number;
  runs: number;
  dir: string;
}

function parse(argv: string[]): Options {
  const o: Options = { files: 20_000, every: 1000, runs: 3, dir: path.resolve('.bench-cache', 'flush') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--dir') o.dir = path.resolve(v);
    else if (a === '--files' || a === '--every' || a === '--runs') {
      const n = Number(v.replace(/_/g, ''));
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a}: expected a positive integer, got ${v}`);
      o[a.slice(2) as 'files' | 'every' | 'runs'] = n;
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const BATCH = 1000;

async function once(mode: FolderDurability, dest: string, blobs: Buffer[], every: number): Promise<{ wall: number; flush: number; toDisk: number; stats: FolderTarget['syncStats'] }> {
  fs.mkdirSync(dest, { recursive: true });
  execFileSync('sync');
  const target = new FolderTarget(dest, { durability: mode });
  // start the writer thread and decide the mode outside the measurement
  await target.put('warm', Buffer.from('warm'));
  await target.flush();
  const before = target.syncStats;
  const t0 = performance.now();
  let flushMs = 0;
  let sinceFlush = 0;
  for (let at = 0; at < blobs.length; at += BATCH) {
    const items = blobs.slice(at, at + BATCH).map((data, i) => ({ name: `b${at + i}`, data }));
    await target.putMany(items);
    sinceFlush += items.length;
    if (sinceFlush >= every || at + BATCH >= blobs.length) {
      const f0 = performance.now();
      await target.flush();
      flushMs += performance.now() - f0;
      sinceFlush = 0;
    }
  }
  const wall = (performance.now() - t0) / 1000;
  const s0 = performance.now();
  execFileSync('sync');
  const toDisk = wall + (performance.now() - s0) / 1000;
  const after = target.syncStats;
  const stats = { ...after, syncfs: after.syncfs - before.syncfs, files: after.files - before.files, folders: after.folders - before.folders };
  await target.close();
  return { wall, flush: flushMs / 1000, toDisk, stats };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  fs.rmSync(o.dir, { recursive: true, force: true });
  const rand = seeded(11);
  const blobs = Array.from({ length: o.files }, () => randomBytesSeeded(rand, 1024 + Math.floor(rand() * 7 * 1024)));
  const bytes = blobs.reduce((n, b) => n + b.length, 0);
  const modes: FolderDurability[] = ['none', 'syncfs', 'fsync'];
  const results = new Map(modes.map((m) => [m, [] as Array<Awaited<ReturnType<typeof once>>>]));
  let n = 0;
  for (let r = 0; r < o.runs; r++) {
    for (const mode of modes) {
      const res = await once(mode, path.join(o.dir, `${mode}-${++n}`), blobs, o.every);
      results.get(mode)!.push(res);
      process.stderr.write(`  run ${r + 1} ${mode}: ${res.wall.toFixed(2)} s (flush ${res.flush.toFixed(2)} s), to disk ${res.toDisk.toFixed(2)} s, ${JSON.stringify(res.stats)}\n`);
    }
  }
  const lines = [
    `${o.files} blobs, ${(bytes / 1e6).toFixed(1)} MB, putMany of ${BATCH}, flush every ${o.every} blobs, into ${o.dir}; median of ${o.runs}`,
    '',
    '| durability | wall s | of which in flush s | blobs/s | to disk s | syncfs calls | files fsynced |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const mode of modes) {
    const rs = results.get(mode)!;
    const wall = median(rs.map((x) => x.wall));
    const last = rs[rs.length - 1]!.stats;
    lines.push(`| ${mode} | ${wall.toFixed(2)} | ${median(rs.map((x) => x.flush)).toFixed(2)} | ${(o.files / wall).toFixed(0)} | ${median(rs.map((x) => x.toDisk)).toFixed(2)} | ${last.syncfs} | ${last.files} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  fs.rmSync(o.dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  process.stderr.write(`folder-flush failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
