/**
 * Identifiers: filehandles, well-known handles and object-cache UUIDs (format.md §1).
 */
import { ClfsError, formatCorrupt } from '../errors/index.js';
import { fnv1 } from './hash.js';

/** Type numbering used in filehandle byte 6 (and the reference's DB). */
export enum Ftype {
  DIR = 1,
  REG = 2,
  LNK = 3,
  BLK = 4,
  CHR = 5,
  SOCK = 6,
  FIFO = 7,
}

/** Type numbering used in blob names and the VATTR type byte: a different order than Ftype. */
export enum Btype {
  REG = 1,
  DIR = 2,
  BLK = 3,
  CHR = 4,
  LNK = 5,
  SOCK = 6,
  FIFO = 7,
  SEGMENT = 8,
  INDIRECT = 9,
  SPECIAL = 11,
}

const FTYPE_TO_BTYPE: Readonly<Record<Ftype, Btype>> = Object.freeze({
  [Ftype.DIR]: Btype.DIR,
  [Ftype.REG]: Btype.REG,
  [Ftype.LNK]: Btype.LNK,
  [Ftype.BLK]: Btype.BLK,
  [Ftype.CHR]: Btype.CHR,
  [Ftype.SOCK]: Btype.SOCK,
  [Ftype.FIFO]: Btype.FIFO,
});

export function ftypeToBtype(f: Ftype): Btype {
  const b = FTYPE_TO_BTYPE[f];
  if (b === undefined) throw new ClfsError('E_INTERNAL', `no btype for ftype ${f}`);
  return b;
}

/** Inverse of ftypeToBtype for the inode btypes; undefined for SEGMENT/INDIRECT/SPECIAL. */
export function btypeToFtype(b: Btype): Ftype | undefined {
  switch (b) {
    case Btype.DIR: return Ftype.DIR;
    case Btype.REG: return Ftype.REG;
    case Btype.LNK: return Ftype.LNK;
    case Btype.BLK: return Ftype.BLK;
    case Btype.CHR: return Ftype.CHR;
    case Btype.SOCK: return Ftype.SOCK;
    case Btype.FIFO: return Ftype.FIFO;
    default: return undefined;
  }
}

export const FILEHANDLE_BYTES = 24;
export const WELL_KNOWN_BYTES = 16;
export const OBCACHE_ID_BYTES = 16;

function wellKnown(idByte: number): Buffer {
  const b = Buffer.alloc(WELL_KNOWN_BYTES);
  b[WELL_KNOWN_BYTES - 1] = idByte;
  return b;
}

/** Loader-private owner of inodes that reconcile will rewrite (format.md §1.2). */
export const INPROGRESS_ID: Buffer = wellKnown(0x62);
export const BUCKET_ID: Buffer = wellKnown(0x63);
export const ROOT_ID: Buffer = wellKnown(0x64);
export const SPACETRACKER_ID: Buffer = wellKnown(0x65);
export const ORPHAN_ID: Buffer = wellKnown(0x66);
export const SNAPSHOTDB_ID: Buffer = wellKnown(0x67);
/** The root's missing parent; never written except in the orphan edge case. */
export const NULL_FILEHANDLE: Buffer = Buffer.alloc(FILEHANDLE_BYTES);

// Filehandle layout, format.md §1.1.
const FH_OFF_CONTAINER_WORD = 0;
const FH_OFF_DMID_SRC = 4;
const FH_OFF_DMID_TGT = 5;
const FH_OFF_FTYPE = 6;
const FH_OFF_ZERO = 7;
const FH_OFF_SEQ = 8;
const FH_OFF_RANDOM = 16;
const CONTAINER_ID_MASK = 0x07ffffff;
const CONTAINER_WORD_SHIFT = 5;
/** version = 1, local = 1 in the low bits of the container word */
const CONTAINER_WORD_FLAGS = 0x11;
const U64_MASK = (1n << 64n) - 1n;

export function containerWord(containerId: number): number {
  return (((containerId & CONTAINER_ID_MASK) << CONTAINER_WORD_SHIFT) | CONTAINER_WORD_FLAGS) >>> 0;
}

