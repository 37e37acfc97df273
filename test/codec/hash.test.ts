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

test('hash64Hex on 24-byte handles reaches at least 1M/s', () => {
  const ids = cases.filter((c) => c.length === 24).map((c) => Buffer.from(c.input, 'hex'));
  const n = 300_000;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += hash64Hex(ids[i % ids.length]!).length;
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  assert.equal(sink, n * 16);
  assert.ok(n / sec >= 1_000_000, `${Math.round(n / sec)} hashes/s`);
});
