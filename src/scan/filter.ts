/**
 * What to leave out of a load: `--exclude`, `--include`, `--exclude-from`, `--exclude-if-present`
 * and the NAS snapshot directories, one syntax for load, copy and verify (docs/guide.md,
 * "Filters"). Patterns follow rclone's filter globs and are matched by picomatch against the
 * path relative to the source root:
 *
 * - `/a/b` is anchored at the root; `a/b` (no leading `/`) matches the end of a path at a name
 *   boundary, so `*.tmp` is any name ending `.tmp` at any depth;
 * - a trailing `/` makes the pattern match directories only;
 * - `*` is any run of characters within one name, `**` anything across names, `?` one
 *   character, `[a-z]`/`[!a-z]` one of (not of) a set, `{a,b}` either (braces without a comma,
 *   or without their pair, are themselves, as is a `[` without its `]`); `\` makes the next
 *   character literal; every other character is itself (`(`, `|`, `!`, `+`, `@` included);
 * - names are bytes: they are read as UTF-8, and a byte that starts no valid UTF-8 sequence is a
 *   character of its own, written `\xNN` in a pattern (the way clfsload prints such names), and
 *   matched by `?` and `*` like any other.
 *
 * An excluded directory is not read at all. With includes, a non-directory is kept only when it
 * matches one; directories are still read (unless excluded) and kept, empty when nothing in
 * them is included. An exclude wins over an include.
 */
import picomatch from 'picomatch';
import { ClfsError } from '../errors/index.js';
import { displayPath, utf8SequenceLength } from './display-path.js';
import { joinPath, type SkipEntry } from './source-entry.js';
import { sourceFs } from './source-fs.js';

/** The filters of a load as stored in its state: patterns as typed (`--exclude-from` lines included). */
export interface FilterSpec {
  exclude: string[];
  include: string[];
  /** names whose presence in a directory (below the root) leaves the directory out */
  excludeIfPresent: string[];
  /** load `.snapshot` and `.zfs` directories (left out by default) */
  keepSnapshotDirs: boolean;
}

/** No option given: only the snapshot directories are left out. */
export const DEFAULT_FILTERS: FilterSpec = Object.freeze({ exclude: [], include: [], excludeIfPresent: [], keepSnapshotDirs: false }) as FilterSpec;

/** What a state written before filters existed loaded: everything. */
export const NO_FILTERS: FilterSpec = Object.freeze({ exclude: [], include: [], excludeIfPresent: [], keepSnapshotDirs: true }) as FilterSpec;

/** Directories NAS exports show in every directory (NetApp, ZFS): snapshots of the tree itself. */
export const SNAPSHOT_DIRS: readonly string[] = ['.snapshot', '.zfs'];

/** The same filters: the order of the patterns does not matter (no rule depends on another's place). */
export function sameFilters(a: FilterSpec, b: FilterSpec): boolean {
  const same = (x: readonly string[], y: readonly string[]) => {
    const xs = [...new Set(x)].sort();
    const ys = [...new Set(y)].sort();
    return xs.length === ys.length && xs.every((v, i) => v === ys[i]);
  };
  return same(a.exclude, b.exclude) && same(a.include, b.include) && same(a.excludeIfPresent, b.excludeIfPresent) && a.keepSnapshotDirs === b.keepSnapshotDirs;
}

/** One line for messages: `--exclude '*.tmp' --include ...`, or "the default filters". */
export function describeFilters(f: FilterSpec): string {
  const q = (s: string) => `'${s}'`;
  const parts = [
    ...f.exclude.map((p) => `--exclude ${q(p)}`),
    ...f.include.map((p) => `--include ${q(p)}`),
    ...f.excludeIfPresent.map((p) => `--exclude-if-present ${q(p)}`),
    ...(f.keepSnapshotDirs ? ['--keep-snapshot-dirs'] : []),
  ];
  return parts.length === 0 ? 'no filter options' : parts.join(' ');
}

