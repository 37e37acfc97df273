/**
 * Randomized torture of the load pipeline (issue 11): seeded random trees, loads in a child process
 * (the CLI, or the library through load-child.js) with injected source faults, killed with SIGKILL
 * at random points (mid-scan of a directory larger than a scan batch included), resumed.
 *
 * After every run that ended, the invariant of docs/architecture.md is checked:
 *   exit 0 ⇔ every entry of the source is in the container and verifies; any failed entry ⇒
 *   non-zero exit, its path in the problems file (STATE/problems.txt) and in the JSON summary;
 *   and no dirent in the container that points at nothing.
 * Then the faults are removed and the load resumed: `verify --source` must be clean and the
 * decoded container equal to an uninterrupted load's (manifest: path, type, mode, owner, size,
 * mtime, nlink, content hash, link groups).
 *
 * TORTURE_ROUNDS=N runs N rounds (default 8); TORTURE_SEED=S starts at seed S (alone: replays
 * that one round). Every failure names its seed. A replay repeats the tree, the faults and the
 * planned kill points, not the exact interleaving at a kill. TORTURE_KEEP=1 keeps a failed
 * round's folder (source, state, blobs) and prints where.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { load, verify, FolderTarget } from '../../src/index.js';
import type { LoadSummary, VerifyProblem } from '../../src/index.js';
import { displayPath, SOURCE_FAULTS_ENV, sourceFaultRulesFor } from '../../src/scan/index.js';
import type { SourceFaultPlan, SourceFaultRule } from '../../src/scan/index.js';
import { EntryState } from '../../src/state/index.js';
import { seeded } from '../helpers/tree-builder.js';
import { absPath, buildRandomTree } from '../helpers/random-tree.js';
import type { RandomEntry, RandomTree } from '../helpers/random-tree.js';
import { containerManifest, manifestLines, sourceManifest } from '../helpers/manifest.js';
import type { Manifest } from '../helpers/manifest.js';
import type { LoadChildOptions } from '../helpers/load-child.js';

const CLI = fileURLToPath(new URL('../../bin/clfsload.js', import.meta.url));
const LOAD_CHILD = fileURLToPath(new URL('../helpers/load-child.js', import.meta.url));
const DEFAULT_ROUNDS = 8;
const FIRST_SEED = Number(process.env.TORTURE_SEED ?? 1);
const ROUNDS = Number(process.env.TORTURE_ROUNDS ?? (process.env.TORTURE_SEED !== undefined ? 1 : DEFAULT_ROUNDS));
/** a child that runs this long is hung (a deadlock is a finding too) */
const CHILD_TIMEOUT_MS = 90_000;

type KillPlan = { mode: 'none' } | { mode: 'time'; atMs: number } | { mode: 'mid-scan'; extraMs: number };

interface ChildRun {
  code: number | null;
  killed: boolean;
  hung: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

interface Round {
  seed: number;
  work: string;
  tree: RandomTree;
  src: string;
  blobs: string;
  state: string;
  preserveHardlinks: boolean;
  runner: 'cli' | 'lib';
  encodeWorkers: number;
  latencyMs: number;
  maxErrors: number;
  source: Manifest;
  violations: string[];
  log: (line: string) => void;
}

function heldRows(stateDir: string): number {
  const file = path.join(stateDir, 'state.db');
  if (!fs.existsSync(file)) return 0;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    return (db.prepare('SELECT COUNT(*) AS n FROM entries WHERE state = ?').get(EntryState.HELD) as { n: number }).n;
  } catch {
    return 0; // not created yet, or busy: look again
  } finally {
    db?.close();
  }
}

