/** `clfsload load --update` from the command line, into Azurite: both forms, --dry-run, --json, exit codes, usage errors. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startAzurite } from '../../src/index.js';
import { buildOddTree } from '../helpers/tree-builder.js';

const BIN = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
type Azurite = Awaited<ReturnType<typeof startAzurite>>;
let azurite: Azurite;
let work: string;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, XDG_STATE_HOME: path.join(work, 'xdg') }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').pop()!);

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-update-cli-'));
  azurite = await startAzurite();
});

after(async () => {
  await azurite?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

function edit(src: string): void {
  fs.writeFileSync(path.join(src, 'added.txt'), 'new file\n');
  fs.rmSync(path.join(src, 'hello.txt'));
  fs.writeFileSync(path.join(src, 'b16385.bin'), Buffer.alloc(30000, 5));
  fs.utimesSync(path.join(src, 'b16385.bin'), new Date(1_600_000_000_000), new Date(1_600_000_000_000));
}

test('load --update: --dry-run --json says what would change and writes nothing; the update exits 0 and verifies; a second one has nothing to do', async () => {
  const src = path.join(work, 'a', 'tree');
  fs.mkdirSync(path.dirname(src));
  buildOddTree(src, { manyEntries: 50, bigFileBytes: 20000 });
  const c = await azurite.makeContainer();
  assert.equal(cli(['load', src, c.url, '--new', '--json']).code, 0);
  edit(src);
  const dry = cli(['load', src, c.url, '--update', '--dry-run', '--json']);
  assert.equal(dry.code, 0, dry.stderr);
  const e = lastJson(dry.stdout);
  assert.equal(e.dryRun, true);
  assert.equal(e.added, 1);
  assert.equal(e.removed, 1);
  assert.equal(e.changed, 1);
  const stale = cli(['verify', c.url, '--source', src, '--json']);
  assert.notEqual(stale.code, 0, 'the dry run changed nothing: the container is still the old tree');
  const text = cli(['load', src, c.url, '--update', '--dry-run']);
  assert.match(text.stdout, /1 entries added, 1 changed, .* 1 removed/);
  assert.match(text.stdout, /nothing was written/);
  const r = cli(['load', src, c.url, '--update', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = lastJson(r.stdout);
  assert.equal(s.status, 'complete');
  assert.deepEqual([s.update.added, s.update.changed, s.update.removed], [1, 1, 1]);
  const v = cli(['verify', c.url, '--source', src, '--json']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  const again = cli(['load', src, c.url, '--update']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /already-complete/);
  assert.match(again.stdout, /update: 0 entries added, 0 changed/);
});

test('the drop-in form with --update, and without its state folder (rebuilt from the container)', async () => {
  const src = path.join(work, 'b', 'tree');
  fs.mkdirSync(path.dirname(src));
  buildOddTree(src, { manyEntries: 20, bigFileBytes: 20000 });
  const c = await azurite.makeContainer();
  const state = path.join(work, 'legacy-state');
  const first = cli(['--new', state, src, azurite.accountName, c.containerName, c.sasToken, '--endpoint', azurite.endpoint, '--json']);
  assert.equal(first.code, 0, first.stderr);
  edit(src);
  fs.rmSync(state, { recursive: true });
  const r = cli([state, src, azurite.accountName, c.containerName, c.sasToken, '--endpoint', azurite.endpoint, '--update', '--checksum', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(lastJson(r.stdout).status, 'complete');
  const v = cli(['verify', c.url, '--source', src]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('usage errors: --checksum without --update, --update with --new, an update of an empty container; one line, exit 2 or 1', async () => {
  const src = path.join(work, 'c', 'tree');
  fs.mkdirSync(path.dirname(src));
  buildOddTree(src, { manyEntries: 5, bigFileBytes: 100 });
  const c = await azurite.makeContainer();
  for (const [args, pattern] of [
    [['load', src, c.url, '--checksum'], /--checksum compares data during an update/],
    [['load', src, c.url, '--update', '--new'], /--update .* --new .* give one of them/],
    [['load', src, c.url, '--update'], /holds no finished CLFS load to update/],
  ] as const) {
    const r = cli([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('load --update into a file:// folder from the command line (the retry layer over a folder listing): the container check sees every blob, the update exits 0 and verifies', () => {
  const src = path.join(work, 'folder-src');
  buildOddTree(src, { manyEntries: 300, bigFileBytes: 20000 });
  const blobs = path.join(work, 'folder-blobs');
  fs.mkdirSync(blobs);
  const url = `file://${blobs}`;
  const first = cli(['load', src, url, '--new', '--state', path.join(work, 'folder-state'), '--json']);
  assert.equal(first.code, 0, first.stderr);
  // the folder's readdir order is not the sorted order a listing gives (else this test proves nothing)
  // (fs.readdirSync sorts; a directory stream does not)
  const raw: string[] = [];
  const d = fs.opendirSync(blobs);
  for (let e = d.readSync(); e !== null; e = d.readSync()) raw.push(e.name);
  d.closeSync();
  assert.notDeepEqual(raw, [...raw].sort());
  edit(src);
  const dry = cli(['load', src, url, '--update', '--dry-run', '--state', path.join(work, 'folder-state'), '--json']);
  assert.equal(dry.code, 0, dry.stderr);
  const r = cli(['load', src, url, '--update', '--state', path.join(work, 'folder-state'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(lastJson(r.stdout).status, 'complete');
  const v = cli(['verify', url, '--source', src, '--json']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});
