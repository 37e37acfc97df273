/**
 * A seam for tests: make the N-th write, read or commit of a state connection fail with a chosen
 * SQLite code, M times, so every state write point of a load can be failed in turn. The plan is
 * plain JSON so it crosses process (CLFSLOAD_STATE_FAULTS) and worker (workerData) boundaries.
 * Loaded by the encode workers too: imports no zod.
 */
import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import { ClfsError } from '../errors/index.js';

export const STATE_FAULTS_ENV = 'CLFSLOAD_STATE_FAULTS';

export type StateFaultOp = 'write' | 'read' | 'commit';

export interface StateFaultRule {
  op: StateFaultOp;
  /** the first failing point, counting this op from 1 over the connection's life */
  at: number;
  /** any SQLite result code name, e.g. SQLITE_BUSY, SQLITE_IOERR_WRITE, SQLITE_FULL */
  code: string;
  /** how many attempts fail (default 1); -1 or Infinity: every attempt from `at` on */
  times?: number;
  /** which connection counts: the main StateDb (default) or each encode worker's StateReader */
  conn?: 'main' | 'reader';
}

export interface StateFaultPlan {
  rules: StateFaultRule[];
  /** a file the main connection writes its StateFaultStats to (JSON) when it closes or the process exits */
  statsFile?: string;
}

/** Points reached so far. A retried attempt is not a new point: the count rewinds to where it began. */
export interface StateFaultStats {
  writes: number;
  reads: number;
  commits: number;
  /** faults thrown, retries included */
  injected: number;
}

const MESSAGES: Record<string, string> = {
  SQLITE_BUSY: 'database is locked',
  SQLITE_LOCKED: 'database table is locked',
  SQLITE_IOERR: 'disk I/O error',
  SQLITE_FULL: 'database or disk is full',
  SQLITE_CORRUPT: 'database disk image is malformed',
  SQLITE_READONLY: 'attempt to write a readonly database',
  SQLITE_PROTOCOL: 'locking protocol',
};

function invalid(why: string): ClfsError {
  return new ClfsError('E_USAGE', `${STATE_FAULTS_ENV} (state fault plan): ${why}; expected {"rules":[{"op":"write","at":1,"code":"SQLITE_BUSY","times":1}]}`, { subject: STATE_FAULTS_ENV });
}

/** Check a plan's shape (it usually comes from JSON); throws E_USAGE naming what is wrong. */
export function checkFaultPlan(value: unknown): StateFaultPlan {
  if (typeof value !== 'object' || value === null || !Array.isArray((value as StateFaultPlan).rules)) throw invalid('no "rules" array');
  const plan = value as StateFaultPlan;
  if (plan.statsFile !== undefined && typeof plan.statsFile !== 'string') throw invalid('"statsFile" is not a string');
  plan.rules.forEach((r, i) => {
    if (typeof r !== 'object' || r === null) throw invalid(`rule ${i} is not an object`);
    if (r.op !== 'write' && r.op !== 'read' && r.op !== 'commit') throw invalid(`rule ${i}: op must be write, read or commit`);
    if (!Number.isInteger(r.at) || r.at < 1) throw invalid(`rule ${i}: "at" must be an integer from 1`);
    if (typeof r.code !== 'string' || !/^SQLITE_[A-Z_]+$/.test(r.code)) throw invalid(`rule ${i}: "code" must be a SQLite code name such as SQLITE_BUSY`);
    const t = r.times;
    if (t !== undefined && t !== -1 && t !== Infinity && !(Number.isInteger(t) && t >= 1)) throw invalid(`rule ${i}: "times" must be a count from 1, or -1 for every attempt`);
    if (r.conn !== undefined && r.conn !== 'main' && r.conn !== 'reader') throw invalid(`rule ${i}: "conn" must be main or reader`);
  });
  return plan;
}

/** The plan in CLFSLOAD_STATE_FAULTS, if set. */
export function faultPlanFromEnv(env: NodeJS.ProcessEnv = process.env): StateFaultPlan | undefined {
  const text = env[STATE_FAULTS_ENV];
  if (text === undefined || text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid('not JSON');
  }
  return checkFaultPlan(value);
}

interface ArmedRule {
  op: StateFaultOp;
  at: number;
  code: string;
  left: number;
}

/** The counters and rules of one connection. */
export class FaultInjector {
  readonly stats: StateFaultStats = { writes: 0, reads: 0, commits: 0, injected: 0 };
  private readonly rules: ArmedRule[];
  private readonly statsFile: string | undefined;
  private readonly onExit: (() => void) | undefined;

  constructor(readonly plan: StateFaultPlan, conn: 'main' | 'reader') {
    this.rules = plan.rules
      .filter((r) => (r.conn ?? 'main') === conn)
      .map((r) => ({ op: r.op, at: r.at, code: r.code, left: r.times === undefined ? 1 : r.times === -1 ? Infinity : r.times }));
    // the encode workers' readers would overwrite the main connection's counts
    this.statsFile = conn === 'main' ? plan.statsFile : undefined;
    if (this.statsFile !== undefined) {
      // a run that ends by process.exit never reaches close()
      this.onExit = () => this.report();
      process.once('exit', this.onExit);
    }
  }

  /** Called before each statement of `op`: counts the point, and throws when a rule says so. */
  hit(op: StateFaultOp): void {
    const n = op === 'write' ? ++this.stats.writes : op === 'read' ? ++this.stats.reads : ++this.stats.commits;
    for (const r of this.rules) {
      if (r.op === op && r.left > 0 && n >= r.at && this.firing(r, n)) {
        r.left -= 1;
        this.stats.injected += 1;
        const base = r.code.split('_').slice(0, 2).join('_');
        throw new Database.SqliteError(`${MESSAGES[base] ?? r.code} (injected fault: ${op} ${n})`, r.code);
      }
    }
  }

  /**
   * A rule fires at its point and, while it has failures left, at every later attempt of the
   * same op: a retry rewinds the count, so "at N, times M" fails point N on M attempts, and a
   * rule with failures left past its point is a persistent failure.
   */
  private firing(r: ArmedRule, n: number): boolean {
    return n === r.at || r.left === Infinity;
  }

  mark(): StateFaultStats {
    return { ...this.stats };
  }

  /** Back to `mark` (a transaction is retried) or one point back (a single statement is). */
  rewind(to: StateFaultStats | StateFaultOp): void {
    if (typeof to === 'string') {
      if (to === 'write') this.stats.writes -= 1;
      else if (to === 'read') this.stats.reads -= 1;
      else this.stats.commits -= 1;
      return;
    }
    this.stats.writes = to.writes;
    this.stats.reads = to.reads;
    this.stats.commits = to.commits;
  }

  /** Write the counts to the plan's statsFile, if any. */
  report(): void {
    if (this.statsFile === undefined) return;
    try {
      fs.writeFileSync(this.statsFile, JSON.stringify(this.stats) + '\n');
    } catch {
      // a test seam: a stats file that cannot be written shows up as a missing file in the test
    }
  }

  close(): void {
    this.report();
    if (this.onExit !== undefined) process.removeListener('exit', this.onExit);
  }
}
