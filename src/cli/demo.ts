/**
 * `npm start`: the one-command demo. Starts an embedded Azurite (free port, data in a temp
 * folder), loads the bundled sample tree through the real blob protocol with a container SAS,
 * verifies the container against the source, prints both summaries, and cleans up.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { load, parseTargetUrl, startAzurite, verify } from '../index.js';
import { openUserTarget, targetKeyOf } from './main.js';
import { ProgressPrinter } from './progress.js';

export function sampleTreePath(): string {
  // dist/src/cli/demo.js -> repo root/format/sample (and src/cli/demo.ts when run from source)
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../..', '../..']) {
    const candidate = path.resolve(here, up, 'format', 'sample');
    if (fs.existsSync(candidate)) return candidate;
  }
  return path.resolve(here, '../../../format/sample');
}

export async function runDemo(io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream }, options: { json: boolean; abortSignal?: AbortSignal }): Promise<number> {
  const source = sampleTreePath();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-demo-'));
  io.stderr.write(`starting embedded Azurite (data in a temp folder)...\n`);
  const azurite = await startAzurite({ abortSignal: options.abortSignal });
  try {
    const container = await azurite.makeContainer('clfs-demo');
    const spec = parseTargetUrl(container.url);
    const target = openUserTarget(spec);
    io.stderr.write(`loading ${source} into ${azurite.endpoint}/${container.containerName}\n`);
    const printer = new ProgressPrinter(io.stderr);
    const summary = await load({
      source,
      target,
      targetKey: targetKeyOf(spec),
      stateDir: path.join(work, 'state'),
      newTransfer: true,
      abortSignal: options.abortSignal,
      reporter: { progress: (p) => printer.update(p), phase: (n, e) => printer.message(`phase ${n} ${e === 'start' ? 'started' : 'done'}`) },
    });
    printer.clear();
    io.stderr.write(`verifying the container against the source...\n`);
    const report = await verify(target, { source });
    if (options.json) {
      io.stdout.write(`${JSON.stringify({ load: summary, verify: report })}\n`);
    } else {
      io.stdout.write(
        `load: ${summary.status}, ${summary.entries} entries, ${summary.blobsWritten} blobs (${(summary.bytesUploaded / 1024).toFixed(1)} KiB), ${summary.errors} errors, ${summary.seconds.toFixed(2)} s\n`,
      );
      io.stdout.write(`verify: ${report.ok ? 'OK' : 'FAILED'}, ${JSON.stringify(report.counts)}\n`);
      for (const p of report.problems.slice(0, 20)) io.stdout.write(`  ${p.path}: ${p.message}\n`);
    }
    return summary.status === 'complete' && report.ok ? 0 : 1;
  } finally {
    await azurite.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}
