/**
 * The one way the loader reads the source tree, and a seam to make those reads fail on purpose.
 *
 * Every read of the source (directory listings, lstat, open, read, fstat, close, readlink) goes
 * through `sourceFs`. Without a fault plan its members are Node's own functions, so the seam costs
 * one property load per call. With a plan (`setSourceFaults`, or the CLFSLOAD_SOURCE_FAULTS
 * environment variable holding the plan as JSON) the members of the ops the plan names are
 * replaced by wrappers that fail the way a flaky NAS does: by path, after so many calls, entries
 * or bytes, so many times.
 *
 * The plan and its counters reach the encode worker threads through their workerData
 * (`sourceFaultsForWorkers`), so "fail twice" means twice in the process, whichever thread reads.
 * A child process reads the environment variable and counts on its own.
 *
 * Plan (JSON): `{"seed": 1, "rules": [RULE, ...]}`, each rule:
 * - `op`: opendir | readdir | lstat | open | read | fstat | close | readlink
 * - which paths (all of them when none is given; the paths are the absolute ones the loader uses):
 *   `path` — an absolute path, or a relative one matched as a suffix at a `/` boundary
 *   ("a/b" matches "/src/a/b", not "/src/xa/b"); `pathHex` — the same as raw bytes in hex, for
 *   names that are not UTF-8; `pathRegex` — a regular expression tested on the path decoded as UTF-8
 * - `code`: the errno name thrown (default EIO): EIO, EACCES, ENOENT, EPERM, ESTALE, ...
 * - `after`: readdir: how many entries each opened directory returns before its listing fails;
 *   other ops: how many matching calls in the process succeed before they fail
 * - `afterBytes`: read: a read of bytes at or past this file offset fails; a read across it
 *   returns the bytes before it (a short read), so the caller's next read fails
 * - `times`: failures before the rule is spent and the op succeeds again; -1 (default) forever
 * - `probability`: only this fraction of the matching paths fail, the same ones on every run and in
 *   every thread for a given `seed` (a hash of seed, rule and path decides, not a call order)
 * - `delayMs`: sleep this long before each matching call; a rule with `delayMs` and no `code`
 *   only slows the op down (to widen a window, e.g. for a kill in the middle of a scan)
 */
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isMainThread, workerData } from 'node:worker_threads';
import { ClfsError } from '../errors/index.js';

export const SOURCE_FAULTS_ENV = 'CLFSLOAD_SOURCE_FAULTS';

export const SOURCE_OPS = ['opendir', 'readdir', 'lstat', 'open', 'read', 'fstat', 'close', 'readlink'] as const;
export type SourceOp = (typeof SOURCE_OPS)[number];

export interface SourceFaultRule {
  op: SourceOp;
  path?: string;
  pathHex?: string;
  pathRegex?: string;
  code?: string;
  after?: number;
  afterBytes?: number;
  times?: number;
  probability?: number;
  delayMs?: number;
}

export interface SourceFaultPlan {
  seed?: number;
  rules: SourceFaultRule[];
}

/** What the encode workers get in their workerData: the plan and the process-wide counters. */
export interface SharedSourceFaults {
  plan: SourceFaultPlan;
  /** two Int32 slots per rule: matching calls seen, failures injected */
  counters: SharedArrayBuffer;
}

type FileHandle = fs.promises.FileHandle;

/** Node's functions, unchanged: what `sourceFs` holds with no plan, and what the wrappers call. */
const plain = {
  opendirSync: fs.opendirSync,
  lstatSync: fs.lstatSync,
  openSync: fs.openSync,
  readSync: fs.readSync,
  fstatSync: fs.fstatSync,
  closeSync: fs.closeSync,
  readlinkSync: fs.readlinkSync,
  promises: { open: fs.promises.open, lstat: fs.promises.lstat, readdir: fs.promises.readdir, readlink: fs.promises.readlink, readFd },
};

