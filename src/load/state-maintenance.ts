/**
 * `clfsload state check DIR`: the consistency check every resume runs first (state/state-check.ts),
 * on demand, without touching the target: what a dead run left behind, counts that no longer
 * match the rows, damage that only a new load can get past.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClfsError } from '../errors/index.js';
import { checkState, EntryState, STATE_DB_FILE, StateDb } from '../state/index.js';
import type { Phase, TransferIdentity } from '../state/index.js';
import { NO_FILTERS } from '../scan/index.js';
import type { FilterSpec } from '../scan/index.js';

/** The filters a transfer was started with (a state from before filters left nothing out). */
export function storedFilters(identity: TransferIdentity): FilterSpec {
  return identity.filters ?? NO_FILTERS;
}

export interface StateCheckResult {
  stateDir: string;
  phase: Phase;
  entries: number;
  failed: number;
  unfinished: number;
  /** what was found (and, with repair, put right) */
  findings: string[];
  /** what cannot be repaired: the load must start over with --new into an empty container */
  damage: string[];
  repaired: boolean;
}

export function checkStateFolder(stateDir: string, options: { repair?: boolean } = {}): StateCheckResult {
  if (!fs.existsSync(path.join(stateDir, STATE_DB_FILE))) {
    throw new ClfsError('E_USAGE', `state folder ${stateDir}: no ${STATE_DB_FILE} there; give the folder a load was run with (--state)`, { subject: stateDir });
  }
  const db = StateDb.open(stateDir, { create: false });
  try {
    const repair = options.repair ?? false;
    const report = checkState(db, { repair });
    const counts = db.countsByState();
    let entries = 0;
    let unfinished = 0;
    for (const [state, c] of counts) {
      entries += c.n;
      if (![EntryState.DONE, EntryState.ERROR, EntryState.INPROGRESS, EntryState.RECONCILED].includes(state)) unfinished += c.n;
    }
    return {
      stateDir,
      phase: report.phase,
      entries,
      failed: counts.get(EntryState.ERROR)?.n ?? 0,
      unfinished,
      findings: report.findings,
      damage: report.damage,
      repaired: repair && report.damage.length === 0,
    };
  } finally {
    db.close();
  }
}

/**
 * The filters a load in `stateDir` was started with (verify --source reads them), or undefined
 * when the folder holds no transfer. The identity alone is read: nothing is repaired or written.
 */
export function transferFilters(stateDir: string): FilterSpec | undefined {
  if (!StateDb.holdsTransfer(stateDir)) return undefined;
  const db = StateDb.open(stateDir, { create: false });
  try {
    const identity = db.identity;
    return identity === undefined ? undefined : storedFilters(identity);
  } finally {
    db.close();
  }
}
