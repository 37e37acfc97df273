/** Progress and log events of a run. Library code never prints: the CLI decides how to show these. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ProgressSnapshot {
  phase: string;
  entriesScanned: number;
  entriesDone: number;
  bytesScanned: number;
  bytesDone: number;
  errors: number;
  blobsWritten: number;
  bytesUploaded: number;
  elapsedSeconds: number;
}

export interface Reporter {
  phase?(name: string, event: 'start' | 'end'): void;
  progress?(snapshot: ProgressSnapshot): void;
  log?(level: LogLevel, message: string): void;
}
