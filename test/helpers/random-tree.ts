/**
 * Seeded random source trees for the torture test: nested directories (depth 1-4), small files,
 * files around the 16 KiB inline limit, optionally a directory larger than the scanner's batch of
 * 1,000 entries and a few files past one 8 MiB segment, symlinks (dangling, non-ASCII targets),
 * empty directories, a fifo, hard links across directories (nlink 2-4), names that are not UTF-8.
 */
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomBytesSeeded, textBytes } from './tree-builder.js';

export type RandomEntryKind = 'dir' | 'file' | 'symlink' | 'fifo';

export interface RandomEntry {
  /** path below the root, '/'-separated bytes */
  rel: Buffer;
  kind: RandomEntryKind;
  size: number;
  /** index into RandomTree.linkGroups when this name is one of several of an inode */
  linkGroup?: number;
}

export interface RandomTree {
  root: string;
  entries: RandomEntry[];
  dirs: RandomEntry[];
  files: RandomEntry[];
  /** names (rel) of each hard-linked inode, first created first */
  linkGroups: Buffer[][];
  /** the directory with more entries than a scan batch, if this tree has one */
  bigDir?: RandomEntry;
  fileBytes: number;
}

export interface RandomTreeOptions {
  bigDir: boolean;
  bigFiles: boolean;
}

const SLASH = Buffer.from('/');

function join(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 0 ? name : Buffer.concat([dir, SLASH, name]);
}

/** Names with the bytes real trees have: spaces, UTF-8 beyond ASCII, Latin-1 bytes, 0xff, a leading dash. */
function oddName(rand: () => number, base: string): Buffer {
  const kinds = [
    () => Buffer.from(`${base} with spaces`),
    () => Buffer.from(`${base}-caf\u00e9-\u2615`),
    () => Buffer.concat([Buffer.from(`${base}-lat`), Buffer.from([0xe9, 0x74, 0xe9])]),
    () => Buffer.concat([Buffer.from(`${base}-`), Buffer.from([0xff, 0xfe, 0x80])]),
    () => Buffer.from(`-${base}`),
    () => Buffer.from(`${base}.\u00fc\u00f1\u00ee`),
    () => Buffer.from(`${base}'"$\\`),
  ];
  return kinds[Math.floor(rand() * kinds.length)]!();
}

function pickSize(rand: () => number): number {
  const r = rand();
  if (r < 0.15) return 0;
  if (r < 0.7) return Math.floor(rand() * 4000);
  if (r < 0.85) return 16380 + Math.floor(rand() * 10); // around the inline limit of 16 KiB
  return 16385 + Math.floor(rand() * 60_000);
}

function fileData(rand: () => number, size: number, salt: number): Buffer {
  if (size === 0) return Buffer.alloc(0);
  if (size > 1_000_000) {
    // half compressible text, then random bytes: both encoder paths
    return Buffer.concat([textBytes(size >> 1, salt), randomBytesSeeded(rand, size - (size >> 1))]);
  }
  return rand() < 0.5 ? textBytes(size, salt) : randomBytesSeeded(rand, size);
}

