import { createHmac } from 'node:crypto';
import { uuid4FromBytes } from '../codec/index.js';

/**
 * Segment and indirect-block ids. The reference draws a fresh uuid4 for each; we derive them
 * from a per-transfer secret, the owner's filehandle and the block's position, so they are
 * still uniformly random-looking version-4 UUIDs, but a redo after a crash writes the *same*
 * names: the half-written attempt is overwritten instead of left behind as garbage
 * (the reference's §9.7 defect).
 */
export class ObjectIdFactory {
  private readonly secret: Buffer;

  constructor(secretHex: string) {
    this.secret = Buffer.from(secretHex, 'hex');
  }

  private derive(owner: Uint8Array, kind: number, index: number, gen: number): Buffer {
    const h = createHmac('sha256', this.secret);
    // generation 0 (every load) keeps the 5-byte tag, so containers loaded before updates existed keep their names
    const tag = Buffer.allocUnsafe(gen === 0 ? 5 : 9);
    tag.writeUInt8(kind, 0);
    tag.writeUInt32LE(index, 1);
    if (gen !== 0) tag.writeUInt32LE(gen, 5);
    h.update(owner);
    h.update(tag);
    return uuid4FromBytes(h.digest().subarray(0, 16));
  }

  /** data segment k (k >= 1) of a file, or directory segment k of a directory */
  segmentId(owner: Uint8Array, k: number, gen = 0): Buffer {
    return this.derive(owner, 0x53, k, gen);
  }

  /** the n-th indirect block (in flush order) of an owner */
  indirectId(owner: Uint8Array, n: number, gen = 0): Buffer {
    return this.derive(owner, 0x49, n, gen);
  }

  /** a generator of indirect ids in flush order, for BlockMapBuilder */
  indirectIds(owner: Uint8Array, gen = 0): () => Buffer {
    let n = 0;
    return () => this.indirectId(owner, n++, gen);
  }
}
