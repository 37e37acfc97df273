/**
 * The data pass: what a block map leads to (restic's ReadPacks). Indirect blocks must exist,
 * decode and name their owner and offset; a file's segments must exist and, with readData,
 * decode with the right owner, offset and length; with a source the content is hashed.
 * The structure walk calls it for each inode it reaches, so no inode is read twice.
 */
import { createHash } from 'node:crypto';
import { FILE_SEGMENT_BYTES, fileSegmentCount, fileSegmentOffset, FIRST_SEGMENT_BYTES, indirectDatabackOffset, segmentIdsOf } from '../../codec/index.js';
import type { DecodedObject } from '../../codec/index.js';
import type { ContainerReader, Inode } from '../container-reader.js';
import { checkAbort, hex, msgOf, readObject, type ProblemSink, type VerifyContext } from './context.js';
import { sha256OfFile } from './source.js';
import type { SourceProbe } from '../../targets/folder-reader.js';

class StopWalk extends Error {}

/**
 * Segment ids of an inode in block order; each indirect block is checked (exists, decodes,
 * owner, DATABACK offset) and marked reached. A broken indirect block ends the walk (reported).
 */
export async function* segments(ctx: VerifyContext, reader: ContainerReader, out: ProblemSink, path: string, inode: Inode): AsyncIterable<{ block: number; id: Buffer }> {
  try {
    yield* segmentIdsOf(inode.obj.bmap, async (id, tree, level) => {
      const name = reader.indirectName(id, inode.handle);
      if (!ctx.listing.names.has(name)) {
        out.add(path, 'missing-indirect', `indirect block (tree ${tree}, level ${level}) ${name} is missing`, name);
        throw new StopWalk();
      }
      ctx.listing.names.reach(name);
      ctx.counts.indirect++;
      let obj: DecodedObject;
      try {
        obj = await readObject(ctx, name);
      } catch (e) {
        out.add(path, 'bad-indirect', `indirect block ${name} does not decode: ${msgOf(e)}`, name);
        throw new StopWalk();
      }
      if (obj.kind !== 'indirect') {
        out.add(path, 'bad-indirect', `blob ${name} should be an indirect block but holds a ${obj.kind}`, name);
        throw new StopWalk();
      }
      const want = indirectDatabackOffset(tree, level);
      if (obj.databack.offset !== want) out.add(path, 'bad-indirect', `indirect block ${name} has DATABACK offset ${obj.databack.offset}, expected ${want}`, name);
      if (!obj.databack.owner.equals(inode.handle)) out.add(path, 'bad-indirect', `indirect block ${name} names owner ${hex(obj.databack.owner)}`, name);
      return obj.pointers;
    });
  } catch (e) {
    if (!(e instanceof StopWalk)) throw e;
  }
}

