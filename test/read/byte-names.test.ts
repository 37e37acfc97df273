/**
 * Names are bytes everywhere: every read command takes a name as its raw bytes or as the escaped
 * spelling `ls` prints, `ls` lists by name bytes, and `ls --json` round-trips any name.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { displayPath, FolderTarget, load, parseDisplayPath } from '../../src/index.js';
import { buildOddTree, seeded } from '../helpers/tree-builder.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
const LATIN1 = Buffer.from('caf\xe9-latin1.txt', 'latin1');
/** the ASCII name that is ls's spelling of LATIN1's first four bytes plus `.txt`: typing it back must find LATIN1_SHORT, not this */
const LITERAL = Buffer.from('caf\\xe9.txt');
const LATIN1_SHORT = Buffer.from('caf\xe9.txt', 'latin1');
const BACKSLASH = Buffer.from('back\\slash.txt');
const CONTROL = Buffer.from('ctl\x01name.txt');
const BAD_DIR = Buffer.from([0x64, 0xff, 0x64]);

let work: string;
let src: string;
let blobs: string;
let url: string;

/** Runs the CLI through bash, so arguments may be any bytes (Node's spawn takes strings only). */
function cli(args: Array<string | Buffer>): { code: number | null; stdout: Buffer; stderr: string } {
  // each argument as printf escapes of its bytes, rebuilt by bash into exactly those bytes
  const words = args.map((a) => `"$(printf '${[...Buffer.from(a)].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('')}')"`);
  const r = spawnSync('bash', ['-c', `exec "${process.execPath}" "${BIN}" ${words.join(' ')}`], { timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

function sourceFile(rel: Buffer): Buffer {
  return fs.readFileSync(Buffer.concat([Buffer.from(src + '/'), rel]) as unknown as string);
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-bytenames-'));
  src = path.join(work, 'src');
  buildOddTree(src, { manyEntries: 40, bigFileBytes: 9 * 1024 * 1024 });
  const put = (name: Buffer, data: string) => fs.writeFileSync(Buffer.concat([Buffer.from(src + '/'), name]) as unknown as string, data);
  put(LITERAL, 'the literal backslash-x name\n');
  put(LATIN1_SHORT, 'the latin-1 byte name\n');
  put(BACKSLASH, 'a backslash\n');
  put(CONTROL, 'a control byte\n');
  fs.mkdirSync(Buffer.concat([Buffer.from(src + '/'), BAD_DIR]) as unknown as string);
  put(Buffer.concat([BAD_DIR, Buffer.from('/inner.txt')]), 'inside a non-UTF-8 directory\n');
  blobs = path.join(work, 'blobs');
  fs.mkdirSync(blobs);
  const summary = await load({ source: src, target: new FolderTarget(blobs), targetKey: `file:${blobs}`, stateDir: path.join(work, 'state'), newTransfer: true, preserveHardlinks: true });
  assert.equal(summary.status, 'complete');
  url = `file://${blobs}`;
});

after(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

test('parseDisplayPath is the exact inverse of the ls spelling', () => {
  const rand = seeded(5);
  // bytes drawn to hit backslashes, x, hex digits, control bytes, UTF-8 lead and continuation bytes
  const alphabet = [0x5c, 0x78, 0x65, 0x39, 0x41, 0x61, 0x01, 0x0a, 0x7f, 0x80, 0xbf, 0xc3, 0xa9, 0xe2, 0x98, 0x95, 0xf0, 0x9f, 0xff, 0x2e];
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 12) }, () => alphabet[Math.floor(rand() * alphabet.length)]!));
    const shown = displayPath(b, { escapeBackslash: true });
    const back = parseDisplayPath(shown);
    assert.ok(back !== undefined && back.equals(b), `${b.toString('hex')} printed as ${JSON.stringify(shown)} parses back`);
  }
  for (const name of [LATIN1, LITERAL, LATIN1_SHORT, BACKSLASH, CONTROL, BAD_DIR, Buffer.from('caf\u00e9 \u2615 spaced.txt')]) {
    assert.ok(parseDisplayPath(displayPath(name, { escapeBackslash: true }))!.equals(name));
  }
  // spellings the printer never makes parse to nothing (so each name has one spelling)
  for (const s of ['a\\b', '\\x41', '\\xE9', '\\x4', 'end\\', 'caf\\xc3\\xa9']) assert.equal(parseDisplayPath(s), undefined, s);
  assert.deepEqual(parseDisplayPath('caf\\xe9'), Buffer.from([0x63, 0x61, 0x66, 0xe9]));
  assert.deepEqual(parseDisplayPath('a\\\\b'), Buffer.from('a\\b'));
});

