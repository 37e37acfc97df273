/**
 * The addon's one-call small-file read (readSmall, used by the encode workers when it is built)
 * against the fs calls it replaces: for every case the encoder's result is the same, blob bytes
 * and error included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { freshIdentity } from '../../src/load/load.js';
import { newEntryFrom } from '../../src/load/dir-scan.js';
import { setNativeSmallReads, SingleObjectEncoder } from '../../src/load/single-object.js';
import { lstatEntry } from '../../src/scan/index.js';
import { EntryState } from '../../src/state/index.js';
import type { EntryRow } from '../../src/state/index.js';
import { nativeFileFunctions } from '../../src/targets/native-addon.js';

const io = nativeFileFunctions({}).fns;

test('readSmall is built and installed (npm run build:native)', () => {
  assert.ok(io !== undefined, nativeFileFunctions({}).why);
  assert.equal(nativeFileFunctions({ CLFSLOAD_NATIVE: '0' }).fns, undefined);
});

test('readSmall: the encoder gives the same result as with fs calls, for files that are as scanned, changed, grown, gone or not files', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clfs-native-read-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const identity = freshIdentity(Buffer.from(dir), { targetKey: 'file:/x' });
  const encoder = new SingleObjectEncoder(identity, 'lz4');
  const parentFh = Buffer.alloc(24, 1);
  const cases: Array<{ name: string; make: () => void; after?: (p: string) => void; want: string }> = [
    { name: 'empty', make: () => fs.writeFileSync(path.join(dir, 'empty'), ''), want: 'blob' },
    { name: 'text', make: () => fs.writeFileSync(path.join(dir, 'text'), 'hello '.repeat(500)), want: 'blob' },
    { name: 'exactly-16k', make: () => fs.writeFileSync(path.join(dir, 'exactly-16k'), Buffer.alloc(16384, 7)), want: 'blob' },
    // grew past 16 KiB since the scan: the segmented path
    { name: 'grew', make: () => fs.writeFileSync(path.join(dir, 'grew'), 'x'), after: (p) => fs.writeFileSync(p, Buffer.alloc(20000, 1)), want: 'segmented' },
    // the same size, a newer mtime: changed
    { name: 'touched', make: () => fs.writeFileSync(path.join(dir, 'touched'), 'abc'), after: (p) => fs.utimesSync(p, new Date(), new Date(Date.now() + 5000)), want: 'segmented' },
    { name: 'shrank', make: () => fs.writeFileSync(path.join(dir, 'shrank'), 'abcdef'), after: (p) => fs.truncateSync(p, 2), want: 'segmented' },
    { name: 'gone', make: () => fs.writeFileSync(path.join(dir, 'gone'), 'abc'), after: (p) => fs.rmSync(p), want: 'error' },
    // a fifo where the file was: neither call may hang on it
    { name: 'now-fifo', make: () => fs.writeFileSync(path.join(dir, 'now-fifo'), ''), after: (p) => (fs.rmSync(p), execFileSync('mkfifo', [p])), want: 'segmented' },
    { name: 'now-dir', make: () => fs.writeFileSync(path.join(dir, 'now-dir'), ''), after: (p) => (fs.rmSync(p), fs.mkdirSync(p)), want: 'error' },
  ];
  for (const c of cases) {
    c.make();
    const p = path.join(dir, c.name);
    const e = lstatEntry(Buffer.from(p), Buffer.from(c.name));
    if (e.kind !== 'file') throw new Error(c.name);
    const row = { ...newEntryFrom(e, 1, Buffer.alloc(24, 2), null, EntryState.PENDING), id: 5, pending: 0, plannedSegments: 0, gen: 0 } as unknown as EntryRow;
    c.after?.(p);
    const results = [io!.readSmall, undefined].map((fn) => {
      // a fifo put in the file's place: the fs path would block in open; its row is what the
      // lister saw, a file, so only the native call is asked there
      if (fn === undefined && c.name === 'now-fifo') return undefined;
      setNativeSmallReads(fn);
      try {
        return encoder.encode({ row, parentFh, parentPath: Buffer.from(dir) });
      } finally {
        setNativeSmallReads(undefined);
      }
    });
    const [native, js] = results;
    assert.equal(native!.kind, c.want, `${c.name}: ${JSON.stringify(native)}`);
    if (js !== undefined) assert.deepEqual(native, js, c.name);
  }
});
