/**
 * Cuts a directory's entry stream into DIRENTS pieces exactly as the reference does (format.md §6.3):
 * piece 0 (inline in the inode) holds at most 16384 - 24 bytes, later pieces (directory segments)
 * at most 262144. Streaming: only the open piece is held.
 */
import { DIR_SEGMENT_BYTES, FIRST_SEGMENT_BYTES } from './block-map.js';
import { direntBytes, writeDirent } from './dirents.js';
import { ClfsError } from '../errors/index.js';

/** 24 bytes stay free so reconcile can grow '..' from a 16-byte to a 24-byte handle */
export const INLINE_DIRENTS_LIMIT = FIRST_SEGMENT_BYTES - 24;
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');
/** u32 length prefix of each piece in the reference's local entries file */
const PIECE_PREFIX_BYTES = 4;

export class DirentPacker {
  private limit = INLINE_DIRENTS_LIMIT;
  private piece: Buffer;
  private used = 0;
  private closedBytes = 0;
  private finished = false;

  constructor(selfHandle: Buffer, parentHandle: Buffer) {
    this.piece = Buffer.allocUnsafe(this.limit);
    this.append(DOT, selfHandle);
    this.append(DOTDOT, parentHandle);
  }

  /** 4 + len(piece 0) + Σ(4 + len(piece)) over all pieces so far, the open one included (= dir VATTR size). */
  get streamBytes(): number {
    return this.closedBytes + PIECE_PREFIX_BYTES + this.used;
  }

  /** Adds one child; returns the DIRENTS payload of a piece when this entry closed it. */
  add(name: Uint8Array, handle: Uint8Array): Buffer | undefined {
    if (this.finished) throw new ClfsError('E_INTERNAL', 'DirentPacker.add after finish');
    const size = direntBytes(name.length, handle.length);
    let closed: Buffer | undefined;
    if (this.used > 0 && this.used + size > this.limit) {
      closed = this.close();
      this.limit = DIR_SEGMENT_BYTES;
      this.piece = Buffer.allocUnsafe(this.limit);
    }
    this.append(name, handle);
    return closed;
  }

  /** The last (open) piece; piece 0 when nothing spilled. */
  finish(): Buffer {
    if (this.finished) throw new ClfsError('E_INTERNAL', 'DirentPacker.finish called twice');
    this.finished = true;
    return this.piece.subarray(0, this.used);
  }

  private close(): Buffer {
    const out = this.piece.subarray(0, this.used);
    this.closedBytes += PIECE_PREFIX_BYTES + this.used;
    this.used = 0;
    return out;
  }

  private append(name: Uint8Array, handle: Uint8Array): void {
    const size = direntBytes(name.length, handle.length);
    if (this.used + size > this.piece.length) {
      // a single entry larger than the limit gets a piece of its own
      const grown = Buffer.allocUnsafe(this.used + size);
      this.piece.copy(grown, 0, 0, this.used);
      this.piece = grown;
    }
    this.used = writeDirent(this.piece, this.used, name, handle);
  }
}
