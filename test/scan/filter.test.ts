import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_FILTERS, matchText, patternsOfFile, SourceFilter, utf8SequenceLength } from '../../src/scan/index.js';
import { mulberry32 } from '../../src/targets/index.js';
import type { FilterSpec } from '../../src/scan/index.js';
import { isClfsError } from '../../src/errors/index.js';

const spec = (over: Partial<FilterSpec>): FilterSpec => ({ ...DEFAULT_FILTERS, ...over });
const b = (s: string | number[]) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s));
/** whether `rel` (a relative path, as bytes) is left out */
function out(f: SourceFilter, rel: Buffer | string, isDir = false): boolean {
  const r = typeof rel === 'string' ? b(rel) : rel;
  const slash = r.lastIndexOf(0x2f);
  return f.excluded(r, r.subarray(slash + 1), isDir);
}

test('unanchored patterns match a name at any depth; anchored ones only from the root', () => {
  const f = SourceFilter.compile(spec({ exclude: ['*.tmp', '/top/only', 'mid/dle'] }));
  assert.equal(out(f, 'a.tmp'), true);
  assert.equal(out(f, 'x/y/z.tmp'), true);
  assert.equal(out(f, 'x/y/z.tmp.keep'), false);
  assert.equal(out(f, 'top/only'), true);
  assert.equal(out(f, 'x/top/only'), false);
  assert.equal(out(f, 'mid/dle'), true);
  assert.equal(out(f, 'a/mid/dle'), true);
  assert.equal(out(f, 'amid/dle'), false, 'a pattern with / matches at a name boundary');
});

test('a trailing / matches directories only; ** crosses names, * does not', () => {
  const f = SourceFilter.compile(spec({ exclude: ['cache/', '/a/*/c', '/deep/**'] }));
  assert.equal(out(f, 'x/cache', true), true);
  assert.equal(out(f, 'x/cache', false), false);
  assert.equal(out(f, 'a/b/c'), true);
  assert.equal(out(f, 'a/b/b/c'), false);
  assert.equal(out(f, 'deep', true), true);
  assert.equal(out(f, 'deep/x/y/z'), true);
});

test('.snapshot and .zfs directories are left out by default, kept with keepSnapshotDirs; files of those names are kept', () => {
  const d = SourceFilter.compile(DEFAULT_FILTERS);
  assert.equal(out(d, '.snapshot', true), true);
  assert.equal(out(d, 'a/b/.zfs', true), true);
  assert.equal(out(d, 'a/.snapshot', false), false);
  assert.equal(out(d, 'a/.snapshots', true), false);
  const k = SourceFilter.compile(spec({ keepSnapshotDirs: true }));
  assert.equal(out(k, '.snapshot', true), false);
  assert.equal(k.active, false);
});

test('includes keep only matching non-directories; directories are still read; an exclude wins', () => {
  const f = SourceFilter.compile(spec({ include: ['*.jpg', '/docs/'], exclude: ['secret*'] }));
  assert.equal(out(f, 'a/b.jpg'), false);
  assert.equal(out(f, 'a/b.png'), true);
  assert.equal(out(f, 'a', true), false);
  assert.equal(out(f, 'docs/x/readme.txt'), false, 'an include of a directory keeps what is below it');
  assert.equal(out(f, 'other/docs/readme.txt'), true, 'anchored');
  assert.equal(out(f, 'a/secret.jpg'), true);
});

test('names that look like patterns are matched as themselves; only * ? [ ] { } and \\ are syntax', () => {
  const f = SourceFilter.compile(spec({ exclude: ['(x)', 'a|b', '+(y)', '!neg', '@(z)', 'lit\\*star', '$^.{}', 'br[[]ck'] }));
  for (const name of ['(x)', 'a|b', '+(y)', '!neg', '@(z)', 'lit*star', 'br[ck']) assert.equal(out(f, `d/${name}`), true, name);
  for (const name of ['x', 'a', 'b', 'y', 'neg', 'z', 'litxstar', 'litstar']) assert.equal(out(f, `d/${name}`), false, name);
  assert.equal(out(f, 'd/$^.{}'), true);
  assert.equal(out(f, 'd/$^.'), false);
  const plain = ['a-b', 'a b', '#x', '~x', "it's", 'a,b', 'ü.txt', '%20', 'a=b;c'];
  const p = SourceFilter.compile(spec({ exclude: plain }));
  for (const name of plain) assert.equal(out(p, `d/${name}`), true, name);
  // braces are alternatives only with a comma inside; any other brace is itself; a name equal to a
  // pattern's text is not a match for that reason alone
  const br = SourceFilter.compile(spec({ exclude: ['x{}', 'a{b', 'c}d', '{e}', 'w{a,b', '{j,k}.x', 'n{a,{b,c}}'] }));
  for (const name of ['x{}', 'a{b', 'c}d', '{e}', 'w{a,b', 'j.x', 'k.x', 'na', 'nb', 'nc']) assert.equal(out(br, name), true, name);
  for (const name of ['x', 'e', 'wa', '{j,k}.x', 'n{a,{b,c}}']) assert.equal(out(br, name), false, name);
  // backslashes in names (picomatch alone hangs on a glob with two escaped ones); a comma escaped inside braces
  const bs = SourceFilter.compile(spec({ exclude: ['a\\\\\\\\b', 'c\\\\', '{x\\,y,z}'] }));
  for (const name of ['a\\\\b', 'c\\', 'x,y', 'z']) assert.equal(out(bs, name), true, name);
  for (const name of ['a\\b', 'ab', 'c', 'x', 'y']) assert.equal(out(bs, name), false, name);
  const g = SourceFilter.compile(spec({ exclude: ['\\{a,b\\}', '[*]', 'q\\?'] }));
  assert.equal(out(g, '{a,b}'), true);
  assert.equal(out(g, 'a'), false);
  assert.equal(out(g, '*'), true);
  assert.equal(out(g, 'x'), false);
  assert.equal(out(g, 'q?'), true);
  assert.equal(out(g, 'qq'), false);
});