/** A positional read of a descriptor on the thread pool (the copy opens small files synchronously, then reads them so). */
function readFd(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * The source file system. Same signatures as Node's functions of the same names, so a call site
 * reads `sourceFs.readSync(fd, ...)` where it read `fs.readSync(fd, ...)`. Directories opened with
 * `opendirSync` are faulted in `readSync` and `read`; file handles from `promises.open` in `read`,
 * `stat` and `close`.
 */
export const sourceFs = { ...plain, promises: { ...plain.promises } };

interface CompiledRule {
  index: number;
  rule: SourceFaultRule;
  op: SourceOp;
  suffix: Buffer | undefined;
  absolute: boolean;
  regex: RegExp | undefined;
  code: string | undefined;
  times: number;
  threshold: number;
}

interface Active {
  plan: SourceFaultPlan;
  seed: number;
  counters: Int32Array;
  shared: SharedArrayBuffer;
  byOp: Map<SourceOp, CompiledRule[]>;
}

let active: Active | undefined;

/**
 * Sets the fault plan of this process (undefined: none, the plain file system). Encode workers
 * started afterwards get it; set it before `load()`.
 */
export function setSourceFaults(plan: SourceFaultPlan | undefined): void {
  if (plan !== undefined) validatePlan(plan);
  install(plan === undefined ? undefined : { plan, counters: new SharedArrayBuffer(8 * Math.max(1, plan.rules.length)) });
}

/** The plan in effect, if any. */
export function sourceFaults(): SourceFaultPlan | undefined {
  return active?.plan;
}

/** For an encode worker's workerData: the plan and its shared counters, or null without a plan. */
export function sourceFaultsForWorkers(): SharedSourceFaults | null {
  return active === undefined ? null : { plan: active.plan, counters: active.shared };
}

/** In a worker started before its run was known (load/worker-prestart.ts): the plan and counters its pool sent. */
export function installSharedSourceFaults(shared: SharedSourceFaults): void {
  install(shared);
}

/** Failures injected so far by each rule of the plan, in rule order (all threads of the process). */
export function sourceFaultCounts(): number[] {
  if (active === undefined) return [];
  const out: number[] = [];
  for (let i = 0; i < active.plan.rules.length; i++) out.push(Atomics.load(active.counters, 2 * i + 1));
  return out;
}

function install(shared: SharedSourceFaults | undefined): void {
  Object.assign(sourceFs, plain);
  sourceFs.promises = { ...plain.promises };
  fdPaths.clear();
  if (shared === undefined) {
    active = undefined;
    return;
  }
  const rules = validatePlan(shared.plan);
  const byOp = new Map<SourceOp, CompiledRule[]>();
  rules.forEach((rule, index) => {
    const list = byOp.get(rule.op) ?? [];
    list.push(compileRule(rule, index));
    byOp.set(rule.op, list);
  });
  active = { plan: shared.plan, seed: shared.plan.seed ?? 0, counters: new Int32Array(shared.counters), shared: shared.counters, byOp };
  // only the ops the plan names are wrapped; the others stay Node's own
  if (byOp.has('opendir') || byOp.has('readdir')) sourceFs.opendirSync = faultyOpendirSync as typeof fs.opendirSync;
  if (byOp.has('lstat')) sourceFs.lstatSync = faultyLstatSync as typeof fs.lstatSync;
  // open is wrapped whenever fds are involved: reads, fstat and close find the path by fd
  const byFd = byOp.has('read') || byOp.has('fstat') || byOp.has('close');
  if (byOp.has('open') || byFd) {
    sourceFs.openSync = faultyOpenSync as typeof fs.openSync;
    sourceFs.promises.open = faultyOpen as typeof fs.promises.open;
  }
  if (byOp.has('read')) {
    sourceFs.readSync = faultyReadSync as typeof fs.readSync;
    sourceFs.promises.readFd = faultyReadFd;
  }
  if (byOp.has('fstat')) sourceFs.fstatSync = faultyFstatSync as typeof fs.fstatSync;
  if (byFd) sourceFs.closeSync = faultyCloseSync as typeof fs.closeSync;
  if (byOp.has('readlink')) sourceFs.readlinkSync = faultyReadlinkSync as typeof fs.readlinkSync;
  // the asynchronous forms (the copy's crawl runs them on the thread pool)
  if (byOp.has('opendir') || byOp.has('readdir')) sourceFs.promises.readdir = faultyReaddir as typeof fs.promises.readdir;
  if (byOp.has('lstat')) sourceFs.promises.lstat = faultyLstat as typeof fs.promises.lstat;
  if (byOp.has('readlink')) sourceFs.promises.readlink = faultyReadlink as typeof fs.promises.readlink;
}

function planError(message: string): ClfsError {
  return new ClfsError('E_USAGE', `source fault plan: ${message}`, { subject: SOURCE_FAULTS_ENV });
}

const RULE_KEYS = new Set(['op', 'path', 'pathHex', 'pathRegex', 'code', 'after', 'afterBytes', 'times', 'probability', 'delayMs']);

function validatePlan(plan: SourceFaultPlan): SourceFaultRule[] {
  if (typeof plan !== 'object' || plan === null || !Array.isArray(plan.rules)) throw planError('expected {"seed": N, "rules": [...]}');
  if (plan.seed !== undefined && !Number.isInteger(plan.seed)) throw planError('seed must be a whole number');
  plan.rules.forEach((r, i) => {
    const where = `rule ${i}`;
    if (typeof r !== 'object' || r === null) throw planError(`${where} is not an object`);
    for (const k of Object.keys(r)) if (!RULE_KEYS.has(k)) throw planError(`${where}: unknown key "${k}"`);
    if (!(SOURCE_OPS as readonly string[]).includes(r.op)) throw planError(`${where}: op must be one of ${SOURCE_OPS.join(', ')}`);
    if (r.code !== undefined && (typeof r.code !== 'string' || !/^E[A-Z0-9]+$/.test(r.code))) throw planError(`${where}: code must be an errno name such as EIO`);
    for (const k of ['after', 'afterBytes', 'delayMs'] as const) {
      const v = r[k];
      if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw planError(`${where}: ${k} must be a whole number ≥ 0`);
    }
    if (r.afterBytes !== undefined && r.op !== 'read') throw planError(`${where}: afterBytes applies to op read only`);
    if (r.times !== undefined && (!Number.isInteger(r.times) || r.times < -1)) throw planError(`${where}: times must be -1 (forever) or a whole number ≥ 0`);
    if (r.probability !== undefined && (typeof r.probability !== 'number' || r.probability < 0 || r.probability > 1)) throw planError(`${where}: probability must be from 0 to 1`);
    if (r.pathHex !== undefined && (typeof r.pathHex !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(r.pathHex))) throw planError(`${where}: pathHex must be hex bytes`);
    if (r.pathRegex !== undefined) {
      try {
        new RegExp(r.pathRegex);
      } catch (e) {
        throw planError(`${where}: pathRegex does not compile (${(e as Error).message})`);
      }
    }
    if ([r.path, r.pathHex, r.pathRegex].filter((p) => p !== undefined).length > 1) throw planError(`${where}: give one of path, pathHex, pathRegex`);
  });
  return plan.rules;
}

function trimSlashes(b: Buffer): Buffer {
  let end = b.length;
  while (end > 1 && b[end - 1] === 0x2f) end--;
  return b.subarray(0, end);
}

function compileRule(rule: SourceFaultRule, index: number): CompiledRule {
  const bytes = rule.pathHex !== undefined ? Buffer.from(rule.pathHex, 'hex') : rule.path !== undefined ? Buffer.from(rule.path) : undefined;
  const suffix = bytes === undefined ? undefined : trimSlashes(bytes);
  const onlyDelay = rule.delayMs !== undefined && rule.code === undefined;
  return {
    index,
    rule,
    op: rule.op,
    suffix,
    absolute: suffix !== undefined && suffix[0] === 0x2f,
    regex: rule.pathRegex === undefined ? undefined : new RegExp(rule.pathRegex),
    code: onlyDelay ? undefined : rule.code ?? 'EIO',
    times: rule.times ?? -1,
    threshold: rule.probability === undefined ? 1 : rule.probability,
  };
}

function pathMatches(r: CompiledRule, path: Buffer): boolean {
  if (r.suffix !== undefined) {
    const p = trimSlashes(path);
    if (r.absolute) return p.equals(r.suffix);
    if (p.length < r.suffix.length) return false;
    const start = p.length - r.suffix.length;
    if (start > 0 && p[start - 1] !== 0x2f) return false;
    return p.subarray(start).equals(r.suffix);
  }
  if (r.regex !== undefined) return r.regex.test(path.toString('utf8'));
  return true;
}

/** FNV-1a of seed, rule index and path, as a fraction in [0, 1): which paths a probability picks. */
function pick(seed: number, index: number, path: Buffer): number {
  let h = 0x811c9dc5;
  const mix = (byte: number) => {
    h ^= byte & 0xff;
    h = Math.imul(h, 0x01000193);
  };
  for (let i = 0; i < 4; i++) mix(seed >>> (8 * i));
  for (let i = 0; i < 4; i++) mix(index >>> (8 * i));
  for (const b of path) mix(b);
  // final avalanche so near paths spread
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0) / 0x100000000;
}

