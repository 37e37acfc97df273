/**
 * The listing pass: what exists. One listing of the whole container fills the blob-name set
 * before the walk; after it, every CLFS blob the walk did not reach is reported (restic's
 * UnusedBlobs), with a few described from their contents.
 */
import { Btype, hash64Hex, INPROGRESS_ID, parseBlobName } from '../../codec/index.js';
import { escapeName, inodeBtypeOf } from '../container-reader.js';
import { hex, msgOf, readObject, type VerifyContext } from './context.js';

export const INPROGRESS_HASH = hash64Hex(INPROGRESS_ID);
/** a blob name that looks like CLFS (hash_id.) but did not parse */
const CLFS_LOOKING = /^(tmp)?([0-9A-F]{8}|[0-9A-F]{16})_([0-9A-F]+)\./;
const UNREACHABLE_DESCRIBED = 200;

export async function listContainer(ctx: VerifyContext): Promise<void> {
  const { listing, problems } = ctx;
  // names only: no pass uses the sizes, and a folder's listing would stat every blob for them
  // (20,000 stats before the walk reads the same files)
  for await (const info of ctx.target.list('', { ...ctx.getOptions, namesOnly: true })) {
    const name = info.name;
    const p = parseBlobName(name);
    if (p === undefined) {
      const m = CLFS_LOOKING.exec(name);
      if (m !== null) {
        listing.badNameIds.set(m[3]!, name);
        problems.add('', 'bad-name', `blob ${name}: the hash prefix does not match the id (renamed or damaged name)`, name);
      } else if (!name.endsWith('.txt')) {
        problems.add('', 'unknown-blob', `blob ${name} is not a CLFS blob and not a log file`, name);
      }
      continue;
    }
    ctx.counts.blobs++;
    listing.names.add(name, Math.max(0, info.sizeBytes));
    if (p.tmp) {
      problems.add('/', 'not-finalized', `tmp root ${name} left behind: the load was not finalized (resume it)`, name);
      listing.names.reach(name);
    } else if (p.ownerHashHex === INPROGRESS_HASH) {
      listing.inProgressIds.set(hex(p.id), name);
      listing.names.reach(name);
    } else if (p.nameVersion === 2 && p.btype !== undefined) {
      const want = inodeBtypeOf(p.id);
      const isInodeBtype = p.btype >= Btype.REG && p.btype <= Btype.FIFO;
      if (isInodeBtype && p.id.length === 24 && want !== p.btype) {
        problems.add('', 'bad-name', `blob ${name}: btype ${p.btype} in the name, but the handle says ${want}`, name);
      }
    }
  }
}

/** Leftover in-progress blobs, then every blob the walk did not reach. */
export async function reportUnreached(ctx: VerifyContext): Promise<void> {
  const { listing, problems } = ctx;
  for (const [idHex, blob] of listing.inProgressIds) {
    const path = listing.pathsById.get(idHex) ?? '';
    problems.add(path, 'in-progress-left', `leftover in-progress inode blob ${blob}: reconcile or cleanup did not finish (resume the load)`, blob);
  }
  let described = 0;
  for (const name of listing.names.unreached()) {
    let what = '';
    if (described < UNREACHABLE_DESCRIBED) {
      described++;
      what = await describe(ctx, name);
    }
    const p = parseBlobName(name);
    const path = p === undefined ? '' : listing.pathsById.get(hex(p.id)) ?? '';
    problems.add(path, 'unreachable', `blob ${name}${what} is not reachable from the root`, name);
  }
}

async function describe(ctx: VerifyContext, name: string): Promise<string> {
  try {
    const obj = await readObject(ctx, name);
    if (obj.kind === 'inode') return ` (inode "${escapeName(obj.name)}")`;
    if (obj.kind === 'file-segment' || obj.kind === 'dir-segment' || obj.kind === 'indirect') {
      return ` (${obj.kind} of inode ${hex(obj.databack.owner)} at offset ${obj.databack.offset})`;
    }
    return '';
  } catch (e) {
    return ` (does not decode: ${msgOf(e)})`;
  }
}
