/**
 * The links pass (issue 11). The structure walk records every dirent that reaches an inode
 * again, and the first dirent of an inode with several names in the container or in the source,
 * in a LinkTable (bounded memory). Once every name has been seen: each inode's nlink equals its
 * dirents, BACK names each directory as many times as the inode has names in it, names that share
 * a container inode share a source inode, each further name is compared with its own source
 * entry, and (when the load preserved hard links) names that share a source inode share a
 * container inode, split only the way the loader splits an inode past 1,023 names.
 */
import { checkAbort, msgOf, type VerifyContext } from './context.js';
import { LinkTable, type LinkFirst, type LinkName, type StoredAttrs } from './link-table.js';
import { compareEntry, lstatOrUndefined, sha256OfFile } from './source.js';

/** backpointers per inode: the loader starts a new inode for further names (format.md §8.6) */
const MAX_LINKS_PER_INODE = 1023;

/** A name for the table: the first visit of an inode, or a dirent that reaches it again. */
export type LinkRecord = { first: LinkFirst } | { repeat: LinkName };

export class HardLinks {
  readonly #table = new LinkTable();
  /** a non-directory inode with nlink > 1 or several backpointers was seen: links were preserved */
  sawSharedInode = false;

  constructor(private readonly ctx: VerifyContext) {}

  record(r: LinkRecord): void {
    if ('first' in r) this.#table.addFirst(r.first);
    else this.#table.addRepeat(r.repeat);
  }

  mode(): 'preserved' | 'copied' {
    const preserved = this.ctx.options.preserveHardlinks ?? this.sawSharedInode;
    return preserved ? 'preserved' : 'copied';
  }

  /**
   * The checks, once the walk is over. Problems are reported at the path of the name that breaks
   * the structure, naming the name it should go with.
   */
  async check(withSource: boolean): Promise<void> {
    if (this.#table.size === 0) return;
    this.#checkInodeNames();
    if (!withSource) return;
    await this.#compareRepeats();
    if (this.mode() === 'preserved') this.#checkSourceGroups();
  }

  close(): void {
    this.#table.close();
  }

  /** Per container inode: nlink = its dirents, BACK as a multiset = their directories, one source inode. */
  #checkInodeNames(): void {
    const problems = this.ctx.problems;
    let cont: string | undefined;
    let first: { path: string; nlink: number; src: string | null } | undefined;
    let backLeft = new Map<string, number>();
    let names = 0;
    let groupSrc: string | undefined;
    let mixed = false;
    // inodes whose names are several source inodes: reported against the one most of them are
    const mixedInodes: string[] = [];
    const end = (): void => {
      if (mixed && mixedInodes.length < this.ctx.maxProblems) mixedInodes.push(cont!);
      if (first === undefined || first.nlink < 0) return;
      if (names !== first.nlink) problems.add(first.path, 'nlink', `nlink ${first.nlink} but ${names} dirents point at the inode`, cont);
      if (names > MAX_LINKS_PER_INODE) problems.add(first.path, 'nlink', `${names} names; an inode holds at most ${MAX_LINKS_PER_INODE} (the loader starts a new inode for more)`, cont);
    };
    for (const row of this.#table.byInode()) {
      if (row.cont !== cont) {
        end();
        cont = row.cont;
        names = 0;
        groupSrc = undefined;
        mixed = false;
        backLeft = new Map();
        if (row.first === 1) {
          first = { path: row.path, nlink: row.nlink!, src: row.src };
          for (const b of row.back === '' || row.back === null ? [] : row.back.split(',')) backLeft.set(b, (backLeft.get(b) ?? 0) + 1);
        } else first = undefined;
      }
      if (first === undefined) {
        problems.add(row.path, 'nlink', `dirent reaches inode ${row.cont} again, but its nlink is 1 (it was first reached by another name)`, row.cont);
        continue;
      }
      if (first.nlink < 0) continue;
      names++;
      const left = backLeft.get(row.dir) ?? 0;
      if (left > 0) backLeft.set(row.dir, left - 1);
      else if (row.first === 0) {
        const why = left === 0 && !backLeft.has(row.dir) ? 'BACK does not name this directory' : 'BACK names this directory fewer times than the inode has names in it';
        problems.add(row.path, 'backpointer', `hard link of ${first.path}: ${why}`, row.cont);
      }
      if (row.src === null) continue;
      groupSrc ??= row.src;
      if (row.src !== groupSrc) mixed = true;
    }
    end();
    for (const c of mixedInodes) {
      const main = this.#table.mainSourceOf(c)!;
      for (const path of this.#table.pathsNotOf(c, main.src, this.ctx.maxProblems)) {
        problems.add(path, 'hardlink', `${main.path} and ${path} are one inode in the container but two in the source`, c);
      }
    }
  }

  /** Every further name of an inode against its own source entry; content only when it is another source file. */
  async #compareRepeats(): Promise<void> {
    const problems = this.ctx.problems;
    for (const r of this.#table.repeats()) {
      checkAbort(this.ctx);
      if (r.attrs === null) continue;
      const st = lstatOrUndefined(r.srcPath);
      if (st === undefined) continue; // reported by compareNames
      const attrs = JSON.parse(r.attrs) as StoredAttrs;
      if (!compareEntry(this.ctx, problems, r.path, attrs, st, r.srcPath, r.cont)) continue;
      if (r.sha === null || !st.isFile() || (r.src !== null && r.src === r.firstSrc)) continue;
      let want: string;
      try {
        want = await sha256OfFile(r.srcPath, this.ctx.sourceThreads);
      } catch (e) {
        problems.add(r.path, 'source-mismatch', `cannot read the source file: ${msgOf(e)}`);
        continue;
      }
      if (want !== r.sha) problems.add(r.path, 'source-mismatch', `content differs from the source (SHA-256; the container holds the content of its hard link ${r.firstPath})`, r.cont);
    }
  }

  /**
   * Links preserved: the names of one source inode reach one container inode, or several that the
   * loader split past 1,023 names (every one full but one). Any other container inode of the group
   * is reported at each of its names.
   */
  #checkSourceGroups(): void {
    const wrong: Array<{ src: string; cont: string; mainPath: string }> = [];
    let src: string | undefined;
    let mainPath = '';
    let partialSeen = false;
    for (const g of this.#table.sourceGroups()) {
      if (g.src !== src) {
        src = g.src;
        mainPath = this.#table.pathsOf(g.src, g.cont, 1)[0]!;
        partialSeen = g.n < MAX_LINKS_PER_INODE;
        continue;
      }
      if (g.n >= MAX_LINKS_PER_INODE) continue;
      if (!partialSeen) {
        partialSeen = true;
        continue;
      }
      wrong.push({ src: g.src, cont: g.cont, mainPath });
      if (wrong.length >= this.ctx.maxProblems) break;
    }
    for (const w of wrong) {
      for (const path of this.#table.pathsOf(w.src, w.cont, this.ctx.maxProblems)) {
        this.ctx.problems.add(path, 'hardlink', `${w.mainPath} and ${path} are one inode in the source but two in the container`, w.cont);
      }
    }
  }
}
