/**
 * Command-line arguments as the bytes the user typed. Node decodes argv as UTF-8 and replaces
 * each byte that is not valid UTF-8 by U+FFFD, so a name such as `caf<0xe9>.txt` reaches the
 * commands as `caf\ufffd.txt` and can no longer be found. On Linux the kernel keeps the original
 * bytes in /proc/self/cmdline: an argument that lost bytes is looked up there.
 */
import * as fs from 'node:fs';

let cmdline: Buffer[] | undefined;

/** Set by a command that runs itself again (thread-pool.ts): the launcher's raw arguments, hex, comma-separated. */
const RAW_ENV = 'CLFSLOAD_RAW_ARGV';

function rawArguments(): Buffer[] {
  if (cmdline !== undefined) return cmdline;
  // a re-run was given strings that had already lost their bytes: its launcher's are here
  const inherited = process.env[RAW_ENV];
  if (inherited !== undefined) {
    cmdline = inherited === '' ? [] : inherited.split(',').map((h) => Buffer.from(h, 'hex'));
    return cmdline;
  }
  try {
    const all = fs.readFileSync('/proc/self/cmdline');
    const parts: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < all.length; i++) {
      if (all[i] === 0) {
        parts.push(all.subarray(start, i));
        start = i + 1;
      }
    }
    cmdline = parts;
  } catch {
    cmdline = [];
  }
  return cmdline;
}

/**
 * What an argument of the command line may give a command: the whole word, and for an option
 * written with its value (`--state=DIR`, which commander splits) the value after the first `=`
 * (an ASCII byte, never inside a UTF-8 sequence).
 */
function valuesOf(raw: Buffer): Buffer[] {
  if (raw[0] !== 0x2d) return [raw];
  const eq = raw.indexOf(0x3d);
  return eq < 0 ? [raw] : [raw, raw.subarray(eq + 1)];
}

/**
 * The bytes of a command-line argument (or of an option's value given as `--opt=VALUE`): the
 * string itself when it is what was typed, else the one argument of the command line that decodes
 * to it. Left as the string when that is ambiguous (two different byte strings decode to it) or
 * unknown (no /proc).
 */
export function argumentBytes(arg: string): string | Buffer {
  if (!arg.includes('\ufffd')) return arg;
  const matches = rawArguments().flatMap(valuesOf).filter((raw) => raw.toString('utf8') === arg);
  const first = matches[0];
  if (first === undefined || matches.some((m) => !m.equals(first))) return arg;
  return first.equals(Buffer.from(arg, 'utf8')) ? arg : Buffer.from(first);
}

/** The environment a re-run of this process needs so its arguments keep their bytes. */
export function rawArgvEnv(): Record<string, string> {
  return { [RAW_ENV]: rawArguments().map((b) => b.toString('hex')).join(',') };
}