function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The rules of `plan` that would fail `op` on `path` (its path and probability select it, and it
 * has an error to throw), whatever their counters say: for a test that must tell which entries a
 * plan could have failed, and how.
 */
export function sourceFaultRulesFor(plan: SourceFaultPlan, op: SourceOp, path: Buffer): SourceFaultRule[] {
  const seed = plan.seed ?? 0;
  return validatePlan(plan)
    .map((rule, index) => compileRule(rule, index))
    .filter((r) => r.op === op && r.code !== undefined && picks(r, seed, path))
    .map((r) => r.rule);
}

/** Whether rule `r`'s path and probability select `path` (for a plan of `seed`). */
function picks(r: CompiledRule, seed: number, path: Buffer): boolean {
  return pathMatches(r, path) && (r.threshold >= 1 || pick(seed, r.index, path) < r.threshold);
}

/** The rules of `op` whose path and probability select `path`. */
function selected(op: SourceOp, path: Buffer): CompiledRule[] {
  const rules = active?.byOp.get(op);
  if (rules === undefined) return [];
  const out: CompiledRule[] = [];
  for (const r of rules) if (picks(r, active!.seed, path)) out.push(r);
  return out;
}

function delayOf(rules: CompiledRule[]): number {
  let ms = 0;
  for (const r of rules) ms += r.rule.delayMs ?? 0;
  return ms;
}

