import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fnv1, hash64Hex, murmur2 } from '../../src/codec/index.js';
import { readVectorJson } from './vector-files.js';

const cases = readVectorJson('hashes.json').cases as any[];

test('hashes.json: all 339 fnv1 / murmur2 / hash64 match the reference', () => {
  assert.equal(cases.length, 339);
  for (const c of cases) {
    const input = Buffer.from(c.input, 'hex');
    assert.equal(fnv1(input).toString(16).toUpperCase().padStart(8, '0'), c.fnv1, `fnv1 ${c.input}`);
    assert.equal(murmur2(input).toString(16).toUpperCase().padStart(8, '0'), c.murmur2, `murmur2 ${c.input}`);
    assert.equal(hash64Hex(input), c.hash64, `hash64 ${c.input}`);
  }
});

