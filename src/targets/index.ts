export type {
  BlobInfo,
  FlushOptions,
  GetOptions,
  ListOptions,
  PutManyItem,
  PutOptions,
  Target,
  TargetCapabilities,
} from './target.js';
export { FolderTarget } from './folder-target.js';
export type { FolderDurability, FolderSyncOps, FolderTargetOptions } from './folder-target.js';
export { AzureTarget, parseRetryAfter } from './azure-target.js';
export type { AzureContainerSpec, AzureTargetOptions } from './azure-target.js';
export { openTarget, parseTargetUrl, redact } from './open-target.js';
export type { FolderSpec, OpenTargetOptions, ParseTargetUrlOptions, TargetSpec } from './open-target.js';
export { RetryTarget, sleep } from './retry-target.js';
export type { RetryInfo, RetryTargetOptions } from './retry-target.js';
export { Throttle } from './throttle.js';
export type { ThrottleOptions, ThrottleTicket } from './throttle.js';
export { LatencyTarget } from './latency-target.js';
export type { LatencyTargetOptions } from './latency-target.js';
export { FaultTarget, mulberry32 } from './fault-target.js';
export type { FaultOperation, FaultTargetOptions } from './fault-target.js';
export { CountingTarget } from './counting-target.js';
export type { RequestCounts } from './counting-target.js';
export { DryRunTarget } from './dry-run-target.js';
export {
  AZURITE_ACCOUNT_KEY,
  AZURITE_ACCOUNT_NAME,
  azuriteBlobBinary,
  startAzurite,
} from './embedded-azurite.js';
export type {
  AzuriteContainer,
  MakeContainerOptions,
  RunningAzurite,
  StartAzuriteOptions,
} from './embedded-azurite.js';
