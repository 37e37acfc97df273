/**
 * Whole object bodies, in the handle order of format.md §5.12. Each body is sized first and
 * allocated once.
 */
import { ClfsError, formatCorrupt } from '../errors/index.js';
import { type Bmap, bmapBytes, decodeBmap, writeBmap } from './bmap.js';
import { decodeBack } from './back.js';
import { type Databack, databackBytes, decodeDataback, writeDataback } from './databack.js';
import { decodeDataSection } from './data-section.js';
import { type Dirent, decodeDirents } from './dirents.js';
import { decodeExtattrs, extattrsBytes, writeExtattrs } from './extattrs.js';
import {
  HANDLE_HEADER_BYTES,
  HandleType,
  type SectionWriter,
  copyWriter,
  decodeSections,
  encodeSectionWriters,
  sectionBytes,
  writeSectionsInto,
} from './handles.js';
import { idListBytes, writeIdList } from './id-list.js';
import { Btype } from './ids.js';
import { decodeIndir } from './indir.js';
import { lengthPrefixedBytes, writeLengthPrefixed } from './length-prefixed.js';
import { decodeNameSection } from './name-section.js';
import { type Vattr, VATTR_PAYLOAD_BYTES, decodeVattr, writeVattr } from './vattr.js';

export interface InodeParts {
  vattr: Vattr;
  bmap: Bmap;
  /** required for non-directories (may be empty), ignored for directories */
  back?: Buffer[];
  name: Buffer;
  /** REG/LNK: inline bytes (default empty) */
  data?: Buffer;
  /** DIR: the already-encoded DIRENTS payload of piece 0 */
  direntsPiece?: Buffer;
  /** DIR: appended last when given (the root) */
  extattrs?: Array<[string, string]>;
}

const EMPTY = Buffer.alloc(0);

function vattrWriter(v: Vattr): SectionWriter {
  return { type: HandleType.VATTR, payloadBytes: VATTR_PAYLOAD_BYTES, write: (b, o) => writeVattr(b, o, v) };
}
function bmapWriter(m: Bmap): SectionWriter {
  return { type: HandleType.BMAP, payloadBytes: bmapBytes(m), write: (b, o) => void writeBmap(b, o, m) };
}
function idListWriter(type: HandleType, ids: readonly Uint8Array[]): SectionWriter {
  return { type, payloadBytes: idListBytes(ids), write: (b, o) => void writeIdList(b, o, ids) };
}
function prefixedWriter(type: HandleType, bytes: Uint8Array): SectionWriter {
  return { type, payloadBytes: lengthPrefixedBytes(bytes), write: (b, o) => void writeLengthPrefixed(b, o, bytes) };
}
function databackWriter(d: Databack): SectionWriter {
  return { type: HandleType.DATABACK, payloadBytes: databackBytes(d), write: (b, o) => void writeDataback(b, o, d) };
}
function extattrsWriter(pairs: Array<[string, string]>): SectionWriter {
  return { type: HandleType.EXTATTRS, payloadBytes: extattrsBytes(pairs), write: (b, o) => void writeExtattrs(b, o, pairs) };
}

/** The handle order of an inode of this btype (format.md §5.12). */
export function inodeHandleOrder(btype: Btype, hasExtattrs: boolean): HandleType[] {
  switch (btype) {
    case Btype.REG:
    case Btype.LNK:
      return [HandleType.VATTR, HandleType.BMAP, HandleType.BACK, HandleType.NAME, HandleType.DATA];
    case Btype.BLK:
    case Btype.CHR:
    case Btype.SOCK:
    case Btype.FIFO:
      return [HandleType.VATTR, HandleType.BMAP, HandleType.BACK, HandleType.NAME];
    case Btype.DIR:
      return hasExtattrs
        ? [HandleType.VATTR, HandleType.BMAP, HandleType.NAME, HandleType.DIRENTS, HandleType.EXTATTRS]
        : [HandleType.VATTR, HandleType.BMAP, HandleType.NAME, HandleType.DIRENTS];
    default:
      throw new ClfsError('E_INTERNAL', `btype ${btype} is not an inode type`);
  }
}