test('cat finds a non-UTF-8 name by its raw bytes and by the spelling ls prints', () => {
  const want = sourceFile(LATIN1);
  const raw = cli(['cat', url, LATIN1]);
  assert.equal(raw.code, 0, raw.stderr);
  assert.deepEqual(raw.stdout, want);
  const escaped = cli(['cat', url, 'caf\\xe9-latin1.txt']);
  assert.equal(escaped.code, 0, escaped.stderr);
  assert.deepEqual(escaped.stdout, want);
  // inside a directory whose name is not UTF-8, both ways, and mixed
  const innerWant = sourceFile(Buffer.concat([BAD_DIR, Buffer.from('/inner.txt')]));
  for (const p of [Buffer.concat([BAD_DIR, Buffer.from('/inner.txt')]), 'd\\xffd/inner.txt', '/d\\xffd/./inner.txt']) {
    const r = cli(['cat', url, p]);
    assert.equal(r.code, 0, `${p.toString()}: ${r.stderr}`);
    assert.deepEqual(r.stdout, innerWant);
  }
});

test('the escaped spelling wins over a literal name equal to it, and every odd name reads back as ls prints it', () => {
  // `caf\xe9.txt` is what ls prints for the latin-1 name; the literal ASCII name prints as `caf\\xe9.txt`
  const l = cli(['ls', url]);
  assert.equal(l.code, 0, l.stderr);
  const lines = l.stdout.toString().trimEnd().split('\n');
  assert.ok(lines.includes('caf\\xe9.txt') && lines.includes('caf\\\\xe9.txt'), lines.join(' | '));
  assert.deepEqual(cli(['cat', url, 'caf\\xe9.txt']).stdout, sourceFile(LATIN1_SHORT));
  assert.deepEqual(cli(['cat', url, 'caf\\\\xe9.txt']).stdout, sourceFile(LITERAL));
  // each top-level file, typed back exactly as ls printed it, is that file
  let files = 0;
  for (const line of lines) {
    const bytes = parseDisplayPath(line)!;
    const st = fs.lstatSync(Buffer.concat([Buffer.from(src + '/'), bytes]) as unknown as string);
    if (!st.isFile()) continue;
    const r = cli(['cat', url, line]);
    assert.equal(r.code, 0, `${line}: ${r.stderr}`);
    assert.deepEqual(r.stdout, sourceFile(bytes), line);
    files += 1;
  }
  assert.ok(files >= 12, `${files} files read back`);
  // a raw name with a backslash that is no escape is found as typed
  assert.deepEqual(cli(['cat', url, BACKSLASH]).stdout, sourceFile(BACKSLASH));
  assert.deepEqual(cli(['cat', url, 'back\\\\slash.txt']).stdout, sourceFile(BACKSLASH));
  assert.deepEqual(cli(['cat', url, 'ctl\\x01name.txt']).stdout, sourceFile(CONTROL));
});

