/**
 * The exit code table (src/cli/exit-codes.ts, docs/guide.md section 8), row by row through the
 * built CLI, with folder targets (and Azurite for the reference's form), and --json giving one
 * object on every exit. The interrupt rows of load and the reference form are run in
 * progress-interrupt.test.ts; the demo's is here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startAzurite } from '../../src/index.js';
import { EXIT_CODES } from '../../src/cli/exit-codes.js';
import { progressLines, runCli, startCli, type CliResult } from '../helpers/cli.js';
import { textBytes } from '../helpers/tree-builder.js';

const KINDS = ['dir', 'file', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev'];
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type Azurite = Awaited<ReturnType<typeof startAzurite>>;
let azurite: Azurite;
let work: string;
let src: string;
/** src loaded, complete */
let blobs: string;
let state: string;

const fault = (op: string, p: string, code: string) => ({ CLFSLOAD_SOURCE_FAULTS: JSON.stringify({ rules: [{ op, path: p, code }] }) });
const slow = (ms: number) => ({ CLFSLOAD_SOURCE_FAULTS: JSON.stringify({ rules: [{ op: 'open', delayMs: ms }] }) });

function cli(args: string[], env: Record<string, string> = {}): CliResult {
  return runCli(args, { env: { XDG_STATE_HOME: path.join(work, 'xdg'), ...env } });
}

/** The one JSON object a --json run printed, checked against the exit code. */
function oneObject(r: CliResult): Record<string, unknown> & { status: string; exitCode: number; error?: { code: string; message: string } } {
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stdout:\n${r.stdout}\n${r.stderr}`);
  const o = JSON.parse(lines[0]!);
  assert.equal(o.exitCode, r.code, r.stdout);
  assert.equal(typeof o.status, 'string');
  return o;
}

function failedWith(r: CliResult, exit: number, code: string | RegExp, status = exit === 2 ? 'usage-error' : 'failed'): void {
  assert.equal(r.code, exit, r.stdout + r.stderr);
  const o = oneObject(r);
  assert.equal(o.status, status);
  assert.ok(o.error !== undefined, r.stdout);
  if (typeof code === 'string') assert.equal(o.error.code, code, r.stdout);
  else assert.match(o.error.code, code);
  // the message is the line on stderr, and each stream ends its last line (a pipeline reads lines)
  assert.ok(r.stderr.includes(o.error.message), `${o.error.message}\n${r.stderr}`);
  assert.ok(r.stderr.endsWith('\n'), `stderr ends with a newline: ${JSON.stringify(r.stderr.slice(-80))}`);
  assert.ok(r.stdout.endsWith('\n'), `stdout ends with a newline: ${JSON.stringify(r.stdout.slice(-80))}`);
  assert.equal(r.stderr.trim().split('\n').filter((l) => !/^\w+: \d+\/\d+ entries/.test(l) && !/^phase /.test(l)).length, 1, r.stderr);
}

function dir(name: string): string {
  const d = path.join(work, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-exit-'));
  // readable by nobody (export as an unprivileged user)
  fs.chmodSync(work, 0o755);
  src = dir('src');
  fs.writeFileSync(path.join(src, 'a.txt'), 'a\n');
  fs.writeFileSync(path.join(src, 'b.bin'), textBytes(40_000));
  fs.mkdirSync(path.join(src, 'sub'));
  fs.writeFileSync(path.join(src, 'sub', 'c.txt'), 'c\n');
  fs.symlinkSync('a.txt', path.join(src, 'link'));
  execFileSync('mkfifo', [path.join(src, 'pipe')]);
  execFileSync('mknod', [path.join(src, 'null'), 'c', '1', '3']);
  // a bound unix socket left behind (Node's server unlinks its own on close)
  execFileSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()', path.join(src, 'sock')]);
  blobs = dir('blobs');
  state = path.join(work, 'state');
  const r = cli(['load', src, `file://${blobs}`, '--new', '--state', state, '--json']);
  assert.equal(r.code, 0, r.stderr);
  azurite = await startAzurite();
});

