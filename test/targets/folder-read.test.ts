/** The folder target's read side: small blobs on the reader threads (folder-reader.ts), list's sizes. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isClfsError } from '../../src/errors/index.js';
import { FolderTarget } from '../../src/targets/index.js';
import { IDLE_THREAD_MS } from '../../src/targets/worker-stop.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

function bytesOf(i: number): Buffer {
  // sizes from 0 up, one blob past the reader threads' 256 KiB and one of several MiB
  const size = i === 7 ? 256 * 1024 + 1 : i === 11 ? 3 * 1024 * 1024 + 5 : (i * 977) % 9000;
  const b = Buffer.alloc(size);
  for (let k = 0; k < size; k++) b[k] = (k * 31 + i) & 0xff;
  return b;
}

describe('folder target reads', () => {
  it('many gets at once return each blob exactly; list gives every size in name order past its stat window', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clfs-folder-read-'));
    const target = new FolderTarget(dir);
    try {
      const n = 700;
      const names = Array.from({ length: n }, (_, i) => `blob-${String(i).padStart(4, '0')}`);
      for (let i = 0; i < n; i++) await writeFile(join(dir, names[i]!), bytesOf(i));
      const got = await Promise.all(names.map((name) => target.get(name)));
      got.forEach((b, i) => assert.ok(b.equals(bytesOf(i)), `${names[i]} read back differs`));
      // a missing blob among others in the same turn: its own error, the rest unaffected
      const mixed = await Promise.allSettled([target.get(names[3]!), target.get('no-such-blob'), target.get(names[4]!)]);
      assert.equal(mixed[0].status, 'fulfilled');
      assert.equal(mixed[2].status, 'fulfilled');
      assert.ok(mixed[1].status === 'rejected' && isClfsError(mixed[1].reason) && mixed[1].reason.code === 'E_TARGET_NOT_FOUND');
      const listed: Array<[string, number]> = [];
      for await (const info of target.list('blob-')) listed.push([info.name, info.sizeBytes]);
      assert.deepEqual(
        listed,
        names.map((name, i) => [name, bytesOf(i).length]),
      );
      // a listing given up early leaves nothing pending that fails later
      for await (const info of target.list('blob-')) if (info.name === names[2]) break;
    } finally {
      await target.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reader threads do not keep a process alive that never closes the target', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clfs-folder-read-'));
    try {
      await writeFile(join(dir, 'a'), 'hello');
      const index = pathToFileURL(fileURLToPath(new URL('../../src/targets/index.js', import.meta.url))).href;
      const script = `import { FolderTarget } from ${JSON.stringify(index)}; const t = new FolderTarget(${JSON.stringify(dir)}); process.stdout.write(await t.get('a'));`;
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      assert.equal(out, 'hello');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('worker threads under `node --input-type=module -e`', () => {
  it('a library load and verify from `node -e` work: the encode, writer and reader threads do not inherit --input-type or the code', async () => {
    const work = await mkdtemp(join(tmpdir(), 'clfs-worker-argv-'));
    try {
      const src = join(work, 'src');
      const { mkdir } = await import('node:fs/promises');
      await mkdir(src);
      for (let i = 0; i < 40; i++) await writeFile(join(src, `f${i}`), bytesOf(i));
      // past 16 KiB: segments go to the encode workers; small files go as ranges
      await writeFile(join(src, 'big'), Buffer.alloc(9 * 1024 * 1024, 7));
      const lib = pathToFileURL(fileURLToPath(new URL('../../src/index.js', import.meta.url))).href;
      const script = `import * as lib from ${JSON.stringify(lib)};
        const target = new lib.FolderTarget(${JSON.stringify(join(work, 'blobs'))});
        const s = await lib.load({ source: ${JSON.stringify(src)}, target, targetKey: 'argv', stateDir: ${JSON.stringify(join(work, 'state'))}, newTransfer: true });
        const report = await lib.verify(target, { source: ${JSON.stringify(src)} });
        process.stdout.write(JSON.stringify({ status: s.status, problems: report.problems.length }));`;
      await mkdir(join(work, 'blobs'));
      const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as Record<string, unknown>;
      assert.deepEqual(out, { status: 'complete', problems: 0 });
    } finally {
      await rm(join(work), { recursive: true, force: true });
    }
  });
});

describe('worker threads under node flags that a worker refuses', () => {
  it('`node --max-old-space-size=… --stack-size=… clfsload.js load`, then verify, run: the V8 flags stay on the main thread', async () => {
    const work = await mkdtemp(join(tmpdir(), 'clfs-worker-v8flags-'));
    try {
      const { mkdir } = await import('node:fs/promises');
      const src = join(work, 'src');
      await mkdir(src);
      for (let i = 0; i < 20; i++) await writeFile(join(src, `f${i}`), bytesOf(i));
      await writeFile(join(src, 'big'), Buffer.alloc(9 * 1024 * 1024, 3));
      await mkdir(join(work, 'blobs'));
      const cli = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
      // V8 flags (refused by workers), and a Node flag with its value as a separate word (taken by them)
      const flags = ['--max-old-space-size=2048', '--stack-size=2000', '--conditions', 'clfsload-test', '--enable-source-maps'];
      const url = pathToFileURL(join(work, 'blobs')).href;
      execFileSync(process.execPath, [...flags, cli, 'load', src, url, '--state', join(work, 'state'), '--new'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const out = JSON.parse(execFileSync(process.execPath, [...flags, cli, 'verify', url, '--source', src, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { ok: boolean; counts: { files: number } };
      assert.equal(out.ok, true);
      assert.equal(out.counts.files, 21);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('a target never closed does not keep its reader and writer threads: idle ones end after IDLE_THREAD_MS', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clfs-folder-idle-'));
    // this process's threads: [task id, name]
    const tasks = (): Array<[string, string]> => readdirSync('/proc/self/task').map((t) => [t, readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim()]);
    const ours = (): number => tasks().filter(([, name]) => /^clfs-(reader|writer)$/.test(name)).length;
    try {
      const before = ours();
      const target = new FolderTarget(dir);
      const names = Array.from({ length: 200 }, (_, i) => `blob-${String(i).padStart(4, '0')}`);
      await target.putMany(names.map((name, i) => ({ name, data: bytesOf(i) })));
      await Promise.all(names.map((name) => target.get(name)));
      assert.ok(ours() > before, 'the target started threads');
      // the reader threads run SCHED_BATCH (thread-policy.ts) when the addon is built: field 41 of /proc/…/stat is the policy
      const addonBuilt = existsSync(fileURLToPath(new URL('../../../native/build/Release/clfsload_native.node', import.meta.url)));
      if (addonBuilt) {
        const policies = tasks()
          .filter(([, name]) => name === 'clfs-reader')
          .map(([t]) => readFileSync(`/proc/self/task/${t}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[41 - 3]);
        assert.ok(policies.length > 0 && policies.every((p) => p === String(3)), `SCHED_BATCH (3) on every reader thread: ${policies.join(' ')}`);
      }
      await new Promise((r) => setTimeout(r, IDLE_THREAD_MS + 1500));
      assert.equal(ours(), before, `its idle threads ended (before ${before}: ${tasks().map(([, name]) => name).join(' ')})`);
      // and the target still works: a request starts a thread again
      assert.ok((await target.get(names[5]!)).equals(bytesOf(5)));
      await target.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