test('ls lists by name bytes; ls --json gives every field and names that round-trip', () => {
  const l = cli(['ls', url, '-R']);
  assert.equal(l.code, 0, l.stderr);
  const paths = l.stdout.toString().trimEnd().split('\n').map((s) => parseDisplayPath(s)!);
  // within each directory, names ascend by bytes (memcmp), not by the order the directory stores them
  const byDir = new Map<string, Buffer[]>();
  for (const p of paths) {
    const cut = p.lastIndexOf(0x2f);
    const dir = cut < 0 ? '' : p.subarray(0, cut).toString('hex');
    byDir.set(dir, [...(byDir.get(dir) ?? []), cut < 0 ? p : p.subarray(cut + 1)]);
  }
  for (const [dir, names] of byDir) assert.deepEqual(names, [...names].sort(Buffer.compare), `directory ${dir} sorted`);
  assert.ok((byDir.get('')?.length ?? 0) > 15);

  const j = cli(['ls', url, '-R', '--json']);
  assert.equal(j.code, 0, j.stderr);
  const entries = j.stdout.toString().trimEnd().split('\n').map((s) => JSON.parse(s) as Record<string, unknown>);
  assert.equal(entries.length, paths.length);
  const kinds = new Set(entries.map((e) => e.type));
  for (const k of ['dir', 'file', 'symlink', 'fifo']) assert.ok(kinds.has(k), `kind ${k} listed`);
  for (const k of kinds) assert.ok(['dir', 'file', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev'].includes(k as string), `known kind ${String(k)}`);
  entries.forEach((e, i) => {
    const bytes = Buffer.from(e.pathHex as string, 'hex');
    assert.deepEqual(bytes, paths[i], 'same order and names as the plain listing');
    assert.deepEqual(parseDisplayPath(e.path as string), bytes, 'the display string parses to the hex bytes');
    const st = fs.lstatSync(Buffer.concat([Buffer.from(src + '/'), bytes]) as unknown as string);
    assert.equal(e.mode, st.mode & 0o7777, `${e.path as string}: mode`);
    assert.equal(e.uid, st.uid);
    assert.equal(e.mtimeSec, Math.floor(st.mtimeMs / 1000));
    if (e.type === 'file') assert.equal(e.size, st.size);
    if (e.type === 'symlink') assert.deepEqual(Buffer.from(e.symlinkTargetHex as string, 'hex'), fs.readlinkSync(Buffer.concat([Buffer.from(src + '/'), bytes]) as unknown as string, { encoding: 'buffer' }));
    for (const f of ['name', 'nameHex', 'modeString', 'gid', 'mtime', 'mtimeNsec', 'nlink']) assert.ok(f in e, `field ${f}`);
  });
  const latin = entries.find((e) => e.pathHex === LATIN1.toString('hex'))!;
  assert.equal(latin.path, 'caf\\xe9-latin1.txt');
  assert.equal(entries.find((e) => e.pathHex === Buffer.from('links/hello-hard.txt').toString('hex'))!.nlink, 3);
});

test('export of an escaped path, and verify --source of a source whose path is not UTF-8', () => {
  const dest = path.join(work, 'export');
  const r = cli(['export', url, dest, 'd\\xffd']);
  assert.equal(r.code, 0, r.stderr);
  // a directory's content goes into DEST itself
  assert.equal(fs.readFileSync(path.join(dest, 'inner.txt'), 'utf8'), 'inside a non-UTF-8 directory\n');
  const one = path.join(work, 'export-one');
  const f = cli(['export', url, one, 'caf\\xe9-latin1.txt']);
  assert.equal(f.code, 0, f.stderr);
  assert.deepEqual(fs.readFileSync(Buffer.concat([Buffer.from(one + '/'), LATIN1]) as unknown as string), sourceFile(LATIN1));
  const moved = Buffer.concat([Buffer.from(work + '/'), Buffer.from([0x73, 0xe9, 0x72, 0x63])]);
  fs.renameSync(src, moved as unknown as string);
  try {
    const v = cli(['verify', url, '--source', moved]);
    assert.equal(v.code, 0, v.stdout.toString() + v.stderr);
    assert.match(v.stdout.toString(), /^OK: 0 problem/m);
  } finally {
    fs.renameSync(moved as unknown as string, src);
  }
});
