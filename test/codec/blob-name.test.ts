import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  blobListPrefix,
  blobName,
  bucketBlobName,
  parseBlobName,
  rootBlobName,
  Btype,
  ROOT_ID,
} from '../../src/codec/index.js';
import { readVectorJson } from './vector-files.js';

const cases = readVectorJson('names.json').cases as any[];

test('names.json: all 130 names and list prefixes match the reference', () => {
  assert.equal(cases.length, 130);
  for (const c of cases) {
    const id = Buffer.from(c.id, 'hex');
    const name = blobName(id, c.btype, Buffer.from(c.owner, 'hex'), c.version, { tmp: c.tmp });
    assert.equal(name, c.name, `${c.kind} ${c.note ?? ''}`);
    assert.equal(blobListPrefix(id), c.list_prefix);
  }
});

test('parseBlobName round-trips every vector name', () => {
  for (const c of cases) {
    const p = parseBlobName(c.name);
    assert.ok(p, c.name);
    assert.equal(p.nameVersion, c.name_version);
    assert.equal(p.tmp, c.tmp);
    assert.equal(p.id.toString('hex'), c.id);
    assert.equal(p.idHashHex, c.parts.hash_prefix);
    assert.equal(p.version, Number(c.parts.version));
    if (c.name_version === 2) {
      assert.equal(p.btype, Number(c.parts.btype));
      assert.equal(p.ownerHashHex, c.parts.owner_hash);
    }
  }
});

test('parseBlobName rejects log files and damaged names', () => {
  for (const n of ['output.txt', 'output.process-transfer-0.txt', 'problems.txt', '', 'tmp', 'a_b.c']) {
    assert.equal(parseBlobName(n), undefined, n);
  }
  const good = rootBlobName();
  assert.equal(parseBlobName(good.replace('0000006457871C6B_', '0000006457871C6C_')), undefined, 'hash mismatch');
  assert.equal(parseBlobName(good.replace(/\.0002$/, '.0003')), undefined);
  assert.equal(parseBlobName(good.replace('FFFFFFFF', 'FFFFFFFE')), undefined);
});

test('bucket and root helpers', () => {
  assert.equal(bucketBlobName(), '00000063_00000000000000000000000000000063.00000000009.FFFFFFFF.0001');
  assert.equal(
    rootBlobName(9, { tmp: true }),
    'tmp0000006457871C6B_00000000000000000000000000000064.0002.0000006457871C6B.00000000009.FFFFFFFF.0002',
  );
  assert.equal(rootBlobName(11), blobName(ROOT_ID, Btype.REG, Buffer.alloc(24), 11));
});

