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

test('--state=DIR written with "=" keeps its bytes too', () => {
  const tgt = odd('tgt-eq');
  fs.mkdirSync(tgt as unknown as string);
  const state = odd('st-eq');
  const r = cli(['load', odd('src'), Buffer.concat([Buffer.from('file://'), tgt]), '--new', Buffer.concat([Buffer.from('--state='), state])]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.ok(fs.existsSync(bytesPath(state, 'state.db') as unknown as string), 'the state is in the folder named by the bytes');
  // and not in a folder named by the mangled string (U+FFFD for the byte)
  assert.ok(!fs.existsSync(path.join(work, 'st-eq\ufffd')), 'no folder named by the mangled string');
  const check = cli(['verify', Buffer.concat([Buffer.from('file://'), tgt]), '--source', odd('src'), Buffer.concat([Buffer.from('--state='), state])]);
  assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
  assert.match(check.stderr, /filters of the load in .*\/st-eq\\xe9:/);
});

test('a target folder or a state folder inside a source that is not UTF-8 is refused, named by its bytes', () => {
  const src = odd('src-in');
  fs.mkdirSync(bytesPath(src, 'tgt') as unknown as string, { recursive: true });
  fs.writeFileSync(bytesPath(src, 'a.txt') as unknown as string, 'a\n');
  const outside = odd('tgt-out');
  fs.mkdirSync(outside as unknown as string);
  const inside = Buffer.concat([Buffer.from('file://'), bytesPath(src, 'tgt')]);
  const t = cli(['load', src, inside, '--new', '--state', odd('st-in-1')]);
  assert.equal(t.code, 2, `${t.stdout}\n${t.stderr}`);
  assert.match(t.stderr, /^clfsload: target folder \S*\/src-in\\xe9\/tgt overlaps the source \S*\/src-in\\xe9: put the target somewhere outside the tree being loaded\n$/);
  assert.deepEqual(fs.readdirSync(bytesPath(src, 'tgt') as unknown as string), [], 'nothing written into the target');
  assert.ok(!fs.existsSync(bytesPath(odd('st-in-1'), 'state.db') as unknown as string), 'no state made');
  const s = cli(['load', src, Buffer.concat([Buffer.from('file://'), outside]), '--new', '--state', bytesPath(src, 'st')]);
  assert.equal(s.code, 2, `${s.stdout}\n${s.stderr}`);
  assert.match(s.stderr, /^clfsload: state folder \S*\/src-in\\xe9\/st overlaps the source \S*\/src-in\\xe9: put the state somewhere outside the tree being loaded\n$/);
  assert.doesNotMatch(s.stderr, /\/proc\/self\/fd/);
  assert.deepEqual(fs.readdirSync(src as unknown as string).sort(), ['a.txt', 'tgt'], 'no state folder left in the source');
  assert.deepEqual(fs.readdirSync(outside as unknown as string), [], 'nothing written into the target');
  // the reference's form and a plan check the same
  const legacy = cli(['--new', bytesPath(src, 'st2'), src, 'acct', 'cont', 'sv=1&sig=x', '--endpoint', 'http://127.0.0.1:1/acct']);
  assert.equal(legacy.code, 2, legacy.stderr);
  assert.match(legacy.stderr, /state folder \S*\/src-in\\xe9\/st2 overlaps the source/);
  const plan = cli(['plan', src, inside, '--shards', '2', '--plan', bytesPath(work, 'plan-in.json')]);
  assert.equal(plan.code, 2, plan.stderr);
  assert.match(plan.stderr, /target folder \S*\/src-in\\xe9\/tgt overlaps the source/);
});

test('copy --finalize names a DEST that is not UTF-8 by its bytes when shards have not finished', () => {
  const dest = odd('copy-dest');
  fs.mkdirSync(dest as unknown as string);
  const r = cli(['copy', '--finalize', odd('src'), dest, '--shards', '2']);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^not finalized: shard\(s\) 0, 1 of 2 have not finished \(no complete summary in \S*\/copy-dest\\xe9\/\.clfsload-copy\/shards\)/m);
  assert.doesNotMatch(r.stdout, /\ufffd/);
});