test('names not valid UTF-8: \\xNN names a byte, ? and * match it, UTF-8 characters are one character', () => {
  const latin1 = b([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]); // caf\xe9.txt
  const utf8 = b('café.txt');
  const f = SourceFilter.compile(spec({ exclude: ['caf\\xe9.txt'] }));
  assert.equal(out(f, latin1), true);
  assert.equal(out(f, utf8), false);
  const q = SourceFilter.compile(spec({ exclude: ['caf?.txt'] }));
  assert.equal(out(q, latin1), true);
  assert.equal(out(q, utf8), true, '? is one character: é is one');
  assert.equal(out(q, b('caf\u2615.txt')), true);
  assert.equal(out(q, b('cafxx.txt')), false);
  const u = SourceFilter.compile(spec({ exclude: ['caf\\xc3\\xa9.txt'] }));
  assert.equal(out(u, utf8), true, 'bytes of a UTF-8 character written as \\xNN read as that character');
  assert.equal(out(u, latin1), false);
  const star = SourceFilter.compile(spec({ exclude: ['*\\xff*'] }));
  assert.equal(out(star, b([0x61, 0xff, 0x62])), true);
  assert.equal(out(star, b([0x61, 0xfe, 0x62])), false);
  // no two byte strings read the same
  assert.notEqual(matchText(b([0xc3, 0xa9])), matchText(b([0xc3])) + matchText(b([0xa9])));
  assert.notEqual(matchText(b([0xed, 0xb3, 0xbf])), matchText(b([0xff])));
});

test('bad patterns are usage errors naming the option', () => {
  const cases: Array<[Partial<FilterSpec>, string]> = [[{ exclude: [''] }, '--exclude'], [{ include: ['x\\'] }, '--include'], [{ exclude: ['/'] }, '--exclude'], [{ excludeIfPresent: ['a/b'] }, '--exclude-if-present']];
  for (const [s, option] of cases) {
    assert.throws(() => SourceFilter.compile(spec(s)), (e: unknown) => isClfsError(e) && e.code === 'E_USAGE' && e.message.includes(option));
  }
});

test('--exclude-from lines: comments and blanks skipped, CR and trailing blanks cut, bytes kept as \\xNN', () => {
  const file = Buffer.concat([b('# comment\n\n*.tmp  \r\n/cache/\n'), b([0x78, 0xff, 0x0a]), b('last')]);
  const lines = patternsOfFile(file);
  assert.deepEqual(lines, ['*.tmp', '/cache/', 'x\\xff', 'last']);
  const f = SourceFilter.compile(spec({ exclude: lines }));
  assert.equal(out(f, b([0x64, 0x2f, 0x78, 0xff])), true);
});

test('seeded random names: any name escaped with \\ (and \\xNN for bytes not UTF-8) matches itself and not its neighbours; any pattern compiles or is a usage error', () => {
  const rand = mulberry32(19);
  const alphabet = [...'ab*?[]{},!()|+@$^.\\-# ~é☕'].map((c) => Buffer.from(c)).concat([Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0x01])]);
  const pick = () => alphabet[Math.floor(rand() * alphabet.length)]!;
  const escape = (name: Buffer): string => {
    let s = '';
    let i = 0;
    while (i < name.length) {
      const n = utf8SequenceLength(name, i);
      if (n === 0 || name[i]! < 0x20) {
        s += `\\x${name[i]!.toString(16).padStart(2, '0')}`;
        i++;
      } else {
        const c = name.toString('utf8', i, i + n);
        s += /[A-Za-z0-9]/.test(c) || n > 1 ? c : `\\${c}`;
        i += n;
      }
    }
    return s;
  };
  for (let round = 0; round < 500; round++) {
    const name = Buffer.concat(Array.from({ length: 1 + Math.floor(rand() * 8) }, pick));
    const f = SourceFilter.compile(spec({ exclude: [escape(name)] }));
    assert.equal(out(f, Buffer.concat([b('d/'), name])), true, `${escape(name)} matches ${name.toString('hex')}`);
    assert.equal(out(f, Buffer.concat([b('d/'), name, b('z')])), false);
    assert.equal(out(f, Buffer.concat([b('d/z'), name])), false);
    const raw = Buffer.concat(Array.from({ length: 1 + Math.floor(rand() * 8) }, pick)).toString('utf8');
    try {
      SourceFilter.compile(spec({ exclude: [raw] }));
    } catch (e) {
      assert.ok(isClfsError(e) && e.code === 'E_USAGE' && e.message.startsWith('--exclude'), `pattern ${JSON.stringify(raw)}: ${(e as Error).message}`);
    }
  }
});
