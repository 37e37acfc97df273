/**
 * Client CPU per Put Blob through each layer of the request path, without the loader around it
 * (issue 17: what of the `http` case's loader CPU per request is the request path). Each mode runs
 * in its own child process against bench/mini-blob-server.ts in another process, and puts N blobs
 * of the `http` case's mean size (2.8 KiB) with C in flight; the child's own user+sys CPU over
 * the puts (process.cpuUsage, start-up and warm-up left out) divided by N is the figure.
 *
 *   node dist/bench/put-cpu.js [--n 20000] [--concurrency 256] [--rounds 3] [--modes bare,lean,azure,retry]
 *
 * Modes, each adding one layer:
 *   bare   http.request on a keep-alive agent (maxSockets = C), the same headers, Content-MD5 included
 *   lean-http  LeanPut.put on node:http (transport 'http': the path through a proxy, and before issue 17)
 *   lean   LeanPut.put (src/targets/lean-put.ts) on its own sockets (http1-pool.ts)
 *   azure  AzureTarget.put (the lean put with the target's error mapping)
 *   retry  RetryTarget(AzureTarget).put: what the loader calls (throttle, deadline signal)
 * Modes alternate in each round (bare lean azure retry, bare lean ...); the medians are printed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { fileURLToPath } from 'node:url';
import { AzureTarget, openTarget, RetryTarget } from '../src/index.js';
import { LeanPut } from '../src/targets/lean-put.js';

const MODES = ['bare', 'lean-http', 'lean', 'azure', 'retry'] as const;
type Mode = (typeof MODES)[number];

function args(): Record<string, string> {
  const a = process.argv.slice(2);
  const out: Record<string, string> = {};
  for (let i = 0; i < a.length; i += 2) out[a[i]!.replace(/^--/, '')] = a[i + 1] ?? '';
  return out;
}

/** Bodies like the http case's blobs: 1-5 KiB, mean about 2.8 KiB. */
function bodies(n: number): Buffer[] {
  const out: Buffer[] = [];
  let x = 1;
  for (let i = 0; i < 64; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const b = Buffer.alloc(1024 + (x % 3600));
    b.fill(i);
    out.push(b);
  }
  return Array.from({ length: n }, (_, i) => out[i % out.length]!);
}

async function child(mode: Mode, url: string, n: number, concurrency: number): Promise<void> {
  const u = new URL(url);
  const containerUrl = `${u.origin}${u.pathname}`;
  const sas = u.search.slice(1);
  let put: (name: string, body: Buffer) => Promise<void>;
  let close = (): Promise<void> | void => undefined;
  if (mode === 'bare') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    close = () => agent.destroy();
    put = (name, body) =>
      new Promise((resolve, reject) => {
        const req = http.request(
          {
            host: u.hostname,
            port: Number(u.port),
            path: `${u.pathname}/${encodeURIComponent(name)}?${sas}`,
            method: 'PUT',
            agent,
            headers: {
              'x-ms-blob-type': 'BlockBlob',
              'x-ms-version': '2023-11-03',
              'content-type': 'application/octet-stream',
              'content-length': body.byteLength,
              'content-md5': createHash('md5').update(body).digest('base64'),
              'user-agent': 'clfsload',
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
  } else if (mode === 'lean' || mode === 'lean-http') {
    const lean = new LeanPut(containerUrl, sas, concurrency, mode === 'lean-http' ? { transport: 'http' } : {});
    close = () => lean.close();
    put = (name, body) => lean.put(name, body);
  } else {
    const azure = openTarget(url, { azure: { maxConnections: concurrency } }) as AzureTarget;
    const target = mode === 'retry' ? new RetryTarget(azure) : azure;
    close = () => target.close?.();
    put = (name, body) => target.put(name, body);
  }
  const all = bodies(n);
  const run = async (count: number, prefix: string): Promise<void> => {
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let i = next++; i < count; i = next++) await put(`${prefix}${i.toString(16).padStart(8, '0')}`, all[i]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  };
  await run(Math.min(2000, n), 'warm/'); // JIT and sockets warm
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await run(n, `${mode}/`);
  const c = process.cpuUsage(c0);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  await close();
  process.stdout.write(`${JSON.stringify({ mode, n, usPerPut: (c.user + c.system) / n, userUs: c.user / n, sysUs: c.system / n, putsPerSecond: n / wall })}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function driver(): Promise<void> {
  const a = args();
  const n = Number(a.n ?? 20_000);
  const concurrency = Number(a.concurrency ?? 256);
  const rounds = Number(a.rounds ?? 3);
  const modes = (a.modes ?? MODES.join(',')).split(',') as Mode[];
  const self = fileURLToPath(import.meta.url);
  const server = spawn(process.execPath, [self.replace(/put-cpu\.js$/, 'mini-blob-server.js'), '--container', 'putcpu'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve) => server.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
  const results = new Map<Mode, Array<{ usPerPut: number; userUs: number; sysUs: number; putsPerSecond: number }>>();
  try {
    for (let r = 0; r < rounds; r++) {
      for (const mode of modes) {
        const out = execFileSync(process.execPath, [self, '--child', mode, '--url', url, '--n', String(n), '--concurrency', String(concurrency)], { encoding: 'utf8' });
        const line = JSON.parse(out.trim().split('\n').pop()!) as { usPerPut: number; userUs: number; sysUs: number; putsPerSecond: number };
        results.set(mode, [...(results.get(mode) ?? []), line]);
        process.stderr.write(`  round ${r + 1}/${rounds} ${mode}: ${line.usPerPut.toFixed(0)} µs CPU per put (user ${line.userUs.toFixed(0)}, sys ${line.sysUs.toFixed(0)}), ${line.putsPerSecond.toFixed(0)} puts/s\n`);
      }
    }
  } finally {
    server.kill('SIGTERM');
  }
  process.stdout.write(`client CPU per Put Blob, ${n} puts of 1-4.5 KiB, ${concurrency} in flight, medians of ${rounds} alternating rounds (node ${process.version}):\n\n`);
  process.stdout.write('| mode | µs CPU per put | user | sys | puts/s |\n|---|---:|---:|---:|---:|\n');
  for (const mode of modes) {
    const rs = results.get(mode)!;
    process.stdout.write(`| ${mode} | ${median(rs.map((x) => x.usPerPut)).toFixed(0)} | ${median(rs.map((x) => x.userUs)).toFixed(0)} | ${median(rs.map((x) => x.sysUs)).toFixed(0)} | ${median(rs.map((x) => x.putsPerSecond)).toFixed(0)} |\n`);
  }
}

const a = args();
if (a.child !== undefined) await child(a.child as Mode, a.url!, Number(a.n), Number(a.concurrency));
else await driver();