export function buildRandomTree(root: string, rand: () => number, options: RandomTreeOptions): RandomTree {
  fs.mkdirSync(root, { recursive: true });
  const abs = (rel: Buffer) => Buffer.concat([Buffer.from(root), SLASH, rel]);
  const tree: RandomTree = { root, entries: [], dirs: [], files: [], linkGroups: [], fileBytes: 0 };
  let serial = 0;
  const name = (prefix: string) => {
    serial += 1;
    return rand() < 0.15 ? oddName(rand, `${prefix}${serial}`) : Buffer.from(`${prefix}${serial}`);
  };
  const add = (e: RandomEntry) => {
    tree.entries.push(e);
    if (e.kind === 'dir') tree.dirs.push(e);
    if (e.kind === 'file') tree.files.push(e);
    return e;
  };
  const mkdir = (parent: Buffer, n: Buffer) => {
    const rel = join(parent, n);
    fs.mkdirSync(abs(rel));
    return add({ rel, kind: 'dir', size: 0 });
  };
  const writeFile = (parent: Buffer, n: Buffer, size: number) => {
    const rel = join(parent, n);
    fs.writeFileSync(abs(rel), fileData(rand, size, serial));
    tree.fileBytes += size;
    return add({ rel, kind: 'file', size });
  };

  // directories: a random tree of depth 1-4
  const depth = 1 + Math.floor(rand() * 4);
  const levels: Buffer[][] = [[Buffer.alloc(0)]];
  for (let d = 1; d <= depth; d++) {
    const count = 1 + Math.floor(rand() * (d === 1 ? 4 : 3));
    const level: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const parent = levels[d - 1]![Math.floor(rand() * levels[d - 1]!.length)]!;
      level.push(mkdir(parent, name('d')).rel);
    }
    levels.push(level);
  }
  const allDirs = levels.flat();

  // files, symlinks, empty directories, one fifo
  for (const dir of allDirs) {
    const n = Math.floor(rand() * 8);
    for (let i = 0; i < n; i++) writeFile(dir, name('f'), pickSize(rand));
    if (rand() < 0.4) {
      const target = rand() < 0.5 ? Buffer.from(rand() < 0.5 ? 'does/not/exist' : '\u00fcber/ziel-\u00e9') : Buffer.from('../x');
      const rel = join(dir, name('l'));
      fs.symlinkSync(target, abs(rel));
      add({ rel, kind: 'symlink', size: target.length });
    }
    if (rand() < 0.25) {
      const e = mkdir(dir, name('empty'));
      if (rand() < 0.5) mkdir(e.rel, name('nested-empty'));
    }
  }
  if (rand() < 0.3) {
    const rel = join(allDirs[Math.floor(rand() * allDirs.length)]!, name('pipe'));
    // by its bytes: a name that is not UTF-8 does not survive an argument string (mkfifo got U+FFFD)
    execFileSync('python3', ['-c', 'import os, sys; os.mkfifo(bytes.fromhex(sys.argv[1]))', abs(rel).toString('hex')]);
    add({ rel, kind: 'fifo', size: 0 });
  }

  // a directory past the scanner's batch of 1,000 entries
  if (options.bigDir) {
    const parent = allDirs[Math.floor(rand() * allDirs.length)]!;
    tree.bigDir = mkdir(parent, Buffer.from(`big-${serial}`));
    const n = 1001 + Math.floor(rand() * 500);
    for (let i = 0; i < n; i++) {
      const rel = join(tree.bigDir.rel, Buffer.from(`entry-${String(i).padStart(5, '0')}`));
      const size = Math.floor(rand() * 64);
      fs.writeFileSync(abs(rel), size === 0 ? '' : textBytes(size, i));
      tree.fileBytes += size;
      add({ rel, kind: 'file', size });
    }
  }

  // a few files past one 8 MiB segment; total kept small
  if (options.bigFiles) {
    const count = 1 + Math.floor(rand() * 2);
    for (let i = 0; i < count; i++) {
      const dir = allDirs[Math.floor(rand() * allDirs.length)]!;
      writeFile(dir, name('huge'), 8 * 1024 * 1024 + 1 + Math.floor(rand() * 1.5 * 1024 * 1024));
    }
  }

  // hard links across directories, nlink 2-4; with a big directory, some names land in it
  const inBigDir = (f: RandomEntry) => tree.bigDir !== undefined && f.rel.length > tree.bigDir.rel.length && f.rel.subarray(0, tree.bigDir.rel.length + 1).equals(Buffer.concat([tree.bigDir.rel, SLASH]));
  const candidates = tree.files.filter((f) => f.size < 1_000_000 && !inBigDir(f));
  const groups = candidates.length === 0 ? 0 : 1 + Math.floor(rand() * 4);
  const linkDirs = tree.bigDir ? [...allDirs, tree.bigDir.rel, tree.bigDir.rel] : allDirs;
  for (let g = 0; g < groups && candidates.length > 0; g++) {
    const first = candidates.splice(Math.floor(rand() * candidates.length), 1)[0]!;
    const index = tree.linkGroups.length;
    first.linkGroup = index;
    const names = [first.rel];
    const extra = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < extra; k++) {
      const rel = join(linkDirs[Math.floor(rand() * linkDirs.length)]!, name('hard'));
      fs.linkSync(abs(first.rel), abs(rel));
      names.push(rel);
      add({ rel, kind: 'file', size: first.size, linkGroup: index });
    }
    tree.linkGroups.push(names);
  }
  // with a big directory: an inode whose first name is in the root (scanned first) and other names
  // in the big directory, so its scan stores link names (the window of issue 11's case 2)
  if (tree.bigDir !== undefined) {
    const first = writeFile(Buffer.alloc(0), name('linked'), Math.floor(rand() * 3000));
    const index = tree.linkGroups.length;
    first.linkGroup = index;
    const names = [first.rel];
    const extra = 1 + Math.floor(rand() * 2);
    for (let k = 0; k < extra; k++) {
      const rel = join(tree.bigDir.rel, name('hard'));
      fs.linkSync(abs(first.rel), abs(rel));
      names.push(rel);
      add({ rel, kind: 'file', size: first.size, linkGroup: index });
    }
    tree.linkGroups.push(names);
  }
  return tree;
}

/** The absolute path of an entry, as bytes (the loader's paths). */
export function absPath(tree: RandomTree, rel: Buffer): Buffer {
  return Buffer.concat([Buffer.from(tree.root), SLASH, rel]);
}
