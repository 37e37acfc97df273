/**
 * `verify`: check a container the way a cache would need it, and optionally against its source.
 * Problems name the path (and the blob) and what is wrong.
 *
 * The passes, in the order their problems appear in the report (restic's internal/checker):
 *   listing.ts   one listing of the whole container: the blob names that exist, odd names
 *   structure.ts the bucket object and the root (read beside the listing, reported after it),
 *                then the walk from the root (each blob read once;
 *                for each inode it runs the two passes below and records hard-link names)
 *   data.ts      block maps, indirect blocks, data segments, content hashes
 *   source.ts    names and attributes against the source tree
 *   links.ts     hard-link structure, once every name has been seen
 *   listing.ts   again: blobs the walk did not reach
 * They share a VerifyContext (context.ts). Inside the walk, problems come in dirent order at any
 * concurrency (structure.ts), so a report does not depend on timing.
 */
import type { Target } from '../../targets/target.js';
import { checkAbort, newContext, type VerifyContext } from './context.js';
import { HardLinks } from './links.js';
import { listContainer, reportUnreached } from './listing.js';
import { compareRoot } from './source.js';
import { checkBucket, openRoot, startEarlyReads, walk } from './structure.js';
import type { VerifyOptions, VerifyReport } from './types.js';

export type { VerifyCounts, VerifyOptions, VerifyProblem, VerifyProblemCode, VerifyProgress, VerifyReport } from './types.js';

/** Checks a container; see the module comment. Never throws for damage, only for access failures. */
export async function verify(target: Target, options: VerifyOptions = {}): Promise<VerifyReport> {
  const ctx = newContext(target, options);
  const links = new HardLinks(ctx);
  try {
    // the source's threads start while the container is listed, not at the walk's first children
    ctx.sourceThreads?.start();
    const early = startEarlyReads(ctx);
    await listContainer(ctx);
    checkAbort(ctx);
    await checkBucket(ctx, early);
    const reader = await openRoot(ctx, early);
    if (reader === undefined) return report(ctx, links);
    const source = options.source === undefined ? undefined : Buffer.from(options.source);
    if (source !== undefined) compareRoot(ctx, reader.root, source);
    await walk(ctx, reader, links, source);
    await links.check(source !== undefined);
    await reportUnreached(ctx);
    return report(ctx, links);
  } finally {
    ctx.listing.names.close();
    links.close();
    await ctx.sourceThreads?.close();
  }
}

function report(ctx: VerifyContext, links: HardLinks): VerifyReport {
  const r: VerifyReport = { ok: ctx.problems.length === 0, problems: ctx.problems.list, counts: { ...ctx.counts } };
  if (ctx.options.source !== undefined) r.hardlinks = links.mode();
  return r;
}
