/**
 * Sum self time per function from V8 .cpuprofile files (node --cpu-prof) and print the top ones.
 *
 *   node dist/bench/cpu-profile-summary.js /tmp/prof [TOP=25]
 *
 * Self time of a node = its hit count × the sampling interval (from timeDeltas); nodes are grouped
 * by function name + script (file:line), and also by script, so "where the time goes" shows both
 * the hot functions and the hot modules. (program)/(garbage collector)/(idle) are V8's own buckets.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm);
  if (u.startsWith('node:')) return u;
  return relative(process.cwd(), u);
}

function main(): void {
  const [dir, topArg] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: cpu-profile-summary DIR_OR_FILE [TOP]');
  const top = Number(topArg ?? 25);
  const files = statSync(dir).isDirectory() ? readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f)) : [dir];
  const byFn = new Map<string, number>();
  const byUrl = new Map<string, number>();
  let total = 0;
  let wall = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    wall += (p.endTime - p.startTime) / 1000;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    // time per sample: the delta to the next sample (the last gets the mean)
    const self = new Map<number, number>();
    for (let i = 0; i < p.samples.length; i++) {
      const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
      self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
    }
    for (const [id, ms] of self) {
      const n = nodes.get(id)!;
      const url = shortUrl(n.callFrame.url);
      const fn = `${n.callFrame.functionName || '(anonymous)'}${url ? ` ${url}:${n.callFrame.lineNumber + 1}` : ''}`;
      byFn.set(fn, (byFn.get(fn) ?? 0) + ms);
      const mod = url || n.callFrame.functionName;
      byUrl.set(mod, (byUrl.get(mod) ?? 0) + ms);
      total += ms;
    }
  }
  const print = (title: string, m: Map<string, number>) => {
    process.stdout.write(`\n| ${title} | self ms | % |\n|---|---:|---:|\n`);
    for (const [k, ms] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`| \`${k.replace(/\|/g, '\\|')}\` | ${ms.toFixed(0)} | ${((ms / total) * 100).toFixed(1)} |\n`);
    }
  };
  process.stdout.write(`${files.length} profile(s), ${wall.toFixed(0)} ms profiled, ${total.toFixed(0)} ms of samples\n`);
  print('function (self time)', byFn);
  print('script (self time)', byUrl);
}

main();
