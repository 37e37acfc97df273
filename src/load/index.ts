export { load, updateDryRun, DEFAULT_MAX_ERRORS } from './load.js';
export type { LoadOptions, LoadSummary, LoadStatus, UpdateEstimate } from './load.js';
export type { UpdateCounts } from './update.js';
export { dryRun } from './dry-run.js';
export type { DryRunOptions, DryRunEstimate } from './dry-run.js';
export type { Reporter, ProgressSnapshot, LogLevel } from './reporter.js';
export { checkStateFolder, transferFilters } from './state-maintenance.js';
export type { StateCheckResult } from './state-maintenance.js';
