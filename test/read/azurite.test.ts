/**
 * verify, ls and cat over the blob protocol: the reference's vectree-hardlinks container (its hard
 * link is found by listing the id's prefix) uploaded into an embedded Azurite, driven through the
 * CLI commands of src/cli/read-commands.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { registerCommands } from '../../src/cli/commands/index.js';
import { createCliContext } from '../../src/cli/context.js';
import { verify } from '../../src/read/index.js';
import { openTarget } from '../../src/targets/open-target.js';
import type { Target } from '../../src/targets/target.js';
import { startAzurite, type RunningAzurite } from '../../src/targets/embedded-azurite.js';
import { extractContainer, rm } from './read-fixtures.js';

let azurite: RunningAzurite;
let url: string;
let target: Target;
const temps: string[] = [];

before(async () => {
  azurite = await startAzurite();
  const container = await azurite.makeContainer();
  url = container.url;
  target = openTarget(url);
  const dir = extractContainer('vectree-hardlinks');
  temps.push(dir);
  const names = fs.readdirSync(dir);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < names.length) {
        const name = names[next++]!;
        await target.put(name, fs.readFileSync(join(dir, name)));
      }
    }),
  );
});

after(async () => {
  await target?.close?.();
  await azurite?.stop();
  rm(...temps);
});

async function run(args: string[]): Promise<{ out: string; err: string; code: number | undefined }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  let code: number | undefined;
  const program = new Command('clfsload').exitOverride();
  registerCommands(program, createCliContext({ stdout, stderr }, { setExitCode: (c) => (code = c) }));
  await program.parseAsync(['node', 'clfsload', ...args]);
  return { out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString(), code };
}

describe('read over Azurite', () => {
  test('verify: no problems; counts as the reference checker', async () => {
    const report = await verify(target, { readData: true });
    assert.deepEqual(report.problems, []);
    assert.equal(report.counts.blobs, 1520);
    assert.equal(report.counts.hardlinkRepeats, 1);
  });

  test('CLI verify --json, ls -l, cat', async () => {
    const v = await run(['verify', url, '--json']);
    assert.equal(v.code, 0);
    const report = JSON.parse(v.out) as { ok: boolean; counts: { dirs: number } };
    assert.equal(report.ok, true);
    assert.equal(report.counts.dirs, 6);

    const l = await run(['ls', url, '/', '-l']);
    assert.equal(l.code, 0);
    const lines = l.out.trim().split('\n');
    assert.ok(lines.some((x) => /^-rw-r--r-- 0 0 13 \S+Z hello\.txt$/.test(x)), l.out);
    assert.ok(lines.some((x) => /^lrwxrwxrwx 0 0 9 \S+Z link-to-hello -> hello\.txt$/.test(x)), l.out);
    assert.ok(lines.some((x) => /^prw-r--r-- .* pipe$/.test(x)), l.out);
    assert.ok(lines.some((x) => /^drwxr-xr-x .* many$/.test(x)), l.out);

    const c = await run(['cat', url, 'docs/hello-hardlink.txt']);
    assert.equal(c.code, 0);
    assert.equal(c.out.length, 13);
  });
});
