import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { copy } from '../../src/copy/index.js';
import { RateLimiter } from '../../src/targets/index.js';

/** The process's limiter, counting what it is charged (the limit itself is real, high enough not to slow the test). */
class CountingLimiter extends RateLimiter {
  charged = 0;
  calls = 0;
  override bytes(bytes: number, signal?: AbortSignal): Promise<void> {
    this.charged += bytes;
    this.calls += 1;
    return super.bytes(bytes, signal);
  }
}

test('copy with a limiter: every byte written to DEST is charged to the one limiter, by all tasks and ranges; an unchanged re-run charges nothing', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfs-copy-bwlimit-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(path.join(src, 'a/b'), { recursive: true });
  fs.mkdirSync(dst);
  const sizes: Record<string, number> = { 'one.bin': 1, 'a/mid.bin': 300_000, 'a/b/chunky.bin': 2 * 1048576 + 17, 'a/b/large.bin': 5 * 1048576 + 3, 'empty.bin': 0 };
  for (let i = 0; i < 20; i++) sizes[`a/small-${i}.bin`] = 1000 + i * 37;
  let total = 0;
  for (const [rel, n] of Object.entries(sizes)) {
    // random data: no block is all zeros, so nothing is skipped as a hole
    fs.writeFileSync(path.join(src, rel), randomBytes(n));
    total += n;
  }
  const limiter = new CountingLimiter({ bytes: [{ minute: 0, rate: 4 * 1024 ** 3 }] });
  const s = await copy({ source: src, dests: [dst], stateDir: path.join(dir, 'state'), threads: 8, largeFileBytes: 4 * 1048576, limiter });
  assert.equal(s.status, 'complete', JSON.stringify(s.problems));
  assert.equal(s.bytes, total);
  assert.equal(limiter.charged, total);
  assert.ok(limiter.calls >= Object.keys(sizes).length - 1, `${limiter.calls} charges`);
  for (const rel of Object.keys(sizes)) assert.ok(fs.readFileSync(path.join(src, rel)).equals(fs.readFileSync(path.join(dst, rel))), rel);

  const again = new CountingLimiter({ bytes: [{ minute: 0, rate: 4 * 1024 ** 3 }] });
  const s2 = await copy({ source: src, dests: [dst], stateDir: path.join(dir, 'state'), threads: 8, largeFileBytes: 4 * 1048576, limiter: again });
  assert.equal(s2.status, 'complete');
  assert.equal(again.charged, 0);
});
