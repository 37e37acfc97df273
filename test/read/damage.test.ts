/** verify on damaged copies of the reference `tiny` container: each damage is named with its path. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Btype,
  blobName,
  bucketBlobName,
  encodeBlob,
  encodeDirents,
  encodeInodeBody,
  INPROGRESS_ID,
  rootBlobName,
} from '../../src/codec/index.js';
import { isClfsError } from '../../src/errors/index.js';
import { ContainerReader, verify, type VerifyReport } from '../../src/read/index.js';
import { FolderTarget } from '../../src/targets/folder-target.js';
import { copyContainer, extractContainer, rm } from './read-fixtures.js';

const temps: string[] = [];
let pristine: string;
before(() => {
  pristine = extractContainer('tiny');
  temps.push(pristine);
});
after(() => rm(...temps));

async function damaged(damage: (dir: string, reader: ContainerReader) => Promise<void>): Promise<VerifyReport> {
  const dir = copyContainer(pristine);
  temps.push(dir);
  const reader = await ContainerReader.open(new FolderTarget(dir));
  await damage(dir, reader);
  return verify(new FolderTarget(dir));
}

function assertProblem(report: VerifyReport, code: string, path: string, pattern: RegExp): void {
  assert.equal(report.ok, false);
  const hit = report.problems.find((p) => p.code === code && p.path === path && pattern.test(p.message));
  assert.ok(hit, `expected ${code} at ${path} matching ${pattern}; got:\n${report.problems.map((p) => `${p.code} ${p.message}`).join('\n')}`);
  assert.ok(hit.message.startsWith(path === '' ? '' : `${path}: `), hit.message);
}

describe('verify: damaged copies of tiny', () => {
  test('a data segment deleted', async () => {
    const report = await damaged(async (dir, r) => {
      const { inode } = await r.resolve('sub/data.bin');
      for await (const { id } of r.segmentIds(inode)) fs.unlinkSync(join(dir, r.segmentName(id, inode.handle)));
    });
    assertProblem(report, 'missing-segment', '/sub/data.bin', /data segment 1 \(bytes 16384\.\.20000\) is missing/);
  });

  test('an inode deleted (its segments then unreachable)', async () => {
    const report = await damaged(async (dir, r) => {
      fs.unlinkSync(join(dir, (await r.resolve('sub/data.bin')).inode.blob));
    });
    assertProblem(report, 'missing-inode', '/sub/data.bin', /dirent points to handle [0-9A-F]{48}, but its inode blob .* is missing/);
    assertProblem(report, 'unreachable', '', /file-segment of inode [0-9A-F]{48} at offset 16384\) is not reachable/);
  });

  test('bytes flipped inside an inode', async () => {
    const report = await damaged(async (dir, r) => {
      const p = join(dir, (await r.resolve('hello.txt')).inode.blob);
      const bytes = fs.readFileSync(p);
      for (let i = 4; i < 8; i++) bytes[i]! ^= 0xff;
      fs.writeFileSync(p, bytes);
    });
    assertProblem(report, 'corrupt', '/hello.txt', /inode blob .* does not decode/);
  });

  test('a dirent pointing nowhere (directory inode re-encoded with an extra entry)', async () => {
    const ghostHandle = Buffer.from('71B9863001010200FFFF000000000000123456789ABCDEF0', 'hex');
    const report = await damaged(async (dir, r) => {
      const { inode } = await r.resolve('sub');
      const o = inode.obj;
      const body = encodeInodeBody({
        vattr: o.vattr,
        bmap: o.bmap,
        name: o.name,
        direntsPiece: encodeDirents([...o.dirents!, { name: Buffer.from('ghost'), handle: ghostHandle }]),
      });
      fs.writeFileSync(join(dir, inode.blob), encodeBlob(body, 'lz4'));
    });
    assertProblem(report, 'missing-inode', '/sub/ghost', /dirent points to handle 71B9863001010200FFFF.*missing/);
    assertProblem(report, 'size', '/sub', /size 97, but its entries take 132 bytes/);
  });

  test('a leftover in-progress inode', async () => {
    const report = await damaged(async (dir, r) => {
      const { inode } = await r.resolve('hello.txt');
      fs.copyFileSync(join(dir, inode.blob), join(dir, blobName(inode.handle, Btype.REG, INPROGRESS_ID, 9)));
    });
    assertProblem(report, 'in-progress-left', '/hello.txt', /leftover in-progress inode blob .*00000062BAE79F98.*reconcile or cleanup did not finish/);
  });

  test('a wrong name hash (blob renamed)', async () => {
    let renamed = '';
    const report = await damaged(async (dir, r) => {
      const { inode } = await r.resolve('hello.txt');
      renamed = (inode.blob[0] === 'A' ? 'B' : 'A') + inode.blob.slice(1);
      fs.renameSync(join(dir, inode.blob), join(dir, renamed));
    });
    assertProblem(report, 'bad-name', '', /hash prefix does not match the id/);
    assertProblem(report, 'missing-inode', '/hello.txt', new RegExp(`a blob with a damaged name exists: ${renamed}`));
  });

  test('a leftover tmp root (load not finalized)', async () => {
    const report = await damaged(async (dir) => {
      fs.copyFileSync(join(dir, rootBlobName()), join(dir, rootBlobName(9, { tmp: true })));
    });
    assertProblem(report, 'not-finalized', '/', /tmp root .* left behind: the load was not finalized/);
  });

  test('only a tmp root: verify reports it, the reader refuses to open', async () => {
    const dir = copyContainer(pristine);
    temps.push(dir);
    fs.renameSync(join(dir, rootBlobName()), join(dir, rootBlobName(9, { tmp: true })));
    const report = await verify(new FolderTarget(dir));
    assertProblem(report, 'not-finalized', '/', /load was not finalized/);
    await assert.rejects(ContainerReader.open(new FolderTarget(dir)), /load not finalized/);
    await assert.rejects(ContainerReader.open(new FolderTarget(dir)), (e: unknown) => isClfsError(e) && e.code === 'E_NOT_FINALIZED');
    // the reader's refusal is the listing's finding again, not a second problem
    assert.deepEqual(report.problems.filter((p) => p.code === 'root'), []);
  });

  // the bucket object and the root are read while the container is listed; what they find is
  // reported after the listing's problems, as when they were read after it
  test('a bucket object missing, or that does not decode, after the listing\'s problems', async () => {
    const gone = await damaged(async (dir) => {
      fs.writeFileSync(join(dir, 'stray.bin'), 'not a blob');
      fs.unlinkSync(join(dir, bucketBlobName()));
    });
    assertProblem(gone, 'bucket', '', /bucket object .* is missing/);
    assert.deepEqual(gone.problems.map((p) => p.code), ['unknown-blob', 'bucket']);
    const garbled = await damaged(async (dir) => {
      fs.writeFileSync(join(dir, 'stray.bin'), 'not a blob');
      const path = join(dir, bucketBlobName());
      const bytes = fs.readFileSync(path);
      bytes.fill(0x5a, 4);
      fs.writeFileSync(path, bytes);
    });
    assertProblem(garbled, 'bucket', '', /bucket object .* does not decode/);
    assert.deepEqual(garbled.problems.map((p) => p.code), ['unknown-blob', 'bucket']);
  });

  test('a root that does not decode is reported once, after the listing and the bucket object, and nothing is walked', async () => {
    const report = await damaged(async (dir) => {
      fs.writeFileSync(join(dir, 'stray.bin'), 'not a blob');
      fs.unlinkSync(join(dir, bucketBlobName()));
      const path = join(dir, rootBlobName());
      const bytes = fs.readFileSync(path);
      bytes.fill(0x5a, 4);
      fs.writeFileSync(path, bytes);
    });
    assertProblem(report, 'root', '/', /./);
    assert.deepEqual(report.problems.map((p) => p.code), ['unknown-blob', 'bucket', 'root']);
    assert.equal(report.counts.dirs, 0);
  });

  test('the pristine copy has no problems', async () => {
    const report = await damaged(async () => undefined);
    assert.deepEqual(report.problems, []);
  });
});

describe('CLI verify on a damaged copy', () => {
  test('prints one problem per line with the path, a summary line, and exits 1', async () => {
    const { Command } = await import('commander');
    const { PassThrough } = await import('node:stream');
    const { registerCommands } = await import('../../src/cli/commands/index.js');
    const { createCliContext } = await import('../../src/cli/context.js');
    const dir = copyContainer(pristine);
    temps.push(dir);
    const reader = await ContainerReader.open(new FolderTarget(dir));
    fs.unlinkSync(join(dir, (await reader.resolve('hello.txt')).inode.blob));
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (c: Buffer) => chunks.push(c));
    let code: number | undefined;
    const program = new Command('clfsload').exitOverride();
    registerCommands(program, createCliContext({ stdout, stderr: new PassThrough() }, { setExitCode: (c) => (code = c) }));
    await program.parseAsync(['node', 'clfsload', 'verify', `file://${dir}`]);
    const lines = Buffer.concat(chunks).toString().trim().split('\n');
    assert.equal(code, 1);
    assert.match(lines[0]!, /^\/hello\.txt: dirent points to handle/);
    assert.match(lines[lines.length - 1]!, /^FAILED: 1 problem\(s\); 2 dirs, 1 files/);
  });
});

test('verify with its name set on disk (a tiny memory limit) finds the same damage', async () => {
  const dir = copyContainer(extractContainer('tiny'));
  const blobs = fs.readdirSync(dir).filter((n) => n.includes('.0008.'));
  fs.rmSync(join(dir, blobs[0]!));
  fs.writeFileSync(join(dir, '0000000000000001_00000000000000000000000000000001.0008.0000000000000000.00000000009.FFFFFFFF.0002'), 'x');
  const inMemory = await verify(new FolderTarget(dir), {});
  const onDisk = await verify(new FolderTarget(dir), { namesInMemory: 2 });
  assert.equal(onDisk.ok, false);
  assert.deepEqual(onDisk.problems.map((p) => p.code).sort(), inMemory.problems.map((p) => p.code).sort());
  assert.deepEqual(onDisk.counts, inMemory.counts);
});
