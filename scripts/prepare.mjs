// `prepare` (npm ci, npm install, npm install -g ., npm pack): build dist/. A global install of a
// folder only links it and installs none of its dependencies, so in a fresh clone the compiler is
// missing: say what to run instead of failing with "tsc: not found".
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let tsc;
try {
  tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
} catch {
  tsc = undefined;
}
if (tsc === undefined || !existsSync(join(root, 'node_modules', 'better-sqlite3'))) {
  console.error(`clfsload: ${root} has no node_modules: run \`npm ci\` in it first (it builds the native modules), then \`npm install -g .\``);
  process.exit(1);
}
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
process.exit(r.status ?? 1);
