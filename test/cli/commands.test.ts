import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { COMMANDS, registerCommands } from '../../src/cli/commands/index.js';
import { createCliContext } from '../../src/cli/context.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
let work: string;
let src: string;
let blobs: string;

/** Runs in an empty folder with its own state home, so anything a misread line wrote would show. */
function cli(args: string[]) {
  const cwd = path.join(work, 'cwd');
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, XDG_STATE_HOME: path.join(work, 'xdg') }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function nothingWritten(): void {
  assert.deepEqual(fs.readdirSync(path.join(work, 'cwd')), [], 'nothing created in the working folder');
  assert.ok(!fs.existsSync(path.join(work, 'xdg')), 'no state folder created');
  assert.deepEqual(fs.readdirSync(blobs), [], 'nothing written to the target');
}

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-commands-'));
  src = path.join(work, 'src');
  blobs = path.join(work, 'blobs');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'a.txt'), 'a\n');
  fs.mkdirSync(blobs);
  fs.mkdirSync(path.join(work, 'cwd'));
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

test('a mistyped command is an unknown command (exit 2, one line, the nearest name), not the reference positional form', () => {
  for (const [typed, meant] of [
    ['lod', 'load'],
    ['vrify', 'verify'],
    ['stat', 'state'],
    ['exprot', 'export'],
    ['LS', 'ls'],
  ] as const) {
    const r = cli([typed, src, `file://${blobs}`]);
    assert.equal(r.code, 2, `${typed}: ${r.stderr}`);
    assert.equal(r.stderr, `clfsload: unknown command '${typed}' (did you mean ${meant}?)\n`);
    assert.equal(r.stdout, '');
  }
  nothingWritten();
});

test('an unknown word with no near command names the commands and the reference form', () => {
  for (const args of [['frobnicate'], ['frobnicate', src, `file://${blobs}`, '--new'], ['--new', 'state-dir', src, 'acct', 'cont', 'sv=1&sig=x', 'sixth']]) {
    const r = cli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
    const word = args.find((a) => !a.startsWith('-'))!;
    assert.match(r.stderr, new RegExp(`^clfsload: unknown command '${word}': the commands are load, plan, finalize, demo, state, verify, ls, cat, export, copy, compare \\(clfsload --help\\), or the reference's five positionals: clfsload \\[--new\\] LOCAL_STATE_PATH SOURCE_ROOT ACCOUNT CONTAINER SAS_TOKEN\n$`));
    assert.equal(r.stdout, '');
  }
  nothingWritten();
});

test("five positionals with an option the reference form does not have: the error names the option, not a command", () => {
  const r = cli(['--new', 'state-dir', src, 'acct', 'cont', 'sv=1&sig=x', '--preserve-hardlinks', '1']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^error: unknown option '--preserve-hardlinks'\n\(Did you mean --preserve_hardlinks\?\)\n$/);
  nothingWritten();
});

test('every registered command is dispatched as itself, never read as the five positionals of the reference form', () => {
  assert.ok(COMMANDS.length >= 7);
  for (const c of COMMANDS) {
    const help = cli([c.name, '--help']);
    assert.equal(help.code, 0, `${c.name} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`^Usage: clfsload ${c.name} `));
    // the reference form would take the name as its state path and fail on the source 'a'
    const r = cli([c.name, 'a', 'b', 'c', 'd']);
    assert.equal(r.code, 2, `${c.name} a b c d: ${r.stderr}`);
    // copy takes several DEST paths: it reads the four words itself and refuses the source 'a'
    assert.match(r.stderr, /^error: (too many arguments|unknown command 'a')|^clfsload: a: not a directory; give the source tree to copy\n$/, `${c.name} a b c d: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /no such directory/);
  }
  nothingWritten();
});

test('a command must register the subcommand its name says', () => {
  const ctx = createCliContext({ stdout: process.stdout, stderr: process.stderr });
  const program = new Command('clfsload');
  registerCommands(program, ctx);
  assert.deepEqual(
    program.commands.map((c) => c.name()),
    COMMANDS.map((c) => c.name),
  );
  const misnamed = { name: 'copy', register: (p: Command) => void p.command('cpy') };
  assert.throws(() => registerCommands(new Command('clfsload'), ctx, [misnamed]), /command copy registered no subcommand of that name/);
});