/**
 * The bytes of a name as a string the matcher reads: valid UTF-8 as its characters, any other
 * byte as U+DC00+byte (a lone surrogate, as Python's surrogateescape), so no two byte strings
 * read the same and no byte is lost. A backslash reads as U+DC5C, a slot surrogateescape never
 * uses (it escapes bytes from 0x80): picomatch hangs on a glob holding two escaped backslashes,
 * so a literal backslash never reaches it as one.
 */
const BACKSLASH = '\udc5c';

export function matchText(bytes: Uint8Array): string {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let ascii = true;
  for (let i = 0; i < b.length; i++) if (b[i]! >= 0x80) {
    ascii = false;
    break;
  }
  if (ascii) return b.includes(0x5c) ? b.toString('latin1').replaceAll('\\', BACKSLASH) : b.toString('latin1');
  let out = '';
  let i = 0;
  while (i < b.length) {
    const n = utf8SequenceLength(b, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + b[i]!);
      i++;
    } else if (b[i] === 0x5c) {
      out += BACKSLASH;
      i++;
    } else {
      out += b.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

/** Characters picomatch must see escaped to read them as themselves (and may see escaped under the regex `u` flag). */
const LITERAL_ESCAPE = new Set(['(', ')', '|']);
const SYNTAX = new Set([...'^$\\.*+?()[]{}|/']);

function escapeLiteral(text: string, inBraces: boolean): string {
  let out = '';
  for (const c of text) {
    // picomatch splits alternatives at any comma, and `\,` is no escape under the regex `u` flag
    if (c === ',' && inBraces) out += '[,]';
    else out += LITERAL_ESCAPE.has(c) || (SYNTAX.has(c) && c !== '/') ? `\\${c}` : c;
  }
  return out;
}

/**
 * A pattern in our syntax as a picomatch glob over matchText strings: `\xNN` and escaped
 * characters become literal text (bytes decoded together, so `\xc3\xa9` is é), literal text is
 * escaped for picomatch, and `* ? [ ] { } ,` pass through as glob syntax.
 */
function toGlob(pattern: string, option: string): string {
  let out = '';
  let literal: number[] = [];
  let depth = 0;
  const flush = () => {
    if (literal.length > 0) out += escapeLiteral(matchText(Buffer.from(literal)), depth > 0);
    literal = [];
  };
  const bytesOf = (s: string) => literal.push(...Buffer.from(s, 'utf8'));
  let inClass = false;
  const chars = [...pattern];
  const braces = braceGroups(chars);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') {
      const hex = /^x([0-9a-fA-F]{2})/.exec(chars.slice(i + 1, i + 4).join(''));
      if (hex) {
        literal.push(parseInt(hex[1]!, 16));
        i += 3;
        continue;
      }
      const next = chars[i + 1];
      if (next === undefined) throw new ClfsError('E_USAGE', `${option} '${pattern}': a pattern cannot end in \\ (write \\\\ for a backslash)`, { subject: option });
      i++;
      if (inClass) {
        flush();
        out += next === '\\' ? BACKSLASH : SYNTAX.has(next) ? `\\${next}` : next;
      } else bytesOf(next);
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      flush();
      out += c;
      continue;
    }
    if (c === '*' || c === '?' || c === '/' || (c === '{' && braces.has(i)) || (c === '}' && braces.has(i)) || (c === ',' && depth > 0)) {
      flush();
      out += c;
      if (c === '{') depth++;
      if (c === '}') depth--;
      continue;
    }
    if (c === '[') {
      flush();
      // `[` opens a set only when a `]` closes it; `[]...]` and `[!]...]` take the `]` as a member
      let j = i + 1;
      if (chars[j] === '!' || chars[j] === '^') j++;
      if (chars[j] === ']') j++;
      while (j < chars.length && chars[j] !== ']') j += chars[j] === '\\' ? 2 : 1;
      if (j < chars.length) {
        inClass = true;
        out += '[';
        if (chars[i + 1] === '!' || chars[i + 1] === '^') {
          out += '^';
          i++;
        }
        if (chars[i + 1] === ']') {
          out += '\\]';
          i++;
        }
      } else bytesOf('[');
      continue;
    }
    bytesOf(c);
  }
  flush();
  return out;
}

