import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { mulberry32 } from '../../src/targets/index.js';

/** A seeded PRNG (mulberry32) so generated trees are the same on every run. */
export const seeded = mulberry32;

export function randomBytesSeeded(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

export function textBytes(n: number, seed = 0): Buffer {
  let s = '';
  for (let i = seed; s.length < n; i++) s += `line ${String(i).padStart(8, '0')}: the quick brown fox jumps over the lazy dog\n`;
  return Buffer.from(s.slice(0, n));
}

/**
 * An odd tree exercising every entry kind the loader handles: names that are not UTF-8, empty
 * and boundary-sized files, a multi-segment file, symlinks (one with a non-ASCII target), a fifo,
 * hard links, a directory whose entries spill into directory segments, nested empty directories.
 */
export function buildOddTree(root: string, options: { bigFileBytes?: number; manyEntries?: number } = {}): void {
  const rand = seeded(42);
  fs.mkdirSync(root, { recursive: true });
  const w = (rel: string | Buffer, data: Buffer | string) => {
    const p = typeof rel === 'string' ? path.join(root, rel) : Buffer.concat([Buffer.from(root + '/'), rel]);
    fs.writeFileSync(p, data);
  };
  w('empty.txt', '');
  w('hello.txt', 'hello, world\n');
  w('b16383.bin', randomBytesSeeded(rand, 16383));
  w('b16384.bin', randomBytesSeeded(rand, 16384));
  w('b16385.bin', randomBytesSeeded(rand, 16385));
  w('text-100k.txt', textBytes(100_000));
  fs.mkdirSync(path.join(root, 'big'));
  const big = options.bigFileBytes ?? 17 * 1024 * 1024 + 5;
  w('big/multi-segment.bin', Buffer.concat([textBytes(big >> 1), randomBytesSeeded(rand, big - (big >> 1))]));
  w(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2d, 0x6c, 0x61, 0x74, 0x69, 0x6e, 0x31, 0x2e, 0x74, 0x78, 0x74]), 'latin-1 name\n');
  w('caf\u00e9 \u2615 spaced.txt', 'utf-8 name\n');
  fs.symlinkSync('hello.txt', path.join(root, 'link-to-hello'));
  fs.symlinkSync('\u00fcber/ziel-\u00e9', path.join(root, 'link-non-ascii'));
  fs.symlinkSync('does/not/exist', path.join(root, 'dangling-link'));
  execFileSync('mkfifo', [path.join(root, 'pipe')]);
  fs.mkdirSync(path.join(root, 'links'));
  fs.linkSync(path.join(root, 'hello.txt'), path.join(root, 'links', 'hello-hard.txt'));
  fs.linkSync(path.join(root, 'hello.txt'), path.join(root, 'links', 'hello-hard-2.txt'));
  fs.mkdirSync(path.join(root, 'many'));
  const many = options.manyEntries ?? 1500;
  for (let i = 0; i < many; i++) w(`many/entry-with-a-fairly-long-name-${String(i).padStart(5, '0')}.txt`, `${i}\n`);
  fs.mkdirSync(path.join(root, 'empty-dir', 'nested-empty'), { recursive: true });
  fs.mkdirSync(path.join(root, 'deep', 'a', 'b', 'c'), { recursive: true });
  w('deep/a/b/c/leaf.txt', 'leaf\n');
  fs.chmodSync(path.join(root, 'hello.txt'), 0o640);
  fs.utimesSync(path.join(root, 'hello.txt'), 1690000000.25, 1690000000.25);
}

/** A tree of many small files in `dirs` directories, two levels deep. */
export function buildSmallFilesTree(root: string, files: number, dirs: number, seed = 1): void {
  const rand = seeded(seed);
  for (let d = 0; d < dirs; d++) {
    const dir = path.join(root, `d${String(Math.floor(d / 10)).padStart(3, '0')}`, `s${String(d).padStart(4, '0')}`);
    fs.mkdirSync(dir, { recursive: true });
  }
  for (let i = 0; i < files; i++) {
    const d = i % dirs;
    const dir = path.join(root, `d${String(Math.floor(d / 10)).padStart(3, '0')}`, `s${String(d).padStart(4, '0')}`);
    const size = 1024 + Math.floor(rand() * 7 * 1024);
    fs.writeFileSync(path.join(dir, `f${i}.dat`), i % 2 === 0 ? textBytes(size, i) : randomBytesSeeded(rand, size));
  }
}
