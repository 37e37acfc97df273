/**
 * A SOURCE whose own path is not valid UTF-8 (`caf<0xe9>`): Node's argv decoding turns the byte
 * into U+FFFD, so the commands take the argument's bytes (src/cli/raw-argv.ts). load (new,
 * resumed, dry run), plan and its shards, and verify --source get the exact bytes; a message
 * names such a path the way ls prints it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ContainerReader, FolderTarget } from '../../src/index.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
const CAFE = Buffer.from('caf\xe9', 'latin1');
let work: string;
let src: Buffer;

function bytesPath(...parts: Array<string | Buffer>): Buffer {
  return Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [Buffer.from(p)] : [Buffer.from('/'), Buffer.from(p)])));
}

/** A bash word that is exactly these bytes (printf escapes). */
function printfWord(a: string | Buffer): string {
  return `"$(printf '${[...Buffer.from(a)].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('')}')"`;
}

/** Runs the CLI with each argument's exact bytes. */
function cli(args: Array<string | Buffer>): { code: number | null; stdout: string; stderr: string } {
  const words = args.map(printfWord);
  const r = spawnSync('bash', ['-c', `exec "${process.execPath}" "${BIN}" ${words.join(' ')}`], { timeout: 120_000 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-bytesource-'));
  src = bytesPath(work, CAFE);
  const put = (rel: Buffer | string, data: string) => fs.writeFileSync(bytesPath(src, rel) as unknown as string, data);
  fs.mkdirSync(src as unknown as string);
  fs.mkdirSync(bytesPath(src, 'sub') as unknown as string);
  put('a.txt', 'hello\n');
  put(Buffer.concat([Buffer.from('sub/'), CAFE, Buffer.from('.txt')]), 'inside\n');
  put('sub/big.bin', 'x'.repeat(70_000));
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

test('load of a source whose path is not UTF-8 stores its bytes, resumes, and verifies against it', async () => {
  const out = path.join(work, 'out');
  fs.mkdirSync(out);
  const url = `file://${out}`;
  const state = path.join(work, 'state');
  const dry = cli(['load', src, url, '--dry-run', '--json']);
  assert.equal(dry.code, 0, dry.stderr);
  const r = cli(['load', src, url, '--new', '--state', state, '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // the root is named by the source's last component, byte for byte
  const target = new FolderTarget(out);
  try {
    const reader = await ContainerReader.open(target);
    assert.deepEqual(reader.root.obj.name, CAFE);
  } finally {
    await target.close();
  }
  // the same command again is the same transfer (the stored source path matches its bytes)
  const again = cli(['load', src, url, '--state', state, '--json']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  const v = cli(['verify', url, '--source', src]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /^OK: 0 problem/m);
  // compare (which runs itself again with a larger thread pool) keeps the bytes too: a copy made
  // with cp -a against its source whose path is not UTF-8
  const copyOf = bytesPath(work, Buffer.concat([CAFE, Buffer.from('-copy')]));
  const cp = spawnSync('bash', ['-c', `cp -a -- ${printfWord(src)} ${printfWord(copyOf)}`]);
  assert.equal(cp.status, 0, cp.stderr.toString());
  const c = cli(['compare', src, copyOf]);
  assert.equal(c.code, 0, c.stdout + c.stderr);
  // the mangled spelling is another path: verify against it fails, naming it
  const wrong = cli(['verify', url, '--source', path.join(work, 'caf\ufffd')]);
  assert.notEqual(wrong.code, 0);
});

test('plan and its shards take the bytes; a missing source is named as ls prints it', () => {
  const out = path.join(work, 'out-plan');
  fs.mkdirSync(out);
  const url = `file://${out}`;
  const planFile = path.join(work, 'plan.json');
  const p = cli(['plan', src, url, '--shards', '2', '--plan', planFile]);
  assert.equal(p.code, 0, p.stdout + p.stderr);
  for (const k of ['0', '1']) {
    const s = cli(['load', '--plan', planFile, '--shard', k]);
    assert.equal(s.code, 0, `shard ${k}: ${s.stdout}${s.stderr}`);
  }
  const f = cli(['finalize', '--plan', planFile]);
  assert.equal(f.code, 0, f.stdout + f.stderr);
  const v = cli(['verify', url, '--source', src]);
  assert.equal(v.code, 0, v.stdout + v.stderr);

  const missing = bytesPath(work, Buffer.concat([CAFE, Buffer.from('-gone')]));
  const m = cli(['load', missing, `file://${path.join(work, 'out-none')}`, '--new', '--state', path.join(work, 'state-none')]);
  assert.notEqual(m.code, 0);
  assert.match(m.stderr, /caf\\xe9-gone/);
  assert.doesNotMatch(m.stderr, /\ufffd|\n\s+at /);
});