export function encodeInodeBody(p: InodeParts): Buffer {
  const order = inodeHandleOrder(p.vattr.btype, p.extattrs !== undefined);
  const writers = order.map((t): SectionWriter => {
    switch (t) {
      case HandleType.VATTR: return vattrWriter(p.vattr);
      case HandleType.BMAP: return bmapWriter(p.bmap);
      case HandleType.BACK: return idListWriter(HandleType.BACK, p.back ?? []);
      case HandleType.NAME: return prefixedWriter(HandleType.NAME, p.name);
      case HandleType.DATA: return prefixedWriter(HandleType.DATA, p.data ?? EMPTY);
      case HandleType.DIRENTS: return copyWriter(HandleType.DIRENTS, p.direntsPiece ?? EMPTY);
      case HandleType.EXTATTRS: return extattrsWriter(p.extattrs ?? []);
      default: throw new ClfsError('E_INTERNAL', `unexpected handle ${t}`);
    }
  });
  return encodeSectionWriters(writers);
}

export function encodeFileSegmentBody(data: Uint8Array, back: Databack): Buffer {
  return encodeSectionWriters([prefixedWriter(HandleType.DATA, data), databackWriter(back)]);
}

/** Where a file segment body's data starts: after the DATA header and its u32 length. */
export const FILE_SEGMENT_DATA_OFFSET = HANDLE_HEADER_BYTES + 4;

/** Bytes of a file segment body holding `dataBytes`, to read file data straight into place. */
export function fileSegmentBodyBytes(dataBytes: number, back: Databack): number {
  return sectionBytes(4 + dataBytes) + sectionBytes(databackBytes(back));
}

/**
 * Complete a file segment body whose `dataBytes` of data are already at FILE_SEGMENT_DATA_OFFSET
 * (read there by the caller): the same bytes as encodeFileSegmentBody, without copying the data.
 */
export function finishFileSegmentBody(body: Buffer, dataBytes: number, back: Databack): void {
  writeSectionsInto(body, [
    { type: HandleType.DATA, payloadBytes: 4 + dataBytes, write: (b, o) => void b.writeUInt32LE(dataBytes, o) },
    databackWriter(back),
  ]);
}

/** DIRENTS, an empty DATA (the CLFS reader needs it, format.md §5.12), DATABACK. */
export function encodeDirSegmentBody(direntsPiece: Uint8Array, back: Databack): Buffer {
  return encodeSectionWriters([
    copyWriter(HandleType.DIRENTS, direntsPiece),
    prefixedWriter(HandleType.DATA, EMPTY),
    databackWriter(back),
  ]);
}

export function encodeIndirectBody(pointers: readonly Buffer[], back: Databack): Buffer {
  return encodeSectionWriters([idListWriter(HandleType.INDIR, pointers), databackWriter(back)]);
}

export function encodeBucketBody(extattrs: Array<[string, string]>): Buffer {
  return encodeSectionWriters([extattrsWriter(extattrs)]);
}

export type DecodedObject =
  | {
      kind: 'inode';
      vattr: Vattr;
      bmap: Bmap;
      back?: Buffer[];
      name: Buffer;
      data?: Buffer;
      dirents?: Dirent[];
      /** the raw DIRENTS payload */
      direntsBytes?: Buffer;
      extattrs?: Array<[string, string]>;
    }
  | { kind: 'file-segment'; data: Buffer; databack: Databack }
  | { kind: 'dir-segment'; dirents: Dirent[]; direntsBytes: Buffer; databack: Databack }
  | { kind: 'indirect'; pointers: Buffer[]; databack: Databack }
  | { kind: 'bucket'; extattrs: Array<[string, string]> };

type RawSection = { type: HandleType; payload: Buffer; offset: number };

