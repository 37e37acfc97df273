/**
 * `finalize --plan PLAN`: once every shard has reported, make the container whole (issue 14).
 * Refused, naming them, while a shard has no report. Then:
 *   1. each hard-linked inode (the same handle in every shard that met one of its names) is
 *      written once under its final name with every shard's names (nlink, BACK), and the shards'
 *      in-progress copies are deleted;
 *   2. the directories above the cut are written, each naming what the shards stored at the top
 *      of their units, deepest first, the root last under its tmp name; the shards' logs are
 *      uploaded and listed in the bucket object, and the root moved to its final name. This is
 *      an ordinary load's TRANSFER and FINALIZE over a state seeded from the plan and the reports,
 *      kept beside the plan (PLAN.d/finalize), so an interrupted finalize resumes.
 * Every step may be repeated: a finalize that was interrupted is simply run again.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import PQueue from 'p-queue';
import {
  blobName,
  Btype,
  decodeBlob,
  decodeObject,
  decodeSections,
  encodeBack,
  encodeBlob,
  encodeSections,
  encodeVattr,
  ftypeToBtype,

  HandleType,
  INITIAL_VERSION,
  INPROGRESS_ID,
  RECONCILED_VERSION,
  ROOT_ID,
} from '../codec/index.js';
import { ClfsError, isClfsError } from '../errors/index.js';
import { displayPath, lstatEntry } from '../scan/index.js';
import { EntryState, Phase, STATE_DB_FILE, StateDb } from '../state/index.js';
import type { NewEntry } from '../state/index.js';
import type { Target } from '../targets/target.js';
import { newEntryFrom } from './dir-scan.js';
import { indirectCount } from './file-writer.js';
import { ObjectIdFactory } from './object-ids.js';
import { load } from './load.js';
import type { LoadOptions, LoadSummary } from './load.js';
import { inprogressVersionOf, planDirPath, planWorkDir, readPlan, shardDir } from './plan.js';
import type { Plan } from './plan.js';
import { checkPlanTarget, defaultShardStateDir, readShardReport } from './shard.js';
import type { ShardReport } from './shard.js';
import type { ShardSeam } from './load-run.js';

/** beside the finalize's state: which reports it was seeded from */
const REPORTS_FINGERPRINT_FILE = 'reports.sha256';

export type FinalizePlanOptions = Omit<LoadOptions, 'source' | 'newTransfer' | 'compression' | 'preserveHardlinks' | 'phases' | 'shard' | 'stateDir'> & {
  planFile: string;
  /** default: PLAN.d/finalize */
  stateDir?: string;
};

export interface FinalizePlanSummary extends LoadSummary {
  shards: Array<{ shard: number; entries: number; errors: number; status: string }>;
  /** hard-linked inodes whose names were merged across shards (or within one) */
  linkedInodes: number;
}

/** Every shard's report, or a refusal naming the shards that have none (and whether each started). */
export function collectReports(plan: Plan, planFile: string): ShardReport[] {
  const reports: ShardReport[] = [];
  const notStarted: number[] = [];
  const unfinished: number[] = [];
  const foreign: number[] = [];
  for (let k = 0; k < plan.shards; k++) {
    const r = readShardReport(planFile, k);
    if (r === undefined) {
      (StateDb.holdsTransfer(defaultShardStateDir(planFile, k)) || fs.existsSync(shardDir(planFile, k)) ? unfinished : notStarted).push(k);
      continue;
    }
    if (r.planId !== plan.planId || r.shard !== k) foreign.push(k);
    else reports.push(r);
  }
  if (notStarted.length + unfinished.length + foreign.length > 0) {
    const parts: string[] = [];
    const list = (ks: number[]) => ks.slice(0, 20).join(', ') + (ks.length > 20 ? `, ... (${ks.length})` : '');
    if (notStarted.length > 0) parts.push(`shard${notStarted.length > 1 ? 's' : ''} ${list(notStarted)} not run`);
    if (unfinished.length > 0) parts.push(`shard${unfinished.length > 1 ? 's' : ''} ${list(unfinished)} not finished`);
    if (foreign.length > 0) parts.push(`shard${foreign.length > 1 ? 's' : ''} ${list(foreign)} with a report of another plan`);
    throw new ClfsError(
      'E_SHARDS_INCOMPLETE',
      `finalize refused: ${parts.join('; ')}; run each with clfsload load --plan ${planFile} --shard K, then finalize again`,
      { subject: planFile },
    );
  }
  return reports;
}

async function getIfExists(target: Target, name: string, signal?: AbortSignal): Promise<Buffer | undefined> {
  try {
    return await target.get(name, { abortSignal: signal });
  } catch (err) {
    if (isClfsError(err) && err.code === 'E_TARGET_NOT_FOUND') return undefined;
    throw err;
  }
}

