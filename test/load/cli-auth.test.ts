/**
 * The CLI signing in the ways users run it, end to end into Azurite: a SAS kept off the command
 * line (CLFSLOAD_SAS, --sas-file FILE, --sas-file -), the account key (AZURE_STORAGE_KEY) and a
 * connection string; and the promise that no secret (SAS signature, key) lands in the state
 * folder, the logs, the problems file, the container, --json or any output, failed runs included.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openTarget, verify } from '../../src/index.js';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';
import { buildSmallFilesTree } from '../helpers/tree-builder.js';
import { secretFindings as findIn } from '../helpers/secret-search.js';
import { runCliIsolated } from '../helpers/cli.js';

let azurite: RunningAzurite;
let work: string;
let src: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI with only the environment given (plus PATH and HOME): no proxy or key leaks in from the test's own. */
function cli(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<Run> {
  return runCliIsolated(args, { PATH: process.env.PATH ?? '', HOME: work, XDG_STATE_HOME: path.join(work, 'xdg'), ...env }, { stdin });
}

/** The sig= value of a SAS, the part that is the secret. */
async function secretFindings(secrets: readonly string[], run: Run, stateDir: string, containerUrl: string): Promise<string[]> {
  const target = openTarget(containerUrl);
  try {
    return await findIn(secrets, run, stateDir, target, {
      // a refused credential stops the run before it makes its state (stdout then holds only the --json error object)
      stateMayBeMissing: run.code !== 0 && !fs.existsSync(path.join(stateDir, 'state.db')),
    });
  } finally {
    await target.close?.();
  }
}

function sigOf(sas: string): string {
  return new URLSearchParams(sas).get('sig')!;
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'clfsload-cli-auth-'));
  azurite = await startAzurite();
  src = path.join(work, 'src');
  buildSmallFilesTree(src, 40, 3);
});

