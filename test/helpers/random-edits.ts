/**
 * Seeded random edits of a source tree, for `load --update` tests: what users do to a tree while
 * a long load runs. Each edit is picked from what the tree holds at that moment (walked again
 * each time), and named in the returned log so a failing seed says what it did.
 */
import * as fs from 'node:fs';
import { randomBytesSeeded, textBytes } from './tree-builder.js';

export type EditKind =
  | 'add-file' | 'add-dir' | 'remove-file' | 'remove-dir' | 'rename' | 'rewrite' | 'grow-past-16k' | 'shrink-below-16k'
  | 'grow-past-8m' | 'shrink-below-8m' | 'chmod' | 'touch' | 'file-to-dir' | 'file-to-symlink' | 'add-hardlink' | 'remove-hardlink';

export const ALL_EDITS: readonly EditKind[] = [
  'add-file', 'add-dir', 'remove-file', 'remove-dir', 'rename', 'rewrite', 'grow-past-16k', 'shrink-below-16k',
  'grow-past-8m', 'shrink-below-8m', 'chmod', 'touch', 'file-to-dir', 'file-to-symlink', 'add-hardlink', 'remove-hardlink',
];

// paths as bytes: the random trees have names that are not UTF-8
type P = Buffer;
const SLASH = Buffer.from('/');
const join = (d: P, n: P | string): P => Buffer.concat([d, SLASH, Buffer.isBuffer(n) ? n : Buffer.from(n)]);
const show = (p: P | undefined) => (p === undefined ? 'nothing' : p.toString('latin1'));

interface Walked {
  dirs: P[];
  files: Array<{ p: P; size: number; nlink: number }>;
}

function walk(rootPath: string): Walked {
  const root = Buffer.from(rootPath);
  const out: Walked = { dirs: [root], files: [] };
  const visit = (d: P) => {
    for (const n of fs.readdirSync(d, { encoding: 'buffer' })) {
      const p = join(d, n);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) {
        out.dirs.push(p);
        visit(p);
      } else if (st.isFile()) out.files.push({ p, size: st.size, nlink: st.nlink });
    }
  };
  visit(root);
  return out;
}

/** Apply `count` random edits of `kinds` to the tree at `root`; returns one line per edit. */
export function applyRandomEdits(root: string, rand: () => number, count: number, kinds: readonly EditKind[] = ALL_EDITS): string[] {
  const log: string[] = [];
  let serial = 0;
  const pick = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[Math.floor(rand() * xs.length)]);
  const fresh = (dir: P, prefix: string) => join(dir, `${prefix}-${Date.now().toString(36)}-${serial++}`);
  const data = (n: number) => (rand() < 0.5 ? textBytes(n, serial) : randomBytesSeeded(rand, n));
  // an explicit new mtime: an edit within the clock's granularity must still be seen
  const bump = (p: P) => {
    const t = new Date(Date.UTC(2020, 0, 1) + Math.floor(rand() * 1e11));
    fs.utimesSync(p, t, t);
  };
  for (let i = 0; i < count; i++) {
    const w = walk(root);
    const kind = pick(kinds)!;
    const file = pick(w.files.filter((f) => f.nlink === 1));
    const dir = pick(w.dirs)!;
    switch (kind) {
      case 'add-file': {
        const p = fresh(dir, 'new');
        fs.writeFileSync(p, data(Math.floor(rand() * 40000)));
        log.push(`${kind} ${show(p)}`);
        break;
      }
      case 'add-dir': {
        const p = fresh(dir, 'newdir');
        fs.mkdirSync(p);
        for (let k = 0; k < 3; k++) fs.writeFileSync(join(p, `f${k}`), data(Math.floor(rand() * 20000)));
        fs.mkdirSync(join(p, 'sub'));
        fs.symlinkSync('../f0', join(join(p, 'sub'), 'link'));
        log.push(`${kind} ${show(p)}`);
        break;
      }
      case 'remove-file':
        if (file) fs.rmSync(file.p);
        log.push(`${kind} ${show(file?.p)}`);
        break;
      case 'remove-dir': {
        const d = pick(w.dirs.filter((x) => !x.equals(Buffer.from(root))));
        if (d) fs.rmSync(d, { recursive: true });
        log.push(`${kind} ${show(d)}`);
        break;
      }
      case 'rename': {
        if (file) fs.renameSync(file.p, fresh(dir, 'renamed'));
        log.push(`${kind} ${show(file?.p)}`);
        break;
      }
      case 'rewrite':
        if (file) {
          fs.writeFileSync(file.p, data(file.size));
          bump(file.p);
        }
        log.push(`${kind} ${show(file?.p)}`);
        break;
      case 'grow-past-16k':
      case 'shrink-below-16k':
      case 'grow-past-8m':
      case 'shrink-below-8m': {
        const size = { 'grow-past-16k': 16385 + Math.floor(rand() * 5000), 'shrink-below-16k': Math.floor(rand() * 16384), 'grow-past-8m': 8 * 1024 * 1024 + 16385 + Math.floor(rand() * 100000), 'shrink-below-8m': 16385 + Math.floor(rand() * 8 * 1024 * 1024 - 16385) }[kind];
        if (file) {
          fs.writeFileSync(file.p, data(size));
          bump(file.p);
        }
        log.push(`${kind} ${show(file?.p)} -> ${size}`);
        break;
      }
      case 'chmod':
        if (file) fs.chmodSync(file.p, 0o600 + Math.floor(rand() * 0o177));
        log.push(`${kind} ${show(file?.p)}`);
        break;
      case 'touch':
        if (file) bump(file.p);
        log.push(`${kind} ${show(file?.p)}`);
        break;
      case 'file-to-dir':
        if (file) {
          fs.rmSync(file.p);
          fs.mkdirSync(file.p);
          fs.writeFileSync(join(file.p, 'inside'), data(100));
        }
        log.push(`${kind} ${show(file?.p)}`);
        break;
      case 'file-to-symlink':
        if (file) {
          fs.rmSync(file.p);
          fs.symlinkSync('some/target', file.p);
        }
        log.push(`${kind} ${show(file?.p)}`);
        break;
      case 'add-hardlink': {
        const f = pick(w.files);
        if (f) fs.linkSync(f.p, fresh(dir, 'hard'));
        log.push(`${kind} ${show(f?.p)}`);
        break;
      }
      case 'remove-hardlink': {
        const f = pick(w.files.filter((x) => x.nlink > 1));
        if (f) fs.rmSync(f.p);
        log.push(`${kind} ${show(f?.p)}`);
        break;
      }
    }
  }
  return log;
}
