/**
 * `clfsload demo` (`npm start`): starts an embedded Azurite (free port, data in a temp folder),
 * loads the bundled sample tree through the real blob protocol with a container SAS, verifies
 * the container against the source, prints both summaries, and cleans up.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { load, startAzurite, verify } from '../../index.js';
import type { Target } from '../../index.js';
import { kindsText } from '../load-run.js';
import type { CliCommand } from '../commands.js';
import { EXIT, type CliContext } from '../context.js';
import { applyEnvironment } from '../environment.js';
import { ProgressPrinter } from '../progress.js';

export function sampleTreePath(): string {
  // dist/src/cli/commands/cmd-demo.js -> repo root/format/sample (and src/cli/commands/cmd-demo.ts when run from source)
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../../..', '../../..']) {
    const candidate = path.resolve(here, up, 'format', 'sample');
    if (fs.existsSync(candidate)) return candidate;
  }
  return path.resolve(here, '../../../../format/sample');
}

/** What the container holds after the load: every blob, and of those the run logs (`*.txt`) the load uploads beside the CLFS objects. */
async function containerBlobs(target: Target): Promise<{ blobs: number; logs: number }> {
  let blobs = 0;
  let logs = 0;
  for await (const b of target.list('')) {
    blobs += 1;
    if (b.name.endsWith('.txt')) logs += 1;
  }
  return { blobs, logs };
}

async function runDemo(ctx: CliContext, options: { json: boolean }): Promise<number> {
  const abortSignal = ctx.signals.controller.signal;
  const source = sampleTreePath();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-demo-'));
  ctx.stderr.write(`starting embedded Azurite (data in a temp folder)...\n`);
  const azurite = await startAzurite({ abortSignal });
  try {
    const container = await azurite.makeContainer('clfs-demo');
    const t = ctx.target({ url: container.url });
    const target = t.open();
    ctx.stderr.write(`loading ${source} into ${azurite.endpoint}/${container.containerName}\n`);
    const printer = new ProgressPrinter(ctx.stderr);
    const summary = await load({
      source,
      target,
      targetKey: t.key,
      stateDir: path.join(work, 'state'),
      newTransfer: true,
      abortSignal,
      // the same knobs and fault seams as a load (CLFSLOAD_ENCODE_WORKERS, CLFSLOAD_SOURCE_FAULTS)
      ...applyEnvironment(process.env),
      reporter: {
        progress: (p) => printer.update(p),
        phase: (n, e) => {
          if (e === 'end') printer.flush();
          printer.message(`phase ${n} ${e === 'start' ? 'started' : 'done'}`);
        },
      },
    });
    printer.flush();
    printer.close();
    if (summary.status === 'interrupted') {
      const exitCode = ctx.signals.exitCode ?? EXIT.SIGINT;
      if (options.json) ctx.stdout.write(`${JSON.stringify({ status: 'interrupted', exitCode, load: summary })}\n`);
      else ctx.stdout.write(`interrupted: ${summary.entriesDone} of ${summary.entries} entries loaded; the demo starts over next time\n`);
      return exitCode;
    }
    ctx.stderr.write(`verifying the container against the source...\n`);
    const report = await verify(target, { source });
    const held = await containerBlobs(target);
    const ok = summary.status === 'complete' && report.ok;
    if (options.json) {
      ctx.stdout.write(`${JSON.stringify({ status: ok ? 'ok' : 'failed', exitCode: ok ? 0 : 1, load: summary, verify: report, container: held })}\n`);
    } else {
      // the load counts writes, verify the CLFS objects it finds: say how the two meet
      ctx.stdout.write(
        `load: ${summary.status}, ${summary.entries} entries (${kindsText(summary.kinds)}), ${summary.blobsWritten} blob writes (${(summary.bytesUploaded / 1024).toFixed(1)} KiB), ` +
          `${summary.blobsDeleted} deleted, ${summary.errors} errors, ${summary.seconds.toFixed(2)} s\n`,
      );
      ctx.stdout.write(
        `container: ${held.blobs} blobs: ${held.blobs - held.logs} CLFS objects (what verify counts) and ${held.logs} log file${held.logs === 1 ? '' : 's'}; ` +
          `the load's ${summary.blobsWritten} writes include the bucket object written twice (at the start and at the end) and the root directory written under a tmp name, then under its final name (the tmp one deleted)\n`,
      );
      ctx.stdout.write(`verify: ${report.ok ? 'OK' : 'FAILED'}, ${JSON.stringify(report.counts)} (blobs: the CLFS objects; log files are not checked)\n`);
      for (const p of report.problems.slice(0, 20)) ctx.stdout.write(`  ${p.path}: ${p.message}\n`);
    }
    return ok ? 0 : 1;
  } finally {
    await azurite.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export const demoCommand: CliCommand = {
  name: 'demo',
  register(program, ctx) {
    program
      .command('demo')
      .description('load the bundled sample tree into an embedded Azurite, verify it, print the summary (what `npm start` runs)')
      .option('--json', 'print the summaries as JSON', false)
      .action(async (opts: { json: boolean }) => {
        ctx.setExitCode(await runDemo(ctx, { json: opts.json }));
      });
  },
};
