/** `cat`: a regular file's bytes out of a container, streamed segment by segment. */
import { Btype } from '../codec/index.js';
import { ClfsError } from '../errors/index.js';
import type { Target } from '../targets/target.js';
import { ContainerReader, displayClfsPath, type ReadOptions } from './container-reader.js';

export type CatOptions = ReadOptions;

/** The content of the regular file at `path` (bytes, '/'-separated, relative to the root). */
export async function* cat(target: Target, path: Buffer | string, options: CatOptions = {}): AsyncIterable<Buffer> {
  const reader = await ContainerReader.open(target, options);
  const { inode, parts } = await reader.resolve(path, options);
  if (inode.obj.vattr.btype !== Btype.REG) {
    const what = inode.obj.vattr.btype === Btype.DIR ? 'a directory' : 'not a regular file';
    throw new ClfsError('E_USAGE', `${displayClfsPath(parts)}: ${what}; cat prints regular files only`, { subject: displayClfsPath(parts) });
  }
  yield* reader.content(inode, options);
}
