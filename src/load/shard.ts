/**
 * `load --plan PLAN --shard K`: one shard of a planned load (issue 14). Its state starts with the
 * directories above the cut (handles from the plan; never written here) and the shard's units
 * under them (handles from the plan); everything below is scanned and written as in any load,
 * with handles from the shard's own sequence range, so each object is stored under its final
 * name. The state is the shard's own: a shard resumes, or re-runs alone, like any load. It ends by
 * reporting what it stored at the top of its units and the names of its hard-linked inodes
 * (report.json beside its state, never in the container), which the plan's finalize reads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { Ftype, generateFileHandle, INITIAL_VERSION, ROOT_ID, rootBlobName } from '../codec/index.js';
import { ClfsError, isClfsError } from '../errors/index.js';
import { displayPath, joinPath, lstatEntry } from '../scan/index.js';
import type { SourceEntry } from '../scan/index.js';
import { EntryState, Phase, StateDb, STORED_STATES } from '../state/index.js';
import type { EntryRow } from '../state/index.js';
import { newEntryFrom, MAX_LINKS_PER_INODE, unreadableChild } from './dir-scan.js';
import { removeFailedEntryObjects } from './finishing-phases.js';
import { load } from './load.js';
import type { LoadOptions, LoadSummary } from './load.js';
import { Random64 } from './load-run.js';
import type { LoadRun } from './load-run.js';
import { planDirPath, PLAN_FTYPE_OF, readPlan, sharedLinkHandle, shardDir, shardIdentity, shardSeqRange, writeFileAtomic } from './plan.js';
import type { Plan } from './plan.js';
import type { ShardSeam } from './load-run.js';

export const SHARD_REPORT_FILE = 'report.json';
const DIRMGR_COUNT = 48;

const hex = z.string().regex(/^([0-9a-f]{2})*$/);
export const ShardReportSchema = z.object({
  planId: z.string(),
  shard: z.number().int(),
  status: z.enum(['complete', 'complete-with-errors']),
  finishedAt: z.string(),
  entries: z.number(),
  errors: z.number(),
  /** the shard's entries directly under directories above the cut, as their directory must name them */
  top: z.array(z.object({ dir: z.number().int(), name: hex, fh: hex, ftype: z.number().int(), stored: z.boolean() })),
  /** hard-linked inodes: handle, type and the parent of every stored name, first name first */
  links: z.array(z.object({ fh: hex, ftype: z.number().int(), parents: z.array(hex) })),
  /**
   * hard-linked inodes that failed here: their segments may be another shard's too, so the
   * finalize deletes them only when no shard stored the inode
   */
  failedLinks: z.array(z.object({ fh: hex, segments: z.number().int() })),
  /** the shard's log files (output.txt, problems.txt), uploaded by the finalize */
  logs: z.array(z.string()),
  stateDir: z.string(),
});
export type ShardReport = z.infer<typeof ShardReportSchema>;

const LinksMetaSchema = z.array(z.object({ fh: hex, ftype: z.number().int(), parents: z.array(hex) }));
const DirRowsSchema = z.array(z.number().int());

export function shardReportPath(planFile: string, k: number): string {
  return path.join(shardDir(planFile, k), SHARD_REPORT_FILE);
}

export function defaultShardStateDir(planFile: string, k: number): string {
  return path.join(shardDir(planFile, k), 'state');
}

/** A shard's report, if it finished (undefined when it has none yet). */
export function readShardReport(planFile: string, k: number): ShardReport | undefined {
  const file = shardReportPath(planFile, k);
  if (!fs.existsSync(file)) return undefined;
  const parsed = ShardReportSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) throw new ClfsError('E_STATE_CORRUPT', `${file} is not a shard report; remove it and run the shard again`, { subject: file });
  return parsed.data;
}

export type ShardLoadOptions = Omit<LoadOptions, 'source' | 'newTransfer' | 'compression' | 'preserveHardlinks' | 'phases' | 'shard' | 'stateDir'> & {
  planFile: string;
  shard: number;
  /** default: the shard's folder beside the plan (PLAN.d/shard-NNNN/state) */
  stateDir?: string;
};

export function checkPlanTarget(plan: Plan, planFile: string, targetKey: string): void {
  if (plan.targetKey !== targetKey) {
    throw new ClfsError('E_USAGE', `--plan ${planFile} is for ${plan.targetKey}, not ${targetKey}: give the plan's target`, { subject: planFile });
  }
}

