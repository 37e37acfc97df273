/**
 * `load --update` without the load's state folder (lost, or the load ran on another machine):
 * the state is rebuilt from the container, which holds everything the update compares (every
 * inode's VATTR, every directory's entries) and every blob name each entry owns. The ids of
 * segments written from now on come from a new secret; the names found here are recorded per
 * entry (`known_blobs`), so what the update replaces or removes is still deleted.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  blobListPrefix,
  blobName,
  btypeToFtype,
  Btype,
  bucketBlobName,
  decodeBlob,
  decodeFileHandle,
  decodeObject,
  encodeTime,
  Ftype,
  FILEHANDLE_BYTES,
  INITIAL_VERSION,
  parseBlobName,
  ROOT_ID,
  rootBlobName,
  segmentIdsOf,
} from '../codec/index.js';
import type { Compression, DecodedObject } from '../codec/index.js';
import { ClfsError, isClfsError } from '../errors/index.js';
import { displayPath, joinPath, lstatEntry } from '../scan/index.js';
import { EntryState, Phase, StateDb, STATE_FORMAT_VERSION } from '../state/index.js';
import type { NewEntry, TransferIdentity } from '../state/index.js';
import type { Target } from '../targets/target.js';
import { tmpRootName } from './dir-writer.js';
import { basenameBytes } from './source-root.js';

type InodeObject = Extract<DecodedObject, { kind: 'inode' }>;

export interface RebuildOptions {
  target: Target;
  targetKey: string;
  stateDir: string;
  sourceAbs: Buffer;
  abortSignal?: AbortSignal;
}

function notFound(err: unknown): boolean {
  return isClfsError(err) && err.code === 'E_TARGET_NOT_FOUND';
}

/** Seconds and nanoseconds that encode (spec §8.3) to exactly the stored time, so an unchanged source time compares equal. */
function storedTime(t: { sec: number; nsec: number }): [number, number] {
  for (const d of [0, 1, -1, 2, -2, 3, -3]) {
    const nsec = t.nsec + d;
    if (nsec < 0 || nsec > 999_999_999) continue;
    const e = encodeTime(BigInt(t.sec), BigInt(nsec));
    if (e !== undefined && e.sec === t.sec && e.nsec === t.nsec) return [t.sec, nsec];
  }
  return [t.sec, t.nsec];
}

/** rdev from the VATTR's major and minor (glibc's makedev, the inverse of rdevSplit). */
function rdevJoin(major: number, minor: number): bigint {
  const M = BigInt(major);
  const m = BigInt(minor);
  return (m & 0xffn) | ((M & 0xfffn) << 8n) | ((m & ~0xffn) << 12n) | ((M & ~0xfffn) << 32n);
}

async function getDecoded(target: Target, name: string, signal?: AbortSignal): Promise<{ blob: Buffer; obj: DecodedObject }> {
  const blob = await target.get(name, { abortSignal: signal });
  return { blob, obj: decodeObject(decodeBlob(blob, name), name) };
}

async function highest(target: Target, prefix: string, signal?: AbortSignal): Promise<string | undefined> {
  let best: string | undefined;
  let version = -1;
  for await (const b of target.list(prefix, { abortSignal: signal })) {
    const p = parseBlobName(b.name);
    if (p === undefined || p.tmp) continue;
    if (p.version > version) {
      best = b.name;
      version = p.version;
    }
  }
  return best;
}

