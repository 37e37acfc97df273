import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Dependencies flow one way (docs/architecture.md): cli → index → load/read → codec, scan,
// targets, state → errors. A short check over the import lines instead of a linter plugin.
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const ALLOWED: Record<string, string[]> = {
  cli: ['cli', 'index.js'],
  'index.js': ['load', 'read', 'copy', 'codec', 'scan', 'targets', 'state', 'errors'],
  // targets: the process's one RateLimiter (--bwlimit) lives there, shared with load
  copy: ['copy', 'scan', 'state', 'targets', 'errors'],
  load: ['load', 'codec', 'scan', 'targets', 'state', 'errors'],
  read: ['read', 'codec', 'targets', 'scan', 'errors'],
  codec: ['codec', 'errors'],
  scan: ['scan', 'errors'],
  targets: ['targets', 'errors'],
  state: ['state', 'errors'],
  errors: ['errors'],
};

/** Every .ts file under src, as a path relative to src. */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) out.push(path.relative(SRC, full));
    }
  };
  walk(SRC);
  return out.sort();
}

/** The relative imports of one source file, resolved to paths relative to src (.js -> .ts). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(SRC, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.\.?\/[^']+)'/gm)) {
    out.push(path.relative(SRC, path.resolve(SRC, path.dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
  }
  return out;
}

test('every src file, in every folder, imports only what its layer may', () => {
  const files = sourceFiles();
  assert.ok(files.length > 50 && files.includes(path.join('load', 'load.ts')), 'the walk found the sources');
  const bad: string[] = [];
  for (const file of files) {
    const top = file.includes(path.sep) ? file.split(path.sep)[0]! : file.replace(/\.ts$/, '.js');
    const allowed = ALLOWED[top] ?? (top === 'index.js' ? Object.keys(ALLOWED).filter((k) => k !== 'cli') : undefined);
    if (allowed === undefined) {
      bad.push(`src/${file}: folder ${top} has no layer in this test (add it to ALLOWED and to docs/architecture.md)`);
      continue;
    }
    for (const target of importsOf(file)) {
      const targetTop = target.includes(path.sep) ? target.split(path.sep)[0]! : target.replace(/\.ts$/, '.js');
      if (!allowed.includes(targetTop)) bad.push(`src/${file} imports ${target}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('no import cycle between src files', () => {
  const files = sourceFiles();
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].join(' -> '));
      else if (state.get(t) === undefined) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (state.get(f) === undefined) visit(f);
  assert.deepEqual(cycles, []);
});

test('the state owns its SQL: no raw statements outside src/state', () => {
  const bad: string[] = [];
  for (const file of sourceFiles()) {
    // src/read keeps its own temporary SQLite files (verify's name sets), not the load's state
    if (!file.startsWith(`load${path.sep}`) && !file.startsWith(`cli${path.sep}`)) continue;
    const text = fs.readFileSync(path.join(SRC, file), 'utf8');
    // StateDb's raw access (run/all/exec) used from outside the state module
    for (const m of text.matchAll(/\bdb\.(run|all|exec)\(/g)) bad.push(`src/${file}: db.${m[1]}(`);
  }
  assert.deepEqual(bad, []);
});

// Importing @azure/storage-blob costs ~0.25 s of start-up (docs/dependencies.md): only
// src/targets/azure-sdk.ts loads it, on first use; elsewhere only `import type` is allowed.
test('only azure-sdk.ts loads @azure/storage-blob at run time', () => {
  const bad: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && entry.name !== 'azure-sdk.ts') {
        const text = fs.readFileSync(full, 'utf8');
        for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from '@azure\/storage-blob'/gms)) {
          if (m[2] === undefined) bad.push(path.relative(SRC, full));
        }
        if (/import\('@azure\/storage-blob'\)|require\('@azure\/storage-blob'\)/.test(text)) bad.push(path.relative(SRC, full));
      }
    }
  };
  walk(SRC);
  assert.deepEqual(bad, []);
});

/** Whether the CommonJS build of @azure/storage-blob (what azure-sdk.ts requires) is loaded. */
const SDK_LOADED = `Object.keys((await import('node:module')).createRequire(import.meta.url).cache).some((k) => k.includes('@azure/storage-blob'))`;

test('a folder load never loads @azure/storage-blob, nor does opening an Azure target; a request only the SDK carries does', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-layering-'));
  try {
    const src = path.join(work, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'a.txt'), 'a\n');
    fs.writeFileSync(path.join(src, 'sub', 'b.bin'), Buffer.alloc(40_000, 7));
    const blobs = path.join(work, 'blobs');
    fs.mkdirSync(blobs);
    const index = new URL('../src/index.js', import.meta.url).href;
    // a real load and verify, then the probe; then an Azure target is opened (no request is
    // sent: the SDK stays unloaded), then a ranged get shows the probe sees the SDK once it is loaded
    const script = `
      const lib = await import(${JSON.stringify(index)});
      const target = new lib.FolderTarget(${JSON.stringify(blobs)});
      const s = await lib.load({ source: ${JSON.stringify(src)}, target, targetKey: 'layering', stateDir: ${JSON.stringify(path.join(work, 'state'))}, newTransfer: true });
      const report = await lib.verify(target, { source: ${JSON.stringify(src)} });
      const afterLoad = ${SDK_LOADED};
      const azure = lib.openTarget('http://127.0.0.1:9/devstoreaccount1/probe?sv=2025-11-05&sig=x');
      const afterOpen = ${SDK_LOADED};
      // a ranged get is one request the lean sockets do not carry: the SDK is loaded for it
      // (nothing listens on port 9, so it fails at once)
      await new lib.AzureTarget(lib.parseTargetUrl('http://127.0.0.1:9/devstoreaccount1/probe?sv=2025-11-05&sig=x')).get('x', { range: { offset: 1, count: 1 } }).catch(() => undefined);
      const afterRanged = ${SDK_LOADED};
      process.stdout.write(JSON.stringify({ status: s.status, problems: report.problems, afterLoad, afterOpen, afterRanged }));`;
    // a file, not -e: the encode workers inherit the parent's flags, and --input-type breaks them
    const child = path.join(work, 'load.mjs');
    fs.writeFileSync(child, script);
    const out = JSON.parse(execFileSync(process.execPath, [child], { encoding: 'utf8' })) as Record<string, unknown>;
    assert.deepEqual(out, { status: 'complete', problems: [], afterLoad: false, afterOpen: false, afterRanged: true });

    // the CLI too, with the probe run as the process exits
    const probe = path.join(work, 'probe.mjs');
    const result = path.join(work, 'probe.json');
    fs.writeFileSync(
      probe,
      `import { createRequire } from 'node:module';
       import { writeFileSync } from 'node:fs';
       const require = createRequire(import.meta.url);
       process.on('exit', () => writeFileSync(${JSON.stringify(result)}, JSON.stringify(Object.keys(require.cache).some((k) => k.includes('@azure/storage-blob')))));`,
    );
    const bin = fileURLToPath(new URL('../bin/clfsload.js', import.meta.url));
    const blobs2 = path.join(work, 'blobs2');
    fs.mkdirSync(blobs2);
    const cli = spawnSync(process.execPath, ['--import', pathToFileURL(probe).href, bin, 'load', src, pathToFileURL(blobs2).href, '--new', '--state', path.join(work, 'state2'), '--json'], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout.trim().split('\n').pop()!).status, 'complete');
    assert.equal(fs.readFileSync(result, 'utf8'), 'false', 'the CLI loaded the SDK for a folder load');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
