/** The library surface of clfsload: load, read back, targets, errors. */
export { load, updateDryRun, dryRun, checkStateFolder, transferFilters, DEFAULT_MAX_ERRORS } from './load/index.js';
export type { StateCheckResult, LoadOptions, UpdateEstimate, UpdateCounts, LoadSummary, LoadStatus, DryRunOptions, DryRunEstimate, Reporter, ProgressSnapshot, LogLevel } from './load/index.js';
export { makePlan, readPlan, loadShard, readShardReport, finalizePlan, MAX_SHARDS } from './load/index.js';
export type { Plan, PlanOptions, PlanSummary, ShardLoadEstimate, ShardLoadOptions, ShardReport, FinalizePlanOptions, FinalizePlanSummary } from './load/index.js';
export { verify, ls, cat, exportTree, ContainerReader, modeString } from './read/index.js';
export type { VerifyReport, VerifyProblem, VerifyOptions, VerifyCounts, LsEntry, LsOptions, CatOptions, ExportSummary, ExportTreeOptions } from './read/index.js';
export { openTarget, parseTargetUrl, redact, targetKey, durabilityFromEnv, FolderTarget, AzureTarget, RetryTarget, LatencyTarget, CountingTarget, FaultTarget, DryRunTarget, startAzurite, parseConnectionString, proxySettingsOf } from './targets/index.js';
export type { Target, TargetSpec, TargetCapabilities, TargetFeatures, BlobInfo, AzureAuth, AzureTargetOptions, TokenCredentialLike, AccessTokenLike, ProxySettings, ProxyEnvironment, ConnectionStringParts } from './targets/index.js';
export { displayPath, parseDisplayPath, SourceFilter, DEFAULT_FILTERS, patternsOfFile, describeFilters } from './scan/index.js';
export type { DisplayPathOptions, FilterSpec } from './scan/index.js';
export { RateLimiter, RateLimitTarget, parseBwlimit, parseRequestRate, describeHolds } from './targets/index.js';
export type { RateSchedule, LimitHold } from './targets/index.js';
export { copy, compare, finalizeCopy, reportCopy } from './copy/index.js';
export type { CopyOptions, CopySummary, CopyStatus, CopyProgress, CompareOptions, CompareReport, Difference, FinalizeOptions, FinalizeSummary, ShardsReport, Shard } from './copy/index.js';
export { ClfsError, isClfsError } from './errors/index.js';
export type { ClfsErrorCode } from './errors/index.js';
/** Test and benchmark seams (fault plans); the CLI fills them from the environment (src/cli/environment.ts). */
export { installSourceFaultsFromEnv, setSourceFaults } from './scan/index.js';
export type { SourceFaultPlan } from './scan/index.js';
export { faultPlanFromEnv as stateFaultPlanFromEnv } from './state/index.js';
export type { StateFaultPlan } from './state/index.js';
