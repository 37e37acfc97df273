import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Btype,
  Ftype,
  type Bmap,
  type Vattr,
  decodeObject,
  decodeSections,
  encodeBucketBody,
  encodeDirSegmentBody,
  encodeFileSegmentBody,
  encodeIndirectBody,
  encodeInodeBody,
  encodeTime,
  ftypeToBtype,
  rdevSplit,
  btypeToFtype,
  HandleType,
  INITIAL_VERSION,
  blobName,
  encodeBlob,
  decodeBlob,
  sectionBytes,
  fileSegmentOffset,
  parseBlobName,
} from '../../src/codec/index.js';
import { bytesOf, entryFilePieces, generatePayload, hex, readVectorJson, sha256Hex } from './vector-files.js';

const doc = readVectorJson('objects/objects.json');
const cases = doc.cases as any[];
const runOptions = doc.run_options;

function vattrFromTobj(tobj: any): Vattr {
  const t = (x: any) => ({ sec: x.encoded_sec, nsec: x.encoded_nsec });
  return {
    mode: tobj.mode,
    btype: tobj.btype,
    uid: tobj.uid,
    gid: tobj.gid,
    sizeBytes: BigInt(tobj.size),
    mtime: t(tobj.mtime),
    ctime: t(tobj.ctime),
    atime: t(tobj.atime),
    usedBytes: BigInt(tobj.size),
    fsid: BigInt(runOptions.fsid),
    fileid: BigInt(tobj.fileid),
    rdevMajor: tobj.rdev_major,
    rdevMinor: tobj.rdev_minor,
    nlink: tobj.nlink_effective,
    containerId: BigInt(runOptions.containerid),
  };
}

/** A list given in full, or summarized (then taken from `decoded` and checked against the summary). */
function idList(x: any, fallback: () => Buffer[]): Buffer[] {
  if (Array.isArray(x)) return x.map((h: string) => Buffer.from(h, 'hex'));
  const ids = fallback();
  assert.equal(ids.length, x.count);
  assert.equal(sha256Hex(Buffer.concat(ids)), x.sha256_of_concatenated_ids);
  return ids;
}

function rootsOf(list: string[]): Array<Buffer | undefined> {
  return list.map((h) => (/^0+$/.test(h) ? undefined : Buffer.from(h, 'hex')));
}

/** Re-encodes one write from its recorded inputs with our encoder. */
function reencode(c: any, w: any, objectBytes: Buffer): Buffer {
  const fn = w.encoder.function;
  const a = w.encoder.args;
  const decodedNow = () => decodeObject(objectBytes, w.blob_name) as any;
  switch (fn) {
    case 'parse.unparse_inode':
    case 'parse.obj_reconcile': {
      const tobj = a.tobj;
      const vattr = vattrFromTobj(tobj);
      // cross-checks of the recorded derived values against our helpers
      assert.equal(ftypeToBtype(tobj.ftype as Ftype), tobj.btype);
      assert.deepEqual(rdevSplit(BigInt(tobj.rdev)), { major: tobj.rdev_major, minor: tobj.rdev_minor });
      for (const k of ['mtime', 'ctime', 'atime']) {
        const src = c.inputs.tobj?.[k];
        if (src?.stat_sec !== undefined) {
          assert.deepEqual(encodeTime(BigInt(src.stat_sec), BigInt(src.stat_nsec)), { sec: src.encoded_sec, nsec: src.encoded_nsec });
        }
      }
      if (fn === 'parse.obj_reconcile') {
        const prev = decodeObject(bytesOf(c.writes[0].object), 'prev') as any;
        return encodeInodeBody({
          vattr,
          bmap: prev.bmap,
          back: a.backpointers.map((h: string) => Buffer.from(h, 'hex')),
          name: prev.name,
          data: prev.data,
        });
      }
      const isDir = tobj.btype === Btype.DIR;
      const data = a.data === null ? undefined : a.data.hex !== undefined ? Buffer.from(a.data.hex, 'hex') : undefined;
      const bmap: Bmap = {
        firstSegmentBytes: 16384,
        otherSegmentBytes: isDir ? 262144 : 8388608,
        direct: idList(a.direct_blocks, () => decodedNow().bmap.direct),
        treeRoots: rootsOf(a.indirect_roots),
      };
      const decoded = w.decoded;
      return encodeInodeBody({
        vattr,
        bmap,
        back: a.backpointers === null ? undefined : a.backpointers.map((h: string) => Buffer.from(h, 'hex')),
        name: Buffer.from(a.name, 'hex'),
        data: isDir ? undefined : data,
        direntsPiece: isDir ? data : undefined,
        extattrs: decoded.ExtAttrs === undefined ? undefined : Object.entries(decoded.ExtAttrs as Record<string, string>),
      });
    }
    case 'parse.unparse_segment_using_obid':
    case 'parse.unparse_segment': {
      const back = { ctimeSec: Math.trunc(a.ctime), offset: BigInt(a.offset), owner: Buffer.from(a.owner, 'hex') };
      if (a.ftype === Ftype.DIR) {
        const pieces = entryFilePieces(bytesOf(c.inputs.entry_file));
        const piece = pieces[(a.offset - 16384) / 262144 + 1]!;
        assert.equal(sha256Hex(piece), a.data.sha256);
        return encodeDirSegmentBody(piece, back);
      }
      let data: Buffer;
      if (a.data.hex !== undefined) data = Buffer.from(a.data.hex, 'hex');
      else {
        const payload = generatePayload(c.inputs.payload);
        data = payload.subarray(a.offset, a.offset + a.data.length);
      }
      assert.equal(sha256Hex(data), a.data.sha256);
      return encodeFileSegmentBody(data, back);
    }
    case 'parse.unparse_indirect': {
      const back = { ctimeSec: Math.trunc(a.ctime), offset: BigInt(a.databack_offset), owner: Buffer.from(a.owner, 'hex') };
      const pointers = idList(a.block_list, () => decodedNow().pointers);
      return encodeIndirectBody(pointers, back);
    }
    case 'parse.unparse_obj_handles':
      assert.deepEqual(a.obtypes, [HandleType.EXTATTRS]);
      return encodeBucketBody(a.extattrs);
    default:
      throw new Error(`unknown encoder ${fn}`);
  }
}