async function deleteIfExists(target: Target, name: string, signal?: AbortSignal): Promise<void> {
  try {
    await target.delete(name, { abortSignal: signal });
  } catch (err) {
    if (!(isClfsError(err) && err.code === 'E_TARGET_NOT_FOUND')) throw err;
  }
}

/**
 * Step 1: one inode per hard-linked handle, with the names of every shard (in shard order, each
 * shard's in its scan order), written at the reconciled version under its first parent (spec
 * §3.4, §3.5); then the in-progress copies go. Repeatable: once the copies are gone, the final
 * inode is what is left.
 */
export async function mergeLinkedInodes(plan: Plan, reports: readonly ShardReport[], target: Target, compression: 'lz4' | 'disabled', signal?: AbortSignal): Promise<number> {
  const groups = new Map<string, { ftype: number; parents: Buffer[]; shards: number[] }>();
  for (const r of reports) {
    for (const l of r.links) {
      const g = groups.get(l.fh) ?? { ftype: l.ftype, parents: [], shards: [] };
      g.parents.push(...l.parents.map((p) => Buffer.from(p, 'hex')));
      g.shards.push(r.shard);
      groups.set(l.fh, g);
    }
  }
  const queue = new PQueue({ concurrency: 16 });
  const work = [...groups].map(([fhHex, g]) =>
    queue.add(async () => {
      const fh = Buffer.from(fhHex, 'hex');
      const btype = ftypeToBtype(g.ftype);
      const copies = g.shards.map((k) => blobName(fh, btype, INPROGRESS_ID, inprogressVersionOf(k)));
      const finalName = blobName(fh, btype, g.parents[0]!, RECONCILED_VERSION);
      // the in-progress copies, or the inode an earlier finalize wrote (a shard re-run since may
      // have added names: it is written again with all of them)
      let source: { name: string; blob: Buffer } | undefined;
      for (const name of [...copies, finalName]) {
        const blob = await getIfExists(target, name, signal);
        if (blob !== undefined) {
          source = { name, blob };
          break;
        }
      }
      if (source === undefined) {
        throw new ClfsError('E_STATE_MISMATCH', `${target.description}: hard-linked inode ${fhHex} has neither an in-progress copy nor its final object; the container does not match the plan's reports`, { subject: fhHex });
      }
      const body = decodeBlob(source.blob, source.name);
      const decoded = decodeObject(body, source.name);
      if (decoded.kind !== 'inode') throw new ClfsError('E_FORMAT_CORRUPT', `${source.name}: expected an inode`, { subject: source.name });
      const vattr = { ...decoded.vattr, nlink: g.parents.length };
      const sections = decodeSections(body, source.name).map((s) => {
        if (s.type === HandleType.VATTR) return { type: s.type, payload: encodeVattr(vattr) };
        if (s.type === HandleType.BACK) return { type: s.type, payload: encodeBack(g.parents) };
        return { type: s.type, payload: s.payload };
      });
      await target.put(finalName, encodeBlob(encodeSections(sections), compression), { abortSignal: signal });
    }),
  );
  await Promise.all(work);
  // the final inodes are durable before any in-progress copy goes
  if (target.features.flush) await target.flush!({ abortSignal: signal });
  // segments of a hard-linked inode that failed in a shard, unless a shard stored the inode
  const ids = new ObjectIdFactory(plan.identity.idSecretHex);
  const orphans = new Map<string, number>();
  for (const r of reports) for (const f of r.failedLinks) if (!groups.has(f.fh)) orphans.set(f.fh, Math.max(orphans.get(f.fh) ?? 0, f.segments));
  await Promise.all(
    [...orphans].flatMap(([fhHex, segments]) => {
      const owner = Buffer.from(fhHex, 'hex');
      const names = Array.from({ length: segments }, (_, i) => blobName(ids.segmentId(owner, i + 1), Btype.SEGMENT, owner, INITIAL_VERSION));
      for (let n = 0; n < indirectCount(segments); n++) names.push(blobName(ids.indirectId(owner, n), Btype.INDIRECT, owner, INITIAL_VERSION));
      return names.map((name) => queue.add(() => deleteIfExists(target, name, signal)));
    }),
  );
  await Promise.all(
    [...groups].flatMap(([fhHex, g]) =>
      g.shards.map((k) => queue.add(() => deleteIfExists(target, blobName(Buffer.from(fhHex, 'hex'), ftypeToBtype(g.ftype), INPROGRESS_ID, inprogressVersionOf(k)), signal))),
    ),
  );
  return groups.size;
}

/** A row for an entry a shard stored: only what its directory's dirent and nlink need. */
function storedChildRow(parentId: number, name: Buffer, fh: Buffer, ftype: number): NewEntry {
  return {
    parentId, name, path: null, ftype, fh, state: EntryState.DONE,
    mode: 0, uid: 0, gid: 0, sizeBytes: 0, mtimeSec: 0, mtimeNsec: 0, ctimeSec: 0, ctimeNsec: 0, atimeSec: 0, atimeNsec: 0,
    ino: '0', dev: '0', rdev: '0', nlink: 1, linkOf: null, reconcile: 0,
  };
}

