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
    for (const file of fs.readdirSync(path.join(SRC, folder)).filter((f) => f.endsWith('.ts'))) {
      const text = fs.readFileSync(path.join(SRC, folder, file), 'utf8');
      for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
        const target = path.relative(SRC, path.resolve(SRC, folder, m[1]!));
        const top = target.split(path.sep)[0]!;
        if (!allowed.includes(top)) bad.push(`src/${folder}/${file} imports ${m[1]}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});