function runChild(r: Round, opts: { newTransfer: boolean; faults?: SourceFaultPlan; retryErrors?: boolean; kill: KillPlan }): Promise<ChildRun> {
  let args: string[];
  if (r.runner === 'cli') {
    args = [CLI, 'load', r.src, `file://${r.blobs}`, '--state', r.state, '--json', '--max-errors', String(r.maxErrors)];
    if (opts.newTransfer) args.push('--new');
    if (r.preserveHardlinks) args.push('--preserve-hardlinks');
    if (opts.retryErrors === false) args.push('--no-retry-errors');
  } else {
    const o: LoadChildOptions = {
      source: r.src,
      blobDir: r.blobs,
      stateDir: r.state,
      newTransfer: opts.newTransfer,
      preserveHardlinks: r.preserveHardlinks,
      latencyMs: r.latencyMs,
      encodeWorkers: r.encodeWorkers,
      maxErrors: r.maxErrors,
    };
    if (opts.retryErrors !== undefined) o.retryErrors = opts.retryErrors;
    args = [LOAD_CHILD, '--options', JSON.stringify(o)];
  }
  const env = { ...process.env };
  delete env[SOURCE_FAULTS_ENV];
  if (opts.faults !== undefined) env[SOURCE_FAULTS_ENV] = JSON.stringify(opts.faults);
  const heldBefore = opts.kill.mode === 'mid-scan' ? heldRows(r.state) : 0;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let killed = false;
    let hung = false;
    const timers: NodeJS.Timeout[] = [];
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) killed = child.kill('SIGKILL');
    };
    if (opts.kill.mode === 'time') timers.push(setTimeout(kill, opts.kill.atMs));
    if (opts.kill.mode === 'mid-scan') {
      const extra = opts.kill.extraMs;
      // the big directory's scan is under way once a batch of children (1,000, less link names and failures) is stored HELD (a
      // failed scan may have left HELD rows behind: wait for the count to change); kill a little later
      let previous = heldBefore;
      const poll = setInterval(() => {
        const now = heldRows(r.state);
        if (now >= 900 && now !== previous) {
          clearInterval(poll);
          timers.push(setTimeout(kill, extra));
        }
        previous = now;
      }, 3);
      timers.push(poll);
    }
    timers.push(
      setTimeout(() => {
        hung = true;
        kill();
      }, CHILD_TIMEOUT_MS),
    );
    child.on('close', (code) => {
      for (const t of timers) clearTimeout(t);
      resolve({ code, killed: killed && code === null && !hung, hung, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function lastJson(stdout: string): LoadSummary | undefined {
  const lines = stdout.trim().split('\n').filter((l) => l.startsWith('{'));
  if (lines.length === 0) return undefined;
  try {
    return JSON.parse(lines[lines.length - 1]!) as LoadSummary;
  } catch {
    return undefined;
  }
}

/** `shown` appears in `text` as a whole path (not as the start of a longer name). */
function mentions(text: string, shown: string): boolean {
  for (let i = text.indexOf(shown); i >= 0; i = text.indexOf(shown, i + 1)) {
    const next = text[i + shown.length];
    if (next === undefined || ':\t\n )\'",;'.includes(next)) return true;
  }
  return false;
}

function parentKey(rel: Buffer): string | undefined {
  const i = rel.lastIndexOf(0x2f);
  return i < 0 ? undefined : rel.subarray(0, i).toString('hex');
}

/** A path and every directory above it (below the root), as the loader displays them. */
function selfAndAncestors(r: Round, rel: Buffer): string[] {
  const out: string[] = [];
  for (let end = rel.length; end > 0; end = rel.lastIndexOf(0x2f, end - 1)) {
    out.push(displayPath(absPath(r.tree, rel.subarray(0, end))));
    if (rel.lastIndexOf(0x2f, end - 1) < 0) break;
  }
  return out;
}

function describe(problems: VerifyProblem[], limit = 6): string {
  const shown = problems.slice(0, limit).map((p) => `      ${p.code}: ${p.message}`);
  if (problems.length > limit) shown.push(`      ... ${problems.length - limit} more`);
  return shown.join('\n');
}

/** The invariant after a run that ended (was not killed). */
async function checkEnded(r: Round, stage: string, run: ChildRun, plan: SourceFaultPlan): Promise<void> {
  const bad = (m: string) => r.violations.push(`${stage}: ${m}`);
  // one violation per kind, with a few of its paths
  const perEntry = new Map<string, string[]>();
  const note = (kind: string, p: string) => {
    const list = perEntry.get(kind) ?? [];
    list.push(p);
    perEntry.set(kind, list);
  };
  const flush = () => {
    for (const [kind, list] of perEntry) bad(`${kind}: ${list.length} ${list.length === 1 ? 'entry' : 'entries'}: ${list.slice(0, 4).join('; ')}${list.length > 4 ? '; ...' : ''}`);
  };
  const summary = lastJson(run.stdout);
  const exit = run.code;
  const target = new FolderTarget(r.blobs);
  let cm: Manifest | undefined;
  let notFinal = '';
  try {
    cm = await containerManifest(target);
  } catch (e) {
    notFinal = (e as Error).message;
  }
  const problemsFile = path.join(r.state, 'problems.txt');
  const problemsTxt = fs.existsSync(problemsFile) ? fs.readFileSync(problemsFile, 'utf8') : '';
  const complete = summary?.status === 'complete' || summary?.status === 'already-complete';
  // every failed path comes with why (a line without a tab continues the reason above it)
  for (const line of problemsTxt.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab >= 0 && line.slice(tab + 1).trim() === '') bad(`problems.txt gives no reason for ${line.slice(0, tab)}`);
  }
  r.log(`  ${stage}: exit ${exit}, status ${summary?.status ?? '(no summary)'}, errors ${summary?.errors ?? '?'}${cm ? '' : `, not finalized (${notFinal.slice(0, 80)})`}${run.stderr.includes('clfsload:') || run.stderr.includes('load-child:') ? `, stderr: ${run.stderr.trim().split('\n').pop()!.slice(0, 160)}` : ''}`);

  if (exit !== 0 && complete) bad(`exit ${exit} but the summary says ${summary!.status}`);
  if (exit === 0 && !complete) bad(`exit 0 but the summary says ${summary?.status ?? '(none)'}`);
  if (exit === 0 && (summary?.errors ?? 0) > 0) bad(`exit 0 (status ${summary!.status}) while the summary counts ${summary!.errors} errors [issue 11 case 5]`);
  if (cm === undefined) {
    if (exit === 0) bad(`exit 0 but the container has no final root: ${notFinal}`);
    return;
  }

  // nothing in the container may point at nothing, or be wrong
  const structural = (await verify(target)).problems;
  if (structural.length > 0) bad(`the container does not verify (no source):\n${describe(structural)}`);
  for (const d of cm.broken) note('broken entries in the container', d);
  const missing: Buffer[] = [];
  // names of hard-linked inodes: checked by group below
  const linked = new Set(r.preserveHardlinks ? r.tree.linkGroups.flat().map((n) => n.toString('hex')) : []);
  for (const [k, e] of r.source.entries) {
    const c = cm.entries.get(k);
    if (c === undefined) {
      const pk = parentKey(e.path);
      if (pk === undefined || cm.entries.has(pk)) missing.push(e.path);
      continue;
    }
    if (c.type !== e.type || c.size !== e.size || c.content !== e.content) {
      note('in the container but different from the source', `${displayPath(e.path)} (type ${c.type}/${e.type}, size ${c.size}/${e.size}, content ${c.content.slice(0, 8)}/${e.content.slice(0, 8)})`);
    } else if (e.type !== 'dir' && !linked.has(k) && (c.nlink !== e.nlink || c.group !== e.group)) {
      note('hard-link structure differs from the source', `${displayPath(e.path)} (nlink ${c.nlink}, group "${c.group}"; source nlink ${e.nlink}, group "${e.group}")`);
    }
  }
  for (const [k, c] of cm.entries) if (!r.source.entries.has(k)) note('in the container but not in the source', displayPath(c.path));
  if (r.preserveHardlinks) {
    // names below a directory that failed were never seen by the load, nor was a name whose own
    // lstat failed (the load cannot tell which inode it names, as with a name outside the source):
    // the inode it stored has the names it could see, and nlink says so. A failed name is in the
    // problems (checked with every missing entry below)
    const lstatFailed = (n: Buffer) => !cm!.entries.has(n.toString('hex')) && sourceFaultRulesFor(plan, 'lstat', absPath(r.tree, n)).length > 0;
    for (const names of r.tree.linkGroups) {
      const visible = names.filter((n) => {
        const pk = parentKey(n);
        return (pk === undefined || cm!.entries.has(pk)) && !lstatFailed(n);
      });
      const present = visible.filter((n) => cm!.entries.has(n.toString('hex')));
      if (present.length > 0 && present.length < visible.length) {
        bad(`hard-linked inode partly loaded: ${present.map((n) => displayPath(n)).join(', ')} present, ${visible.filter((n) => !present.includes(n)).map((n) => displayPath(n)).join(', ')} missing (a failed inode must leave out all its names) [issue 11 case 3]`);
        continue;
      }
      const first = displayPath([...visible].sort(Buffer.compare)[0] ?? Buffer.alloc(0));
      for (const n of present) {
        const c = cm.entries.get(n.toString('hex'))!;
        const wantGroup = visible.length > 1 ? first : '';
        if (c.nlink !== visible.length || c.group !== wantGroup) {
          note('hard-link structure differs from the source', `${displayPath(n)} (nlink ${c.nlink}, group "${c.group}"; expected nlink ${visible.length}, group "${wantGroup}")`);
        }
      }
    }
  }

  if (missing.length === 0) {
    flush();
    if (exit !== 0) bad(`exit ${exit} (status ${summary?.status ?? '?'}) although every source entry is in the container`);
    if (exit === 0) {
      const withSource = (await verify(target, { source: r.src })).problems;
      if (withSource.length > 0) bad(`exit 0 but verify --source finds problems:\n${describe(withSource)}`);
    }
    return;
  }
  const shown = missing.map((m) => displayPath(m));
  r.log(`    missing from the container: ${shown.slice(0, 8).join(', ')}${shown.length > 8 ? ` (+${shown.length - 8})` : ''}`);
  if (exit === 0) bad(`exit 0 but ${missing.length} source entries are not in the container: ${shown.slice(0, 8).join(', ')}`);
  const summaryText = (summary?.problems ?? []).map((p) => `${p.path}: ${p.message}`).join('\n');
  const truncated = summary !== undefined && summary.problemsTotal > summary.problems.length;
  for (const m of missing) {
    const names = selfAndAncestors(r, m);
    if (!names.some((n) => mentions(problemsTxt, n))) note(`not in the container and not in ${problemsTxt === '' ? 'a problems file (there is none)' : 'problems.txt'}`, displayPath(m));
    if (summary === undefined) continue;
    if (!truncated && !names.some((n) => mentions(summaryText, n))) note(`not in the container and not among the JSON summary's problems (${summary.errors} errors)`, displayPath(m));
  }
  flush();
  if (summary !== undefined && summary.errors === 0) bad(`${missing.length} entries missing but the summary counts 0 errors`);
}

/** After the faults are gone and the load resumed: clean, and equal to the uninterrupted load. */
async function checkClean(r: Round, stage: string, run: ChildRun, reference: Manifest): Promise<void> {
  const bad = (m: string) => r.violations.push(`${stage}: ${m}`);
  const summary = lastJson(run.stdout);
  r.log(`  ${stage}: exit ${run.code}, status ${summary?.status ?? '(no summary)'}, errors ${summary?.errors ?? '?'}${run.code !== 0 ? `, stderr: ${run.stderr.trim().split('\n').pop()?.slice(0, 160)}` : ''}`);
  if (run.code !== 0) bad(`the fault-free resume exited ${run.code} (status ${summary?.status ?? '?'}): ${run.stderr.trim().split('\n').pop()?.slice(0, 200)}`);
  const target = new FolderTarget(r.blobs);
  const report = await verify(target, { source: r.src });
  if (!report.ok) bad(`verify --source after the fault-free resume:\n${describe(report.problems)}`);
  let cm: Manifest;
  try {
    cm = await containerManifest(target);
  } catch (e) {
    bad(`the container cannot be read after the fault-free resume: ${(e as Error).message}`);
    return;
  }
  const got = manifestLines(cm);
  const want = manifestLines(reference);
  if (got.join('\n') !== want.join('\n')) {
    const gotSet = new Set(got);
    const wantSet = new Set(want);
    const lost = want.filter((l) => !gotSet.has(l));
    const extra = got.filter((l) => !wantSet.has(l));
    bad(`the container differs from an uninterrupted load's:\n${lost.slice(0, 6).map((l) => `      uninterrupted: ${l}`).join('\n')}\n${extra.slice(0, 6).map((l) => `      this load:     ${l}`).join('\n')}${lost.length + extra.length > 12 ? `\n      ... (${lost.length} lines only in the uninterrupted load, ${extra.length} only in this one)` : ''}`);
  }
  if (cm.broken.length > 0) bad(`${cm.broken.length} broken entries: ${cm.broken.slice(0, 4).join('; ')}`);
}

/**
 * Each round leans towards one of issue 11's holes (seed modulo 6), so that the default rounds
 * cover them all; everything else about the round stays random.
 * - partial-readdir: a big directory whose listing fails past the first scan batch, once [case 1]
 * - mid-scan-links: hard links preserved, a big directory holding link names, killed mid-scan [case 2]
 * - link-group: hard links preserved, every name of a linked file fails to open, once [case 3]
 * - lstat: children whose lstat fails [case 4]
 * - no-retry: a re-run with --no-retry-errors after failures [case 5]
 * - free: nothing forced
 */
const FOCI = ['partial-readdir', 'mid-scan-links', 'link-group', 'lstat', 'no-retry', 'free'] as const;
type Focus = (typeof FOCI)[number];

function pickOne<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function regexEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** 1-4 random faults against entries of the tree (never the root: a root that fails is another story). */
function randomFaults(rand: () => number, tree: RandomTree, seed: number, focus: Focus): { plan: SourceFaultPlan; text: string[] } {
  const rules: SourceFaultRule[] = [];
  const text: string[] = [];
  const hex = (e: RandomEntry | Buffer) => absPath(tree, Buffer.isBuffer(e) ? e : e.rel).toString('hex');
  const name = (e: RandomEntry | Buffer) => displayPath(Buffer.isBuffer(e) ? e : e.rel);
  const times = () => pickOne(rand, [1, 1, 2, -1, -1]);
  const code = (codes: string[]) => pickOne(rand, codes);
  const add = (rule: SourceFaultRule, what: string) => {
    rules.push(rule);
    text.push(`${what}${rule.after !== undefined ? ` after ${rule.after}` : ''}${rule.afterBytes !== undefined ? ` afterBytes ${rule.afterBytes}` : ''}${rule.probability !== undefined ? ` p=${rule.probability}` : ''} ${rule.code ?? ''} x${rule.times ?? -1}${rule.delayMs ? ` delay ${rule.delayMs} ms` : ''}`);
  };
  const kinds = ['readdir', 'readdir', 'opendir', 'lstat', 'lstat', 'lstat-many', 'open', 'read', 'read', 'link-group', 'readlink'];
  const n = 1 + Math.floor(rand() * 4);
  // the round's focus comes first: the fault it needs, retried on resume (times 1)
  const first = focus === 'partial-readdir' ? 'readdir' : focus === 'link-group' ? 'link-group' : focus === 'lstat' ? pickOne(rand, ['lstat', 'lstat-many']) : undefined;
  for (let i = 0; i < n; i++) {
    const kind = i === 0 && first !== undefined ? first : pickOne(rand, kinds);
    const dirs = tree.dirs;
    const files = tree.files;
    const symlinks = tree.entries.filter((e) => e.kind === 'symlink');
    if (kind === 'readdir' && dirs.length > 0) {
      // the big directory most of the time: a listing that fails past the first scan batch [case 1]
      const d = tree.bigDir !== undefined && (rand() < 0.7 || (i === 0 && focus === 'partial-readdir')) ? tree.bigDir : pickOne(rand, dirs);
      const size = tree.entries.filter((e) => parentKey(e.rel) === d.rel.toString('hex')).length;
      const after = d === tree.bigDir ? 1000 + Math.floor(rand() * (size - 1000)) : Math.floor(rand() * Math.max(1, size));
      add({ op: 'readdir', pathHex: hex(d), after, code: code(['EIO', 'EIO', 'ESTALE']), times: i === 0 && focus === 'partial-readdir' ? 1 : times() }, `readdir ${name(d)}`);
    } else if (kind === 'opendir' && dirs.length > 0) {
      const d = pickOne(rand, dirs);
      add({ op: 'opendir', pathHex: hex(d), code: code(['EACCES', 'EIO', 'ENOENT']), times: times() }, `opendir ${name(d)}`);
    } else if (kind === 'lstat') {
      const e = pickOne(rand, tree.entries);
      add({ op: 'lstat', pathHex: hex(e), code: code(['EACCES', 'ENOENT', 'EIO']), times: times() }, `lstat ${name(e)}`);
    } else if (kind === 'lstat-many' && dirs.length > 0) {
      // a few children of one directory unreadable at once [case 4]
      const d = tree.bigDir !== undefined && rand() < 0.5 ? tree.bigDir : pickOne(rand, dirs);
      const dirText = absPath(tree, d.rel).toString('utf8');
      add({ op: 'lstat', pathRegex: `^${regexEscape(dirText)}/[^/]+$`, probability: 0.01 + rand() * 0.05, code: 'EACCES', times: -1 }, `lstat children of ${name(d)}`);
    } else if (kind === 'open' && files.length > 0) {
      const f = pickOne(rand, files);
      add({ op: 'open', pathHex: hex(f), code: code(['EACCES', 'ENOENT', 'EIO']), times: times() }, `open ${name(f)}`);
    } else if (kind === 'read' && files.length > 0) {
      const big = files.filter((f) => f.size > 16384);
      const f = big.length > 0 && rand() < 0.7 ? pickOne(rand, big) : pickOne(rand, files);
      const rule: SourceFaultRule = { op: 'read', pathHex: hex(f), code: 'EIO', times: times() };
      if (f.size > 1) rule.afterBytes = Math.floor(rand() * f.size);
      add(rule, `read ${name(f)}`);
    } else if (kind === 'link-group' && tree.linkGroups.length > 0) {
      // every name of a hard-linked file fails to open (whichever the loader reads) [case 3]
      const g = pickOne(rand, tree.linkGroups);
      const t = i === 0 && focus === 'link-group' ? 1 : times();
      const c = code(['EIO', 'EACCES']);
      for (const rel of g) add({ op: 'open', pathHex: hex(rel), code: c, times: t }, `open (hard link) ${name(rel)}`);
    } else if (kind === 'readlink' && symlinks.length > 0) {
      const l = pickOne(rand, symlinks);
      add({ op: 'readlink', pathHex: hex(l), code: 'EIO', times: times() }, `readlink ${name(l)}`);
    }
  }
  return { plan: { seed, rules }, text };
}

/** Slows the scan of the big directory so a kill can land inside it. */
function slowScan(tree: RandomTree): SourceFaultRule {
  const dirText = absPath(tree, tree.bigDir!.rel).toString('utf8');
  return { op: 'lstat', pathRegex: `^${regexEscape(dirText)}/[^/]+$`, probability: 0.3, delayMs: 1 };
}

async function runRound(seed: number, work: string, log: (line: string) => void): Promise<string[]> {
  const rand = seeded(seed * 7919 + 17);
  const src = path.join(work, 'src');
  const focus: Focus = FOCI[seed % FOCI.length]!;
  const bigDir = rand() < 0.5 || focus === 'partial-readdir' || focus === 'mid-scan-links';
  const bigFiles = rand() < 0.3;
  const tree = buildRandomTree(src, rand, { bigDir, bigFiles });
  const preserveHardlinks = rand() < 0.5 || focus === 'mid-scan-links' || focus === 'link-group';
  const r: Round = {
    seed,
    work,
    tree,
    src,
    blobs: path.join(work, 'blobs'),
    state: path.join(work, 'state'),
    preserveHardlinks,
    runner: rand() < 0.5 ? 'cli' : 'lib',
    encodeWorkers: Math.floor(rand() * 3),
    latencyMs: rand() < 0.5 ? 0 : 1 + Math.floor(rand() * 3),
    maxErrors: rand() < 0.8 ? 0 : 50,
    source: sourceManifest(src, { preserveHardlinks }),
    violations: [],
    log,
  };
  log(
    `seed ${seed} (focus ${focus}): ${tree.entries.length} entries, ${tree.dirs.length} dirs${tree.bigDir ? `, big dir ${displayPath(tree.bigDir.rel)} (${tree.entries.filter((e) => parentKey(e.rel) === tree.bigDir!.rel.toString('hex')).length} entries)` : ''}, ` +
      `${tree.files.filter((f) => f.size > 8 * 1024 * 1024).length} files > 8 MiB, ${tree.linkGroups.length} hard-link groups (${tree.linkGroups.map((g) => g.length).join(',')} names); ` +
      `hardlinks ${preserveHardlinks ? 'preserved' : 'copied'}; runner ${r.runner}${r.runner === 'lib' ? ` (encode workers ${r.encodeWorkers}, latency ${r.latencyMs} ms)` : ''}; max-errors ${r.maxErrors}`,
  );

  // the uninterrupted load, fault-free, in this process
  const refBlobs = path.join(work, 'ref-blobs');
  fs.mkdirSync(refBlobs);
  const refTarget = new FolderTarget(refBlobs);
  const t0 = Date.now();
  const refSummary = await load({ source: src, target: refTarget, targetKey: `file:${refBlobs}`, stateDir: path.join(work, 'ref-state'), newTransfer: true, preserveHardlinks });
  const refMs = Date.now() - t0;
  if (refSummary.status !== 'complete') r.violations.push(`uninterrupted load without faults: status ${refSummary.status}, problems ${refSummary.problems.map((p) => p.path).join('; ')}`);
  const refReport = await verify(refTarget, { source: src });
  if (!refReport.ok) r.violations.push(`uninterrupted load without faults does not verify --source:\n${describe(refReport.problems)}`);
  const reference = await containerManifest(refTarget);
  if (r.violations.length > 0) return r.violations;

  // faulted runs: up to three attempts, all but the last perhaps killed
  const { plan, text } = randomFaults(rand, tree, seed, focus);
  log(`  faults: ${text.join('; ')}`);
  fs.mkdirSync(r.blobs);
  const estimate = refMs + 400;
  const attempts = Math.max(focus === 'mid-scan-links' ? 2 : 1, 1 + Math.floor(rand() * 3));
  let lastEnded: ChildRun | undefined;
  for (let a = 0; a < attempts; a++) {
    const last = a === attempts - 1;
    let kill: KillPlan = { mode: 'none' };
    if (!last) kill = tree.bigDir !== undefined && (rand() < 0.5 || (a === 0 && focus === 'mid-scan-links')) ? { mode: 'mid-scan', extraMs: Math.floor(rand() * 40) } : { mode: 'time', atMs: 60 + Math.floor(rand() * estimate) };
    const faults = kill.mode === 'mid-scan' ? { ...plan, rules: [...plan.rules, slowScan(tree)] } : plan;
    const newTransfer = !fs.existsSync(path.join(r.state, 'state.db'));
    const run = await runChild(r, { newTransfer, faults, kill });
    const stage = `faulted attempt ${a + 1}${kill.mode === 'none' ? '' : ` (kill ${kill.mode === 'time' ? `at ${kill.atMs} ms` : `mid-scan +${kill.extraMs} ms`})`}`;
    if (run.hung) {
      r.violations.push(`${stage}: the load hung (killed after ${CHILD_TIMEOUT_MS / 1000} s); stderr: ${run.stderr.slice(-300)}`);
      return r.violations;
    }
    if (run.killed) {
      log(`  ${stage}: killed after ${run.ms} ms`);
      continue;
    }
    await checkEnded(r, stage, run, faults);
    lastEnded = run;
  }
  // a re-run that must not retry the failures still reports them [case 5]
  const lastSummary = lastEnded === undefined ? undefined : lastJson(lastEnded.stdout);
  if (lastSummary !== undefined && lastSummary.errors > 0 && (rand() < 0.6 || focus === 'no-retry')) {
    const run = await runChild(r, { newTransfer: false, faults: plan, retryErrors: false, kill: { mode: 'none' } });
    await checkEnded(r, 're-run with --no-retry-errors', run, plan);
  }

  // the faults are gone: resume (perhaps killed once more) until the load ends
  if (rand() < 0.3) {
    const atMs = 60 + Math.floor(rand() * estimate);
    const run = await runChild(r, { newTransfer: !fs.existsSync(path.join(r.state, 'state.db')), kill: { mode: 'time', atMs } });
    if (run.killed) log(`  fault-free resume (kill at ${atMs} ms): killed after ${run.ms} ms`);
    else await checkClean(r, `fault-free resume (kill at ${atMs} ms, ended first)`, run, reference);
  }
  const final = await runChild(r, { newTransfer: !fs.existsSync(path.join(r.state, 'state.db')), kill: { mode: 'none' } });
  if (final.hung) {
    r.violations.push(`fault-free resume hung; stderr: ${final.stderr.slice(-300)}`);
    return r.violations;
  }
  await checkClean(r, 'fault-free resume', final, reference);
  return r.violations;
}

for (let i = 0; i < ROUNDS; i++) {
  const seed = FIRST_SEED + i;
  test(`torture round, seed ${seed}`, { timeout: 600_000 }, async (t) => {
    const lines: string[] = [];
    const log = (line: string) => {
      lines.push(line);
      t.diagnostic(line);
    };
    // real path: a descriptor read on an encode worker is matched by its /proc path
    const work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `clfsload-torture-${seed}-`)));
    let violations: string[] = [];
    try {
      violations = await runRound(seed, work, log);
    } catch (err) {
      violations = [`the round threw: ${(err as Error)?.stack ?? String(err)}`];
    } finally {
      if (violations.length > 0 && process.env.TORTURE_KEEP === '1') log(`  kept ${work} for inspection`);
      else fs.rmSync(work, { recursive: true, force: true });
    }
    if (violations.length > 0) {
      assert.fail(`seed ${seed} broke the load invariant (replay: TORTURE_SEED=${seed} node --test dist/test/load/torture.test.js):\n${lines.join('\n')}\n${violations.map((v) => `  - ${v}`).join('\n')}`);
    }
  });
}