function finalizeSeam(plan: Plan, reports: readonly ShardReport[]): ShardSeam {
  return {
    identity: plan.identity,
    // the finalize scans nothing: its handles are all in the plan and the reports
    seqEnd: plan.seqPlanEnd,
    writesDirectory: () => true,
    seed(db) {
      const rowOf: number[] = [];
      plan.dirs.forEach((d, i) => {
        const p = planDirPath(d);
        let e;
        try {
          e = lstatEntry(p, Buffer.from(path.basename(p.toString('latin1')), 'latin1'));
        } catch (err) {
          throw new ClfsError('E_SOURCE_UNREADABLE', `${displayPath(p)}: a directory above the plan's cut is gone or unreadable (${isClfsError(err) ? err.message : String(err)}); restore it and finalize again`, { subject: displayPath(p) });
        }
        if (d.parent !== null) e = { ...e, name: Buffer.from(plan.dirs[d.parent]!.children.find((c) => c.dir === i)!.name, 'hex') };
        rowOf.push(db.insertEntry(newEntryFrom(e, d.parent === null ? null : rowOf[d.parent]!, d.parent === null ? ROOT_ID : Buffer.from(d.fh, 'hex'), p, EntryState.SCANNED)));
      });
      for (const r of reports) {
        for (const t of r.top) {
          // what a shard could not store is left out (its problems file says why)
          if (t.stored) db.insertEntry(storedChildRow(rowOf[t.dir]!, Buffer.from(t.name, 'hex'), Buffer.from(t.fh, 'hex'), t.ftype));
        }
      }
      for (const id of rowOf) db.finishScan(id);
    },
  };
}

export async function finalizePlan(options: FinalizePlanOptions): Promise<FinalizePlanSummary> {
  const plan = readPlan(options.planFile);
  checkPlanTarget(plan, options.planFile, options.targetKey);
  const reports = collectReports(plan, options.planFile);
  const stateDir = path.resolve(options.stateDir ?? path.join(planWorkDir(options.planFile), 'finalize'));
  // a shard re-run after a finalize (to retry its failed entries) changed its report: the
  // directories above the cut are written again from the new reports, under the same names
  const fingerprint = createHash('sha256').update(JSON.stringify(reports)).digest('hex');
  const fingerprintFile = path.join(stateDir, REPORTS_FINGERPRINT_FILE);
  if (StateDb.holdsTransfer(stateDir) && (!fs.existsSync(fingerprintFile) || fs.readFileSync(fingerprintFile, 'utf8').trim() !== fingerprint)) {
    for (const f of [STATE_DB_FILE, `${STATE_DB_FILE}-wal`, `${STATE_DB_FILE}-shm`]) fs.rmSync(path.join(stateDir, f), { force: true });
  }
  const linkedInodes = await mergeLinkedInodes(plan, reports, options.target, plan.identity.compression, options.abortSignal);
  // the shards' logs go up with the finalize's own (every .txt of the state folder, sorted)
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  for (const r of reports) {
    for (const log of r.logs) {
      if (!fs.existsSync(log)) continue;
      fs.copyFileSync(log, path.join(stateDir, `shard-${String(r.shard).padStart(4, '0')}-${path.basename(log)}`));
    }
  }
  fs.writeFileSync(fingerprintFile, `${fingerprint}\n`);
  // bytes: a source path that is not valid UTF-8 stays itself
  const source = Buffer.from(plan.identity.sourceRootHex, 'hex');
  const s = await load({
    ...options,
    source,
    stateDir,
    newTransfer: !StateDb.holdsTransfer(stateDir),
    phases: [Phase.TRANSFER, Phase.FINALIZE],
    shard: finalizeSeam(plan, reports),
  });
  const shardErrors = reports.reduce((n, r) => n + r.errors, 0);
  const entries = reports.reduce((n, r) => n + r.entries, 0);
  const summary: FinalizePlanSummary = {
    ...s,
    entries: entries + plan.dirs.length,
    errors: s.errors + shardErrors,
    problemsTotal: s.problemsTotal + shardErrors,
    shards: reports.map((r) => ({ shard: r.shard, entries: r.entries, errors: r.errors, status: r.status })),
    linkedInodes,
  };
  if (shardErrors > 0) {
    // a shard that finished with failed entries: the container is whole, but not complete
    if (summary.status === 'complete' || summary.status === 'already-complete') summary.status = 'complete-with-errors';
    for (const r of reports) {
      if (r.errors === 0) continue;
      const file = path.join(r.stateDir, 'problems.txt');
      if (!fs.existsSync(file)) continue;
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        if (line === '' || summary.problems.length >= 1000) continue;
        const [p, message] = line.split('\t');
        summary.problems.push({ path: p ?? '', message: message ?? '' });
      }
    }
  }
  return summary;
}

