/** The library surface of clfsload: load, read back, targets, errors. */
export { load, dryRun, checkStateFolder, DEFAULT_MAX_ERRORS } from './load/index.js';
export type { StateCheckResult, LoadOptions, LoadSummary, LoadStatus, DryRunOptions, DryRunEstimate, Reporter, ProgressSnapshot, LogLevel } from './load/index.js';
export { verify, ls, cat, exportTree, ContainerReader, modeString } from './read/index.js';
export type { VerifyReport, VerifyProblem, VerifyOptions, VerifyCounts, LsEntry, LsOptions, CatOptions, ExportSummary, ExportTreeOptions } from './read/index.js';
export { openTarget, parseTargetUrl, redact, targetKey, durabilityFromEnv, FolderTarget, AzureTarget, RetryTarget, LatencyTarget, CountingTarget, FaultTarget, DryRunTarget, startAzurite } from './targets/index.js';
export type { Target, TargetSpec, TargetCapabilities, TargetFeatures, BlobInfo } from './targets/index.js';
export { copy, compare, finalizeCopy, reportCopy } from './copy/index.js';
export type { CopyOptions, CopySummary, CopyStatus, CopyProgress, CompareOptions, CompareReport, Difference, FinalizeOptions, FinalizeSummary, ShardsReport, Shard } from './copy/index.js';
export { displayPath } from './scan/index.js';
export type { DisplayPathOptions } from './scan/index.js';
export { ClfsError, isClfsError } from './errors/index.js';
export type { ClfsErrorCode } from './errors/index.js';
/** Test and benchmark seams (fault plans); the CLI fills them from the environment (src/cli/environment.ts). */
export { installSourceFaultsFromEnv, setSourceFaults } from './scan/index.js';
export type { SourceFaultPlan } from './scan/index.js';
export { faultPlanFromEnv as stateFaultPlanFromEnv } from './state/index.js';
export type { StateFaultPlan } from './state/index.js';