/** Takes one failure from the rule's allowance; false when it is spent. */
function takeFailure(r: CompiledRule): boolean {
  const counters = active!.counters;
  const slot = 2 * r.index + 1;
  if (r.times === -1) {
    Atomics.add(counters, slot, 1);
    return true;
  }
  for (;;) {
    const used = Atomics.load(counters, slot);
    if (used >= r.times) return false;
    if (Atomics.compareExchange(counters, slot, used, used + 1) === used) return true;
  }
}

/** Counts a matching call; true once more than `after` calls were seen. */
function pastAfter(r: CompiledRule): boolean {
  const seen = Atomics.add(active!.counters, 2 * r.index, 1);
  return seen >= (r.rule.after ?? 0);
}

const SYSCALL: Record<SourceOp, string> = {
  opendir: 'opendir',
  readdir: 'scandir',
  lstat: 'lstat',
  open: 'open',
  read: 'read',
  fstat: 'fstat',
  close: 'close',
  readlink: 'readlink',
};

function injected(code: string, op: SourceOp, path: Buffer): NodeJS.ErrnoException {
  const errno = (osConstants.errno as Record<string, number>)[code];
  const shown = path.toString('utf8');
  const err: NodeJS.ErrnoException = new Error(`${code}: injected source fault, ${SYSCALL[op]} '${shown}'`);
  err.code = code;
  if (errno !== undefined) err.errno = -errno;
  err.syscall = SYSCALL[op];
  err.path = shown;
  return err;
}

/** Fails the call when a selected rule with a code is past its `after` and not spent. */
function callFault(op: SourceOp, path: Buffer): NodeJS.ErrnoException | undefined {
  const rules = selected(op, path);
  if (rules.length === 0) return undefined;
  sleepSync(delayOf(rules));
  return faultOf(rules, op, path);
}