export interface FileHandleFields {
  containerId: number;
  dmidSrc: number;
  dmidTgt: number;
  ftype: Ftype;
  seq: bigint;
  random: bigint;
}

export function encodeFileHandle(f: FileHandleFields): Buffer {
  const b = Buffer.allocUnsafe(FILEHANDLE_BYTES);
  b.writeUInt32LE(containerWord(f.containerId), FH_OFF_CONTAINER_WORD);
  b[FH_OFF_DMID_SRC] = f.dmidSrc & 0xff;
  b[FH_OFF_DMID_TGT] = f.dmidTgt & 0xff;
  b[FH_OFF_FTYPE] = f.ftype & 0xff;
  b[FH_OFF_ZERO] = 0;
  b.writeBigUInt64LE(f.seq & U64_MASK, FH_OFF_SEQ);
  b.writeBigUInt64LE(f.random & U64_MASK, FH_OFF_RANDOM);
  return b;
}

/**
 * Splits a 24-byte handle. `containerId` holds only the 27 bits the word keeps.
 */
export function decodeFileHandle(fh: Uint8Array): FileHandleFields & { containerWord: number } {
  if (fh.length !== FILEHANDLE_BYTES) {
    throw formatCorrupt('filehandle', 0, `filehandle of ${fh.length} bytes, expected ${FILEHANDLE_BYTES}`);
  }
  const b = Buffer.from(fh.buffer, fh.byteOffset, fh.byteLength);
  const word = b.readUInt32LE(FH_OFF_CONTAINER_WORD);
  return {
    containerWord: word,
    containerId: word >>> CONTAINER_WORD_SHIFT,
    dmidSrc: b[FH_OFF_DMID_SRC]!,
    dmidTgt: b[FH_OFF_DMID_TGT]!,
    ftype: b[FH_OFF_FTYPE]! as Ftype,
    seq: b.readBigUInt64LE(FH_OFF_SEQ),
    random: b.readBigUInt64LE(FH_OFF_RANDOM),
  };
}

/** format.md §1.1: CLFS rejects handles whose fnv1 is 0, so redraw the random tail. */
export function generateFileHandle(f: Omit<FileHandleFields, 'random'>, random64: () => bigint): Buffer {
  // the fields copied by name, not spread: the spread took 3 of the 5 µs a handle cost, on the
  // main thread of a load, once per entry
  const fields: FileHandleFields = { containerId: f.containerId, dmidSrc: f.dmidSrc, dmidTgt: f.dmidTgt, ftype: f.ftype, seq: f.seq, random: 0n };
  for (;;) {
    fields.random = random64();
    const fh = encodeFileHandle(fields);
    if (fnv1(fh) !== 0) return fh;
  }
}

const UUID_VERSION_BYTE = 6;
const UUID_VARIANT_BYTE = 8;

/** A version-4 UUID from 16 random bytes (RFC 4122 byte order, as Python's uuid4().bytes). */
export function uuid4FromBytes(sixteen: Uint8Array): Buffer {
  if (sixteen.length !== OBCACHE_ID_BYTES) {
    throw new ClfsError('E_INTERNAL', `uuid4FromBytes needs ${OBCACHE_ID_BYTES} bytes, got ${sixteen.length}`);
  }
  const b = Buffer.from(sixteen);
  b[UUID_VERSION_BYTE] = (b[UUID_VERSION_BYTE]! & 0x0f) | 0x40;
  b[UUID_VARIANT_BYTE] = (b[UUID_VARIANT_BYTE]! & 0x3f) | 0x80;
  return b;
}

/** Lower-case hyphenated form, as Python's str(uuid). */
export function uuidString(id: Uint8Array): string {
  const h = Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Inverse of uuidString (accepts with or without hyphens). */
export function uuidFromString(s: string): Buffer {
  const h = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new ClfsError('E_USAGE', `not a UUID: ${s}`, { subject: s });
  return Buffer.from(h, 'hex');
}
