// `install` (npm ci, npm install): build clfsload's own N-API addon (native/: SEEK_DATA/SEEK_HOLE,
// nanosecond times, extended attributes) with the node-gyp that npm bundles, against the headers
// of the running Node (never a download). A build that cannot run or fails is not an install
// failure: `copy` then falls back to what Node offers (zero blocks skipped instead of holes
// mapped, times to the microsecond, no --xattrs) and says so.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native');
const note = (m) => console.error(`clfsload: native addon not built (${m}); copy falls back to Node's calls (no --xattrs, times to the microsecond, sparse files by zero blocks)`);

if (process.platform !== 'linux') {
  note(`${process.platform}: the addon is Linux only`);
  process.exit(0);
}
if (process.env.CLFSLOAD_SKIP_NATIVE_BUILD === '1') {
  note('CLFSLOAD_SKIP_NATIVE_BUILD=1');
  process.exit(0);
}

/** The headers of this Node: npm's nodedir setting, else the include/node next to the binary (Debian, NodeSource, nvm, the official tarballs). */
function nodeDir() {
  const candidates = [process.env.npm_config_nodedir, join(dirname(process.execPath), '..'), process.config.variables.node_prefix].filter((d) => typeof d === 'string' && d !== '');
  return candidates.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')) && existsSync(join(d, 'include', 'node', 'common.gypi')));
}

/** npm's own node-gyp: npm sets npm_config_node_gyp for scripts; else the copy beside npm. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].filter((p) => typeof p === 'string' && p !== '');
  return candidates.find((p) => existsSync(p));
}

const nodedir = nodeDir();
const gyp = nodeGyp();
if (nodedir === undefined) {
  note(`no Node headers (include/node/node_api.h) beside ${process.execPath}; pass npm --nodedir=DIR`);
  process.exit(0);
}
if (gyp === undefined) {
  note('node-gyp not found (it comes with npm)');
  process.exit(0);
}
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--directory', dir], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, npm_config_nodedir: nodedir } });
if (r.status !== 0) note(`node-gyp rebuild exited ${r.status ?? r.signal}; see above`);
process.exit(0);