/**
 * Positions of the `{` and `}` of alternatives: a `{` with its matching `}` and a comma between
 * them at its own level. Any other brace is itself (`x{}`, `a{b`, `{e}` are names).
 */
function braceGroups(chars: readonly string[]): Set<number> {
  const out = new Set<number>();
  const open: Array<{ at: number; comma: boolean }> = [];
  let inClass = false;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[' && chars.indexOf(']', i + 2) > 0) inClass = true;
    else if (c === '{') open.push({ at: i, comma: false });
    else if (c === ',' && open.length > 0) open[open.length - 1]!.comma = true;
    else if (c === '}' && open.length > 0) {
      const g = open.pop()!;
      if (g.comma) {
        out.add(g.at);
        out.add(i);
      }
    }
  }
  return out;
}

interface Rule {
  dirOnly: boolean;
  /** matched against the name alone (a pattern without `/`) or against the relative path */
  onName: boolean;
  test: (text: string) => boolean;
  pattern: string;
}

const MATCH_OPTIONS: picomatch.PicomatchOptions = { dot: true, noextglob: true, nonegate: true, posix: true, flags: 'u', debug: true, fastpaths: false };

function compileRule(pattern: string, option: string, includeRule: boolean): Rule {
  if (pattern.trim() === '') throw new ClfsError('E_USAGE', `${option}: empty pattern; give a glob such as '*.tmp' or '/cache/'`, { subject: option });
  let p = pattern;
  let dirOnly = false;
  if (p.length > 1 && p.endsWith('/') && !p.endsWith('\\/')) {
    p = p.slice(0, -1);
    dirOnly = true;
  }
  const anchored = p.startsWith('/');
  if (anchored) p = p.slice(1);
  if (p === '') throw new ClfsError('E_USAGE', `${option} '${pattern}': the pattern names the source root itself, which cannot be left out`, { subject: option });
  let glob = toGlob(p, option);
  // an include of a directory keeps everything below it (includes are checked on non-directories)
  if (includeRule && dirOnly) {
    glob = `${glob}/**`;
    dirOnly = false;
  }
  const onName = !anchored && !glob.includes('/');
  if (!anchored && !onName) glob = `**/${glob}`;
  let test: (text: string) => boolean;
  try {
    // the regex alone: picomatch's matcher also takes a name equal to the glob's text as a match,
    // which would make `n{a,b}` match the name `n{a,b}` (and `n\{a` not match `n\{a`)
    const re = picomatch.makeRe(glob, MATCH_OPTIONS);
    test = (text) => re.test(text);
  } catch (err) {
    throw new ClfsError('E_USAGE', `${option} '${pattern}' is not a valid pattern (${(err as Error).message}); escape special characters with \\`, { subject: option });
  }
  return { dirOnly, onName, test, pattern };
}

export class SourceFilter {
  readonly spec: FilterSpec;
  private readonly excludes: Rule[];
  private readonly includes: Rule[];
  private readonly snapshots: ReadonlySet<string>;
  /** names whose presence leaves a directory out (--exclude-if-present), as bytes */
  readonly markers: readonly Buffer[];

  private constructor(spec: FilterSpec, excludes: Rule[], includes: Rule[]) {
    this.spec = spec;
    this.excludes = excludes;
    this.includes = includes;
    this.snapshots = new Set(spec.keepSnapshotDirs ? [] : SNAPSHOT_DIRS);
    this.markers = spec.excludeIfPresent.map((n) => Buffer.from(n, 'utf8'));
  }

