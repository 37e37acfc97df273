export type {
  BlobInfo,
  FlushOptions,
  GetOptions,
  ListOptions,
  PutManyItem,
  PutOptions,
  Target,
  TargetCapabilities,
  TargetFeatures,
} from './target.js';
export { DEFAULT_REQUEST_TIMEOUT_MS, OPTIONAL_METHODS } from './target.js';
export { ForwardingTarget, checkFeatures } from './forwarding-target.js';
export type { ForwardingOptions } from './forwarding-target.js';
export type { ParseContext, TargetFactory } from './factory.js';
export { TARGET_FACTORIES } from './registry.js';
export { FolderTarget } from './folder-target.js';
export type { FolderDurability, FolderSyncOps, FolderTargetOptions } from './folder-target.js';
export { durabilityFromEnv } from './folder-sync.js';
export type { FolderSpec } from './folder-factory.js';
export { AzureTarget, DEFAULT_USER_AGENT, parseRetryAfter } from './azure-target.js';
export { LOAD_ROLE, STORAGE_SCOPE, TokenCache, parseConnectionString, sharedKeyAuthorization } from './azure-auth.js';
export type { AccessTokenLike, AzureAuth, ConnectionStringParts, TokenCacheOptions, TokenCredentialLike } from './azure-auth.js';
export { bypassesProxy, proxySettingsOf, redactProxyUrl } from './azure-http.js';
export type { ProxyEnvironment, ProxySettings } from './azure-http.js';
export type { AzureContainerSpec, AzureTargetOptions } from './azure-target.js';
export { openTarget, parseTargetUrl, redact, targetKey } from './open-target.js';
export type { OpenTargetOptions, ParseTargetUrlOptions, TargetSpec } from './open-target.js';
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
export { RateLimiter, TokenBucket, parseBwlimit, parseByteRate, parseRequestRate, rateAt, formatByteRate, describeHolds, BURST_SECONDS } from './rate-limit.js';
export type { RateSchedule, RateEntry, RateLimiterOptions, LimitHold } from './rate-limit.js';
export { RateLimitTarget } from './rate-limit-target.js';
