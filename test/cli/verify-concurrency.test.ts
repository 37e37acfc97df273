/**
 * verify's requests in flight: a folder gets its own default (more than a load's 16, so the reader
 * threads get batches large enough to pay for their messages), --concurrency still wins, and an
 * Azure container keeps the target's default.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FOLDER_VERIFY_CONCURRENCY, verifyConcurrency } from '../../src/cli/commands/cmd-verify.js';
import { runCli } from '../helpers/cli.js';

test('verify of a folder asks for FOLDER_VERIFY_CONCURRENCY requests in flight, not the load default of 16', () => {
  assert.equal(FOLDER_VERIFY_CONCURRENCY, 64);
  assert.equal(verifyConcurrency('folder', undefined), 64);
});

test('--concurrency wins over the folder default, and Azure keeps the target default', () => {
  assert.equal(verifyConcurrency('folder', 3), 3);
  assert.equal(verifyConcurrency('azure', undefined), undefined);
  assert.equal(verifyConcurrency('azure', 500), 500);
});

test('verify --help states the folder default it uses', () => {
  const r = runCli(['verify', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.replace(/\s+/g, ' '), new RegExp(`default: 256 for Azure, ${FOLDER_VERIFY_CONCURRENCY} for a folder`));
});