/** Compares our decode with the reference parser's `decoded` record. */
function checkDecoded(w: any, objectBytes: Buffer): void {
  const d = w.decoded;
  const o = decodeObject(objectBytes, w.blob_name) as any;
  const listEq = (ours: Buffer[], rec: any, what: string) => {
    if (Array.isArray(rec)) assert.deepEqual(ours.map(hex), rec, what);
    else {
      assert.equal(ours.length, rec.count, what);
      assert.equal(sha256Hex(Buffer.concat(ours)), rec.sha256_of_concatenated_ids, what);
    }
  };
  const direntsEq = (list: any[], bytes: Buffer, rec: any) => {
    if (Array.isArray(rec)) assert.deepEqual(list.map((e) => [hex(e.name), hex(e.handle)]), rec);
    else {
      assert.equal(list.length, rec.count);
      assert.equal(sha256Hex(bytes), rec.sha256_of_dirents_wire_bytes);
    }
  };
  if (d.Obj !== undefined) {
    assert.equal(o.kind, 'inode');
    const v: Vattr = o.vattr;
    assert.equal(v.mode, d.Obj.mode);
    assert.equal(btypeToFtype(v.btype), d.Obj.ftype);
    assert.equal(v.uid, d.Obj.uid);
    assert.equal(v.gid, d.Obj.gid);
    assert.equal(v.sizeBytes, BigInt(d.Obj.size));
    assert.equal(v.mtime.sec, d.Obj.mtime);
    assert.equal(v.ctime.sec, d.Obj.ctime);
    assert.equal(v.atime.sec, d.Obj.atime);
    assert.equal(v.fileid, BigInt(d.Obj.fileid));
    assert.equal(v.nlink, d.Obj.nlink);
    // the reference recombines major/minor with the glibc makedev
    const major = BigInt(v.rdevMajor);
    const minor = BigInt(v.rdevMinor);
    const rdev = ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
    assert.equal(rdev, BigInt(d.Obj.rdev));
    const sv = w.sections[0].vattr;
    assert.equal(v.mtime.nsec, sv.mtime_nsec);
    assert.equal(v.ctime.nsec, sv.ctime_nsec);
    assert.equal(v.atime.nsec, sv.atime_nsec);
    assert.equal(v.usedBytes, BigInt(sv.used));
    assert.equal(v.fsid, BigInt(sv.fsid));
    assert.equal(v.containerId, BigInt(sv.containerid));
    assert.equal(v.rdevMajor, sv.rdev_major);
    assert.equal(v.rdevMinor, sv.rdev_minor);
    assert.equal(o.bmap.firstSegmentBytes, d.FirstSegmentBytes);
    assert.equal(o.bmap.otherSegmentBytes, d.OtherSegmentBytes);
    listEq(o.bmap.direct, d.DirectBlocks, 'DirectBlocks');
    assert.deepEqual(o.bmap.treeRoots.map((r: Buffer | undefined) => (r === undefined ? '0'.repeat(32) : hex(r))), d.IndirectBlockTrees);
    assert.equal(hex(o.name), d.Name);
    if (d.BackPointers !== undefined) listEq(o.back, d.BackPointers, 'BackPointers');
    else assert.equal(o.back, undefined);
    if (d.Data !== undefined) {
      assert.equal(o.data.length, d.Data.length);
      assert.equal(sha256Hex(o.data), d.Data.sha256);
    } else assert.equal(o.data, undefined);
    if (d.DirentList !== undefined) direntsEq(o.dirents, o.direntsBytes, d.DirentList);
    if (d.ExtAttrs !== undefined) assert.deepEqual(Object.fromEntries(o.extattrs), d.ExtAttrs);
    else assert.equal(o.extattrs, undefined);
    return;
  }
  if (d.IndirectBlocks !== undefined) {
    assert.equal(o.kind, 'indirect');
    listEq(o.pointers, d.IndirectBlocks, 'IndirectBlocks');
  } else if (d.DirentList !== undefined) {
    assert.equal(o.kind, 'dir-segment');
    direntsEq(o.dirents, o.direntsBytes, d.DirentList);
  } else if (d.Data !== undefined) {
    assert.equal(o.kind, 'file-segment');
    assert.equal(o.data.length, d.Data.length);
    assert.equal(sha256Hex(o.data), d.Data.sha256);
  } else if (d.ExtAttrs !== undefined) {
    assert.equal(o.kind, 'bucket');
    assert.deepEqual(Object.fromEntries(o.extattrs), d.ExtAttrs);
    return;
  }
  if (d.DataBack !== undefined) {
    assert.equal(o.databack.ctimeSec, d.DataBack.ctime);
    assert.equal(o.databack.offset, BigInt(d.DataBack.offset));
    assert.equal(hex(o.databack.owner), d.DataBack.owner);
  }
}

