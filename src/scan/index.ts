export { lstatEntry, readDirectoryBatches, joinPath, displayPath, kindOfMode, sourceError, entryFromStats } from './source-entry.js';
export type { SourceEntry, SourceKind } from './source-entry.js';
