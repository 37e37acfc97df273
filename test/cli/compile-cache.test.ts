/**
 * bin/clfsload.ts keeps the compiled program in the user's cache folder on Node 22.1 and later
 * (module.enableCompileCache), never in Node's default under /tmp; on Node 20 there is no such call
 * and no folder is made.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as nodeModule from 'node:module';
import { runCli } from '../helpers/cli.js';

test('the compile cache goes to $XDG_CACHE_HOME/clfsload/compile-cache where Node has one, nowhere on Node 20', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfs-compile-cache-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = runCli(['--version'], { env: { XDG_CACHE_HOME: dir } });
  assert.equal(r.code, 0, r.stderr);
  const folder = path.join(dir, 'clfsload', 'compile-cache');
  const hasCache = typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === 'function';
  if (hasCache) {
    assert.ok(fs.existsSync(folder), `${folder} made on Node ${process.version}`);
    assert.ok(fs.readdirSync(folder).length > 0);
  } else {
    assert.equal(fs.existsSync(path.join(dir, 'clfsload')), false, `nothing made on Node ${process.version}`);
  }
});
