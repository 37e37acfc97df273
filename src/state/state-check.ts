/**
 * The state's consistency check, run before every resume and by `clfsload state check`. A run
 * that died at any point (kill -9, a state or target failure, a bug) may leave entries in a
 * middle state, or counts that no longer match the rows; each finding is either repaired (and
 * named, so the run log says what was repaired) or, when the rows themselves are gone, reported
 * as damage that only a new load can get past.
 */
import { EntryState, FINISHED_SQL, LINK_OUTCOME_SQL, Phase } from './schema.js';
import type { StateDb } from './state-db.js';

export interface StateCheckReport {
  /** what was found and (with repair) put right, one line each */
  findings: string[];
  /** damage that cannot be repaired: the load must start over */
  damage: string[];
  /** the phase the transfer continues from (changed when the rows say work is left) */
  phase: Phase;
}

const UNFINISHED = `state NOT IN (${FINISHED_SQL})`;

function count(db: StateDb, sql: string, ...params: unknown[]): number {
  return db.all<{ n: number }>(sql, ...params)[0]!.n;
}

/** Check the state; with `repair`, put right everything that can be (each step one transaction). */
export function checkState(db: StateDb, options: { repair: boolean }): StateCheckReport {
  const findings: string[] = [];
  const damage: string[] = [];
  const note = (n: number, what: string) => {
    if (n > 0) findings.push(`${n} ${what}`);
  };
  if (db.rootEntry() === undefined) {
    damage.push('the source root has no row');
    return { findings, damage, phase: db.phase };
  }
  const orphans = count(db, 'SELECT COUNT(*) AS n FROM entries c WHERE c.parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entries p WHERE p.id = c.parent_id)');
  if (orphans > 0) damage.push(`${orphans} entries whose directory row is missing`);
  const lostPrimaries = count(db, 'SELECT COUNT(*) AS n FROM entries l WHERE l.link_of IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entries p WHERE p.id = l.link_of)');
  if (lostPrimaries > 0) damage.push(`${lostPrimaries} hard-link names whose inode row is missing`);
  if (damage.length > 0) return { findings, damage, phase: db.phase };

  const repair = options.repair;
  // 1. scans that did not finish: redone from a clean slate
  const scanning = count(db, `SELECT COUNT(*) AS n FROM entries WHERE state = ${EntryState.SCANNING}`);
  note(scanning, 'directory scans left unfinished (redone from the start)');
  if (repair && scanning > 0) db.resetInterruptedScans();

  // 2. held rows outside a scan in progress: made visible, their directory waits for them
  const held = db.all<{ parent_id: number }>(
    `SELECT DISTINCT c.parent_id FROM entries c JOIN entries p ON p.id = c.parent_id WHERE c.state = ${EntryState.HELD} AND p.state != ${EntryState.SCANNING}`,
  );
  note(held.length, 'directories with hidden children outside a scan (released)');
  if (repair && held.length > 0) {
    db.tx(() => {
      for (const { parent_id } of held) {
        db.releaseHeld(parent_id);
        db.reopen(parent_id);
      }
    });
  }

  // 3. writes that were interrupted: redone under the same names
  const writing = count(db, `SELECT COUNT(*) AS n FROM entries WHERE state = ${EntryState.WRITING}`);
  note(writing, 'interrupted writes (redone)');
  if (repair && writing > 0) {
    db.tx(() => db.run(`UPDATE entries SET state = CASE WHEN ftype = 1 THEN ${EntryState.READY} ELSE ${EntryState.PENDING} END WHERE state = ${EntryState.WRITING}`));
  }

  // 4. other names of hard links that did not follow their inode's outcome
  const linkOutcome = `(${LINK_OUTCOME_SQL})`;
  const strayLinks = db.all<{ parent_id: number }>(
    `SELECT DISTINCT parent_id FROM entries WHERE link_of IS NOT NULL AND state IN (${EntryState.DONE}, ${EntryState.ERROR}, ${EntryState.LINKWAIT}) AND state != ${linkOutcome}`,
  );
  note(strayLinks.length, 'directories with hard-link names out of step with their inode (set right)');
  if (repair && strayLinks.length > 0) {
    db.tx(() => {
      db.exec(`UPDATE entries SET state = ${linkOutcome}, error = CASE WHEN ${linkOutcome} = ${EntryState.ERROR} THEN 'another name of an inode that failed' ELSE NULL END
        WHERE link_of IS NOT NULL AND state IN (${EntryState.DONE}, ${EntryState.ERROR}, ${EntryState.LINKWAIT}) AND state != ${linkOutcome}`);
      for (const { parent_id } of strayLinks) db.reopen(parent_id);
    });
  }

  // 5. directories written while a child was unfinished: written again once it is
  const early = db.all<{ parent_id: number }>(
    // an entry an update rewrites under the name its directory already holds is not missing from it
    `SELECT DISTINCT c.parent_id FROM entries c JOIN entries p ON p.id = c.parent_id WHERE p.state = ${EntryState.DONE} AND c.${UNFINISHED}
      AND c.id NOT IN (SELECT entry_id FROM update_rewrites)`,
  );
  note(early.length, 'finished directories with unfinished children (written again)');
  if (repair && early.length > 0) db.tx(() => early.forEach(({ parent_id }) => db.reopen(parent_id)));

  // 6. counts of unfinished children, derived from the rows
  if (repair) note(db.recountPending(), 'directories whose count of unfinished children was wrong (recounted)');
  else {
    const wrong = count(
      db,
      `SELECT COUNT(*) AS n FROM entries WHERE ftype = 1 AND state IN (${EntryState.SCANNED}, ${EntryState.READY}) AND pending != (SELECT COUNT(*) FROM entries c WHERE c.parent_id = entries.id AND c.${UNFINISHED})`,
    );
    note(wrong, 'directories whose count of unfinished children is wrong');
  }

  // 7. the phase must not be past work that is left
  let phase = db.phase;
  const unfinished = count(db, `SELECT COUNT(*) AS n FROM entries WHERE ${UNFINISHED}`);
  const inprogress = db.countAwaitingReconcile();
  const later = [Phase.RECONCILE, Phase.CLEANUP, Phase.FINALIZE, Phase.DONE];
  if (unfinished > 0 && later.includes(phase)) {
    findings.push(`phase ${phase} with ${unfinished} entries unfinished (back to ${Phase.TRANSFER})`);
    phase = Phase.TRANSFER;
  } else if (inprogress > 0 && (phase === Phase.FINALIZE || phase === Phase.DONE)) {
    findings.push(`phase ${phase} with ${inprogress} hard-linked inodes not reconciled (back to ${Phase.RECONCILE})`);
    phase = Phase.RECONCILE;
  }
  if (repair && phase !== db.phase) db.setPhase(phase);
  return { findings, damage, phase };
}