/** Load shard `shard` of the plan in `planFile`. */
export async function loadShard(options: ShardLoadOptions): Promise<LoadSummary> {
  const plan = readPlan(options.planFile);
  const k = options.shard;
  if (!Number.isInteger(k) || k < 0 || k >= plan.shards) {
    throw new ClfsError('E_USAGE', `--shard ${k}: the plan has shards 0 to ${plan.shards - 1}`, { subject: '--shard' });
  }
  checkPlanTarget(plan, options.planFile, options.targetKey);
  const stateDir = path.resolve(options.stateDir ?? defaultShardStateDir(options.planFile, k));
  const seam = shardSeam(plan, k, options.planFile, stateDir);
  // bytes: a source path that is not valid UTF-8 stays itself
  const source = Buffer.from(plan.identity.sourceRootHex, 'hex');
  const newTransfer = !StateDb.holdsTransfer(stateDir);
  if (newTransfer && (await options.target.exists(rootBlobName(INITIAL_VERSION)))) {
    // its objects would be reachable from nothing: the finalize named what the shard's first run stored
    throw new ClfsError('E_STATE_MISMATCH', `shard ${k} has no state in ${stateDir}, but the plan's load was finalized: a shard starts anew only before the finalize; make a new plan into a new container`, { subject: stateDir });
  }
  return load({
    ...options,
    source,
    stateDir,
    newTransfer,
    phases: [Phase.TRANSFER, Phase.FINALIZE],
    shard: seam,
  });
}

function shardSeam(plan: Plan, k: number, planFile: string, stateDir: string): ShardSeam {
  const identity = shardIdentity(plan, k);
  const range = shardSeqRange(k);
  const aboveCut = new Set(plan.dirs.map((d) => d.fh));
  const random = new Random64();
  return {
    identity,
    seqEnd: range.end,
    writesDirectory: (row) => !aboveCut.has(row.fh.toString('hex')),
    linkHandle: identity.preserveHardlinks ? (e, ftype) => sharedLinkHandle(identity, e, ftype) : undefined,
    seed(db) {
      const rowOf: number[] = [];
      plan.dirs.forEach((d, i) => {
        const p = planDirPath(d);
        let e: SourceEntry;
        try {
          e = lstatEntry(p, Buffer.from(path.basename(p.toString('latin1')), 'latin1'));
        } catch (err) {
          throw new ClfsError('E_SOURCE_UNREADABLE', `${displayPath(p)}: a directory above the plan's cut is gone or unreadable (${isClfsError(err) ? err.message : String(err)}); make a new plan into a new container`, { subject: displayPath(p) });
        }
        if (d.parent !== null) e = { ...e, name: Buffer.from(plan.dirs[d.parent]!.children.find((c) => c.dir === i)!.name, 'hex') };
        const parentId = d.parent === null ? null : rowOf[d.parent]!;
        rowOf.push(db.insertEntry(newEntryFrom(e, parentId, d.parent === null ? ROOT_ID : Buffer.from(d.fh, 'hex'), p, EntryState.SCANNED)));
      });
      const counters = { seqNext: range.start, dmidCounter: 0 };
      for (const u of plan.units) {
        if (u.shard !== k) continue;
        const d = plan.dirs[u.dir]!;
        const dirPath = planDirPath(d);
        const dirFh = d.parent === null ? ROOT_ID : Buffer.from(d.fh, 'hex');
        for (const ci of u.children) {
          const c = d.children[ci]!;
          const name = Buffer.from(c.name, 'hex');
          const childPath = joinPath(dirPath, name);
          let e: SourceEntry;
          try {
            e = lstatEntry(childPath, name);
          } catch (err) {
            db.insertEntry(unreadableChild(rowOf[u.dir]!, name, isClfsError(err) ? err.message : String(err)));
            continue;
          }
          const ftype = PLAN_FTYPE_OF[e.kind];
          const linked = identity.preserveHardlinks && e.kind !== 'dir' && e.nlink !== 1;
          let fh: Buffer | undefined = c.fh === '' ? undefined : Buffer.from(c.fh, 'hex');
          if (fh !== undefined && fh[6] !== ftype) fh = undefined; // its type changed since the plan
          if (linked) {
            const dev = e.dev.toString();
            const ino = e.ino.toString();
            const known = db.findInode(dev, ino, ftype);
            if (known !== undefined && known.links < MAX_LINKS_PER_INODE) {
              const primary = db.entry(known.primary_id)!;
              const row = newEntryFrom(e, rowOf[u.dir]!, primary.fh, null, EntryState.HELD);
              row.linkOf = primary.id;
              db.insertEntry(row);
              db.bumpInode(dev, ino, ftype);
              continue;
            }
            const row = newEntryFrom(e, rowOf[u.dir]!, sharedLinkHandle(identity, e, ftype), null, EntryState.HELD);
            row.reconcile = 1;
            db.putInode(dev, ino, ftype, db.insertEntry(row));
            continue;
          }
          if (fh === undefined) {
            // not lstat-able when planned, or changed type since: a handle from the shard's range
            const dmidSrc = dirFh.length === 24 ? dirFh[5]! : 0;
            let dmidTgt = dmidSrc;
            if (ftype === Ftype.DIR) dmidTgt = counters.dmidCounter = (counters.dmidCounter + 1) % DIRMGR_COUNT;
            fh = generateFileHandle({ containerId: identity.containerId, dmidSrc, dmidTgt, ftype, seq: BigInt(counters.seqNext++) }, random.next);
          }
          db.insertEntry(newEntryFrom(e, rowOf[u.dir]!, fh, e.kind === 'dir' ? childPath : null, EntryState.HELD));
        }
      }
      db.setCounters(counters);
      db.setMeta('shard-dirs', rowOf);
      for (const id of rowOf) db.finishScan(id);
    },
    finish: (run) => finishShard(run, plan, k, planFile, stateDir),
  };
}

