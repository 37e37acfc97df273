/**
 * Hashing a small file with synchronous reads, for the folder reader threads and for verify's own
 * thread when there are none (src/read/verify/source.ts). Node built-ins only: the reader worker
 * loads it.
 */
import type { Hash } from 'node:crypto';
import * as fs from 'node:fs';

/**
 * Feeds `h` the file behind `fd`, from its current offset, until a short read. `size` is the
 * file's size from an fstat: the buffer holds one byte more, to see a file that grew since the
 * stat, which is then read on to its end.
 */
export function hashToEndSync(fd: number, size: number, h: Hash): void {
  const buf = Buffer.allocUnsafe(size + 1);
  for (;;) {
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
    }
    h.update(buf.subarray(0, got));
    if (got < buf.length) return;
  }
}
