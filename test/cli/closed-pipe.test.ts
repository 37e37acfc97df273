/**
 * Exit 141 (docs/guide.md section 8): a reader that closes our stdout early (`clfsload ls | head`)
 * stops the command at once and without a word, as SIGPIPE stops a C program; before, the EPIPE
 * was reported as an internal error with exit 1.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { BIN, runCli } from '../helpers/cli.js';

let work: string;
let blobs: string;

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-pipe-'));
  const src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'many'), { recursive: true });
  // both outputs are far larger than a pipe's buffer (64 KiB), so the writer meets the closed end
  fs.writeFileSync(path.join(src, 'big.bin'), Buffer.alloc(3 << 20, 0x61));
  for (let i = 0; i < 3000; i++) fs.writeFileSync(path.join(src, 'many', `file-with-a-longish-name-${i}`), '');
  blobs = path.join(work, 'blobs');
  fs.mkdirSync(blobs);
  const r = runCli(['load', src, `file://${blobs}`, '--new', '--state', path.join(work, 'state')]);
  assert.equal(r.code, 0, r.stderr);
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

/** Runs the CLI and closes its stdout after the first bytes, as `| head -c 1` does. */
function readFirstBytes(args: string[]): Promise<{ code: number | null; stderr: string; got: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let got = 0;
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.once('data', (d: Buffer) => {
      got = d.length;
      child.stdout.destroy();
    });
    child.on('close', (code) => resolve({ code, stderr, got }));
  });
}

test('cat into a pipe closed after the first bytes: exit 141, nothing on stderr', async () => {
  const r = await readFirstBytes(['cat', `file://${blobs}`, 'big.bin']);
  assert.ok(r.got > 0);
  assert.equal(r.code, 141, r.stderr);
  assert.equal(r.stderr, '');
});

test('ls into a pipe closed after the first line: exit 141, nothing on stderr; read to the end it is 0', async () => {
  const r = await readFirstBytes(['ls', '-l', `file://${blobs}`, 'many']);
  assert.equal(r.code, 141, r.stderr);
  assert.equal(r.stderr, '');
  const whole = runCli(['ls', `file://${blobs}`, 'many']);
  assert.equal(whole.code, 0, whole.stderr);
  assert.equal(whole.stdout.trim().split('\n').length, 3000);
});