function faultOf(rules: CompiledRule[], op: SourceOp, path: Buffer): NodeJS.ErrnoException | undefined {
  let fault: NodeJS.ErrnoException | undefined;
  for (const r of rules) {
    if (r.code === undefined) continue;
    if (!pastAfter(r)) continue;
    if (fault === undefined && takeFailure(r)) fault = injected(r.code, op, path);
  }
  return fault;
}

function asBuffer(p: fs.PathLike): Buffer {
  if (Buffer.isBuffer(p)) return p;
  if (p instanceof URL) return Buffer.from(decodeURIComponent(p.pathname));
  return Buffer.from(String(p));
}

// ---- directories -------------------------------------------------------------------------

function faultyOpendirSync(path: fs.PathLike, options?: fs.OpenDirOptions): fs.Dir {
  const p = asBuffer(path);
  const fault = callFault('opendir', p);
  if (fault !== undefined) throw fault;
  const dir = plain.opendirSync(path, options);
  const rules = selected('readdir', p).filter((r) => r.code !== undefined || r.rule.delayMs !== undefined);
  if (rules.length === 0) return dir;
  let returned = 0;
  /** the listing's next entry may fail: rules whose `after` this listing has reached */
  const check = (): NodeJS.ErrnoException | undefined => {
    sleepSync(delayOf(rules));
    for (const r of rules) {
      if (r.code === undefined || returned < (r.rule.after ?? 0)) continue;
      if (takeFailure(r)) return injected(r.code, 'readdir', p);
    }
    return undefined;
  };
  return new Proxy(dir, {
    get(target, key) {
      if (key === 'readSync') {
        return () => {
          const fault = check();
          if (fault !== undefined) throw fault;
          const d = target.readSync();
          if (d !== null) returned += 1;
          return d;
        };
      }
      if (key === 'read') {
        return (cb?: (err: NodeJS.ErrnoException | null, d: fs.Dirent | null) => void) => {
          const fault = check();
          const result = fault !== undefined ? Promise.reject(fault) : target.read().then((d) => {
            if (d !== null) returned += 1;
            return d;
          });
          if (cb === undefined) return result;
          result.then((d) => cb(null, d), (e: NodeJS.ErrnoException) => cb(e, null));
          return undefined;
        };
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

// ---- paths -------------------------------------------------------------------------------

function faultyLstatSync(path: fs.PathLike, options?: fs.StatSyncOptions): unknown {
  const fault = callFault('lstat', asBuffer(path));
  if (fault !== undefined) throw fault;
  return plain.lstatSync(path, options);
}

function faultyReadlinkSync(path: fs.PathLike, options?: fs.EncodingOption): unknown {
  const fault = callFault('readlink', asBuffer(path));
  if (fault !== undefined) throw fault;
  return plain.readlinkSync(path, options as fs.BufferEncodingOption);
}

// ---- descriptors -------------------------------------------------------------------------

/** Paths (and, for reads without a position, the offset) of the descriptors this thread opened. */
const fdPaths = new Map<number, { path: Buffer; offset: number }>();

/**
 * The path of a descriptor: from this thread's opens, else from /proc (the segments of a large
 * file are read on a worker thread from a descriptor the main thread opened).
 */
function fdInfo(fd: number): { path: Buffer; offset: number | undefined } {
  const known = fdPaths.get(fd);
  if (known !== undefined) return known;
  try {
    return { path: fs.readlinkSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' }), offset: undefined };
  } catch {
    return { path: Buffer.from(`fd:${fd}`), offset: undefined };
  }
}

function fdOffset(fd: number): number {
  try {
    const m = /^pos:\s*(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

function faultyOpenSync(path: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode | null): number {
  const p = asBuffer(path);
  const fault = callFault('open', p);
  if (fault !== undefined) throw fault;
  const fd = plain.openSync(path, flags ?? 'r', mode);
  fdPaths.set(fd, { path: p, offset: 0 });
  return fd;
}

function faultyCloseSync(fd: number): void {
  const { path } = fdInfo(fd);
  fdPaths.delete(fd);
  const fault = callFault('close', path);
  // a failed close still releases the descriptor, as close(2) does
  plain.closeSync(fd);
  if (fault !== undefined) throw fault;
}

function faultyFstatSync(fd: number, options?: fs.StatOptions): unknown {
  const fault = callFault('fstat', fdInfo(fd).path);
  if (fault !== undefined) throw fault;
  return plain.fstatSync(fd, options);
}

/**
 * What a read of `length` bytes at `position` may do under the selected read rules: fail, or be
 * cut short so that it ends where `afterBytes` begins failing.
 */
function decideRead(rules: CompiledRule[], path: Buffer, position: number, length: number): { fault?: NodeJS.ErrnoException; length: number } {
  let allowed = length;
  const byCount: CompiledRule[] = [];
  for (const r of rules) {
    if (r.code === undefined) continue;
    const at = r.rule.afterBytes;
    if (at === undefined) {
      byCount.push(r);
      continue;
    }
    if (position >= at) {
      if (takeFailure(r)) return { fault: injected(r.code, 'read', path), length: 0 };
    } else if (position + length > at && !spent(r)) {
      allowed = Math.min(allowed, at - position);
    }
  }
  const fault = faultOf(byCount, 'read', path);
  return fault !== undefined ? { fault, length: 0 } : { length: allowed };
}

function spent(r: CompiledRule): boolean {
  return r.times !== -1 && Atomics.load(active!.counters, 2 * r.index + 1) >= r.times;
}

function faultyReadSync(fd: number, buffer: NodeJS.ArrayBufferView, ...rest: unknown[]): number {
  // the two call forms: (fd, buffer, offset, length, position) and (fd, buffer, { offset, length, position })
  let offset: number;
  let length: number;
  let position: number | bigint | null | undefined;
  if (rest.length > 0 && typeof rest[0] === 'object' && rest[0] !== null) {
    const o = rest[0] as fs.ReadSyncOptions;
    offset = o.offset ?? 0;
    length = o.length ?? buffer.byteLength - offset;
    position = o.position;
  } else {
    offset = (rest[0] as number | undefined) ?? 0;
    length = (rest[1] as number | undefined) ?? buffer.byteLength - offset;
    position = rest[2] as number | bigint | null | undefined;
  }
  const info = fdInfo(fd);
  const sequential = position === null || position === undefined || position === -1;
  const at = sequential ? info.offset ?? fdOffset(fd) : Number(position);
  const rules = selected('read', info.path);
  sleepSync(delayOf(rules));
  const r = decideRead(rules, info.path, at, length);
  if (r.fault !== undefined) throw r.fault;
  const n = plain.readSync(fd, buffer, offset, r.length, sequential ? null : position!);
  const known = fdPaths.get(fd);
  if (known !== undefined && sequential) known.offset += n;
  return n;
}

async function faultyReadFd(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  const info = fdInfo(fd);
  const rules = selected('read', info.path);
  const ms = delayOf(rules);
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  const r = decideRead(rules, info.path, position, length);
  if (r.fault !== undefined) throw r.fault;
  return readFd(fd, buffer, offset, r.length, position);
}

async function faultyOpen(path: fs.PathLike, flags?: string | number, mode?: fs.Mode): Promise<FileHandle> {
  const p = asBuffer(path);
  const rules = selected('open', p);
  if (rules.length > 0) {
    const ms = delayOf(rules);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    const fault = faultOf(rules, 'open', p);
    if (fault !== undefined) throw fault;
  }
  const handle = await plain.promises.open(path, flags, mode);
  fdPaths.set(handle.fd, { path: p, offset: 0 });
  return faultyHandle(handle, p);
}

async function asyncFault(op: SourceOp, path: Buffer): Promise<void> {
  const rules = selected(op, path);
  if (rules.length === 0) return;
  const ms = delayOf(rules);
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  const fault = faultOf(rules, op, path);
  if (fault !== undefined) throw fault;
}

/** A whole listing at once: opendir rules fail it before it starts, readdir rules once it has `after` entries. */
async function faultyReaddir(path: fs.PathLike, options?: unknown): Promise<unknown> {
  const p = asBuffer(path);
  await asyncFault('opendir', p);
  const list = (await plain.promises.readdir(path, options as { encoding: 'buffer'; withFileTypes: true })) as unknown[];
  const rules = selected('readdir', p);
  const ms = delayOf(rules);
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  for (const r of rules) {
    if (r.code === undefined || list.length <= (r.rule.after ?? 0)) continue;
    if (takeFailure(r)) throw injected(r.code, 'readdir', p);
  }
  return list;
}

async function faultyLstat(path: fs.PathLike, options?: fs.StatOptions): Promise<unknown> {
  await asyncFault('lstat', asBuffer(path));
  return plain.promises.lstat(path, options);
}

async function faultyReadlink(path: fs.PathLike, options?: fs.EncodingOption): Promise<unknown> {
  await asyncFault('readlink', asBuffer(path));
  return plain.promises.readlink(path, options as fs.BufferEncodingOption);
}

function faultyHandle(handle: FileHandle, path: Buffer): FileHandle {
  let offset = 0;
  return new Proxy(handle, {
    get(target, key) {
      if (key === 'read') {
        return async (buffer: NodeJS.ArrayBufferView | { buffer?: NodeJS.ArrayBufferView; offset?: number; length?: number; position?: number | null }, off?: number, len?: number, pos?: number | null) => {
          let buf: NodeJS.ArrayBufferView;
          if (buffer !== undefined && !ArrayBuffer.isView(buffer)) {
            const o = buffer;
            buf = o.buffer ?? Buffer.alloc(16384);
            off = o.offset;
            len = o.length;
            pos = o.position;
          } else {
            buf = buffer ?? Buffer.alloc(16384);
          }
          const o2 = off ?? 0;
          const l2 = len ?? buf.byteLength - o2;
          const sequential = pos === null || pos === undefined || pos === -1;
          const at = sequential ? offset : Number(pos);
          const rules = selected('read', path);
          const ms = delayOf(rules);
          if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
          const r = decideRead(rules, path, at, l2);
          if (r.fault !== undefined) throw r.fault;
          const result = await target.read(buf, o2, r.length, sequential ? null : pos);
          if (sequential) offset += result.bytesRead;
          return result;
        };
      }
      if (key === 'stat') {
        return async (opts?: fs.StatOptions) => {
          await asyncFault('fstat', path);
          return target.stat(opts as fs.StatOptions & { bigint?: false });
        };
      }
      if (key === 'close') {
        return async () => {
          fdPaths.delete(target.fd);
          const rules = selected('close', path);
          const ms = delayOf(rules);
          if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
          const fault = faultOf(rules, 'close', path);
          await target.close();
          if (fault !== undefined) throw fault;
        };
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

// ---- the plan of this thread at start-up ---------------------------------------------------

/**
 * The plan in an environment (CLFSLOAD_SOURCE_FAULTS), installed in this thread: the CLI and the
 * test helpers call it; the library itself reads no environment variable. A plan that does not
 * parse is refused with one E_USAGE line.
 */
export function installSourceFaultsFromEnv(env: NodeJS.ProcessEnv): void {
  const text = env[SOURCE_FAULTS_ENV];
  if (text === undefined || text.trim() === '') return;
  let plan: SourceFaultPlan;
  try {
    plan = JSON.parse(text) as SourceFaultPlan;
  } catch (e) {
    throw new ClfsError('E_USAGE', `source fault plan: ${SOURCE_FAULTS_ENV} is not JSON (${(e as Error).message}); fix or unset ${SOURCE_FAULTS_ENV}`, { subject: SOURCE_FAULTS_ENV });
  }
  try {
    setSourceFaults(plan);
  } catch (e) {
    const why = e instanceof ClfsError ? e.message : String(e);
    throw new ClfsError('E_USAGE', `${why}; fix or unset ${SOURCE_FAULTS_ENV}`, { subject: SOURCE_FAULTS_ENV });
  }
}

const fromParent = !isMainThread && typeof workerData === 'object' && workerData !== null && 'sourceFaults' in workerData;
if (fromParent) {
  const shared = (workerData as { sourceFaults: SharedSourceFaults | null }).sourceFaults;
  if (shared !== null) install(shared);
}
