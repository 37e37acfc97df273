import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClfsError } from '../errors/index.js';
import { displayPath } from '../scan/index.js';

/**
 * An absolute path as bytes: `p` resolved against the working directory and normalized. Done on
 * latin1 (one code unit per byte, '/' and '.' unchanged), so a name that is not valid UTF-8 keeps
 * its exact bytes.
 */
export function resolveBytes(p: string | Buffer): Buffer {
  const latin1 = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s) : s).toString('latin1');
  return Buffer.from(path.resolve(latin1(process.cwd()), latin1(p)), 'latin1');
}

/** The last component of a byte path (as path.basename). */
export function basenameBytes(p: Buffer): Buffer {
  return Buffer.from(path.basename(p.toString('latin1')), 'latin1');
}

/**
 * The source must be a directory (a usage error otherwise, before anything is read or written);
 * its absolute path, as bytes (a path that is not valid UTF-8 is given as bytes).
 */
export function checkSource(source: string | Buffer): Buffer {
  const abs = resolveBytes(source);
  const shown = typeof source === 'string' ? source : displayPath(source);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new ClfsError('E_SOURCE_NOT_FOUND', `source ${shown}: no such directory; give the root of the tree to load`, { subject: shown });
  }
  if (!st.isDirectory()) throw new ClfsError('E_SOURCE_NOT_FOUND', `source ${shown}: not a directory; give the root of the tree to load`, { subject: shown });
  return abs;
}
