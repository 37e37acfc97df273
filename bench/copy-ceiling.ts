/**
 * The delayfs harness's own ceiling (run by copy-bench.ts as a child with a large thread pool):
 *   node dist/bench/copy-ceiling.js meta|create|bytes DIR CONCURRENCY SECONDS
 * meta: utimes calls/s on existing files; create: files/s created with create + write(4 KiB) +
 * futimes + close, spread over 64 directories; bytes: MiB/s of 1 MiB writes by CONCURRENCY writers.
 * Prints one number.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const [mode, dir, concArg, secArg] = process.argv.slice(2);
const conc = Number(concArg);
const ms = Number(secArg) * 1000;
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
await Promise.all(Array.from({ length: conc }, (_, k) => worker(k)));
const s = (Date.now() - t0) / 1000;
process.stdout.write(`${(done / s).toFixed(0)}\n`);
fs.rmSync(dir!, { recursive: true, force: true });
