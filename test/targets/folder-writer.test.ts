/**
 * FolderWriter (the folder target's writer threads), FolderTarget.list of a small folder and a get
 * alone: what runs in the calling thread before any thread is needed, and that the answers are the same.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FolderWriter } from '../../src/targets/folder-writer.js';
import { FolderTarget } from '../../src/targets/index.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function folder(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'clfs-writer-'));
  dirs.push(d);
  return d;
}

describe('FolderWriter', () => {
  it('writes a turn of a few small puts in the calling thread until a larger turn starts a thread', async () => {
    const dir = await folder();
    const w = new FolderWriter();
    const one = await w.writeOne({ tempPath: join(dir, '.tmp-a'), finalPath: join(dir, 'a'), data: Buffer.from('a') }, false);
    assert.equal(one, undefined);
    const few = await Promise.all(['b', 'c', 'd', 'e'].map((n) => w.writeOne({ finalPath: join(dir, n), data: Buffer.from(n) }, false)));
    assert.deepEqual(few, [undefined, undefined, undefined, undefined]);
    assert.equal(w.threadsStarted, 0, 'turns of up to four puts: no thread');
    const many = await Promise.all(Array.from({ length: 10 }, (_, i) => w.writeOne({ finalPath: join(dir, `m${i}`), data: Buffer.from(String(i)) }, false)));
    assert.ok(many.every((f) => f === undefined));
    assert.ok(w.threadsStarted >= 1, 'a turn of ten starts a thread');
    const started = w.threadsStarted;
    await w.writeOne({ finalPath: join(dir, 'z'), data: Buffer.from('z') }, false);
    assert.ok(w.threadsStarted >= started, 'and later single puts go to the threads');
    assert.deepEqual(readdirSync(dir).sort(), ['a', 'b', 'c', 'd', 'e', ...Array.from({ length: 10 }, (_, i) => `m${i}`), 'z'].sort(), 'renamed, no temp file left');
    assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'a');
    await w.close();
  });

  it('a put that fails in the calling thread is answered with its error; the rest of its turn is written', async () => {
    const dir = await folder();
    const w = new FolderWriter();
    const answers = await Promise.all([
      w.writeOne({ finalPath: join(dir, 'ok1'), data: Buffer.from('1') }, false),
      w.writeOne({ finalPath: join(dir, 'missing', 'bad'), data: Buffer.from('2') }, false),
      w.writeOne({ finalPath: join(dir, 'ok2'), data: Buffer.from('3') }, false),
    ]);
    assert.equal(answers[0], undefined);
    assert.equal((answers[1]?.error as NodeJS.ErrnoException).code, 'ENOENT');
    assert.equal(answers[2], undefined);
    assert.equal(w.threadsStarted, 0);
    assert.ok(existsSync(join(dir, 'ok2')));
    await w.close();
  });
});

describe('FolderTarget.list of a small folder, and a get alone', () => {
  it('gives the same sorted names either side of the in-thread limit: regular files only, no temp files', async () => {
    for (const count of [0, 3, 64, 65, 200]) {
      const dir = await folder();
      const want: string[] = [];
      for (let i = 0; i < count; i++) {
        const name = `b${String((i * 37) % 1000).padStart(4, '0')}`;
        want.push(name);
        await writeFile(join(dir, name), name);
      }
      await writeFile(join(dir, '.clfsload-tmp-x.abc'), 'temp');
      await mkdir(join(dir, 'sub'));
      const target = new FolderTarget(dir, { writerThread: false });
      const got: Array<{ name: string; sizeBytes: number }> = [];
      for await (const b of target.list('')) got.push(b);
      assert.deepEqual(
        got.map((b) => b.name),
        want.sort(),
        `${count} blobs`,
      );
      assert.ok(got.every((b) => b.sizeBytes === 5));
      const prefixed: string[] = [];
      for await (const b of target.list('b00', { namesOnly: true })) prefixed.push(b.name);
      assert.deepEqual(
        prefixed,
        want.filter((n) => n.startsWith('b00')),
      );
      await target.close();
    }
  });

  it('lists an empty folder, puts a blob and gets it back alone without starting a reader or writer thread (a large-file load’s requests)', async () => {
    const dir = await folder();
    const targets = new URL('../../src/targets/index.js', import.meta.url).href;
    // a process of its own: the threads of this one are the other tests'
    const code = `const { FolderTarget } = await import(${JSON.stringify(targets)});
const { readdirSync, readFileSync } = await import('node:fs');
const t = new FolderTarget(${JSON.stringify(dir)});
for await (const b of t.list('')) throw new Error('not empty: ' + b.name);
await t.put('x', Buffer.from('bytes of x'));
const back = (await t.get('x')).toString();
if (back !== 'bytes of x') throw new Error('got back ' + back);
const names = readdirSync('/proc/self/task').map((id) => readFileSync('/proc/self/task/' + id + '/comm', 'utf8').trim());
await t.close();
console.log(JSON.stringify(names));`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', code], (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
    );
    const threads = JSON.parse(out) as string[];
    assert.ok(!threads.includes('clfs-reader') && !threads.includes('clfs-writer'), out);
  });
});
