/**
 * Dry run: scan the source only and count what a load would write, without touching the target.
 * Memory: the stack of directories still to visit, and one directory's batch at a time.
 */
import { DirentPacker, fileSegmentCount } from '../codec/index.js';
import { DEFAULT_FILTERS, joinPath, lstatEntry, readDirectoryBatches, skipEntryOf, SourceFilter } from '../scan/index.js';
import type { FilterSpec } from '../scan/index.js';
import type { SourceKind } from '../scan/index.js';
import { MAX_LINKS_PER_INODE } from './dir-scan.js';
import { indirectCount } from './file-writer.js';
import { basenameBytes, checkSource } from './source-root.js';

export interface DryRunOptions {
  source: string | Buffer;
  preserveHardlinks?: boolean;
  abortSignal?: AbortSignal;
  /** what a load would leave out (default DEFAULT_FILTERS) */
  filters?: FilterSpec;
}

export interface DryRunEstimate {
  entries: number;
  /** entries by kind, in the vocabulary of the load summary and ls */
  kinds: Partial<Record<SourceKind, number>>;
  fileBytes: number;
  /** CLFS objects: inodes, file segments, directory segments, indirect blocks, bucket */
  objects: number;
  fileSegments: number;
  dirSegments: number;
  indirectBlocks: number;
  /** blob requests of the whole load (puts, gets, lists, deletes) */
  requests: number;
  errors: number;
  /** entries the filters leave out (an excluded directory counts once: what it holds is not read) */
  excluded: number;
  seconds: number;
}

const HANDLE = Buffer.alloc(24);

export function dryRun(options: DryRunOptions): DryRunEstimate {
  const started = Date.now();
  const rootAbs = checkSource(options.source);
  const filter = SourceFilter.compile(options.filters ?? DEFAULT_FILTERS);
  const est: DryRunEstimate = { entries: 1, kinds: { dir: 1 }, fileBytes: 0, objects: 0, fileSegments: 0, dirSegments: 0, indirectBlocks: 0, requests: 0, errors: 0, excluded: 0, seconds: 0 };
  const skip = skipEntryOf(filter, Buffer.from(rootAbs), () => (est.excluded += 1));
  lstatEntry(rootAbs, basenameBytes(rootAbs));
  const links = new Map<string, number>();
  let inodes = 1;
  let reconciled = 0;
  const stack: Buffer[] = [Buffer.from(rootAbs)];
  while (stack.length > 0) {
    if (options.abortSignal?.aborted) break;
    const dir = stack.pop()!;
    const packer = new DirentPacker(HANDLE, HANDLE);
    let pieces = 0;
    try {
      for (const batch of readDirectoryBatches(dir, 1000, () => (est.errors += 1), skip)) {
        for (const e of batch) {
          est.entries += 1;
          est.kinds[e.kind] = (est.kinds[e.kind] ?? 0) + 1;
          if (packer.add(e.name, HANDLE) !== undefined) pieces += 1;
          if (e.kind === 'dir') {
            stack.push(joinPath(dir, e.name));
            inodes += 1;
            continue;
          }
          if (options.preserveHardlinks && e.nlink !== 1) {
            const key = `${e.dev}:${e.ino}`;
            const seen = links.get(key) ?? 0;
            links.set(key, seen + 1);
            if (seen % MAX_LINKS_PER_INODE !== 0) continue;
            reconciled += 1;
          }
          inodes += 1;
          if (e.kind === 'file') {
            const size = Number(e.sizeBytes);
            est.fileBytes += size;
            const segs = fileSegmentCount(size);
            est.fileSegments += segs;
            if (segs > 1023) est.indirectBlocks += indirectCount(segs);
          }
        }
      }
    } catch {
      est.errors += 1;
    }
    packer.finish();
    est.dirSegments += pieces;
  }
  est.objects = 1 + inodes + est.fileSegments + est.dirSegments + est.indirectBlocks;
  // puts of every object, bucket rewrite, run log, final root; list (empty check); get of the
  // tmp root and its delete; per reconciled inode a get, a put and a delete
  est.requests = est.objects + 3 + 1 + 2 + reconciled * 3;
  est.seconds = (Date.now() - started) / 1000;
  return est;
}