after(async () => {
  await azurite?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

async function assertLoaded(run: Run, containerUrl: string): Promise<void> {
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { status: string; errors: number };
  assert.equal(summary.status, 'complete');
  assert.equal(summary.errors, 0);
  const target = openTarget(containerUrl);
  try {
    const report = await verify(target, { source: src });
    assert.ok(report.ok, JSON.stringify(report.problems.slice(0, 3)));
  } finally {
    await target.close?.();
  }
}

const sasWays: Array<{ name: string; run: (bare: string, sas: string, state: string) => Promise<Run> }> = [
  { name: 'CLFSLOAD_SAS', run: (bare, sas, state) => cli(['load', src, bare, '--new', '--state', state, '--json', '--log-level', 'debug'], { CLFSLOAD_SAS: sas }) },
  {
    name: '--sas-file FILE',
    run: (bare, sas, state) => {
      const file = path.join(work, `sas-${path.basename(state)}.txt`);
      fs.writeFileSync(file, `?${sas}\n`, { mode: 0o600 });
      return cli(['load', src, bare, '--new', '--state', state, '--json', '--log-level', 'debug', '--sas-file', file]);
    },
  },
  { name: '--sas-file - (standard input)', run: (bare, sas, state) => cli(['load', src, bare, '--new', '--state', state, '--json', '--log-level', 'debug', '--sas-file', '-'], {}, `${sas}\n`) },
];

for (const way of sasWays) {
  test(`a SAS from ${way.name} loads a container given without one, and is written nowhere`, async () => {
    const c = await azurite.makeContainer();
    const state = path.join(work, `state-${way.name.replace(/\W+/g, '')}`);
    const run = await way.run(`${azurite.endpoint}/${c.containerName}`, c.sasToken, state);
    await assertLoaded(run, c.url);
    assert.deepEqual(await secretFindings([sigOf(c.sasToken)], run, state, c.url), []);
    // the search finds what is there: the container's name is in the state and the output
    assert.notDeepEqual(await secretFindings([c.containerName], run, state, c.url), []);
  });
}

test('a SAS both in the URL and in --sas-file is refused in one line; an unreadable --sas-file names itself', async () => {
  const c = await azurite.makeContainer();
  const file = path.join(work, 'twice.txt');
  fs.writeFileSync(file, c.sasToken);
  const twice = await cli(['load', src, c.url, '--new', '--state', path.join(work, 'st-twice'), '--sas-file', file]);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /^clfsload: a SAS is given twice, in the target URL and with --sas-file/);
  assert.ok(!twice.stderr.includes(sigOf(c.sasToken)));
  const missing = await cli(['load', src, `${azurite.endpoint}/${c.containerName}`, '--new', '--state', path.join(work, 'st-missing'), '--sas-file', path.join(work, 'nope.txt')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read the SAS from --sas-file .*nope\.txt \(ENOENT\)/);
  const notSas = path.join(work, 'notsas.txt');
  fs.writeFileSync(notSas, 'hello-this-is-no-sas\n');
  const bad = await cli(['load', src, `${azurite.endpoint}/${c.containerName}`, '--new', '--state', path.join(work, 'st-bad'), '--sas-file', notSas]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /has no sig= field/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
});

test('AZURE_STORAGE_KEY signs a load of a URL without a SAS; the key is written nowhere', async () => {
  const c = await azurite.makeContainer();
  const state = path.join(work, 'state-key');
  const run = await cli(['load', src, `${azurite.endpoint}/${c.containerName}`, '--new', '--state', state, '--json', '--log-level', 'debug', '--auth', 'key'], { AZURE_STORAGE_KEY: azurite.accountKey });
  await assertLoaded(run, c.url);
  assert.deepEqual(await secretFindings([azurite.accountKey], run, state, c.url), []);
});

test('AZURE_STORAGE_CONNECTION_STRING gives the key and the endpoint: the target is just the container name', async () => {
  const c = await azurite.makeContainer();
  const state = path.join(work, 'state-cs');
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${azurite.accountName};AccountKey=${azurite.accountKey};BlobEndpoint=${azurite.endpoint};`;
  const run = await cli(['load', src, c.containerName, '--new', '--state', state, '--json'], { AZURE_STORAGE_CONNECTION_STRING: connectionString });
  await assertLoaded(run, c.url);
  assert.deepEqual(await secretFindings([azurite.accountKey], run, state, c.url), []);
  // the read commands sign in the same way
  const ls = await cli(['ls', c.containerName, '/'], { AZURE_STORAGE_CONNECTION_STRING: connectionString });
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^d000$/m);
});

test('failed runs keep secrets out too: a forged SAS signature, a wrong account key', async () => {
  const c = await azurite.makeContainer();
  const forged = new URLSearchParams(c.sasToken);
  const forgedSig = 'LEAKMARKERsasSignature0123456789abcdefABCDEF=';
  forged.set('sig', forgedSig);
  const s1 = path.join(work, 'state-forged');
  const r1 = await cli(['load', src, `${azurite.endpoint}/${c.containerName}`, '--new', '--state', s1, '--json', '--log-level', 'debug'], { CLFSLOAD_SAS: forged.toString() });
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /clfsload: .*rejected the SAS token \((AuthenticationFailed|AuthorizationFailure)\)/);
  assert.deepEqual(await secretFindings([forgedSig], r1, s1, c.url), []);

  const wrongKey = Buffer.from('LEAKMARKER-wrong-account-key-0123456789-LEAKMARKER-wrong-key!!').toString('base64');
  const s2 = path.join(work, 'state-wrongkey');
  const r2 = await cli(['load', src, `${azurite.endpoint}/${c.containerName}`, '--new', '--state', s2, '--json', '--log-level', 'debug'], { AZURE_STORAGE_KEY: wrongKey });
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /clfsload: .*rejected the account key \(AuthorizationFailure\).*x-ms-request-id/);
  assert.equal(r2.stderr.trim().split('\n').filter((l) => l.startsWith('clfsload:')).length, 1);
  assert.deepEqual(await secretFindings([wrongKey], r2, s2, c.url), []);
});

test("the reference's positional form takes - for the SAS and reads it from CLFSLOAD_SAS", async () => {
  const c = await azurite.makeContainer();
  const state = path.join(work, 'state-legacy');
  const run = await cli(['--new', state, src, azurite.accountName, c.containerName, '-', '--endpoint', azurite.endpoint], { CLFSLOAD_SAS: c.sasToken });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^complete: /);
  const target = openTarget(c.url);
  try {
    assert.ok((await verify(target, { source: src })).ok);
  } finally {
    await target.close?.();
  }
  assert.deepEqual(await secretFindings([sigOf(c.sasToken)], run, state, c.url), []);
});

test('a missing credential for the --auth asked for is a usage error naming where to put it', async () => {
  const url = `${azurite.endpoint}/nosuch`;
  const noSas = await cli(['load', src, url, '--new', '--state', path.join(work, 'st-nosas'), '--auth', 'sas']);
  assert.equal(noSas.code, 2);
  assert.match(noSas.stderr, /^clfsload: --auth sas but no SAS for container nosuch: add \?SAS to the URL, set CLFSLOAD_SAS, or give --sas-file/);
  const noKey = await cli(['load', src, url, '--new', '--state', path.join(work, 'st-nokey'), '--auth', 'key']);
  assert.equal(noKey.code, 2);
  assert.match(noKey.stderr, /^clfsload: --auth key but no account key: set AZURE_STORAGE_KEY/);
  const other = await cli(['load', src, url, '--new', '--state', path.join(work, 'st-other')], { AZURE_STORAGE_CONNECTION_STRING: 'AccountName=otheracct;AccountKey=c2VjcmV0LWtleS1tYXJrZXI=' });
  assert.equal(other.code, 2);
  assert.match(other.stderr, /^clfsload: AZURE_STORAGE_CONNECTION_STRING is for account otheracct but the target is in account devstoreaccount1/);
  assert.ok(!other.stderr.includes('c2VjcmV0LWtleS1tYXJrZXI='));
  // a broken connection string does not stop a load that has its SAS
  const c = await azurite.makeContainer();
  const withSas = await cli(['load', src, c.url, '--new', '--state', path.join(work, 'st-brokencs'), '--json'], { AZURE_STORAGE_CONNECTION_STRING: 'garbage' });
  await assertLoaded(withSas, c.url);
  const folder = await cli(['load', src, `file://${path.join(work, 'folder-out')}`, '--new', '--state', path.join(work, 'st-folder'), '--auth', 'entra']);
  assert.equal(folder.code, 2);
  assert.match(folder.stderr, /^clfsload: --auth entra is for Azure targets/);
});
