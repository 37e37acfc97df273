/** Progress and log events of a run. Library code never prints: the CLI decides how to show these. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Where a load stands. Done and total count the same set: every entry (and file byte) of the
 * transfer known so far, including what earlier runs of a resumed load finished; done never
 * exceeds total, and after the transfer both are the state's own figures.
 */
export interface ProgressSnapshot {
  phase: string;
  /** entries known so far (the total grows while directories are scanned) */
  entriesScanned: number;
  /** of those, finished: stored or failed (`errors` says how many failed in this run) */
  entriesDone: number;
  /** bytes of the regular files known so far */
  bytesScanned: number;
  bytesDone: number;
  errors: number;
  blobsWritten: number;
  bytesUploaded: number;
  /** since this run started */
  elapsedSeconds: number;
  /** what this run finished since its transfer began, over `rateSeconds`: the rates and the ETA */
  entriesDoneThisRun: number;
  bytesDoneThisRun: number;
  rateSeconds: number;
}

export interface Reporter {
  /** 'end' only for a phase that finished: one the run left part way (a signal, --max-errors, a fatal error) has a start and no end */
  phase?(name: string, event: 'start' | 'end'): void;
  progress?(snapshot: ProgressSnapshot): void;
  log?(level: LogLevel, message: string): void;
}
