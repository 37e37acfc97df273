import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

// Dependencies flow one way (docs/architecture.md): cli → index → load/read → codec, scan,
// targets, state → errors. A short check over the import lines instead of a linter plugin.
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const ALLOWED: Record<string, string[]> = {
  cli: ['cli', 'index.js'],
  load: ['load', 'codec', 'scan', 'targets', 'state', 'errors'],
  read: ['read', 'codec', 'targets', 'scan', 'errors'],
  codec: ['codec', 'errors'],
  scan: ['scan', 'errors'],
  targets: ['targets', 'errors'],
  state: ['state', 'errors'],
  errors: ['errors'],
};

test('each src folder imports only what its layer may', () => {
  const bad: string[] = [];
  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    // subfolders too (src/read/verify/): a file there is held to its top folder's layer
    const files = (fs.readdirSync(path.join(SRC, folder), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    for (const file of files) {
      const text = fs.readFileSync(path.join(SRC, folder, file), 'utf8');
      for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
        const target = path.relative(SRC, path.resolve(SRC, folder, path.dirname(file), m[1]!));
        const top = target.split(path.sep)[0]!;
        if (!allowed.includes(top)) bad.push(`src/${folder}/${file} imports ${m[1]}`);
      }
    }
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

test('a folder load never loads @azure/storage-blob', async () => {
  const { execFileSync } = await import('node:child_process');
  const index = new URL('../src/index.js', import.meta.url).href;
  // the CommonJS build is what azure-sdk.ts would load; the ESM build would show in neither
  // cache, so the static check above covers that side
  const script = `
    const { createRequire } = await import('node:module');
    await import(${JSON.stringify(index)});
    const cache = Object.keys(createRequire(import.meta.url).cache);
    process.stdout.write(String(cache.some((k) => k.includes('@azure'))));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(out, 'false');
});
