/**
 * The delayfs harness's own ceiling (run by copy-bench.ts as a child with a large thread pool):
 *   node dist/bench/copy-ceiling.js meta|create|bytes DIR CONCURRENCY SECONDS
 *   node dist/bench/copy-ceiling.js copy DIR CONCURRENCY SOURCE_DIR
 * meta: utimes calls/s on existing files; create: files/s created with create + write(4 KiB) +
 * futimes + close, spread over 64 directories; bytes: MiB/s of 1 MiB writes by CONCURRENCY writers
 * (from memory: nothing read); copy: MiB/s of the files of SOURCE_DIR (the large tree) copied
 * once into DIR in 16 MiB ranges by CONCURRENCY workers, 1 MiB reads and writes, no metadata: the
 * same bytes a copy tool moves, read from the source as it is (the bench drops caches first).
 * Prints one number.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const [mode, dir, concArg, secArg] = process.argv.slice(2);
const conc = Number(concArg);
const ms = mode === 'copy' ? Infinity : Number(secArg) * 1000;
fs.rmSync(dir!, { recursive: true, force: true });
fs.mkdirSync(dir!, { recursive: true });
const dirs = 64;
for (let d = 0; d < dirs; d++) fs.mkdirSync(path.join(dir!, `d${d}`));
const buf = Buffer.alloc(mode === 'bytes' ? 1 << 20 : 4096, 7);
let done = 0;
const t0 = Date.now();
async function worker(k: number): Promise<void> {
  if (mode === 'meta') {
    const p = path.join(dir!, `d${k % dirs}`);
    while (Date.now() - t0 < ms) {
      await fs.promises.utimes(p, 1, 1);
      done += 1;
    }
  } else if (mode === 'create') {
    for (let i = 0; Date.now() - t0 < ms; i++) {
      const h = await fs.promises.open(path.join(dir!, `d${k % dirs}`, `f${k}-${i}`), 'wx', 0o644);
      await h.write(buf, 0, buf.length, 0);
      await h.utimes(1, 1);
      await h.close();
      done += 1;
    }
  } else {
    const h = await fs.promises.open(path.join(dir!, `d${k % dirs}`, `big${k}`), 'w');
    for (let pos = 0; Date.now() - t0 < ms; pos += buf.length) {
      await h.write(buf, 0, buf.length, pos);
      done += 1;
    }
    await h.close();
  }
}
if (mode === 'copy') {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.isFile()) files.push(path.join(d, e.name));
    }
  };
  walk(secArg!);
  const RANGE = 16 << 20;
  const ranges: Array<{ src: fs.promises.FileHandle; dst: fs.promises.FileHandle; start: number; end: number }> = [];
  const open: fs.promises.FileHandle[] = [];
  for (const [i, f] of files.entries()) {
    const size = fs.statSync(f).size;
    const src = await fs.promises.open(f, 'r');
    const dst = await fs.promises.open(path.join(dir!, `d${i % dirs}`, `copy${i}`), 'wx', 0o644);
    open.push(src, dst);
    for (let start = 0; start < size; start += RANGE) ranges.push({ src, dst, start, end: Math.min(size, start + RANGE) });
  }
  // the ranges of all files interleaved from their starts, as a copy tool spreads them
  ranges.sort((a, b) => a.start - b.start);
  let next = 0;
  await Promise.all(
    Array.from({ length: conc }, async () => {
      const b = Buffer.allocUnsafe(1 << 20);
      while (next < ranges.length) {
        const r = ranges[next++]!;
        for (let pos = r.start; pos < r.end; ) {
          const { bytesRead } = await r.src.read(b, 0, Math.min(b.length, r.end - pos), pos);
          if (bytesRead === 0) break;
          await r.dst.write(b, 0, bytesRead, pos);
          pos += bytesRead;
          done += bytesRead / (1 << 20);
        }
      }
    }),
  );
  for (const h of open) await h.close();
} else await Promise.all(Array.from({ length: conc }, (_, k) => worker(k)));
const s = (Date.now() - t0) / 1000;
process.stdout.write(`${(done / s).toFixed(0)}\n`);
fs.rmSync(dir!, { recursive: true, force: true });
