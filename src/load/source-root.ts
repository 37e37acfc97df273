import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClfsError } from '../errors/index.js';

/** The source must be a directory (a usage error otherwise, before anything is read or written); its absolute path. */
export function checkSource(source: string): string {
  const abs = path.resolve(source);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new ClfsError('E_SOURCE_NOT_FOUND', `source ${source}: no such directory; give the root of the tree to load`, { subject: source });
  }
  if (!st.isDirectory()) throw new ClfsError('E_SOURCE_NOT_FOUND', `source ${source}: not a directory; give the root of the tree to load`, { subject: source });
  return abs;
}
