/**
 * Fixtures for the read tests: the reference containers extracted into temp dirs, and trees we
 * build and load ourselves. Nothing here reads ../shared: the tars are copies in test/fixtures.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from '../../src/load/load.js';
import { FolderTarget } from '../../src/targets/folder-target.js';

export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/containers/', import.meta.url));

const made: string[] = [];

/**
 * A fresh temporary folder. Every one is removed when the test process exits (each test file runs
 * in its own process), whether or not the test removed it itself.
 */
export function tempDir(label: string): string {
  if (made.length === 0) process.once('exit', () => {
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });
  const dir = fs.mkdtempSync(join(tmpdir(), `clfs-read-${label}-`));
  made.push(dir);
  return dir;
}

/** `ID.blobs.tar.gz` into a fresh folder; returns the folder (one file per blob). */
export function extractContainer(id: string): string {
  const dir = tempDir(id);
  execFileSync('tar', ['-xzf', join(FIXTURES, `${id}.blobs.tar.gz`), '-C', dir]);
  return dir;
}

/** `NAME.source.tar.gz` (-p keeps modes; as root tar also keeps uid/gid); returns the tree's root. */
export function extractSource(name: 'tiny' | 'vectree'): string {
  const dir = tempDir(`${name}-src`);
  execFileSync('tar', ['-xzpf', join(FIXTURES, `${name}.source.tar.gz`), '-C', dir]);
  return join(dir, name);
}

/** A copy of a container folder, to damage. */
export function copyContainer(dir: string): string {
  const out = tempDir('copy');
  for (const f of fs.readdirSync(dir)) fs.copyFileSync(join(dir, f), join(out, f));
  return out;
}

const b = (s: string) => Buffer.from(s);

/**
 * A tree with what readers get wrong: odd names (spaces, unicode, non-UTF-8 bytes), empty and
 * boundary-size files, a 20 MiB file (3 segments), symlinks, a fifo, hard links, and a directory
 * of 3000 entries (directory segments).
 */
export function buildOddTree(options: { big?: boolean; many?: number } = {}): string {
  const root = join(tempDir('tree'), 'odd');
  fs.mkdirSync(root);
  const p = (...parts: Buffer[]) => Buffer.concat([b(root), ...parts.flatMap((x) => [b('/'), x])]) as unknown as string;
  fs.writeFileSync(p(b('empty.txt')), '');
  fs.writeFileSync(p(b('with space.txt')), 'spaces\n');
  fs.writeFileSync(p(b('ünïcødé-日本.txt')), 'unicode\n');
  fs.writeFileSync(p(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74])), 'latin1 name\n');
  const pattern = (n: number, seed: number) => {
    const buf = Buffer.alloc(n);
    for (let i = 0; i < n; i++) buf[i] = (i * 31 + seed + (i >> 11)) & 0xff;
    return buf;
  };
  fs.writeFileSync(p(b('exact16k.bin')), pattern(16384, 1));
  fs.writeFileSync(p(b('over16k.bin')), pattern(16385, 2));
  if (options.big !== false) fs.writeFileSync(p(b('big20m.bin')), pattern(20 * 1024 * 1024, 3));
  fs.mkdirSync(p(b('sub')));
  fs.mkdirSync(p(b('sub'), Buffer.from([0x64, 0x69, 0x72, 0xff])));
  fs.writeFileSync(p(b('sub'), Buffer.from([0x64, 0x69, 0x72, 0xff]), b('inner.txt')), 'inner\n');
  fs.symlinkSync('../empty.txt', p(b('sub'), b('link')));
  fs.symlinkSync(Buffer.from([0x74, 0x67, 0x74, 0xfe]) as unknown as string, p(b('odd-link')));
  execFileSync('mkfifo', [join(root, 'sub', 'fifo')]);
  fs.writeFileSync(p(b('linked-a.txt')), 'hard linked content\n');
  fs.linkSync(p(b('linked-a.txt')), p(b('sub'), b('linked-b.txt')));
  fs.linkSync(p(b('linked-a.txt')), p(b('sub'), b('linked-c.txt')));
  fs.chmodSync(p(b('with space.txt')), 0o640);
  fs.utimesSync(p(b('exact16k.bin')), 1600000000.5, 1500000000.25);
  const many = join(root, 'many');
  fs.mkdirSync(many);
  const count = options.many ?? 3000;
  for (let i = 0; i < count; i++) fs.writeFileSync(join(many, `entry-number-${String(i).padStart(5, '0')}.txt`), i % 7 === 0 ? `${i}\n` : '');
  return root;
}

export interface LoadedTree {
  folder: string;
  target: FolderTarget;
}

/** load() the tree into a fresh folder target. */
export async function loadTree(source: string, preserveHardlinks: boolean): Promise<LoadedTree> {
  const base = tempDir('load');
  const folder = join(base, 'blobs');
  fs.mkdirSync(folder);
  const target = new FolderTarget(folder);
  const summary = await load({
    source,
    target,
    targetKey: `file:${folder}`,
    stateDir: join(base, 'state'),
    newTransfer: true,
    preserveHardlinks,
    reporter: { log: () => undefined },
  });
  if (summary.status !== 'complete') throw new Error(`load of ${source} ended ${summary.status}: ${summary.problems.join('; ')}`);
  return { folder, target };
}

export function rm(...dirs: string[]): void {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}