after(async () => {
  await azurite?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

test('load: 0 loaded (one kind vocabulary, the same as the dry run), 1 entries failed or a fatal error, 2 what was typed cannot work', () => {
  // 0: the load in before(); a re-run is already complete
  const again = cli(['load', src, `file://${blobs}`, '--state', state, '--json']);
  assert.equal(again.code, 0, again.stderr);
  const s = oneObject(again);
  assert.equal(s.status, 'already-complete');
  const dry = cli(['load', src, `file://${blobs}`, '--dry-run', '--json']);
  assert.equal(dry.code, 0, dry.stderr);
  const e = oneObject(dry);
  assert.equal(e.status, 'dry-run');
  assert.deepEqual(s.kinds, e.kinds);
  assert.deepEqual(s.kinds, { dir: 2, file: 3, symlink: 1, fifo: 1, chardev: 1, socket: 1 });
  for (const k of Object.keys(s.kinds as object)) assert.ok(KINDS.includes(k), k);
  assert.equal(s.entries, 9, "the root and the eight entries under it");
  assert.match(cli(['load', src, `file://${blobs}`, '--state', state]).stdout, /^already-complete: 9 entries \(2 dir, 3 file, 1 symlink, 1 fifo, 1 socket, 1 chardev\)/);

  // 1: an entry that cannot be read
  const failing = cli(['load', src, `file://${dir('blobs-eacces')}`, '--new', '--state', path.join(work, 'st-eacces'), '--json'], fault('open', 'sub/c.txt', 'EACCES'));
  assert.equal(failing.code, 1, failing.stderr);
  const f = oneObject(failing);
  assert.equal(f.status, 'complete-with-errors');
  assert.equal(f.errors, 1);
  const dryFailing = cli(['load', src, `file://${blobs}`, '--dry-run', '--json'], fault('lstat', 'sub/c.txt', 'EACCES'));
  assert.equal(dryFailing.code, 1, dryFailing.stdout + dryFailing.stderr);
  assert.equal(oneObject(dryFailing).errors, 1);
  // 1: a fatal error (the target folder is not there: create it and re-run)
  failedWith(cli(['load', src, `file://${path.join(work, 'no-such-folder')}`, '--new', '--state', path.join(work, 'st-nofolder'), '--json']), 1, /^E_TARGET_/);

  // 2
  failedWith(cli(['load', path.join(work, 'no-such-source'), `file://${dir('blobs-2a')}`, '--new', '--json']), 2, 'E_SOURCE_NOT_FOUND');
  failedWith(cli(['load', src, `file://${dir('blobs-2b')}`, '--new', '--concurrency', '0', '--json']), 2, 'E_USAGE');
  failedWith(cli(['load', src, 'file:blobs-2b', '--new', '--json']), 2, 'E_USAGE');
  failedWith(cli(['load', src, `file://${blobs}`, '--new', '--state', path.join(work, 'st-nonempty'), '--json']), 2, 'E_TARGET_NOT_EMPTY');
  assert.ok(!fs.existsSync(path.join(work, 'st-nonempty')), 'nothing done');
  failedWith(cli(['load', path.join(src, 'sub'), `file://${blobs}`, '--state', state, '--json']), 2, 'E_STATE_MISMATCH');
  failedWith(cli(['load', src, `file://${dir('blobs-2c')}`, '--new', '--state', state, '--json']), 2, 'E_STATE_EXISTS');
});

test("the reference's form: 0 loaded into Azurite, 1 service unreachable (resumable), 2 a value out of range", async () => {
  const c = await azurite.makeContainer();
  const st = path.join(work, 'st-ref');
  const ok = cli(['--new', st, src, azurite.accountName, c.containerName, c.sasToken, '--endpoint', azurite.endpoint, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(oneObject(ok).status, 'complete');
  const down = cli(['--new', path.join(work, 'st-ref-down'), src, 'devstoreaccount1', 'nothing-listens', 'sv=2020-01-01&sig=abc', '--endpoint', 'http://127.0.0.1:9/devstoreaccount1', '--json']);
  failedWith(down, 1, 'E_TARGET_IO');
  assert.match(down.stderr, /cannot reach 127\.0\.0\.1:9.*re-run the same command/);
  failedWith(cli(['--new', path.join(work, 'st-ref-2'), src, 'acct', 'cont', 'sv=1&sig=x', '--preserve_hardlinks', '2', '--json']), 2, 'E_USAGE');
});

test('verify: 0 clean, 1 problems or an unreadable container, 2 a bad URL or a missing --source', () => {
  const ok = cli(['verify', `file://${blobs}`, '--source', src, '--json']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.equal(oneObject(ok).status, 'ok');
  const damaged = dir('blobs-damaged');
  fs.cpSync(blobs, damaged, { recursive: true });
  const victim = fs.readdirSync(damaged).filter((n) => !n.endsWith('.txt')).sort()[3]!;
  fs.rmSync(path.join(damaged, victim));
  const bad = cli(['verify', `file://${damaged}`, '--json']);
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  const b = oneObject(bad);
  assert.equal(b.status, 'problems');
  assert.ok((b.problems as unknown[]).length > 0);
  failedWith(cli(['verify', `file://${path.join(work, 'no-such-folder')}`, '--json']), 1, /^E_TARGET_/);
  failedWith(cli(['verify', 'file:relative', '--json']), 2, 'E_USAGE');
  // a bad target URL, for every command that takes --json
  for (const args of [['verify', 'ftp://x/y'], ['ls', 'ftp://x/y', '/'], ['load', src, 'ftp://x/y', '--new'], ['load', src, 'https://account.blob.core.windows.net', '--new'], ['plan', src, 'ftp://x/y', '--shards', '2', '--plan', path.join(work, 'bad-url-plan.json')]]) {
    failedWith(cli([...args, '--json']), 2, 'E_USAGE');
  }
  failedWith(cli(['verify', `file://${blobs}`, '--source', path.join(work, 'no-such-source'), '--json']), 2, 'E_SOURCE_NOT_FOUND');
});

test('ls and cat: 0 listed / written, 1 an unreadable container, 2 a path not in the container (or not a file for cat)', () => {
  const ls = cli(['ls', `file://${blobs}`, '/']);
  assert.equal(ls.code, 0, ls.stderr);
  for (const n of ['a.txt', 'sub', 'link', 'pipe', 'null', 'sock']) assert.ok(ls.stdout.split('\n').some((l) => l === n || l.endsWith(`/${n}`)), `${n} in:\n${ls.stdout}`);
  const cat = spawnSync(process.execPath, [path.join(ROOT, 'dist/bin/clfsload.js'), 'cat', `file://${blobs}`, '/b.bin']);
  assert.equal(cat.status, 0, String(cat.stderr));
  assert.ok(cat.stdout.equals(textBytes(40_000)));
  // cat takes no --json: asking for it is a usage error, said as one object
  failedWith(cli(['cat', `file://${blobs}`, '/a.txt', '--json']), 2, 'E_USAGE');
  for (const command of ['ls', 'cat']) {
    const unreadable = cli([command, `file://${path.join(work, 'no-such-folder')}`, '/a.txt']);
    assert.equal(unreadable.code, 1, unreadable.stderr);
    assert.equal(unreadable.stderr.trim().split('\n').length, 1, unreadable.stderr);
    const absent = cli([command, `file://${blobs}`, '/no-such-path']);
    assert.equal(absent.code, 2, absent.stderr);
    assert.match(absent.stderr, /\/no-such-path: no such file or directory in the container/);
  }
  const notFile = cli(['cat', `file://${blobs}`, '/sub']);
  assert.equal(notFile.code, 2, notFile.stderr);
  assert.match(notFile.stderr, /cat prints regular files only/);
});

test('export: 0 all restored (root; the socket skipped, said), 1 device files left out (not root), 2 a file in the way', () => {
  const dest = dir('restore-root');
  const r = cli(['export', `file://${blobs}`, dest]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /skipped \/sock: sockets cannot be recreated/);
  assert.ok(fs.lstatSync(path.join(dest, 'null')).isCharacterDevice());
  assert.ok(fs.lstatSync(path.join(dest, 'pipe')).isFIFO());
  const userDest = dir('restore-nobody');
  execFileSync('chown', ['nobody', userDest]);
  const asUser = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, path.join(ROOT, 'dist/bin/clfsload.js'), 'export', `file://${blobs}`, userDest], { encoding: 'utf8', cwd: '/' });
  assert.equal(asUser.status, 1, asUser.stderr);
  assert.match(asUser.stderr, /skipped \/null: device files need root/);
  assert.equal(fs.readFileSync(path.join(userDest, 'a.txt'), 'utf8'), 'a\n', 'the rest is restored');
  const inTheWay = cli(['export', `file://${blobs}`, dest]);
  assert.equal(inTheWay.code, 2, inTheWay.stderr);
  assert.match(inTheWay.stderr, /already exists; pass --force to overwrite/);
  assert.equal(cli(['export', `file://${blobs}`, dest, '--force']).code, 0);
});

test('state check: 0 consistent (or repaired), 1 findings of a load killed mid-way, 2 no state there', async () => {
  const ok = cli(['state', 'check', state, '--json']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.equal(oneObject(ok).status, 'consistent');
  const big = dir('src-big');
  for (let i = 0; i < 60; i++) fs.writeFileSync(path.join(big, `f${i}`), textBytes(9 * 1024 * 1024 + i));
  const st = path.join(work, 'st-killed');
  const run = startCli(['load', big, `file://${dir('blobs-killed')}`, '--new', '--state', st], { env: { XDG_STATE_HOME: path.join(work, 'xdg'), ...slow(300) } });
  await run.waitFor(({ stderr }) => progressLines(stderr).some((p) => p.phase === 'transfer' && p.mibDone > 0), 'bytes written', 90_000);
  run.child.kill('SIGKILL');
  await run.done;
  const found = cli(['state', 'check', st, '--json']);
  assert.equal(found.code, 1, found.stdout + found.stderr);
  const o = oneObject(found);
  assert.equal(o.status, 'findings');
  assert.ok((o.findings as string[]).length > 0);
  const repaired = cli(['state', 'check', st, '--repair', '--json']);
  assert.equal(repaired.code, 0, repaired.stdout);
  assert.equal(oneObject(repaired).status, 'repaired');
  failedWith(cli(['state', 'check', path.join(work, 'no-state'), '--json']), 2, 'E_USAGE');
});

test('demo: 0 loaded and verified, 1 the load failed, 2 an unknown option, 130 interrupted', async () => {
  const ok = cli(['demo', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const d = oneObject(ok);
  assert.equal(d.status, 'ok');
  const load = d.load as { blobsWritten: number; blobsDeleted: number };
  const container = d.container as { blobs: number; logs: number };
  // the reckoning the demo prints: writes less deletes, less the bucket written twice
  assert.equal(container.blobs, load.blobsWritten - load.blobsDeleted - 1);
  assert.equal(container.blobs - container.logs, (d.verify as { counts: { blobs: number } }).counts.blobs);
  assert.match(cli(['demo']).stdout, /container: \d+ blobs: \d+ CLFS objects \(what verify counts\) and 1 log file; the load's \d+ writes include the bucket object written twice/);
  const failing = cli(['demo', '--json'], fault('open', 'hello.txt', 'EACCES'));
  assert.equal(failing.code, 1, failing.stderr);
  assert.equal(oneObject(failing).status, 'failed');
  failedWith(cli(['demo', '--bogus', '--json']), 2, 'E_USAGE');
  const run = startCli(['demo'], { env: slow(200) });
  await run.waitFor(({ stderr }) => progressLines(stderr).some((p) => p.phase === 'transfer'), 'the demo transfer', 90_000);
  run.child.kill('SIGINT');
  const r = await run.done;
  assert.equal(r.code, 130, r.stdout + r.stderr);
  assert.match(r.stdout, /^interrupted: \d+ of \d+ entries loaded/m);
});

test('--json on errors outside any command: an unknown command and an unknown option are one usage-error object', () => {
  failedWith(cli(['lod', src, `file://${blobs}`, '--json']), 2, 'E_USAGE');
  assert.match(cli(['lod', src, '--json']).stdout, /"message":"unknown command 'lod' \(did you mean load\?\)"/);
  failedWith(cli(['load', src, `file://${blobs}`, '--bogus', '--json']), 2, 'E_USAGE');
  // without --json, stdout stays empty
  assert.equal(cli(['load', src, `file://${blobs}`, '--bogus']).stdout, '');
});

test('every command has its exit codes in --help and a row in the guide', () => {
  const guide = fs.readFileSync(path.join(ROOT, 'docs', 'guide.md'), 'utf8');
  const table = guide.slice(guide.indexOf('## 8. Exit codes'));
  for (const [name, rows] of Object.entries(EXIT_CODES)) {
    const help = name === 'reference' ? cli(['--help']) : name === 'state' ? cli(['state', 'check', '--help']) : cli([name, '--help']);
    assert.equal(help.code, 0);
    if (name === 'reference') {
      assert.match(help.stdout, /reference CLFSLoad's command line is accepted/);
      assert.match(help.stdout, /--compression LZ4\|DISABLED \(default LZ4\)/);
    } else {
      assert.match(help.stdout, /Exit codes:/);
      for (const [code] of rows) assert.match(help.stdout, new RegExp(`^  ${code === 130 ? '130/143' : code} `, 'm'), `${name} --help: ${code}`);
    }
    const row = name === 'reference' ? '| reference form |' : name === 'state' ? '| `state check` |' : `| \`${name}\` |`;
    assert.ok(table.includes(row), `guide row for ${name}`);
  }
  assert.match(cli(['load', '--help']).stdout, /default: lz4/);
});