function checkSections(w: any, objectBytes: Buffer): void {
  const s = decodeSections(objectBytes, w.blob_name);
  assert.deepEqual(
    s.map((x) => [x.type, x.offset, x.payload.length]),
    w.sections.map((x: any) => [x.obtype, x.offset, x.real_count]),
  );
}

for (const c of cases) {
  test(`objects.json ${c.id}: re-encode from recorded inputs is byte-exact; decode matches the reference parser`, () => {
    let checked = 0;
    let previous: Buffer | undefined;
    for (const w of c.writes) {
      if (w.op !== 'put' || w.object === undefined || w.summary_only === true) continue;
      const objectBytes = bytesOf(w.object);
      assert.equal(objectBytes.length, w.object.size);
      assert.equal(sha256Hex(objectBytes), w.object.sha256);
      if (w.encoder?.function === null || w.encoder === undefined || w.encoder === null) {
        // copied bytes (finalize copies the tmp root): must equal an earlier write
        assert.ok(previous !== undefined);
      } else {
        const ours = reencode(c, w, objectBytes);
        assert.equal(ours.length, objectBytes.length, `${w.role} length`);
        assert.ok(ours.equals(objectBytes), `${w.role}: bytes differ at ${ours.findIndex((b, i) => b !== objectBytes[i])}`);
      }
      checkSections(w, objectBytes);
      checkDecoded(w, objectBytes);
      previous = objectBytes;
      checked++;
    }
    assert.ok(checked > 0);
  });
}

test('reg-indirect-tree0: the 1025 summarized zero segments: names, and the body layout of a few (not the liblz4 blob bytes)', () => {
  const c = cases.find((x) => x.id === 'reg-indirect-tree0');
  const summarized = c.writes.filter((w: any) => w.summary_only === true);
  assert.equal(summarized.length, 1025);
  const owner = Buffer.from(c.inputs.tobj.filehandle, 'hex');
  for (const w of summarized) {
    const p = parseBlobName(w.blob_name)!;
    assert.equal(blobName(p.id, Btype.SEGMENT, owner, INITIAL_VERSION), w.blob_name);
  }
  const zeros = Buffer.alloc(8388608);
  const ctimeSec = Math.trunc(c.inputs.tobj.ctime.float);
  for (const k of [0, 1, 1022, 1023, 1024]) {
    const w = summarized[k];
    const body = encodeFileSegmentBody(zeros, { ctimeSec, offset: BigInt(fileSegmentOffset(k + 1)), owner });
    // the recorded blob sha256 is of liblz4's compressed bytes, which our LZ4 does not reproduce
    // byte for byte (vectors README), so pin the body layout and its round trip through the blob frame
    assert.equal(body.length, 20 + 4 + 8388608 + sectionBytes(38));
    const o = decodeObject(decodeBlob(encodeBlob(body, 'lz4'), w.blob_name), w.blob_name);
    assert.equal(o.kind, 'file-segment');
  }
});

test('finishFileSegmentBody over data read into place equals encodeFileSegmentBody; encodeBlobInPlace equals encodeBlob', async () => {
  const { encodeFileSegmentBody, finishFileSegmentBody, fileSegmentBodyBytes, FILE_SEGMENT_DATA_OFFSET, encodeBlob, encodeBlobInPlace } = await import('../../src/codec/index.js');
  const owner = Buffer.from('3137efc607070200d00700000000000024851c95949a61e8', 'hex');
  for (const n of [0, 1, 3, 7, 8, 1000, 65536 + 5]) {
    const data = Buffer.alloc(n);
    for (let i = 0; i < n; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
    const back = { ctimeSec: 1700000100, offset: 16384n, owner };
    const expected = encodeFileSegmentBody(data, back);
    const buf = Buffer.allocUnsafe(4 + fileSegmentBodyBytes(n, back)).fill(0xee);
    data.copy(buf, 4 + FILE_SEGMENT_DATA_OFFSET);
    finishFileSegmentBody(buf.subarray(4), n, back);
    assert.deepEqual(buf.subarray(4), expected, `data length ${n}`);
    for (const c of ['lz4', 'disabled'] as const) assert.deepEqual(encodeBlobInPlace(Buffer.from(buf), c), encodeBlob(expected, c), `${c}, data length ${n}`);
  }
});