function expectOrder(sections: RawSection[], order: readonly HandleType[], blobName: string, kind: string): void {
  for (let i = 0; i < Math.max(order.length, sections.length); i++) {
    const s = sections[i];
    const want = order[i];
    if (s === undefined) {
      const end = sections.length === 0 ? 0 : sections[sections.length - 1]!.offset;
      throw formatCorrupt(blobName, end, `${kind}: missing ${HandleType[want!]} handle`);
    }
    if (want === undefined || s.type !== want) {
      throw formatCorrupt(
        blobName,
        s.offset,
        `${kind}: ${HandleType[s.type]} handle where ${want === undefined ? 'the end' : HandleType[want]} was expected`,
      );
    }
  }
}

/** Payload offset of a section in the body. */
function po(s: RawSection): number {
  return s.offset + HANDLE_HEADER_BYTES;
}

/**
 * Decodes a whole (decompressed) body. The first handle says the kind; the rest must follow the
 * order of format.md §5.12. Buffers in the result may be views into `body`.
 */
export function decodeObject(body: Uint8Array, blobName: string): DecodedObject {
  const s = decodeSections(body, blobName);
  if (s.length === 0) throw formatCorrupt(blobName, 0, 'empty object body');
  const first = s[0]!;
  switch (first.type) {
    case HandleType.VATTR: {
      const vattr = decodeVattr(first.payload, blobName, po(first));
      const hasExtattrs = vattr.btype === Btype.DIR && s.length === 5;
      let order: HandleType[];
      try {
        order = inodeHandleOrder(vattr.btype, hasExtattrs);
      } catch {
        throw formatCorrupt(blobName, po(first) + 6, `inode with btype ${vattr.btype}`);
      }
      expectOrder(s, order, blobName, 'inode');
      const bmap = decodeBmap(s[1]!.payload, blobName, po(s[1]!));
      if (vattr.btype === Btype.DIR) {
        const name = decodeNameSection(s[2]!.payload, blobName, po(s[2]!));
        const direntsBytes = s[3]!.payload;
        const dirents = decodeDirents(direntsBytes, blobName, po(s[3]!));
        const out: DecodedObject = { kind: 'inode', vattr, bmap, name, dirents, direntsBytes };
        if (hasExtattrs) out.extattrs = decodeExtattrs(s[4]!.payload, blobName, po(s[4]!));
        return out;
      }
      const back = decodeBack(s[2]!.payload, blobName, po(s[2]!));
      const name = decodeNameSection(s[3]!.payload, blobName, po(s[3]!));
      const out: DecodedObject = { kind: 'inode', vattr, bmap, back, name };
      if (order.length === 5) out.data = decodeDataSection(s[4]!.payload, blobName, po(s[4]!));
      return out;
    }
    case HandleType.DATA: {
      expectOrder(s, [HandleType.DATA, HandleType.DATABACK], blobName, 'file segment');
      return {
        kind: 'file-segment',
        data: decodeDataSection(first.payload, blobName, po(first)),
        databack: decodeDataback(s[1]!.payload, blobName, po(s[1]!)),
      };
    }
    case HandleType.DIRENTS: {
      expectOrder(s, [HandleType.DIRENTS, HandleType.DATA, HandleType.DATABACK], blobName, 'directory segment');
      const empty = decodeDataSection(s[1]!.payload, blobName, po(s[1]!));
      if (empty.length !== 0) throw formatCorrupt(blobName, po(s[1]!), 'directory segment: DATA handle is not empty');
      return {
        kind: 'dir-segment',
        dirents: decodeDirents(first.payload, blobName, po(first)),
        direntsBytes: first.payload,
        databack: decodeDataback(s[2]!.payload, blobName, po(s[2]!)),
      };
    }
    case HandleType.INDIR: {
      expectOrder(s, [HandleType.INDIR, HandleType.DATABACK], blobName, 'indirect block');
      return {
        kind: 'indirect',
        pointers: decodeIndir(first.payload, blobName, po(first)),
        databack: decodeDataback(s[1]!.payload, blobName, po(s[1]!)),
      };
    }
    case HandleType.EXTATTRS: {
      expectOrder(s, [HandleType.EXTATTRS], blobName, 'bucket');
      return { kind: 'bucket', extattrs: decodeExtattrs(first.payload, blobName, po(first)) };
    }
    default:
      throw formatCorrupt(blobName, first.offset, `object cannot start with a ${HandleType[first.type]} handle`);
  }
}
