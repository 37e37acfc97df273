/**
 * Local paths whose bytes are not valid UTF-8, for the options and arguments that name a folder
 * the library takes as a string (`--state`, a `file:` target, `state check DIR`): Node's argv
 * mangles such bytes (raw-argv.ts gets them back) and the library's folder code builds its paths
 * with string joins. Such a folder is opened once, by its bytes, and handed on as
 * /proc/self/fd/N: every string join under it reaches the real folder, from any thread of this
 * process (the descriptor stays open until the process ends; it is not inherited by children).
 *
 * And the printing side: a path shown in a message is escaped the way `ls` prints names
 * (`caf\xe9`), and a word of a command line to paste back is quoted for any POSIX shell.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClfsError, displayPath } from '../index.js';
import { argumentBytes } from './raw-argv.js';

/** /proc/self/fd/N → the bytes of the folder it stands for (for messages). */
const opened = new Map<string, Buffer>();
/** the mangled string of a folder that could not be opened → its bytes (for messages) */
const unopened = new Map<string, Buffer>();
/** /proc/self/fd/N of the folders folderPath made (a refused load takes them away again) */
const made = new Set<string>();

/** Whether these bytes do not survive a round trip through a JavaScript string. */
export function notUtf8(bytes: Buffer): boolean {
  return !Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
}

/**
 * A folder named by bytes, as a string path the library can join under: the bytes' own string
 * when they are valid UTF-8, else /proc/self/fd/N of the folder opened by its bytes (made first
 * when `create`). A folder that cannot be opened is left to the caller's own checks: its
 * (mangled) string comes back, which names nothing.
 */
export function folderPath(path: string | Buffer, create: boolean): string {
  const bytes = typeof path === 'string' ? Buffer.from(path, 'utf8') : path;
  if (!notUtf8(bytes)) return bytes.toString('utf8');
  try {
    const making = create && !fs.existsSync(bytes as unknown as string);
    if (making) fs.mkdirSync(bytes as unknown as string, { recursive: true });
    const fd = fs.openSync(bytes as unknown as string, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const p = `/proc/self/fd/${fd}`;
    opened.set(p, Buffer.from(bytes));
    if (making) made.add(p);
    return p;
  } catch {
    const mangled = bytes.toString('utf8');
    unopened.set(mangled, Buffer.from(bytes));
    return mangled;
  }
}

/** A folder argument as typed (its raw bytes, raw-argv.ts), as folderPath gives it. */
export function folderArgument(arg: string, create: boolean): string {
  return folderPath(argumentBytes(arg), create);
}

/** The bytes a path stands for: a folder opened by folderPath (or a path under it) gets its real bytes back. */
export function realBytes(p: string): Buffer {
  for (const [fdPath, bytes] of opened) {
    if (p === fdPath) return bytes;
    if (p.startsWith(fdPath + '/')) return Buffer.concat([bytes, Buffer.from(p.slice(fdPath.length), 'utf8')]);
  }
  return Buffer.from(p, 'utf8');
}

/** A word as a POSIX shell reads it back: quoted unless it is plainly safe. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A path for a message: the real folder's bytes, escaped as `ls` prints names (`caf\xe9`). */
export function shownPath(p: string | Buffer): string {
  return displayPath(typeof p === 'string' ? realBytes(p) : p);
}

/**
 * A word of a command line, quoted so that any POSIX shell (dash's `sh -c` included) reads back
 * its bytes: valid UTF-8 as shellQuote gives it (single quotes keep every byte); a word that is
 * not as `"$(printf '...')"` with octal escapes (printf's format is POSIX; dash has no $'...').
 */
export function shellWord(word: string | Buffer): string {
  const bytes = typeof word === 'string' ? Buffer.from(word, 'utf8') : word;
  // single quotes keep control bytes, newlines included (which a command substitution would drop
  // at the end): only bytes that are not UTF-8 need printf (such a word ending in a newline loses it)
  if (!notUtf8(bytes)) return shellQuote(bytes.toString('utf8'));
  let format = '';
  for (const b of bytes) {
    if (b === 0x25) format += '%%';
    else if (b === 0x5c) format += '\\\\';
    else if (b === 0x27) format += `'\\''`;
    else if (b >= 0x20 && b < 0x7f) format += String.fromCharCode(b);
    else format += '\\' + b.toString(8).padStart(3, '0');
  }
  // a format that starts with '-' would be read as an option
  if (format.startsWith('-')) format = '\\055' + format.slice(1);
  return `"$(printf '${format}')"`;
}

/** A message with each folder given to folderPath named by its escaped bytes, not /proc/self/fd/N or a mangled string. */
export function shownText(text: string): string {
  let out = text;
  for (const [mangled, bytes] of unopened) out = out.split(mangled).join(displayPath(bytes));
  if (opened.size === 0) return out;
  return out.replace(/\/proc\/self\/fd\/\d+/g, (p) => {
    const bytes = opened.get(p);
    return bytes === undefined ? p : displayPath(bytes);
  });
}

/** An absolute path as bytes: resolved against the working directory on latin1 (one code unit per byte). */
function absoluteBytes(p: Buffer): string {
  return path.resolve(Buffer.from(process.cwd()).toString('latin1'), p.toString('latin1'));
}

/** Whether one of two absolute latin1 paths is the other or inside it. */
function overlaps(a: string, b: string): boolean {
  const withSep = (p: string) => (p.endsWith('/') ? p : p + '/');
  return withSep(a).startsWith(withSep(b)) || withSep(b).startsWith(withSep(a));
}

/**
 * A load's state folder and folder target must be outside its source (the library checks the
 * same with the paths it is given). Checked here on the real bytes: for a folder opened by its
 * bytes the library sees /proc/self/fd/N, and a target's key spells such bytes as `ls` prints
 * them, so neither matched a source given as bytes and a target inside such a source was loaded
 * into itself. `folders`: what each folder is ('state', 'target') and its path as the library gets it.
 */
export function checkOutsideSource(source: string | Buffer, folders: Array<{ what: 'state' | 'target'; path: string }>): void {
  const src = typeof source === 'string' ? Buffer.from(source, 'utf8') : source;
  if (src.length === 0) return;
  const srcAbs = absoluteBytes(src);
  for (const f of folders) {
    const bytes = realBytes(f.path);
    if (!overlaps(absoluteBytes(bytes), srcAbs)) continue;
    const shown = displayPath(Buffer.from(absoluteBytes(bytes), 'latin1'));
    // a state folder made only so that its bytes could be opened is not left behind (in the source)
    if (made.has(f.path)) {
      try {
        fs.rmdirSync(bytes as unknown as string);
      } catch {
        // not empty after all: left as it is
      }
    }
    throw new ClfsError('E_USAGE', `${f.what} folder ${shown} overlaps the source ${displayPath(Buffer.from(srcAbs, 'latin1'))}: put the ${f.what} somewhere outside the tree being loaded`, { subject: shown });
  }
}
