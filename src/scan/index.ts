export { displayPath, parseDisplayPath, utf8SequenceLength } from './display-path.js';
export type { DisplayPathOptions } from './display-path.js';
export { lstatEntry, readDirectoryBatches, joinPath, kindOfMode, sourceError, entryFromStats } from './source-entry.js';
export type { SourceEntry, SourceKind, SkipEntry } from './source-entry.js';
export { sourceFs, setSourceFaults, installSourceFaultsFromEnv, sourceFaults, sourceFaultsForWorkers, installSharedSourceFaults, sourceFaultCounts, sourceFaultRulesFor, SOURCE_FAULTS_ENV, SOURCE_OPS } from './source-fs.js';
export type { SourceFaultPlan, SourceFaultRule, SourceOp, SharedSourceFaults } from './source-fs.js';
export { SourceFilter, DEFAULT_FILTERS, NO_FILTERS, SNAPSHOT_DIRS, sameFilters, describeFilters, matchText, patternsOfFile, relativeTo, holdsMarker, skipEntryOf } from './filter.js';
export type { FilterSpec } from './filter.js';