async function readInode(target: Target, handle: Buffer, owner: Buffer, signal?: AbortSignal): Promise<{ name: string; obj: InodeObject }> {
  const ftype = handle.length === FILEHANDLE_BYTES ? (handle[6]! as Ftype) : undefined;
  const btypes: Record<number, Btype> = { [Ftype.DIR]: Btype.DIR, [Ftype.REG]: Btype.REG, [Ftype.LNK]: Btype.LNK, [Ftype.BLK]: Btype.BLK, [Ftype.CHR]: Btype.CHR, [Ftype.SOCK]: Btype.SOCK, [Ftype.FIFO]: Btype.FIFO };
  let name = ftype !== undefined && btypes[ftype] !== undefined ? blobName(handle, btypes[ftype]!, owner, INITIAL_VERSION) : undefined;
  let got: { obj: DecodedObject } | undefined;
  if (name !== undefined) {
    try {
      got = await getDecoded(target, name, signal);
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  }
  if (got === undefined) {
    // a hard-linked inode is named after its first parent at the reconciled version
    name = await highest(target, blobListPrefix(handle), signal);
    if (name === undefined) throw new ClfsError('E_FORMAT_CORRUPT', `${target.description}: a directory names ${handle.toString('hex').toUpperCase()}, which has no inode blob; the container is damaged and cannot be updated`, { subject: handle.toString('hex') });
    got = await getDecoded(target, name, signal);
  }
  if (got.obj.kind !== 'inode') throw new ClfsError('E_FORMAT_CORRUPT', `${name}: expected an inode, found a ${got.obj.kind}`, { subject: name });
  return { name: name!, obj: got.obj };
}

/** Names of the segments and indirect blocks an inode's block map references (indirect blocks are read to list theirs). */
async function dataBlobs(target: Target, handle: Buffer, obj: InodeObject, signal?: AbortSignal): Promise<string[]> {
  const names: string[] = [];
  for await (const { id } of segmentIdsOf(obj.bmap, async (iid) => {
    const n = blobName(iid, Btype.INDIRECT, handle, INITIAL_VERSION);
    names.push(n);
    const o = (await getDecoded(target, n, signal)).obj;
    if (o.kind !== 'indirect') throw new ClfsError('E_FORMAT_CORRUPT', `${n}: expected an indirect block`, { subject: n });
    return o.pointers;
  })) {
    names.push(blobName(id, Btype.SEGMENT, handle, INITIAL_VERSION));
  }
  return names;
}

async function* direntsOf(target: Target, handle: Buffer, obj: InodeObject, signal?: AbortSignal): AsyncIterable<{ name: Buffer; handle: Buffer }> {
  yield* obj.dirents ?? [];
  for await (const { id } of segmentIdsOf(obj.bmap, async (iid) => {
    const n = blobName(iid, Btype.INDIRECT, handle, INITIAL_VERSION);
    const o = (await getDecoded(target, n, signal)).obj;
    if (o.kind !== 'indirect') throw new ClfsError('E_FORMAT_CORRUPT', `${n}: expected an indirect block`, { subject: n });
    return o.pointers;
  })) {
    const n = blobName(id, Btype.SEGMENT, handle, INITIAL_VERSION);
    const o = (await getDecoded(target, n, signal)).obj;
    if (o.kind !== 'dir-segment') throw new ClfsError('E_FORMAT_CORRUPT', `${n}: expected a directory segment`, { subject: n });
    yield* o.dirents;
  }
}

function rowOf(obj: InodeObject, parentId: number | null, fh: Buffer, name: Buffer, pathBytes: Buffer | null, dev: string): NewEntry {
  const v = obj.vattr;
  const [mtimeSec, mtimeNsec] = storedTime(v.mtime);
  const [ctimeSec, ctimeNsec] = storedTime(v.ctime);
  const [atimeSec, atimeNsec] = storedTime(v.atime);
  return {
    parentId,
    name,
    path: pathBytes,
    ftype: btypeToFtype(v.btype) ?? Ftype.REG,
    fh,
    state: EntryState.DONE,
    mode: v.mode,
    uid: v.uid,
    gid: v.gid,
    sizeBytes: Number(v.sizeBytes),
    mtimeSec,
    mtimeNsec,
    ctimeSec,
    ctimeNsec,
    atimeSec,
    atimeNsec,
    ino: v.fileid.toString(),
    dev,
    rdev: rdevJoin(v.rdevMajor, v.rdevMinor).toString(),
    nlink: v.nlink,
    linkOf: null,
    reconcile: 0,
  };
}

const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

/**
 * Rebuild `stateDir` from the container (read entirely: one get per inode, plus directory
 * segments and indirect blocks). Refuses a container whose root is not the source's, or that
 * never finished. The identity's options are what the container shows (compression from its
 * blobs, hard links preserved when an inode has several names); the caller compares them with
 * what the user gave.
 */
export async function rebuildState(o: RebuildOptions): Promise<void> {
  const { target, abortSignal: signal } = o;
  const rootName = rootBlobName(INITIAL_VERSION);
  let rootBlob: Buffer;
  try {
    rootBlob = await target.get(rootName, { abortSignal: signal });
  } catch (err) {
    if (!notFound(err)) throw err;
    // an interrupted load or update leaves the bucket object (and perhaps the tmp root) without a final root
    if ((await target.exists(tmpRootName(), { abortSignal: signal })) || (await target.exists(bucketBlobName(), { abortSignal: signal }))) {
      throw new ClfsError('E_NOT_FINALIZED', `${target.description}: its load or update did not finish, and its state folder ${o.stateDir} is not here; resume it with its state folder, or load into a new container with --new`, { subject: target.description });
    }
    throw new ClfsError('E_USAGE', `${target.description} holds no finished CLFS load to update (no root inode); load into it with --new instead`, { subject: target.description });
  }
  const root = decodeObject(decodeBlob(rootBlob, rootName), rootName);
  if (root.kind !== 'inode' || root.vattr.btype !== Btype.DIR) throw new ClfsError('E_FORMAT_CORRUPT', `${rootName}: the root blob is not a directory inode`, { subject: rootName });
  const sourceName = basenameBytes(o.sourceAbs);
  if (!root.name.equals(sourceName)) {
    throw new ClfsError('E_STATE_MISMATCH', `${target.description} was loaded from a source named ${displayPath(root.name)}, not ${displayPath(sourceName)}: give the source it was loaded from, or load this one into a new container with --new`, { subject: displayPath(o.sourceAbs) });
  }
  const bucket = (await getDecoded(target, bucketBlobName(), signal)).obj;
  const bucketUuid = bucket.kind === 'bucket' ? new Map(bucket.extattrs).get('bucketUUID') : undefined;
  if (bucketUuid === undefined) throw new ClfsError('E_FORMAT_CORRUPT', `${target.description}: the bucket object has no bucketUUID`, { subject: bucketBlobName() });
  const rootExtattrs = new Map(root.extattrs ?? []);
  const compression: Compression = rootBlob.readUInt16LE(2) === 0 ? 'disabled' : 'lz4';
  const sourceRoot = lstatEntry(o.sourceAbs, sourceName);
  const dev = sourceRoot.dev.toString();

  const db = StateDb.open(o.stateDir, { create: true });
  try {
    let maxSeq = 1000n;
    let linked = false;
    const primaryOf = new Map<string, number>();
    db.tx(() => db.insertEntry(rowOf(root, null, ROOT_ID, sourceName, Buffer.from(o.sourceAbs), dev)));
    const queue: Array<{ id: number; handle: Buffer; path: Buffer; obj: InodeObject }> = [{ id: db.rootEntry()!.id, handle: ROOT_ID, path: Buffer.from(o.sourceAbs), obj: root }];
    while (queue.length > 0) {
      const dir = queue.shift()!;
      const children: Array<{ name: Buffer; handle: Buffer }> = [];
      for await (const d of direntsOf(target, dir.handle, dir.obj, signal)) {
        if (d.name.equals(DOT) || d.name.equals(DOTDOT)) continue;
        children.push(d);
      }
      // inodes are read in parallel, rows inserted in dirent order (the order the directory is written in)
      const read: Array<{ name: string; obj: InodeObject; data: string[] } | undefined> = [];
      for (let i = 0; i < children.length; i += 64) {
        const chunk = children.slice(i, i + 64);
        read.push(
          ...(await Promise.all(
            chunk.map(async (c) => {
              if (primaryOf.has(hexOf(c.handle)) || chunk.some((x, j) => j < chunk.indexOf(c) && x.handle.equals(c.handle))) return undefined;
              const inode = await readInode(target, c.handle, dir.handle, signal);
              return { ...inode, data: inode.obj.vattr.btype === Btype.REG || inode.obj.vattr.btype === Btype.DIR ? await dataBlobs(target, c.handle, inode.obj, signal) : [] };
            }),
          )),
        );
      }
      const dirSegments: string[] = [];
      dirSegments.push(...(await dataBlobs(target, dir.handle, dir.obj, signal)));
      db.tx(() => {
        if (dirSegments.length > 0) db.addKnownBlobs(dir.id, dirSegments);
        children.forEach((c, i) => {
          const key = hexOf(c.handle);
          const primary = primaryOf.get(key);
          if (primary !== undefined) {
            // another name of an inode already seen: a hard link preserved by the load
            const p = db.entry(primary)!;
            db.markLinked(primary);
            db.insertEntry({ ...p, parentId: dir.id, name: c.name, path: null, linkOf: primary, reconcile: 0 });
            db.bumpInode(p.dev, p.ino, p.ftype);
            linked = true;
            return;
          }
          const r = read[i]!;
          const isDir = r.obj.vattr.btype === Btype.DIR;
          const childPath = joinPath(dir.path, c.name);
          const id = db.insertEntry(rowOf(r.obj, dir.id, c.handle, c.name, isDir ? childPath : null, dev));
          db.addKnownBlobs(id, [r.name, ...(isDir ? [] : r.data)]);
          if (!isDir) {
            primaryOf.set(key, id);
            db.putInode(dev, r.obj.vattr.fileid.toString(), btypeToFtype(r.obj.vattr.btype) ?? Ftype.REG, id);
            if (r.obj.vattr.nlink > 1) linked = true;
          } else {
            queue.push({ id, handle: c.handle, path: childPath, obj: r.obj });
            // the directory's own segments are recorded when it is visited
          }
          if (c.handle.length === FILEHANDLE_BYTES) {
            const seq = decodeFileHandle(c.handle).seq;
            if (seq > maxSeq) maxSeq = seq;
          }
        });
      });
    }
    const identity: TransferIdentity = {
      formatVersion: STATE_FORMAT_VERSION,
      sourceRootHex: o.sourceAbs.toString('hex'),
      targetKey: o.targetKey,
      compression,
      preserveHardlinks: linked,
      containerId: Number(root.vattr.containerId),
      fsid: Number(root.vattr.fsid),
      bucketUuid,
      massUuid: rootExtattrs.get('massUUID') ?? randomUUID(),
      wipeEpoch: rootExtattrs.get('wipeEpoch') ?? randomUUID(),
      // segments written from now on: a new secret (the load's is lost); the old names are in known_blobs
      idSecretHex: randomBytes(32).toString('hex'),
      createdAt: new Date().toISOString(),
    };
    db.tx(() => {
      db.setCounters({ seqNext: Number(maxSeq) + 1, dmidCounter: 0 });
      db.setMeta('phase', Phase.DONE);
      db.setMeta('rebuilt', true);
      // the identity last: a state folder without it is an unfinished rebuild, started over
      db.setMeta('identity', identity);
    });
  } finally {
    db.close();
  }
}

function hexOf(b: Buffer): string {
  return b.toString('hex');
}
