/**
 * One command's CPU by thread (bench/measure-child.ts, `threads`): wall, the process's CPU, and each
 * thread's user + system seconds, named as the loader names them (the main thread, clfs-encode,
 * clfs-writer; V8's and libuv's threads are "node").
 *
 *   node dist/bench/thread-cpu.js [--cpus 0,1] [--runs N] -- COMMAND [ARG ...]
 *
 * e.g. node dist/bench/thread-cpu.js --runs 3 -- node dist/bin/clfsload.js load TREE file:///OUT --new --state S
 * (a load refuses a non-empty target: give each run its own output, e.g. through sh -c '...$$...').
 */
import { measureChild } from './measure-child.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const dashes = argv.indexOf('--');
  if (dashes < 0 || dashes === argv.length - 1) throw new Error('usage: thread-cpu [--cpus LIST] [--runs N] -- COMMAND [ARG ...]');
  const opts = argv.slice(0, dashes);
  const [cmd, ...args] = argv.slice(dashes + 1);
  let cpus: string | undefined;
  let runs = 1;
  for (let i = 0; i < opts.length; i++) {
    if (opts[i] === '--cpus') cpus = opts[++i];
    else if (opts[i] === '--runs') runs = Number(opts[++i]);
    else throw new Error(`unknown option ${opts[i]}`);
  }
  for (let r = 0; r < runs; r++) {
    const m = await measureChild(cmd!, args, { threads: true, cpus });
    if (m.exitCode !== 0) throw new Error(`exit ${m.exitCode}: ${m.stderr.slice(-2000)}`);
    const threads = (m.threads ?? []).filter((t) => t.cpuSeconds >= 0.01);
    const shown = threads.map((t) => `${t.main ? 'main' : t.name} ${t.cpuSeconds.toFixed(2)}`).join(', ');
    process.stdout.write(`run ${r + 1}: wall ${m.wallSeconds.toFixed(2)} s, CPU ${m.cpuSeconds?.toFixed(2) ?? '?'} s, peak RSS ${(m.peakRssBytes / 1048576).toFixed(0)} MiB; threads (s): ${shown}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`thread-cpu: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
