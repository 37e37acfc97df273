/**
 * verify's report does not depend on timing: a container with damage in many directories, read
 * through a target whose requests finish in a scrambled order, gives the same problems in the same
 * order at concurrency 1 and 32 (children's results are applied in dirent order).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ContainerReader, verify } from '../../src/read/index.js';
import type { Target } from '../../src/targets/target.js';
import { loadTree, rm, tempDir } from './read-fixtures.js';

const temps: string[] = [];
after(() => rm(...temps));

let source: string;
let folder: string;

/** The folder target with each get and list delayed 0–3 ms by a seeded generator. */
function scrambled(inner: Target, seed: number): Target {
  let s = seed;
  const delay = async (): Promise<void> => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    await new Promise((r) => setTimeout(r, s % 4));
  };
  return new Proxy(inner, {
    get(t, prop) {
      if (prop === 'get') {
        return async (name: string, o?: object) => {
          await delay();
          return t.get(name, o);
        };
      }
      if (prop === 'list') {
        return async function* (prefix: string, o?: object) {
          await delay();
          yield* t.list(prefix, o);
        };
      }
      const v = Reflect.get(t, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

before(async () => {
  source = join(tempDir('tree'), 'order');
  for (let d = 0; d < 6; d++) {
    fs.mkdirSync(join(source, `d${d}`, 'inner'), { recursive: true });
    for (let f = 0; f < 40; f++) fs.writeFileSync(join(source, `d${d}`, `f${String(f).padStart(2, '0')}.txt`), `file ${d}/${f}\n`.repeat(1 + f));
    fs.writeFileSync(join(source, `d${d}`, 'inner', 'big.bin'), Buffer.alloc(40_000, d));
  }
  temps.push(join(source, '..'));
  const loaded = await loadTree(source, false);
  folder = loaded.folder;
  temps.push(join(folder, '..'));
  const reader = await ContainerReader.open(loaded.target);
  for (let d = 0; d < 6; d++) {
    for (let f = 0; f < 40; f += 7) fs.rmSync(join(folder, (await reader.resolve(`d${d}/f${String(f).padStart(2, '0')}.txt`)).inode.blob));
    for (let f = 4; f < 40; f += 11) fs.writeFileSync(join(folder, (await reader.resolve(`d${d}/f${String(f).padStart(2, '0')}.txt`)).inode.blob), 'not a blob');
    // content and attributes that differ from the source, names only on one side
    fs.appendFileSync(join(source, `d${d}`, 'f05.txt'), 'changed');
    fs.writeFileSync(join(source, `d${d}`, 'inner', 'new.txt'), 'only in the source');
    fs.chmodSync(join(source, `d${d}`, 'f10.txt'), 0o600);
  }
  // its data segment is left unreachable
  fs.rmSync(join(folder, (await reader.resolve('d1/inner/big.bin')).inode.blob));
});

test('the same problems in the same order at concurrency 1 and 32, however requests finish', async () => {
  const { FolderTarget } = await import('../../src/targets/folder-target.js');
  const sequential = await verify(new FolderTarget(folder), { source, concurrency: 1 });
  assert.ok(sequential.problems.length > 60, `only ${sequential.problems.length} problems`);
  const codes = new Set(sequential.problems.map((p) => p.code));
  for (const c of ['missing-inode', 'corrupt', 'source-mismatch', 'unreachable']) assert.ok(codes.has(c as never), `no ${c} problem`);
  for (const seed of [1, 2, 3]) {
    const concurrent = await verify(scrambled(new FolderTarget(folder), seed), { source, concurrency: 32 });
    assert.deepEqual(concurrent.problems, sequential.problems, `seed ${seed}`);
    assert.deepEqual(concurrent.counts, sequential.counts);
  }
  // a sequential walk reports a directory's children before its subdirectories' contents
  const paths = sequential.problems.map((p) => p.path).filter((p) => p.startsWith('/d'));
  assert.ok(paths.indexOf('/d0/f00.txt') >= 0 && paths.indexOf('/d0/f00.txt') < paths.indexOf('/d0/inner/new.txt'), paths.join('\n'));
});
