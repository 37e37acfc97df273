export { copy, COPY_META_DIR, DEFAULT_LARGE_FILE_BYTES, DEFAULT_MAX_THREADS, shardName } from './copy.js';
export type { CopyOptions, CopySummary, CopyStatus, CopyProgress } from './copy.js';
export type { Shard } from './partition.js';
export { compare } from './compare.js';
export type { CompareOptions, CompareReport, Difference } from './compare.js';
export { finalizeCopy, reportCopy } from './finalize.js';
export type { FinalizeOptions, FinalizeSummary, ShardsReport } from './finalize.js';
