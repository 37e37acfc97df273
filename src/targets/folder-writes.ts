import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';

export interface FolderWrite {
  /** write here, then rename to finalPath; undefined: write finalPath directly */
  tempPath?: string;
  finalPath: string;
  data: Uint8Array;
}

export interface FolderWriteFailure {
  index: number;
  error: unknown;
}

/**
 * Write blobs as files, each to a temp name then renamed (a kill never leaves half a blob under
 * its final name) or, without a temp name, in place; with synchronous calls: for many small blobs one blocking loop costs far less
 * than a promise chain per file. Stops at the first failure and reports its index.
 */
export function writeFilesSync(writes: readonly FolderWrite[], fsync: boolean): FolderWriteFailure | undefined {
  for (let index = 0; index < writes.length; index++) {
    const w = writes[index]!;
    try {
      const fd = openSync(w.tempPath ?? w.finalPath, 'w');
      try {
        let written = 0;
        while (written < w.data.byteLength) written += writeSync(fd, w.data, written, w.data.byteLength - written);
        if (fsync) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      if (w.tempPath !== undefined) renameSync(w.tempPath, w.finalPath);
    } catch (error) {
      try {
        if (w.tempPath !== undefined) unlinkSync(w.tempPath);
      } catch {
        // the temp file may not exist
      }
      return { index, error };
    }
  }
  return undefined;
}
