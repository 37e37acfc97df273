/** VATTR (handle type 4): the inode attributes, format.md §5.3. */
import { ByteCursor } from './byte-cursor.js';
import type { Btype } from './ids.js';
import type { ClfsTime } from './times.js';

/** u32 record length that precedes the 104-byte record */
export const VATTR_RECORD_BYTES = 104;
export const VATTR_PAYLOAD_BYTES = 4 + VATTR_RECORD_BYTES;

export interface Vattr {
  mode: number;
  btype: Btype;
  uid: number;
  gid: number;
  sizeBytes: bigint;
  mtime: ClfsTime;
  ctime: ClfsTime;
  atime: ClfsTime;
  usedBytes: bigint;
  fsid: bigint;
  fileid: bigint;
  rdevMajor: number;
  rdevMinor: number;
  nlink: number;
  containerId: bigint;
}

// Offsets inside the payload.
const OFF_RECORD_LEN = 0;
const OFF_MODE = 4;
const OFF_TYPE = 6;
const OFF_SPARE = 7;
const OFF_FLAGS = 8;
const OFF_UID = 12;
const OFF_GID = 16;
const OFF_SIZE = 20;
const OFF_DTIME = 28;
const OFF_MTIME = 36;
const OFF_CTIME = 44;
const OFF_ATIME = 52;
const OFF_USED = 60;
const OFF_FSID = 68;
const OFF_FILEID = 76;
const OFF_RDEV_MAJOR = 84;
const OFF_RDEV_MINOR = 88;
const OFF_NLINK = 92;
const OFF_HA_VERSION = 96;
const OFF_CONTAINER_ID = 100;
const U64_MASK = (1n << 64n) - 1n;

export function writeVattr(buf: Buffer, off: number, v: Vattr): void {
  buf.writeUInt32LE(VATTR_RECORD_BYTES, off + OFF_RECORD_LEN);
  buf.writeUInt16LE(v.mode & 0xffff, off + OFF_MODE);
  buf.writeUInt8(v.btype, off + OFF_TYPE);
  buf.writeUInt8(0, off + OFF_SPARE);
  buf.writeUInt32LE(0, off + OFF_FLAGS);
  buf.writeUInt32LE(v.uid >>> 0, off + OFF_UID);
  buf.writeUInt32LE(v.gid >>> 0, off + OFF_GID);
  buf.writeBigUInt64LE(v.sizeBytes & U64_MASK, off + OFF_SIZE);
  buf.writeUInt32LE(0, off + OFF_DTIME);
  buf.writeUInt32LE(0, off + OFF_DTIME + 4);
  buf.writeUInt32LE(v.mtime.sec, off + OFF_MTIME);
  buf.writeUInt32LE(v.mtime.nsec, off + OFF_MTIME + 4);
  buf.writeUInt32LE(v.ctime.sec, off + OFF_CTIME);
  buf.writeUInt32LE(v.ctime.nsec, off + OFF_CTIME + 4);
  buf.writeUInt32LE(v.atime.sec, off + OFF_ATIME);
  buf.writeUInt32LE(v.atime.nsec, off + OFF_ATIME + 4);
  buf.writeBigUInt64LE(v.usedBytes & U64_MASK, off + OFF_USED);
  buf.writeBigUInt64LE(v.fsid & U64_MASK, off + OFF_FSID);
  buf.writeBigUInt64LE(v.fileid & U64_MASK, off + OFF_FILEID);
  buf.writeUInt32LE(v.rdevMajor >>> 0, off + OFF_RDEV_MAJOR);
  buf.writeUInt32LE(v.rdevMinor >>> 0, off + OFF_RDEV_MINOR);
  buf.writeUInt32LE(v.nlink >>> 0, off + OFF_NLINK);
  buf.writeUInt32LE(0, off + OFF_HA_VERSION);
  buf.writeBigUInt64LE(v.containerId & U64_MASK, off + OFF_CONTAINER_ID);
}

export function encodeVattr(v: Vattr): Buffer {
  const b = Buffer.alloc(VATTR_PAYLOAD_BYTES);
  writeVattr(b, 0, v);
  return b;
}

/** `offset` is the payload's offset in the object body (for error messages). */
export function decodeVattr(payload: Uint8Array, blobName: string, offset: number): Vattr {
  const c = new ByteCursor(payload, blobName, offset, 'VATTR');
  if (payload.length !== VATTR_PAYLOAD_BYTES) c.fail(`payload of ${payload.length} bytes, expected ${VATTR_PAYLOAD_BYTES}`, 0);
  const recordLen = c.u32('record length');
  if (recordLen !== VATTR_RECORD_BYTES) c.fail(`record length ${recordLen}, expected ${VATTR_RECORD_BYTES}`, 0);
  const mode = c.u16('mode');
  const btype = c.u8('type') as Btype;
  c.u8('spare');
  c.u32('flags');
  const uid = c.u32('uid');
  const gid = c.u32('gid');
  const sizeBytes = c.u64('size');
  c.u32('dtime sec');
  c.u32('dtime nsec');
  const mtime = { sec: c.u32('mtime sec'), nsec: c.u32('mtime nsec') };
  const ctime = { sec: c.u32('ctime sec'), nsec: c.u32('ctime nsec') };
  const atime = { sec: c.u32('atime sec'), nsec: c.u32('atime nsec') };
  const usedBytes = c.u64('used');
  const fsid = c.u64('fsid');
  const fileid = c.u64('fileid');
  const rdevMajor = c.u32('rdev major');
  const rdevMinor = c.u32('rdev minor');
  const nlink = c.u32('nlink');
  c.u32('haVersion');
  const containerId = c.u64('containerid');
  c.end();
  return { mode, btype, uid, gid, sizeBytes, mtime, ctime, atime, usedBytes, fsid, fileid, rdevMajor, rdevMinor, nlink, containerId };
}

/** glibc's major()/minor() split of a 64-bit dev_t (Node only gives st_rdev). */
export function rdevSplit(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major & 0xffffffffn), minor: Number(minor & 0xffffffffn) };
}
