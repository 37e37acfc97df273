/**
 * Codec throughput: encodeBlob / decodeBlob on 8 MiB of text-like and random data, against the `lz4`
 * command-line tool on the same bytes (when it is on PATH), plus the per-call cost on inode-sized
 * bodies. Single-threaded: the figures are MB/s per core. Prints a markdown table.
 *
 *   node dist/bench/codec-bench.js
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBlob, encodeBlob } from '../src/codec/blob-frame.js';
import { blobName, Btype, hash64Hex } from '../src/codec/index.js';
import { generatePayload } from '../test/codec/payload-generators.js';

const MIB = 1048576;
const BODY_BYTES = 8 * MIB;

function timeIt(fn: () => void, minMs = 400): number {
  fn();
  let runs = 0;
  const start = process.hrtime.bigint();
  let elapsedMs = 0;
  do {
    fn();
    runs++;
    elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  } while (elapsedMs < minMs);
  return elapsedMs / runs;
}

function mbps(bytes: number, ms: number): string {
  return ((bytes / 1e6) / (ms / 1000)).toFixed(0);
}

function lz4Cli(): string | undefined {
  const r = spawnSync('lz4', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout || r.stderr).trim().split('\n')[0] : undefined;
}

/** The CLI's own in-memory benchmark (-b1 -B5 -BD: level 1, 256 KiB linked blocks), in MB/s. */
function lz4CliBench(file: string): { c: number; d: number } | undefined {
  const r = spawnSync('lz4', ['-b1', '-B5', '-BD', '-i3', file], { encoding: 'utf8' });
  const out = `${r.stdout}${r.stderr}`;
  const all = [...out.matchAll(/([\d.]+) MB\/s\s*,\s*([\d.]+) MB\/s/g)];
  const m = all[all.length - 1];
  return m ? { c: Number(m[1]), d: Number(m[2]) } : undefined;
}

const rows: string[] = [];
const cli = lz4Cli();
const dir = mkdtempSync(join(tmpdir(), 'codec-bench-'));
try {
  const inputs: [string, Buffer][] = [
    ['text 8 MiB', generatePayload({ generator: 'text', seed: 1, length: BODY_BYTES })],
    ['random 8 MiB', generatePayload({ generator: 'xorshift32', seed: 1, length: BODY_BYTES })],
    ['stamped 8 MiB', generatePayload({ generator: 'stamped', seed: 1, length: BODY_BYTES })],
  ];
  rows.push('| data | blob bytes | encodeBlob MB/s | decodeBlob MB/s | lz4 CLI -b1 compress MB/s | lz4 CLI decompress MB/s |');
  rows.push('|---|---:|---:|---:|---:|---:|');
  for (const [name, body] of inputs) {
    const blob = encodeBlob(body, 'lz4');
    const encMs = timeIt(() => encodeBlob(body, 'lz4'));
    const decMs = timeIt(() => decodeBlob(blob, name));
    let cliC = 'n/a';
    let cliD = 'n/a';
    if (cli) {
      const file = join(dir, name.replace(/\W+/g, '-'));
      writeFileSync(file, body);
      const r = lz4CliBench(file);
      if (r) {
        cliC = r.c.toFixed(0);
        cliD = r.d.toFixed(0);
      }
    }
    const stored = blob.readUInt16LE(2) === 0 ? ' (stored)' : '';
    // A stored body decodes to a view of the blob: no work to measure.
    const dec = stored ? 'view, no copy' : mbps(body.length, decMs);
    rows.push(`| ${name} | ${blob.length}${stored} | ${mbps(body.length, encMs)} | ${dec} | ${cliC} | ${cliD} |`);
  }

  rows.push('');
  rows.push('| inode-sized body | calls/s encodeBlob | µs per call | calls/s decodeBlob | µs per call |');
  rows.push('|---|---:|---:|---:|---:|');
  for (const size of [300, 600, 4096]) {
    // VATTR-like: mostly small integers and zero padding, some text.
    const body = Buffer.alloc(size);
    generatePayload({ generator: 'text', seed: size, length: size >> 1 }).copy(body, size >> 2);
    const blob = encodeBlob(body, 'lz4');
    const batch = 1000;
    const encMs = timeIt(() => {
      for (let i = 0; i < batch; i++) encodeBlob(body, 'lz4');
    }) / batch;
    const decMs = timeIt(() => {
      for (let i = 0; i < batch; i++) decodeBlob(blob, 'b');
    }) / batch;
    rows.push(`| ${size} B (${blob.length} B blob) | ${(1000 / encMs).toFixed(0)} | ${(encMs * 1000).toFixed(2)} | ${(1000 / decMs).toFixed(0)} | ${(decMs * 1000).toFixed(2)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

let cpu = 'unknown';
try {
  cpu = execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: 'utf8' }).trim();
} catch {
  // not Linux: leave unknown
}
// names and hashes: issue 3 asks for at least 1M per second
{
  const handles = Array.from({ length: 4096 }, (_, i) => {
    const b = Buffer.alloc(24);
    b.writeUInt32LE(0x3f7a7eb1, 0);
    b.writeUInt32LE((i * 2654435761) >>> 0, 16);
    b.writeUInt32LE(i, 8);
    return b;
  });
  const owner = handles[1]!;
  let k = 0;
  const nameMs = timeIt(() => {
    for (let i = 0; i < 4096; i++) blobName(handles[i]!, Btype.REG, owner, 9);
    k++;
  });
  const hashMs = timeIt(() => {
    for (let i = 0; i < 4096; i++) hash64Hex(handles[i]!);
  });
  console.log(`\n| per core | per second |\n|---|---:|\n| blobName (24-byte handle, V2) | ${Math.round(4096 / (nameMs / 1000)).toLocaleString('en-US')} |\n| hash64Hex (24 bytes) | ${Math.round(4096 / (hashMs / 1000)).toLocaleString('en-US')} |`);
  void k;
}

const nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
process.stdout.write(
  `Codec, ${new Date().toISOString().slice(0, 10)}, node ${process.version}, nproc ${nproc}, cpu ${cpu}, ${cli ?? 'lz4 CLI not on PATH'}\n\n${rows.join('\n')}\n`,
);
