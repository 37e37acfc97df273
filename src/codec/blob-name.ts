/**
 * Blob names (format.md §3): V1 for the special well-known ids, V2 for everything else.
 */
import { fnv1, hash64Hex, hex32 } from './hash.js';
import { BUCKET_ID, Btype, ORPHAN_ID, ROOT_ID, SNAPSHOTDB_ID, SPACETRACKER_ID, WELL_KNOWN_BYTES } from './ids.js';

export const INITIAL_VERSION = 9;
/** version of an inode rewritten by reconcile in a plain run (9 + pending + claimed) */
export const RECONCILED_VERSION = 11;

const SNAPSHOT_FIELD = 'FFFFFFFF';
const NAME_VERSION_1 = '0001';
const NAME_VERSION_2 = '0002';
const TMP_PREFIX = 'tmp';
const VERSION_DIGITS = 11;
const BTYPE_DIGITS = 4;
const V1_TOKENS = 4;
const V2_TOKENS = 6;

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function idHex(id: Uint8Array): string {
  return asBuffer(id).toString('hex').toUpperCase();
}

/** V1 names are used for the bucket, space tracker, orphan parent and snapshot DB ids only. */
function isV1Id(id: Uint8Array): boolean {
  if (id.length !== WELL_KNOWN_BYTES) return false;
  for (let i = 0; i < WELL_KNOWN_BYTES - 1; i++) if (id[i] !== 0) return false;
  const last = id[WELL_KNOWN_BYTES - 1];
  return (
    last === BUCKET_ID[15] || last === SPACETRACKER_ID[15] || last === ORPHAN_ID[15] || last === SNAPSHOTDB_ID[15]
  );
}

function isRootId(id: Uint8Array): boolean {
  return id.length === WELL_KNOWN_BYTES && asBuffer(id).equals(ROOT_ID);
}

function pad(n: number, digits: number): string {
  return String(n).padStart(digits, '0');
}

export function blobName(
  id: Uint8Array,
  btype: Btype,
  owner: Uint8Array,
  version: number,
  options?: { tmp?: boolean },
): string {
  const prefix = options?.tmp === true ? TMP_PREFIX : '';
  if (isV1Id(id)) {
    // %08X_%s.%011u.%08X.%04u — V1 names carry neither btype nor owner
    return `${prefix}${hex32(fnv1(id))}_${idHex(id)}.${pad(version, VERSION_DIGITS)}.${SNAPSHOT_FIELD}.${NAME_VERSION_1}`;
  }
  if (isRootId(id)) {
    // format.md §3.4: the root forces owner = itself and btype DIR
    owner = ROOT_ID;
    btype = Btype.DIR;
  }
  return `${prefix}${hash64Hex(id)}_${idHex(id)}.${pad(btype, BTYPE_DIGITS)}.${hash64Hex(owner)}.${pad(version, VERSION_DIGITS)}.${SNAPSHOT_FIELD}.${NAME_VERSION_2}`;
}

export function bucketBlobName(): string {
  return blobName(BUCKET_ID, Btype.SPECIAL, BUCKET_ID, INITIAL_VERSION);
}

/** The root inode; format.md §3.6: the tmp name always uses version 9 in the reference, pass it explicitly. */
export function rootBlobName(version: number = INITIAL_VERSION, options?: { tmp?: boolean }): string {
  return blobName(ROOT_ID, Btype.DIR, ROOT_ID, version, options);
}

/** The prefix that lists every version of one object: "%016X_%s." (V2) or "%08X_%s." (V1). */
export function blobListPrefix(id: Uint8Array): string {
  if (isV1Id(id)) return `${hex32(fnv1(id))}_${idHex(id)}.`;
  return `${hash64Hex(id)}_${idHex(id)}.`;
}

export interface ParsedBlobName {
  nameVersion: 1 | 2;
  tmp: boolean;
  idHashHex: string;
  id: Buffer;
  btype?: Btype;
  ownerHashHex?: string;
  version: number;
}

const HEX_UPPER_RE = /^[0-9A-F]+$/;
const DIGITS_RE = /^[0-9]+$/;

/** Parses a CLFS blob name; undefined for anything else (log files, foreign blobs). */
export function parseBlobName(name: string): ParsedBlobName | undefined {
  let tmp = false;
  let rest = name;
  if (rest.startsWith(TMP_PREFIX)) {
    tmp = true;
    rest = rest.slice(TMP_PREFIX.length);
  }
  const tokens = rest.split('.');
  const head = tokens[0]!;
  const us = head.indexOf('_');
  if (us < 0) return undefined;
  const idHashHex = head.slice(0, us);
  const idHexText = head.slice(us + 1);
  if (!HEX_UPPER_RE.test(idHashHex) || !HEX_UPPER_RE.test(idHexText) || idHexText.length % 2 !== 0) return undefined;
  const id = Buffer.from(idHexText, 'hex');
  if (tokens.length === V1_TOKENS) {
    const [, ver, snap, nv] = tokens as [string, string, string, string];
    if (nv !== NAME_VERSION_1 || snap !== SNAPSHOT_FIELD || !DIGITS_RE.test(ver) || ver.length < VERSION_DIGITS) return undefined;
    if (idHashHex.length !== 8 || idHashHex !== hex32(fnv1(id))) return undefined;
    return { nameVersion: 1, tmp, idHashHex, id, version: Number(ver) };
  }
  if (tokens.length === V2_TOKENS) {
    const [, bt, owner, ver, snap, nv] = tokens as [string, string, string, string, string, string];
    if (nv !== NAME_VERSION_2 || snap !== SNAPSHOT_FIELD) return undefined;
    if (!DIGITS_RE.test(bt) || bt.length !== BTYPE_DIGITS) return undefined;
    if (!DIGITS_RE.test(ver) || ver.length < VERSION_DIGITS) return undefined;
    if (owner.length !== 16 || !HEX_UPPER_RE.test(owner)) return undefined;
    if (idHashHex.length !== 16 || idHashHex !== hash64Hex(id)) return undefined;
    return {
      nameVersion: 2,
      tmp,
      idHashHex,
      id,
      btype: Number(bt) as Btype,
      ownerHashHex: owner,
      version: Number(ver),
    };
  }
  return undefined;
}
