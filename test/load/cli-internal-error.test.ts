/**
 * Defects of ours reach the user as one line (and exit 1), never as a stack trace, unless
 * --debug. The defects are injected into the real binary with a module preloaded by `--import`
 * (which Node also runs in worker threads): an encode worker that dies, and a throw and a
 * rejection that nothing catches.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildSmallFilesTree } from '../helpers/tree-builder.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
let work: string;
let src: string;

const PRELOADS: Record<string, string> = {
  // the encode workers get the transfer identity as workerData, or `deferred` when started ahead of the load (worker-prestart.ts); the folder target's writer gets neither
  'worker-dies.mjs': `import { isMainThread, workerData } from 'node:worker_threads';
if (!isMainThread && (workerData?.identity || workerData?.deferred)) throw new Error('injected encode worker failure\\nwith a second line');
`,
  // once the transfer runs, a timer callback throws (a defect in a callback nobody awaits)
  'uncaught-throw.mjs': `import { isMainThread } from 'node:worker_threads';
if (isMainThread) {
  const write = process.stderr.write.bind(process.stderr);
  let armed = true;
  process.stderr.write = (chunk, ...rest) => {
    if (armed && String(chunk).includes('phase transfer started')) {
      armed = false;
      setImmediate(() => { throw new TypeError('injected uncaught throw\\nwith a second line'); });
    }
    return write(chunk, ...rest);
  };
}
`,
  'unhandled-rejection.mjs': `import { isMainThread } from 'node:worker_threads';
if (isMainThread) {
  const write = process.stderr.write.bind(process.stderr);
  let armed = true;
  process.stderr.write = (chunk, ...rest) => {
    if (armed && String(chunk).includes('phase transfer started')) {
      armed = false;
      setImmediate(() => { void Promise.reject(new RangeError('injected unhandled rejection\\nwith a second line')); });
    }
    return write(chunk, ...rest);
  };
}
`,
};

function cliWith(preload: string, args: string[]) {
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(path.join(work, preload)).href, BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, XDG_STATE_HOME: path.join(work, 'xdg') },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function freshTarget(name: string): { url: string; state: string } {
  const dir = path.join(work, `${name}-blobs`);
  fs.mkdirSync(dir, { recursive: true });
  return { url: pathToFileURL(dir).href, state: path.join(work, `${name}-state`) };
}

/** What the CLI wrote about the error: its own lines, and anything that looks like a stack. */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('clfsload:') || /^\s+at /.test(l) || /^Node\.js v/.test(l) || /^\w*Error\b/.test(l));
}

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-internal-'));
  src = path.join(work, 'src');
  buildSmallFilesTree(src, 200, 4);
  for (const [name, text] of Object.entries(PRELOADS)) fs.writeFileSync(path.join(work, name), text);
});

after(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

for (const [preload, what] of [
  ['worker-dies.mjs', /internal error: .*injected encode worker failure/],
  ['uncaught-throw.mjs', /internal error: injected uncaught throw/],
  ['unhandled-rejection.mjs', /internal error: injected unhandled rejection/],
] as const) {
  test(`${preload}: one line without --debug, exit 1, no stack; --debug shows the stack`, () => {
    const t = freshTarget(preload);
    const r = cliWith(preload, ['load', src, t.url, '--new', '--state', t.state]);
    assert.equal(r.code, 1, r.stderr);
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, what);
    assert.match(lines[0]!, /^clfsload: .* \(re-run with --debug for details\)$/);
    assert.doesNotMatch(r.stderr, /with a second line/);
    assert.doesNotMatch(r.stdout, /complete/);

    const d = freshTarget(`${preload}-debug`);
    const debug = cliWith(preload, ['load', src, d.url, '--new', '--state', d.state, '--debug']);
    assert.equal(debug.code, 1, debug.stderr);
    assert.match(debug.stderr, what);
    assert.match(debug.stderr, /^\s+at .*\.m?js:\d+/m, 'the stack is shown with --debug');
  });
}
