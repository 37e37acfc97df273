/**
 * Every local path of a command line as bytes that are not valid UTF-8 (`caf<0xe9>`): a load
 * from such a source into a file: target and a --state folder with such paths, interrupted by
 * SIGINT; the resume command it prints, run through `sh -c` as printed; verify --source with
 * --state; export into such a DEST; messages that name such a path escape it as ls prints it.
 * (src/cli/byte-path.ts, raw-argv.ts.)
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { shellWord } from '../../src/cli/byte-path.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
const E9 = Buffer.from([0xe9]);
const FILES = 200;
let work: string;

function bytesPath(...parts: Array<string | Buffer>): Buffer {
  return Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [Buffer.from(p)] : [Buffer.from('/'), Buffer.from(p)])));
}

/** `name` + 0xE9, under the work folder. */
function odd(name: string): Buffer {
  return bytesPath(work, Buffer.concat([Buffer.from(name), E9]));
}

/** A bash word that is exactly these bytes (printf escapes), written independently of shellWord. */
function printfWord(a: string | Buffer): string {
  return `"$(printf '${[...Buffer.from(a)].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('')}')"`;
}

function commandOf(args: Array<string | Buffer>): string {
  return `exec "${process.execPath}" "${BIN}" ${args.map(printfWord).join(' ')}`;
}

/** every open of a source file waits this long: the load takes seconds, not milliseconds */
const slow = (ms: number) => ({ ...process.env, CLFSLOAD_SOURCE_FAULTS: JSON.stringify({ rules: [{ op: 'open', delayMs: ms }] }) });

function cli(args: Array<string | Buffer>, env: NodeJS.ProcessEnv = process.env): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', commandOf(args)], { timeout: 180_000, env });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-bytepaths-'));
  const src = odd('src');
  fs.mkdirSync(bytesPath(src, 'sub') as unknown as string, { recursive: true });
  for (let i = 0; i < FILES; i++) fs.writeFileSync(bytesPath(src, 'sub', `f${i}.txt`) as unknown as string, `file ${i}\n`.repeat(i + 1));
  fs.writeFileSync(bytesPath(src, Buffer.concat([Buffer.from('n'), E9])) as unknown as string, 'odd name\n');
  fs.mkdirSync(odd('tgt') as unknown as string);
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

test('shellWord: UTF-8 words single-quoted, other bytes through printf, and sh reads back every byte', () => {
  assert.equal(shellWord('/plain/path'), '/plain/path');
  assert.equal(shellWord("it's"), `'it'\\''s'`);
  const words = [Buffer.from([0x2f, 0x61, 0xe9, 0x25, 0x5c, 0x27, 0x20, 0x0a, 0x62]), Buffer.from([0x2d, 0xff]), Buffer.from('caf\xe9 x', 'latin1')];
  for (const w of words) {
    const r = spawnSync('sh', ['-c', `printf '%s' ${shellWord(w)}`]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.deepEqual(r.stdout, w, shellWord(w));
  }
});

test('load with SOURCE, file: target and --state not UTF-8: interrupted, resumed by the printed command through sh -c, verified, exported', async () => {
  const src = odd('src');
  const tgt = odd('tgt');
  const state = bytesPath(odd('st'), 'state');
  const url = Buffer.concat([Buffer.from('file://'), tgt]);
  const args = ['load', src, url, '--new', '--state', state];
  const child = spawn('bash', ['-c', commandOf(args)], { env: slow(60) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // under way: some entries done
  const deadline = Date.now() + 90_000;
  while (!/transfer: [1-9]\d*\//.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.match(stderr, /transfer: [1-9]\d*\//, stderr);
  child.kill('SIGINT');
  assert.equal(await exited, 130, `${stdout}\n${stderr}`);
  assert.match(stdout, /^interrupted in phase/m, stdout);
  // the state folder is named as ls prints it, not by a descriptor
  assert.match(stdout, /state kept in .*\/st\\xe9\/state;/, stdout);
  assert.doesNotMatch(stdout + stderr, /\/proc\/self\/fd/);
  const resumeLine = /to resume, run:\n {2}(.+)\n/.exec(stdout)?.[1];
  assert.ok(resumeLine, stdout);
  assert.doesNotMatch(resumeLine, /--new/);
  assert.ok(!resumeLine.includes('\ufffd') && !/[\x80-\xff]/.test(resumeLine), `the line is ASCII: ${resumeLine}`);

  const again = spawnSync('sh', ['-c', resumeLine], { env: slow(2), timeout: 180_000 });
  assert.equal(again.status, 0, `${again.stdout.toString()}\n${again.stderr.toString()}`);
  assert.match(again.stdout.toString(), new RegExp(`^complete: ${FILES + 3} entries`, 'm'));
  assert.ok(fs.existsSync(bytesPath(state, 'state.db') as unknown as string), 'the state is in the folder named by the bytes');
  assert.ok(fs.readdirSync(tgt as unknown as string).length > FILES, 'the blobs are in the folder named by the bytes');

  const v = cli(['verify', url, '--source', src, '--state', state]);
  assert.equal(v.code, 0, `${v.stdout}\n${v.stderr}`);
  assert.match(v.stdout, /^OK: 0 problem/m);
  assert.match(v.stderr, /filters of the load in .*\/st\\xe9\/state:/);

  const dest = bytesPath(odd('out'), Buffer.concat([Buffer.from('x'), E9]));
  const x = cli(['export', url, dest]);
  assert.equal(x.code, 0, `${x.stdout}\n${x.stderr}`);
  assert.match(x.stderr, /to .*\/out\\xe9\/x\\xe9\n/);
  assert.equal(fs.readFileSync(bytesPath(dest, 'sub', 'f3.txt') as unknown as string, 'utf8'), 'file 3\n'.repeat(4));
  assert.equal(fs.readFileSync(bytesPath(dest, Buffer.concat([Buffer.from('n'), E9])) as unknown as string, 'utf8'), 'odd name\n');
  // an exported file (not a tree) into such a DEST too
  const one = cli(['export', url, odd('one'), 'sub/f7.txt']);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(fs.readFileSync(bytesPath(odd('one'), 'f7.txt') as unknown as string, 'utf8'), 'file 7\n'.repeat(8));

  const st = cli(['state', 'check', state]);
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /^state .*\/st\\xe9\/state: phase done/m);
});

test('a message names a path that is not UTF-8 as ls prints it', () => {
  const missing = odd('missing');
  const r = cli(['verify', Buffer.concat([Buffer.from('file://'), missing])]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /missing\\xe9/, r.stderr);
  const s = cli(['state', 'check', odd('nostate')]);
  assert.notEqual(s.code, 0);
  assert.match(s.stderr, /nostate\\xe9/, s.stderr);
});