  /** Throws E_USAGE naming the option for a pattern that cannot be read. */
  static compile(spec: FilterSpec): SourceFilter {
    for (const n of spec.excludeIfPresent) {
      if (n === '' || n.includes('/') || n === '.' || n === '..') {
        throw new ClfsError('E_USAGE', `--exclude-if-present '${n}': give a plain file name (no /), such as .nobackup`, { subject: '--exclude-if-present' });
      }
    }
    return new SourceFilter(
      spec,
      spec.exclude.map((p) => compileRule(p, '--exclude', false)),
      spec.include.map((p) => compileRule(p, '--include', true)),
    );
  }

  /** Whether any check is made at all (the walk skips the per-name work otherwise). */
  get active(): boolean {
    return this.excludes.length > 0 || this.includes.length > 0 || this.snapshots.size > 0;
  }

  /** Whether excluded() reads `rel` for an entry of this kind (else any buffer will do: no path need be built). */
  needsPath(isDir: boolean): boolean {
    return this.excludes.length > 0 || (this.includes.length > 0 && !isDir);
  }

  /**
   * Whether the entry at `rel` (its path relative to the source root, `/`-separated bytes, its
   * last name `name`) is left out. Markers (--exclude-if-present) are the caller's: they need a
   * look inside the directory.
   */
  excluded(rel: Buffer, name: Buffer, isDir: boolean): boolean {
    if (isDir && this.snapshots.size > 0 && this.snapshots.has(name.toString('latin1'))) return true;
    if (this.excludes.length === 0 && (this.includes.length === 0 || isDir)) return false;
    const nameText = matchText(name);
    let relText: string | undefined;
    const matches = (r: Rule) => (r.dirOnly && !isDir ? false : r.test(r.onName ? nameText : (relText ??= matchText(rel))));
    if (this.excludes.some(matches)) return true;
    if (this.includes.length === 0 || isDir) return false;
    return !this.includes.some(matches);
  }
}

/**
 * The patterns of an `--exclude-from` file: one a line; blank lines and lines starting with `#`
 * are skipped, trailing spaces and CR are cut. A line that is not valid UTF-8 keeps its bytes:
 * they become `\xNN` escapes, which match those bytes.
 */
export function patternsOfFile(content: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= content.length; i++) {
    if (i < content.length && content[i] !== 0x0a) continue;
    let line = content.subarray(start, i);
    start = i + 1;
    let end = line.length;
    while (end > 0 && (line[end - 1] === 0x0d || line[end - 1] === 0x20 || line[end - 1] === 0x09)) end--;
    line = line.subarray(0, end);
    if (line.length === 0 || line[0] === 0x23) continue;
    out.push(displayPath(line));
  }
  return out;
}

/** The path of `childPath` relative to `rootPath` (both absolute bytes). */
export function relativeTo(rootPath: Buffer, childPath: Buffer): Buffer {
  const strip = rootPath.length + (rootPath[rootPath.length - 1] === 0x2f ? 0 : 1);
  return childPath.subarray(strip);
}

/** Whether the directory at `dirPath` holds one of the marker names (an entry of any type). */
export function holdsMarker(markers: readonly Buffer[], dirPath: Buffer): boolean {
  for (const m of markers) {
    try {
      sourceFs.lstatSync(joinPath(dirPath, m) as unknown as string);
      return true;
    } catch {
      // absent (or unreadable: the directory's own scan reports that)
    }
  }
  return false;
}

/**
 * The walk's filter for a tree rooted at `rootPath`, or undefined when nothing is filtered;
 * `onExcluded` is told of each child left out (a directory once: what it holds is not read).
 */
export function skipEntryOf(filter: SourceFilter, rootPath: Buffer, onExcluded?: (childPath: Buffer, isDir: boolean) => void): SkipEntry | undefined {
  if (!filter.active && filter.markers.length === 0) return undefined;
  return (name, childPath, isDir) => {
    const dir = isDir();
    const out = filter.excluded(relativeTo(rootPath, childPath), name, dir) || (dir && filter.markers.length > 0 && holdsMarker(filter.markers, childPath));
    if (out) onExcluded?.(childPath, dir);
    return out;
  };
}
