/**
 * verify walks many directories at once: every kind of damage, spread over a tree of many
 * directories (hard links across them included), is still found at its path, and the report is
 * the same at concurrency 1 and 32 however the requests finish.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Btype, blobName, encodeBlob, encodeDirents, encodeInodeBody, INPROGRESS_ID } from '../../src/codec/index.js';
import { ContainerReader, verify, type VerifyReport } from '../../src/read/index.js';
import { FolderTarget } from '../../src/targets/folder-target.js';
import type { Target } from '../../src/targets/target.js';
import { loadTree, rm, tempDir } from './read-fixtures.js';

const temps: string[] = [];
after(() => rm(...temps));

let source: string;
let folder: string;

/** Most gets in flight at once through any scrambled target. */
let peakGets = 0;

/** The folder target with each get and list delayed 0–5 ms by a seeded generator. */
function scrambled(inner: Target, seed: number): Target {
  let s = seed;
  let gets = 0;
  const delay = async (): Promise<void> => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    await new Promise((r) => setTimeout(r, s % 6));
  };
  return new Proxy(inner, {
    get(t, prop) {
      if (prop === 'get') {
        return async (name: string, o?: object) => {
          peakGets = Math.max(peakGets, ++gets);
          try {
            await delay();
            return t.get(name, o);
          } finally {
            gets--;
          }
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

const D = (a: number, b: number) => `t${a}/u${b}`;

before(async () => {
  source = join(tempDir('tree'), 'wide');
  // 8 × 6 directories two levels deep, each with files; one 9 MiB file (two segments) per top directory
  for (let a = 0; a < 8; a++) {
    for (let b = 0; b < 6; b++) {
      fs.mkdirSync(join(source, D(a, b)), { recursive: true });
      for (let f = 0; f < 12; f++) fs.writeFileSync(join(source, D(a, b), `f${f}.txt`), `file ${a}/${b}/${f}\n`.repeat(1 + f * 3));
    }
    fs.writeFileSync(join(source, `t${a}`, 'big.bin'), Buffer.alloc(9 * 1024 * 1024 + 7, a + 1));
  }
  // hard links whose names sit in directories far apart in the walk
  fs.writeFileSync(join(source, D(0, 0), 'shared.txt'), 'one inode, three names\n');
  fs.linkSync(join(source, D(0, 0), 'shared.txt'), join(source, D(5, 3), 'shared-again.txt'));
  fs.linkSync(join(source, D(0, 0), 'shared.txt'), join(source, D(7, 5), 'shared-third.txt'));
  fs.writeFileSync(join(source, D(2, 1), 'pair.txt'), 'two names\n');
  fs.linkSync(join(source, D(2, 1), 'pair.txt'), join(source, D(6, 0), 'pair-b.txt'));
  temps.push(join(source, '..'));
  const loaded = await loadTree(source, true);
  folder = loaded.folder;
  temps.push(join(folder, '..'));
  const r = await ContainerReader.open(loaded.target);
  const blobOf = async (p: string) => (await r.resolve(p)).inode;

  // missing data segment
  const big = await blobOf('t1/big.bin');
  for await (const { id } of r.segmentIds(big)) fs.unlinkSync(join(folder, r.segmentName(id, big.handle)));
  // missing inode: its segments become unreachable
  fs.unlinkSync(join(folder, (await blobOf('t2/big.bin')).blob));
  // an inode that does not decode
  const corrupt = join(folder, (await blobOf(`${D(3, 2)}/f4.txt`)).blob);
  const bytes = fs.readFileSync(corrupt);
  for (let i = 4; i < 8; i++) bytes[i]! ^= 0xff;
  fs.writeFileSync(corrupt, bytes);
  // a leftover in-progress inode
  const inprog = await blobOf(`${D(4, 4)}/f1.txt`);
  fs.copyFileSync(join(folder, inprog.blob), join(folder, blobName(inprog.handle, Btype.REG, INPROGRESS_ID, 9)));
  // a blob renamed (wrong name hash)
  const renamedFrom = (await blobOf(`${D(6, 2)}/f7.txt`)).blob;
  fs.renameSync(join(folder, renamedFrom), join(folder, (renamedFrom[0] === 'A' ? 'B' : 'A') + renamedFrom.slice(1)));
  // a directory that gains a dirent pointing nowhere, and one naming another directory's subdirectory
  const ghost = Buffer.from('71B9863001010200FFFF000000000000123456789ABCDEF0', 'hex');
  const stolen = await blobOf(D(1, 4));
  for (const [dir, extra] of [
    [D(5, 5), { name: Buffer.from('ghost'), handle: ghost }],
    ['t7', { name: Buffer.from('second-name-of-u4'), handle: stolen.handle }],
  ] as const) {
    const inode = await blobOf(dir);
    const o = inode.obj;
    const body = encodeInodeBody({ vattr: o.vattr, bmap: o.bmap, name: o.name, direntsPiece: encodeDirents([...o.dirents!, extra]), ...(o.extattrs ? { extattrs: o.extattrs } : {}) });
    fs.writeFileSync(join(folder, inode.blob), encodeBlob(body, 'lz4'));
  }
  // the source moves on: content, mode, a name only in the source, a hard link broken in the source
  fs.appendFileSync(join(source, D(3, 0), 'f2.txt'), 'changed');
  fs.chmodSync(join(source, D(4, 1), 'f3.txt'), 0o600);
  fs.writeFileSync(join(source, D(6, 4), 'only-in-source.txt'), 'new');
  fs.rmSync(join(source, D(6, 0), 'pair-b.txt'));
  fs.writeFileSync(join(source, D(6, 0), 'pair-b.txt'), 'two names\n');
});

function expect(report: VerifyReport, code: string, path: string, pattern: RegExp): void {
  const hit = report.problems.find((p) => p.code === code && p.path === path && pattern.test(p.message));
  assert.ok(hit, `expected ${code} at ${path} matching ${pattern}; got:\n${report.problems.map((p) => `${p.code} ${p.message}`).join('\n')}`);
}

test('every kind of damage in a wide tree is found at concurrency 32, the same report as at concurrency 1', async () => {
  const sequential = await verify(new FolderTarget(folder), { source, concurrency: 1 });
  const check = (report: VerifyReport) => {
    assert.equal(report.ok, false);
    expect(report, 'missing-segment', '/t1/big.bin', /data segment 1 .* is missing/);
    expect(report, 'missing-inode', '/t2/big.bin', /inode blob .* is missing/);
    expect(report, 'unreachable', '', /file-segment of inode [0-9A-F]{48} at offset 16384\) is not reachable/);
    expect(report, 'corrupt', `/${D(3, 2)}/f4.txt`, /does not decode/);
    expect(report, 'in-progress-left', `/${D(4, 4)}/f1.txt`, /leftover in-progress inode blob/);
    expect(report, 'bad-name', '', /hash prefix does not match the id/);
    expect(report, 'missing-inode', `/${D(6, 2)}/f7.txt`, /a blob with a damaged name exists/);
    expect(report, 'missing-inode', `/${D(5, 5)}/ghost`, /dirent points to handle 71B9863001010200FFFF/);
    expect(report, 'size', `/${D(5, 5)}`, /but its entries take/);
    // the name met later in the walk's order is the second one, whatever finished first
    expect(report, 'bad-dirent', '/t7/second-name-of-u4', /directory inode .* is reached by a second dirent/);
    expect(report, 'source-mismatch', `/${D(3, 0)}/f2.txt`, /content differs from the source/);
    expect(report, 'source-mismatch', `/${D(4, 1)}/f3.txt`, /mode 100644 but the source has 100600/);
    expect(report, 'source-mismatch', `/${D(6, 4)}/only-in-source.txt`, /in the source but not in the container/);
    assert.ok(report.problems.some((p) => p.code === 'hardlink' && /pair/.test(p.message)), `hard link broken in the source: ${report.problems.map((p) => p.message).join('\n')}`);
    assert.ok(!report.problems.some((p) => /shared/.test(p.message)), 'the intact three-name link raises nothing');
  };
  check(sequential);
  assert.equal(sequential.counts.dirs, 1 + 8 + 48);
  for (const seed of [1, 2, 3]) {
    const concurrent = await verify(scrambled(new FolderTarget(folder), seed), { source, concurrency: 32 });
    check(concurrent);
    assert.deepEqual(concurrent.problems, sequential.problems, `seed ${seed}: same problems, same order`);
    assert.deepEqual(concurrent.counts, sequential.counts, `seed ${seed}: same counts`);
  }
  // no directory has more than 13 entries: only several directories at once fill 32 requests
  assert.ok(peakGets > 20, `directories were walked at once (${peakGets} gets in flight at most)`);
  // structure only, concurrently: the same problems less those that need the source
  const structure = await verify(scrambled(new FolderTarget(folder), 9), { concurrency: 32 });
  const noSource = sequential.problems.filter((p) => p.code !== 'source-mismatch' && p.code !== 'hardlink');
  assert.deepEqual(
    structure.problems.map((p) => p.message),
    noSource.map((p) => p.message),
  );
});
