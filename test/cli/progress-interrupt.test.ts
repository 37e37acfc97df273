/**
 * Progress and interrupts through the built CLI, stderr a pipe (as in CI): a load slowed by a
 * source delay prints current figures every few seconds, is interrupted by a signal, says so with
 * done and total and the command that resumes it, and that command (run as printed) finishes the
 * load with progress that never shows more done than there is and ends at exactly the total.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startAzurite } from '../../src/index.js';
import { BIN, progressLines, runCli, shellWords, startCli } from '../helpers/cli.js';
import { randomBytesSeeded, seeded, textBytes } from '../helpers/tree-builder.js';

let work: string;
let src: string;
const FILES = 240;
const BIG = 20 * 1024 * 1024 + 7;

/** every open of a source file waits this long: the load takes seconds, not milliseconds */
const slow = (ms: number) => ({ CLFSLOAD_SOURCE_FAULTS: JSON.stringify({ rules: [{ op: 'open', delayMs: ms }] }) });

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-progress-'));
  src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'small'), { recursive: true });
  for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(src, 'small', `f${i}.txt`), textBytes(100 + i, i));
  fs.writeFileSync(path.join(src, 'big.bin'), randomBytesSeeded(seeded(7), BIG));
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

const ENTRIES = FILES + 3; // the files, big.bin, small/ and the root
const TOTAL_MIB = (BIG + Array.from({ length: FILES }, (_, i) => 100 + i).reduce((a, b) => a + b, 0)) / 1048576;

function freshTarget(name: string): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  return dir;
}

function assertNeverAhead(stderr: string): void {
  for (const p of progressLines(stderr)) {
    assert.ok(p.done <= p.total, `entries done above total: ${p.line}`);
    assert.ok(p.mibDone <= p.mibTotal, `bytes done above total: ${p.line}`);
  }
}

test('SIGINT mid-load: plain progress lines with current figures, "interrupted" with done/total, and the printed command resumes to exactly the total', async () => {
  const blobs = freshTarget('blobs-int');
  const state = path.join(work, 'state-int');
  const args = ['load', src, `file://${blobs}`, '--new', '--state', state];
  const run = startCli(args, { env: slow(80) });
  // three lines of the transfer still under way: the first at once, then one every 5 s with what was done since
  await run.waitFor(({ stderr }) => progressLines(stderr).filter((p) => p.phase === 'transfer' && p.done < p.total).length >= 3, 'three transfer progress lines before the end', 90_000);
  const lines = progressLines(run.stderr).filter((p) => p.phase === 'transfer');
  assert.ok(lines[2]!.done > lines[1]!.done, `the figures move between lines:\n${run.stderr}`);
  run.child.kill('SIGINT');
  const r = await run.done;
  assert.equal(r.code, 130, r.stderr);
  assert.doesNotMatch(r.stderr, /phase transfer done/, 'an interrupted phase is not done');
  assertNeverAhead(r.stderr);
  const m = /^interrupted in phase transfer: (\d+) of (\d+) entries done so far/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  const doneBefore = Number(m[1]);
  assert.ok(doneBefore > 0 && doneBefore < ENTRIES, r.stdout);
  assert.ok(Number(m[2]) <= ENTRIES);
  const resumeLine = /to resume, run:\n {2}(.+)\n/.exec(r.stdout)?.[1];
  assert.ok(resumeLine, r.stdout);
  const words = shellWords(resumeLine);
  assert.deepEqual(words, ['node', BIN, ...args.filter((a) => a !== '--new')]);

  // the printed command, as printed (less slow, still several seconds)
  const again = runCli(words.slice(2), { env: slow(10) });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^complete: ${ENTRIES} entries \\(2 dir, ${FILES + 1} file\\)`, 'm'));
  assertNeverAhead(again.stderr);
  const resumed = progressLines(again.stderr).filter((p) => p.phase === 'transfer');
  assert.ok(resumed.length >= 2, again.stderr);
  assert.ok(resumed[0]!.done >= doneBefore, `a resume counts what the first run did: ${resumed[0]!.line}`);
  const last = resumed[resumed.length - 1]!;
  assert.equal(last.done, ENTRIES, last.line);
  assert.equal(last.total, ENTRIES, last.line);
  assert.equal(last.mibDone, last.mibTotal, last.line);
  assert.equal(last.mibTotal, Number(TOTAL_MIB.toFixed(1)));
  const v = runCli(['verify', `file://${blobs}`, '--source', src]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('SIGTERM with --json: one object on stdout, status interrupted, exit 143, the resume command without --new', async () => {
  const blobs = freshTarget('blobs-term');
  const state = path.join(work, 'state-term');
  const run = startCli(['load', '--new', src, `file://${blobs}`, '--json', '--state', state], { env: slow(40) });
  await run.waitFor(({ stderr }) => progressLines(stderr).some((p) => p.phase === 'transfer' && p.done > 0), 'a transfer progress line', 90_000);
  run.child.kill('SIGTERM');
  const r = await run.done;
  assert.equal(r.code, 143, r.stderr);
  const out = r.stdout.trim().split('\n');
  assert.equal(out.length, 1, r.stdout);
  const s = JSON.parse(out[0]!);
  assert.equal(s.status, 'interrupted');
  assert.equal(s.exitCode, 143);
  assert.ok(s.entriesDone > 0 && s.entriesDone <= s.entries, r.stdout);
  assert.deepEqual(shellWords(s.resumeCommand), ['node', BIN, 'load', src, `file://${blobs}`, '--json', '--state', state]);
  assert.doesNotMatch(r.stderr, /phase transfer done/);
});

test("the reference's form into Azurite: the resume command drops --new and hides the SAS signature; with the SAS put back it finishes the load", async () => {
  const azurite = await startAzurite();
  try {
    const c = await azurite.makeContainer();
    const state = path.join(work, 'state-legacy');
    const run = startCli(['--new', state, src, azurite.accountName, c.containerName, c.sasToken, '--endpoint', azurite.endpoint], { env: slow(40) });
    await run.waitFor(({ stderr }) => progressLines(stderr).some((p) => p.phase === 'transfer' && p.done > 0), 'a transfer progress line', 90_000);
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    const resumeLine = /to resume, run:\n {2}(.+)\n/.exec(r.stdout)?.[1];
    assert.ok(resumeLine, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    const sig = /(?:^|&)sig=([^&]+)/.exec(c.sasToken)![1]!;
    assert.ok(!r.stdout.includes(sig) && !r.stderr.includes(sig), 'the signature is not printed');
    assert.match(r.stdout, /your SAS signature where it says REDACTED/);
    const words = shellWords(resumeLine);
    assert.ok(!words.includes('--new'));
    const restored = words.slice(2).map((w) => w.replace('sig=REDACTED', `sig=${sig}`));
    assert.deepEqual(restored, [state, src, azurite.accountName, c.containerName, c.sasToken, '--endpoint', azurite.endpoint]);
    const again = runCli(restored);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`^complete: ${ENTRIES} entries`, 'm'));
    const v = runCli(['verify', c.url, '--source', src]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  } finally {
    await azurite.stop();
  }
});
