import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resumeCommand } from '../../src/cli/load-run.js';
import { shellWords } from '../helpers/cli.js';

test('the resume command: the words typed without --new once a state exists, quoted for a shell, the SAS signature hidden', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-resume-'));
  try {
    const state = path.join(dir, 'state');
    const url = 'https://acct.blob.core.windows.net/cont?sv=2024-01-01&sp=rwdl&sig=SECRET%2Bx';
    const args = ['load', "/data/it's here", url, '--new', '--state', state];
    const before = resumeCommand({ args, invocation: 'clfsload' }, state);
    assert.deepEqual(shellWords(before.line), ['clfsload', 'load', "/data/it's here", url.replace('SECRET%2Bx', 'REDACTED'), '--new', '--state', state], 'no state yet: --new stays, nothing to resume');
    fs.mkdirSync(state);
    fs.writeFileSync(path.join(state, 'state.db'), '');
    const r = resumeCommand({ args, invocation: 'node /opt/clfsload/dist/bin/clfsload.js' }, state);
    assert.ok(r.secret);
    assert.ok(!r.line.includes('SECRET'));
    assert.deepEqual(shellWords(r.line), ['node', '/opt/clfsload/dist/bin/clfsload.js', 'load', "/data/it's here", url.replace('SECRET%2Bx', 'REDACTED'), '--state', state]);
    // the reference's bare SAS token positional
    const legacy = resumeCommand({ args: ['--new', state, '/data', 'acct', 'cont', 'sv=1&sig=abc'], invocation: 'clfsload' }, state);
    assert.equal(legacy.line, `clfsload ${state} /data acct cont 'sv=1&sig=REDACTED'`);
    const plain = resumeCommand({ args: ['load', '/data', 'file:///blobs', '--new'], invocation: 'clfsload' }, state);
    assert.equal(plain.line, 'clfsload load /data file:///blobs');
    assert.equal(plain.secret, false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