/**
 * The shard's last step. Its hard-linked inodes are left in progress for the finalize (their
 * names in other shards are unknown here): their names are kept in the state (meta shard-links)
 * in the transaction that marks them done, so a repeat of this step reports them again. Then the
 * objects of failed entries are deleted and the report is written.
 */
async function finishShard(run: LoadRun, plan: Plan, k: number, planFile: string, stateDir: string): Promise<void> {
  const db = run.db;
  const fhHex = (id: number) => run.dirRow(id).fh.toString('hex');
  for (;;) {
    const rows = db.entriesInState(EntryState.INPROGRESS, 0, 256);
    if (rows.length === 0) break;
    const groups = rows.map((r: EntryRow) => ({
      fh: r.fh.toString('hex'),
      ftype: r.ftype,
      parents: [fhHex(r.parentId!), ...db.linksOf(r.id).filter((l) => STORED_STATES.has(l.state)).map((l) => fhHex(l.parentId!))],
    }));
    db.tx(() => {
      const known = new Map((db.getMeta('shard-links', LinksMetaSchema) ?? []).map((g) => [g.fh, g]));
      for (const g of groups) known.set(g.fh, g);
      db.setMeta('shard-links', [...known.values()]);
      for (const r of rows) db.setState(r.id, EntryState.DONE);
    });
  }
  const failedLinks: ShardReport['failedLinks'] = [];
  const shared = (row: EntryRow) => run.identity.preserveHardlinks && row.reconcile === 1 && row.linkOf === null;
  for (let after = 0; ; ) {
    const rows = db.errorsAfter(after, 1000);
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    for (const r of rows) if (shared(r) && r.fh.length > 0 && r.plannedSegments > 0) failedLinks.push({ fh: r.fh.toString('hex'), segments: r.plannedSegments });
  }
  await removeFailedEntryObjects(run, shared);
  await run.durable();
  const dirRows = db.getMeta('shard-dirs', DirRowsSchema) ?? [];
  const aboveCut = new Set(plan.dirs.map((d) => d.fh));
  const top: ShardReport['top'] = [];
  dirRows.forEach((rowId, dir) => {
    let after = 0;
    for (;;) {
      const children = db.children(rowId, after, 1000);
      if (children.length === 0) break;
      after = children[children.length - 1]!.id;
      for (const c of children) {
        if (c.ftype === Ftype.DIR && aboveCut.has(c.fh.toString('hex'))) continue;
        top.push({ dir, name: c.name.toString('hex'), fh: c.fh.toString('hex'), ftype: c.ftype, stored: STORED_STATES.has(c.state) });
      }
    }
  });
  const errors = db.errorCount();
  const report: ShardReport = {
    planId: plan.planId,
    shard: k,
    status: errors > 0 ? 'complete-with-errors' : 'complete',
    finishedAt: new Date().toISOString(),
    entries: db.totals().entries - plan.dirs.length,
    errors,
    top,
    links: db.getMeta('shard-links', LinksMetaSchema) ?? [],
    failedLinks,
    logs: ['output.txt', 'problems.txt'].map((f) => path.join(stateDir, f)),
    stateDir,
  };
  run.log.info(`shard ${k}: ${top.length} entries at the top of its units, ${report.links.length} hard-linked inodes, ${errors} errors; report in ${shardReportPath(planFile, k)}`);
  fs.mkdirSync(shardDir(planFile, k), { recursive: true });
  writeFileAtomic(shardReportPath(planFile, k), `${JSON.stringify(report)}\n`);
}