/** Checks a file's segments; with a source, returns the SHA-256 of the container content. */
export async function checkFileData(
  ctx: VerifyContext,
  reader: ContainerReader,
  out: ProblemSink,
  path: string,
  inode: Inode,
  source: Buffer | undefined,
  probe?: SourceProbe,
  needSha = true,
): Promise<string | undefined> {
  const size = Number(inode.obj.vattr.sizeBytes);
  const inline = inode.obj.data ?? Buffer.alloc(0);
  const wantInline = Math.min(size, FIRST_SEGMENT_BYTES);
  if (inline.length !== wantInline) out.add(path, 'size', `size ${size} but the inline data holds ${inline.length} bytes (expected ${wantInline})`, inode.blob);
  // a small source file came back whole: compared byte for byte, no hash on either side (unless
  // the hard-link pass needs the content's hash)
  const sameBytes = source !== undefined && probe?.bytes !== undefined && !needSha ? probe.bytes : undefined;
  const hash = source !== undefined && sameBytes === undefined ? createHash('sha256').update(inline) : undefined;
  let at = 0;
  let differs = false;
  const compare = (d: Buffer): void => {
    if (sameBytes === undefined) return;
    if (!differs && (at + d.length > sameBytes.length || !d.equals(sameBytes.subarray(at, at + d.length)))) differs = true;
    at += d.length;
  };
  compare(inline);
  let found = inline.length;
  let count = 0;
  const wantSegments = fileSegmentCount(size);
  // a file held inline (no segment, no indirect tree: every file up to 16 KiB) has nothing to
  // walk: no async generator per file for it
  const bmap = inode.obj.bmap;
  const blocks = bmap.direct.length > 1 || bmap.treeRoots.some((r) => r !== undefined) ? segments(ctx, reader, out, path, inode) : [];
  for await (const { block, id } of blocks) {
    checkAbort(ctx);
    count++;
    const data = await checkFileSegment(ctx, reader, out, path, inode, block, id);
    if (data === undefined) continue;
    if (typeof data === 'number') found += data;
    else {
      found += data.length;
      hash?.update(data);
      compare(data);
    }
  }
  if (count !== wantSegments) out.add(path, 'size', `size ${size} needs ${wantSegments} segments but the block map has ${count}`, inode.blob);
  else if (found !== size) out.add(path, 'size', `size ${size} but ${found} bytes of data were found`, inode.blob);
  if (sameBytes !== undefined) {
    if (differs || at !== sameBytes.length) out.add(path, 'source-mismatch', 'content differs from the source', inode.blob);
    return undefined;
  }
  if (hash === undefined || source === undefined) return undefined;
  const got = hash.digest('hex');
  if (probe?.unreadable) return got; // as an unreadable source below
  let want: string;
  try {
    want = probe?.sha256 ?? (probe?.bytes !== undefined ? createHash('sha256').update(probe.bytes).digest('hex') : await sha256OfFile(source, ctx.sourceThreads));
  } catch {
    return got; // reported by the source pass (missing or unreadable)
  }
  if (got !== want) out.add(path, 'source-mismatch', 'content differs from the source (SHA-256)', inode.blob);
  return got;
}

/**
 * One data segment: its bytes when read, the length it should have when only its existence is
 * checked, undefined when it is missing or does not decode (reported).
 */
async function checkFileSegment(
  ctx: VerifyContext,
  reader: ContainerReader,
  out: ProblemSink,
  path: string,
  inode: Inode,
  block: number,
  id: Buffer,
): Promise<Buffer | number | undefined> {
  const name = reader.segmentName(id, inode.handle);
  const offset = fileSegmentOffset(block);
  const wantLen = Math.max(0, Math.min(FILE_SEGMENT_BYTES, Number(inode.obj.vattr.sizeBytes) - offset));
  if (!ctx.listing.names.has(name)) {
    out.add(path, 'missing-segment', `data segment ${block} (bytes ${offset}..${offset + wantLen}) is missing: ${name}`, name);
    return undefined;
  }
  ctx.listing.names.reach(name);
  ctx.counts.segments++;
  if (!ctx.readData) return wantLen;
  let obj: DecodedObject;
  try {
    obj = await readObject(ctx, name);
  } catch (e) {
    out.add(path, 'bad-segment', `data segment ${block} ${name} does not decode: ${msgOf(e)}`, name);
    return undefined;
  }
  if (obj.kind !== 'file-segment') {
    out.add(path, 'bad-segment', `blob ${name} should be data segment ${block} but holds a ${obj.kind}`, name);
    return undefined;
  }
  if (obj.databack.offset !== BigInt(offset)) out.add(path, 'bad-segment', `data segment ${block} has DATABACK offset ${obj.databack.offset}, expected ${offset}`, name);
  if (!obj.databack.owner.equals(inode.handle)) out.add(path, 'bad-segment', `data segment ${block} names owner ${hex(obj.databack.owner)}`, name);
  if (obj.data.length !== wantLen) out.add(path, 'size', `data segment ${block} holds ${obj.data.length} bytes, expected ${wantLen}`, name);
  return obj.data;
}
