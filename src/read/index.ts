export {
  ContainerReader,
  displayClfsPath,
  escapeName,
  highestVersion,
  inodeBtypeOf,
  pythonCharCount,
  splitPath,
} from './container-reader.js';
export type { Inode, InodeObject, ReadOptions } from './container-reader.js';
export { verify } from './verify/index.js';
export type { VerifyCounts, VerifyOptions, VerifyProblem, VerifyProblemCode, VerifyProgress, VerifyReport } from './verify/index.js';
export { ls, modeString, entryTypeOf } from './ls.js';
export type { EntryType, LsEntry, LsOptions } from './ls.js';
export { cat } from './cat.js';
export type { CatOptions } from './cat.js';
export { exportTree } from './export-tree.js';
export type { ExportSummary, ExportTreeOptions } from './export-tree.js';
