import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as lib from '../src/index.js';

// Pins the library's public surface (isomorphic-git's test-exports habit): a change here is a
// change of API and must be deliberate.
test('src/index.ts exports exactly the public API', () => {
  assert.deepEqual(Object.keys(lib).sort(), [
    'AzureTarget',
    'ClfsError',
    'ContainerReader',
    'CountingTarget',
    'DEFAULT_FILTERS',
    'DEFAULT_MAX_ERRORS',
    'DryRunTarget',
    'FaultTarget',
    'FolderTarget',
    'LatencyTarget',
    'MAX_SHARDS',
    'RateLimitTarget',
    'RateLimiter',
    'RetryTarget',
    'SourceFilter',
    'cat',
    'checkStateFolder',
    'compare',
    'copy',
    'describeFilters',
    'describeHolds',
    'displayPath',
    'dryRun',
    'durabilityFromEnv',
    'exportTree',
    'finalizeCopy',
    'finalizePlan',
    'installSourceFaultsFromEnv',
    'isClfsError',
    'load',
    'loadShard',
    'ls',
    'makePlan',
    'modeString',
    'openTarget',
    'parseBwlimit',
    'parseConnectionString',
    'parseDisplayPath',
    'parseRequestRate',
    'parseTargetUrl',
    'patternsOfFile',
    'proxySettingsOf',
    'readPlan',
    'readShardReport',
    'redact',
    'reportCopy',
    'setSourceFaults',
    'startAzurite',
    'stateFaultPlanFromEnv',
    'targetKey',
    'transferFilters',
    'updateDryRun',
    'verify',
  ]);
});

test('ClfsError carries a code, a subject and a one-line message; isClfsError checks the brand', () => {
  const e = new lib.ClfsError('E_TARGET_NOT_EMPTY', 'container x is not empty: use a new container', { subject: 'x' });
  assert.equal(e.code, 'E_TARGET_NOT_EMPTY');
  assert.equal(e.subject, 'x');
  assert.ok(!e.message.includes('\n'));
  assert.ok(lib.isClfsError(e));
  assert.ok(!lib.isClfsError(new Error('plain')));
  assert.ok(lib.isClfsError(Object.assign(Object.create(null), { [Symbol.for('clfsload.ClfsError')]: true })));
});
