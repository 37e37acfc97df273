/**
 * Getting a `clfsload` command: the package's bin, what `npm pack` ships, a global install of the
 * clone putting a working command on PATH, and `prepare` in a clone without node_modules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; scripts: Record<string, string>; files: string[] };

function npm(args: string[], cwd: string, env: Record<string, string> = {}) {
  // npm_config_* of an outer `npm test` (prefix, global) must not steer these runs
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...clean, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('npm pack ships the command, the library and the demo sample, and builds first (prepare)', () => {
  assert.equal(pkg.bin.clfsload, 'dist/bin/clfsload.cjs');
  assert.match(pkg.scripts.prepare ?? '', /prepare\.mjs/);
  const r = npm(['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT);
  assert.equal(r.code, 0, r.stderr);
  const files = new Set((JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path));
  for (const f of ['dist/bin/clfsload.cjs', 'dist/bin/clfsload.js', 'dist/src/index.js', 'dist/src/cli/main.js', 'format/sample/hello.txt', 'package.json', 'README.md']) assert.ok(files.has(f), `${f} is packed`);
  assert.ok(![...files].some((f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.startsWith('src/')), 'tests, benches and sources are not packed');
  assert.match(fs.readFileSync(path.join(ROOT, pkg.bin.clfsload), 'utf8'), /^#!\/usr\/bin\/env node\n/);
});

test('npm install -g . of the clone puts a working clfsload on PATH', () => {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-global-'));
  try {
    // --ignore-scripts: the build is the one under test already; rebuilding dist/ would race the other tests
    const r = npm(['install', '-g', '--prefix', prefix, '--ignore-scripts', '--offline', '.'], ROOT);
    assert.equal(r.code, 0, r.stderr);
    const bin = path.join(prefix, 'bin', 'clfsload');
    const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout.trim(), pkg.version);
    const h = spawnSync(bin, ['--help'], { encoding: 'utf8' });
    assert.match(h.stdout, /Usage: clfsload/);
    assert.match(h.stdout, /load \[options\] \[source\] \[target\]/);
  } finally {
    fs.rmSync(prefix, { recursive: true, force: true });
  }
});

test('npx clfsload inside the clone runs the command', () => {
  const r = npm(['exec', '--offline', '--', 'clfsload', '--version'], ROOT);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^0\.\d+\.\d+/m);
});

test('prepare in a clone without node_modules says to run npm ci first (one line, exit 1), not "tsc: not found"', () => {
  const clone = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-fresh-'));
  try {
    fs.mkdirSync(path.join(clone, 'scripts'));
    fs.copyFileSync(path.join(ROOT, 'scripts', 'prepare.mjs'), path.join(clone, 'scripts', 'prepare.mjs'));
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(clone, 'package.json'));
    fs.copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(clone, 'tsconfig.json'));
    const r = spawnSync(process.execPath, [path.join(clone, 'scripts', 'prepare.mjs')], { encoding: 'utf8', cwd: clone });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /run `npm ci` in it first.*then `npm install -g \.`/);
    assert.ok(!fs.existsSync(path.join(clone, 'dist')));
  } finally {
    fs.rmSync(clone, { recursive: true, force: true });
  }
});
