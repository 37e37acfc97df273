/**
 * A target that refuses (permanently, as one entry's failure), or delays then refuses, the inode
 * put of every entry whose name matches; `active = false` lets everything through again.
 */
import { ClfsError } from '../../src/index.js';
import type { Target } from '../../src/index.js';
import { decodeBlob, decodeObject, parseBlobName } from '../../src/codec/index.js';

export class RefuseInode implements Target {
  readonly description: string;
  readonly capabilities;
  /** puts only, so each blob meets the refusal; no flush or access check, as before features were declared */
  readonly features = { putMany: false, checkAccess: false, flush: false };
  active = true;
  constructor(
    private readonly inner: Target,
    private readonly match: RegExp,
    private readonly delayMs = 0,
  ) {
    this.description = inner.description;
    this.capabilities = inner.capabilities;
  }
  async put(name: string, data: Uint8Array) {
    if (this.active && parseBlobName(name) !== undefined) {
      const obj = decodeObject(decodeBlob(data, name), name);
      if (obj.kind === 'inode' && this.match.test(obj.name.toString())) {
        if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
        throw new ClfsError('E_TARGET_IO', `${name}: refused by the test`, { subject: name, recoverable: true });
      }
    }
    return this.inner.put(name, data);
  }
  get(name: string) {
    return this.inner.get(name);
  }
  exists(name: string) {
    return this.inner.exists(name);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  delete(name: string) {
    return this.inner.delete(name);
  }
}

