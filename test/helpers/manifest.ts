/**
 * What a tree holds, independent of blob names and handles (which differ between loads by their
 * random ids): for each path, its type, mode, owner, size, mtime, nlink, content hash, symlink
 * target, and which other names share its inode. Built from a source tree (lstat walk) or from a
 * container (decoded with src/read's ContainerReader), so two loads, or a load and its source,
 * compare line by line.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { ContainerReader } from '../../src/index.js';
import type { Target } from '../../src/index.js';
import { displayPath, kindOfMode } from '../../src/scan/index.js';
import { entryTypeOf } from '../../src/read/index.js';

export interface ManifestEntry {
  path: Buffer;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeSec: number;
  nlink: number;
  /** sha256 of a file's bytes, or a symlink's target */
  content: string;
  /** the first (by byte order) path of the names sharing this inode; '' when it has one name */
  group: string;
}

export interface Manifest {
  /** key: path bytes in hex */
  entries: Map<string, ManifestEntry>;
  /** dirents that point at nothing, name a path twice, or whose data cannot be read: "path: why" */
  broken: string[];
}

const SLASH = Buffer.from('/');

function join(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 0 ? name : Buffer.concat([dir, SLASH, name]);
}

/** Fills `group` from names that share a key; nlink stays as stored. */
function assignGroups(entries: Map<string, ManifestEntry>, keyOf: Map<string, string>): void {
  const byKey = new Map<string, string[]>();
  for (const [k, inode] of keyOf) {
    const list = byKey.get(inode) ?? [];
    list.push(k);
    byKey.set(inode, list);
  }
  for (const list of byKey.values()) {
    if (list.length < 2) continue;
    const paths = list.map((k) => entries.get(k)!.path).sort(Buffer.compare);
    const first = displayPath(paths[0]!);
    for (const k of list) entries.get(k)!.group = first;
  }
}

/**
 * The source tree as a load would store it: with `preserveHardlinks`, names of one inode form a
 * group and nlink is the number of names in the tree; without, every name is its own inode.
 */
export function sourceManifest(root: string, options: { preserveHardlinks: boolean }): Manifest {
  const entries = new Map<string, ManifestEntry>();
  const inodeOf = new Map<string, string>();
  const walk = (rel: Buffer) => {
    const dirAbs = rel.length === 0 ? Buffer.from(root) : Buffer.concat([Buffer.from(root), SLASH, rel]);
    for (const n of fs.readdirSync(dirAbs as unknown as string, { encoding: 'buffer' }) as unknown as Buffer[]) {
      const childRel = join(rel, n);
      const childAbs = Buffer.concat([dirAbs, SLASH, n]);
      const st = fs.lstatSync(childAbs as unknown as string, { bigint: true });
      const type = kindOfMode(Number(st.mode)) ?? 'unknown';
      let content = '';
      if (type === 'file') content = createHash('sha256').update(fs.readFileSync(childAbs as unknown as string)).digest('hex');
      if (type === 'symlink') content = (fs.readlinkSync(childAbs as unknown as string, { encoding: 'buffer' }) as unknown as Buffer).toString('hex');
      const key = childRel.toString('hex');
      entries.set(key, {
        path: childRel,
        type,
        mode: Number(st.mode),
        uid: Number(st.uid),
        gid: Number(st.gid),
        size: type === 'dir' ? 0 : Number(st.size),
        mtimeSec: Number(st.mtimeNs / 1_000_000_000n),
        nlink: type === 'dir' ? 0 : 1,
        content,
        group: '',
      });
      if (type !== 'dir' && options.preserveHardlinks && st.nlink > 1n) inodeOf.set(key, `${st.dev}:${st.ino}`);
      if (type === 'dir') walk(childRel);
    }
  };
  walk(Buffer.alloc(0));
  assignGroups(entries, inodeOf);
  const names = new Map<string, number>();
  for (const inode of inodeOf.values()) names.set(inode, (names.get(inode) ?? 0) + 1);
  for (const [k, inode] of inodeOf) entries.get(k)!.nlink = names.get(inode)!;
  return { entries, broken: [] };
}

/** The container's tree, decoded. Throws only when the container has no final root. */
export async function containerManifest(target: Target): Promise<Manifest> {
  const reader = await ContainerReader.open(target);
  const entries = new Map<string, ManifestEntry>();
  const handleOf = new Map<string, string>();
  const broken: string[] = [];
  const walk = async (dir: Awaited<ReturnType<ContainerReader['readInode']>>, rel: Buffer) => {
    const subdirs: Array<{ inode: typeof dir; rel: Buffer }> = [];
    for await (const d of reader.dirents(dir)) {
      if (d.name.equals(Buffer.from('.')) || d.name.equals(Buffer.from('..'))) continue;
      const childRel = join(rel, d.name);
      let inode: typeof dir;
      try {
        inode = await reader.readInode(d.handle, dir.handle);
      } catch (e) {
        broken.push(`${displayPath(childRel)}: ${(e as Error).message}`);
        continue;
      }
      const v = inode.obj.vattr;
      const type = entryTypeOf(v.btype) ?? `btype ${v.btype}`;
      let content = '';
      if (type === 'file') {
        const h = createHash('sha256');
        try {
          for await (const chunk of reader.content(inode)) h.update(chunk);
          content = h.digest('hex');
        } catch (e) {
          broken.push(`${displayPath(childRel)}: content: ${(e as Error).message}`);
          content = 'unreadable';
        }
      }
      if (type === 'symlink') content = (inode.obj.data ?? Buffer.alloc(0)).toString('hex');
      const key = childRel.toString('hex');
      if (entries.has(key)) {
        broken.push(`${displayPath(childRel)}: the name appears twice in its directory`);
        continue;
      }
      entries.set(key, {
        path: childRel,
        type,
        mode: v.mode,
        uid: v.uid,
        gid: v.gid,
        size: type === 'dir' ? 0 : Number(v.sizeBytes),
        mtimeSec: v.mtime.sec,
        nlink: type === 'dir' ? 0 : v.nlink,
        content,
        group: '',
      });
      if (type === 'dir') subdirs.push({ inode, rel: childRel });
      else handleOf.set(key, inode.handle.toString('hex'));
    }
    for (const s of subdirs) await walk(s.inode, s.rel);
  };
  await walk(reader.root, Buffer.alloc(0));
  assignGroups(entries, handleOf);
  return { entries, broken };
}

/** One line per entry, sorted by path bytes: what deepEqual compares and prints. */
export function manifestLines(m: Manifest): string[] {
  return [...m.entries.values()]
    .sort((a, b) => Buffer.compare(a.path, b.path))
    .map((e) => `${displayPath(e.path)} ${e.type} mode=${e.mode.toString(8)} ${e.uid}:${e.gid} size=${e.size} mtime=${e.mtimeSec} nlink=${e.nlink} ${e.content.slice(0, 16)}${e.group ? ` group=${e.group}` : ''}`);
}
