import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeTime, encodeTimeNs } from '../../src/codec/index.js';
import { readVectorJson } from './vector-files.js';

const cases = readVectorJson('objects/times.json').cases as any[];

test('times.json: all 175 encodings (and the encodable flag) match the reference', () => {
  assert.equal(cases.length, 175);
  for (const c of cases) {
    const t = encodeTime(BigInt(c.stat_sec), BigInt(c.stat_nsec));
    const label = `${c.stat_sec}.${c.stat_nsec}`;
    if (c.encodable) {
      assert.deepEqual(t, { sec: c.encoded_sec, nsec: c.encoded_nsec }, label);
    } else {
      assert.equal(t, undefined, label);
    }
    const viaNs = encodeTimeNs(BigInt(c.stat_sec) * 1_000_000_000n + BigInt(c.stat_nsec));
    assert.deepEqual(viaNs, t, label);
  }
});

test('times before 1970 are not encodable', () => {
  assert.equal(encodeTime(-1n, 0n), undefined);
  assert.equal(encodeTimeNs(-500_000_000n), undefined);
  assert.equal(encodeTime(2n ** 32n, 0n), undefined);
});
