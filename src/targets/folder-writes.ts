import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';

/** Temp files of a folder target's puts start with this; its listing skips them. */
export const FOLDER_TEMP_PREFIX = '.clfsload-tmp-';

export interface FolderWrite {
  /** write here, then rename to finalPath; undefined: write finalPath directly */
  tempPath?: string;
  finalPath: string;
  data: Uint8Array;
}

/**
 * Bytes per write call, as Node's own writeFile: Linux sizes a new page-cache folio by the write,
 * and writes of 2 MiB and more (an 8 MiB segment in one call) took 2 MiB folios, whose allocation
 * on the benchmark VM now and then cost a second of system time per 512 MiB written (64 files of
 * 8 MiB into a fresh ext4, page cache dropped before each run: 3 of 12 runs at 2 and 8 MiB per
 * call took 0.6-1.2 s of system time, each of 12 at 512 KiB and 1 MiB 0.10-0.14 s).
 */
const WRITE_CHUNK_BYTES = 512 * 1024;

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
        while (written < w.data.byteLength) written += writeSync(fd, w.data, written, Math.min(WRITE_CHUNK_BYTES, w.data.byteLength - written));
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
